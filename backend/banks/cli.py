"""``xnb bank``: the bank code table, withholding batch export, return-file import,
exceptions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from backend.audit.service import Actor
from backend.banks import codes, returns, withholding
from backend.banks.formats import OUTCOME_LABELS, Outcome
from backend.db import unit_of_work
from backend.errors import DomainError
from backend.ledger.jobs import RunSummary
from backend.policy.rules import fen_to_yuan

bank_app = typer.Typer(help="银行代扣批量文件与回盘", no_args_is_help=True)


@bank_app.command("load-codes")
def load_codes(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False)] = codes.NATIONAL,
) -> None:
    """Load (insert or rename) the bank code table from a CSV data file (code,name)."""
    from backend.cli import fail, session_factory

    try:
        with unit_of_work(session_factory()) as session:
            count = codes.load_bank_codes(session=session, path=path)
    except DomainError as e:
        raise fail(e) from e
    typer.echo(f"已载入 {count} 个银行代码")


@bank_app.command("export")
def export(
    bank: Annotated[str, typer.Option(help="银行代码")],
    county: Annotated[str, typer.Option(help="县级区划代码（6位）")],
    year: Annotated[int, typer.Option(help="缴费年度")],
    out: Annotated[Path, typer.Option(help="输出目录")] = Path("var/bank"),
    format_code: Annotated[str, typer.Option("--format", help="文件格式")] = "pipe",
) -> None:
    """Write the next withholding batch of a bank and county."""
    from backend.cli import fail, session_factory

    try:
        with unit_of_work(session_factory()) as session:
            batch, path = withholding.export_withholding(
                session=session,
                bank_code=bank,
                county_code=county,
                year=year,
                out_dir=out,
                actor=Actor.system("bank-export"),
                format_code=format_code,
            )
            typer.echo(
                f"批次 {batch.batch_no}：{batch.row_count} 笔，"
                f"{fen_to_yuan(batch.total_fen)} 元 → {path}"
            )
    except DomainError as e:
        raise fail(e) from e


def print_result(result: returns.ImportResult) -> None:
    """A return-file import for a terminal."""
    if not result.accepted:
        typer.secho(f"回盘文件被整体拒绝：{result.reason}", fg="red", err=True)
        return
    prefix = "该文件已导入过，结果如下" if result.already_imported else "回盘导入"
    typer.echo(f"{prefix}：{result.rows} 笔（状态 {result.status}）")
    for outcome, (count, amount, debited) in sorted(result.by_outcome.items()):
        label = OUTCOME_LABELS[Outcome(outcome)]
        typer.echo(
            f"  {label:<6}{count:>8} 笔  金额 {fen_to_yuan(amount):>14} 元"
            f"  实扣 {fen_to_yuan(debited):>14} 元"
        )
    if result.exceptions:
        typer.secho(
            f"  异常 {result.exceptions} 笔（xnb bank exceptions {result.file_id}）", fg="yellow"
        )


@bank_app.command("import-return")
def import_return(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="回盘文件")],
    format_code: Annotated[str, typer.Option("--format", help="文件格式")] = "pipe",
    chunk_rows: Annotated[int, typer.Option(min=100, help="每个事务处理的行数")] = 20_000,
) -> None:
    """Import a return file (again: no change; lying totals: rejected whole; resumable)."""
    from backend.cli import fail, session_factory

    def progress(scope: str, rows: int, amount: int, summary: RunSummary) -> None:
        typer.echo(
            f"  第{scope}行：{rows} 笔，入账 {fen_to_yuan(amount)} 元 "
            f"（{summary.chunks_done}/{summary.chunks_total}）"
        )

    try:
        result = withholding.import_return(
            factory=session_factory(),
            path=path,
            actor=Actor.system("bank-import"),
            format_code=format_code,
            chunk_rows=chunk_rows,
            progress=progress,
        )
    except DomainError as e:
        raise fail(e) from e
    print_result(result)
    if not result.accepted:
        raise typer.Exit(code=1)


@bank_app.command("exceptions")
def exceptions(file_id: int) -> None:
    """The rows of a return file that could not be applied, with the reason."""
    from backend.cli import session_factory

    with unit_of_work(session_factory()) as session:
        for row in returns.exceptions(session=session, file_id=file_id):
            typer.echo(
                f"第{row.line_no}行 {row.doc_no} {row.id_number} "
                f"{fen_to_yuan(row.amount_fen)}：{row.exception_reason}"
            )
