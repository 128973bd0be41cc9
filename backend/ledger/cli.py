"""``xnb ledger``: the invariant check and balances of the fund's books."""

from __future__ import annotations

import typer

from backend.db import unit_of_work
from backend.ledger import service
from backend.ledger.chart import CHART
from backend.policy.rules import fen_to_yuan

ledger_app = typer.Typer(help="基金会计账簿", no_args_is_help=True)


def print_check(report: service.CheckReport) -> None:
    """The check report for a terminal."""
    typer.echo(
        f"凭证 {report.entries} 张，借方合计 {fen_to_yuan(report.debit_fen)} 元，"
        f"贷方合计 {fen_to_yuan(report.credit_fen)} 元；"
        f"个人账户明细合计 {fen_to_yuan(report.individual_total_fen)} 元"
    )
    if report.ok:
        typer.secho("账簿检查通过：借贷平衡，控制科目与个人账户一致，无不应出现的负数", fg="green")
    for problem in report.problems:
        typer.secho(f"  ✗ {problem}", fg="red", err=True)


@ledger_app.command("check")
def check() -> None:
    """Check every invariant of the books (exit 1 on any problem)."""
    from backend.cli import session_factory

    with unit_of_work(session_factory()) as session:
        report = service.check(session=session)
    print_check(report)
    if not report.ok:
        raise typer.Exit(code=1)


@ledger_app.command("balances")
def balances() -> None:
    """Balance of every ledger account by county."""
    from backend.cli import session_factory

    with unit_of_work(session_factory()) as session:
        for (county, code), amount in sorted(service.balances(session=session).items()):
            typer.echo(f"{county}  {code} {CHART[code].name:<22}{fen_to_yuan(amount):>16} 元")
