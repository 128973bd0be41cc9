"""``xnb contrib``: contribution files from outside (tax bureau)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from backend.audit.service import Actor
from backend.contributions.taximport import import_tax_file
from backend.db import unit_of_work
from backend.errors import DomainError
from backend.policy.rules import fen_to_yuan

contrib_app = typer.Typer(help="缴费（税务征收结果导入等）", no_args_is_help=True)


@contrib_app.command("import-tax")
def import_tax(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="税务征收结果文件")],
) -> None:
    """Import a tax-bureau result file once; a file whose totals lie is rejected whole."""
    from backend.cli import fail, session_factory

    try:
        with unit_of_work(session_factory()) as session:
            result = import_tax_file(session=session, path=path, actor=Actor.system("tax"))
    except DomainError as e:
        raise fail(e) from e
    if result.status == "rejected":
        typer.secho(f"文件被整体拒绝：{result.reason}", fg="red", err=True)
        raise typer.Exit(code=1)
    again = "（该文件已导入过，未作改变）" if result.already_imported else ""
    typer.echo(
        f"税务征收结果{again}：{result.rows} 笔，入账 {result.applied_rows} 笔 "
        f"{fen_to_yuan(result.applied_fen)} 元，异常 {result.exception_rows} 笔"
    )
