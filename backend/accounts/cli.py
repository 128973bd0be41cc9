"""``xnb interest`` and ``xnb account``: the yearly interest run and statements."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy import select

from backend.accounts import service
from backend.accounts.interest import run_interest
from backend.accounts.models import SOURCE_LABELS, Source
from backend.db import unit_of_work
from backend.errors import DomainError, NotFound
from backend.keys.fields import lookup
from backend.ledger.jobs import RunSummary
from backend.policy.rules import fen_to_yuan
from backend.registry.models import Person

interest_app = typer.Typer(help="个人账户年度结息", no_args_is_help=True)
account_app = typer.Typer(help="个人账户", no_args_is_help=True)


def _progress(county: str, rows: int, amount: int, summary: RunSummary) -> None:
    typer.echo(
        f"  县 {county}: {rows} 户，利息 {fen_to_yuan(amount)} 元 "
        f"（{summary.chunks_done}/{summary.chunks_total}）"
    )


@interest_app.command("run")
def run(
    year: Annotated[int, typer.Option(help="结息年度")],
    county: Annotated[list[str] | None, typer.Option(help="只结这些县（可重复）")] = None,
) -> None:
    """Credit the year's interest: exactly once per account, resumable, shareable by processes."""
    from backend.cli import fail, session_factory

    typer.echo(f"{year}年度结息 …")
    try:
        summary = run_interest(
            factory=session_factory(), year=year, counties=county, progress=_progress
        )
    except DomainError as e:
        raise fail(e) from e
    state = "完成" if summary.finished else "未完成（可再次运行以续做）"
    typer.echo(
        f"运行 {summary.run_id} {state}：{summary.rows} 户，"
        f"利息合计 {fen_to_yuan(summary.amount_fen)} 元"
    )


def print_statement(statement: service.Statement) -> None:
    """The statement as text for a terminal."""
    typer.echo(f"个人账户对账单  {statement.year}年度")
    typer.echo(f"姓名 {statement.name}  身份证号 {statement.id_number}")
    typer.echo(f"  期初余额 {fen_to_yuan(statement.opening_fen):>12} 元")
    for line in statement.lines:
        label = SOURCE_LABELS[Source(line.source)]
        mark = "（冲正）" if line.reverses_id else ""
        typer.echo(f"  {line.entry_date}  {label:<6}{fen_to_yuan(line.amount_fen):>12} 元{mark}")
    typer.echo(f"  其中利息 {fen_to_yuan(statement.interest_fen):>12} 元")
    typer.echo(f"  期末余额 {fen_to_yuan(statement.closing_fen):>12} 元")
    for source, amount in sorted(statement.closing_by_source.items()):
        typer.echo(f"    {SOURCE_LABELS[Source(source)]:<6}{fen_to_yuan(amount):>12} 元")


@account_app.command("statement")
def statement(
    id_number: Annotated[str, typer.Option(help="身份证号码")],
    year: Annotated[int, typer.Option(help="年度")],
) -> None:
    """Print a person's statement (对账单) for a year."""
    from backend.cli import fail, session_factory

    try:
        with unit_of_work(session_factory()) as session:
            person = session.scalar(
                select(Person).where(Person.id_number_hash == lookup("id_number", id_number))
            )
            if person is None:
                raise NotFound(detail=f"身份证号{id_number}不存在", code="person_not_found")
            print_statement(service.build_statement(session=session, person=person, year=year))
    except DomainError as e:
        raise fail(e) from e
