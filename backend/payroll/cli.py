"""``xnb payroll``: build a month's payroll, send it to the banks, import return files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from backend.audit.service import Actor
from backend.db import unit_of_work
from backend.errors import DomainError
from backend.orgs import service as orgs
from backend.orgs.service import Principal
from backend.payroll import build, files, returns
from backend.payroll.models import Payroll
from backend.policy.rules import fen_to_yuan

payroll_app = typer.Typer(help="养老金月度发放：生成名册、送银行、导入回盘", no_args_is_help=True)
Operator = Annotated[str, typer.Option("--operator", help="经办人用户名")]


def principal_for(username: str) -> Principal:
    """The operator acting from the command line (scope and permissions as over HTTP)."""
    from backend.cli import session_factory

    with unit_of_work(session_factory()) as session:
        operator = orgs.get_operator_by_username(session=session, username=username)
        return Principal.of(
            operator, Actor(operator_id=operator.id, username=username, device="cli")
        )


def _print(payroll: Payroll) -> None:
    typer.echo(
        f"名册 {payroll.id}（{payroll.month:%Y-%m}，范围 {payroll.scope}）：{payroll.status}，"
        f"{payroll.line_count} 笔，{fen_to_yuan(payroll.total_fen)} 元"
        f"（基础 {fen_to_yuan(payroll.basic_fen)}，个人账户 {fen_to_yuan(payroll.account_fen)}），"
        f"未发放 {payroll.excluded_count} 人"
    )


@payroll_app.command("build")
def build_payroll(
    month: Annotated[str, typer.Option(help="发放月份 YYYY-MM")],
    scope: Annotated[str, typer.Option(help="县级区划（6位）或省（2位）")],
    operator: Operator,
) -> None:
    """Build (or resume building) the payroll of a month and scope."""
    from backend.cli import fail, session_factory

    try:
        payroll_id = build.build(
            factory=session_factory(),
            principal=principal_for(operator),
            month=build.parse_month(month),
            scope=scope,
        )
    except DomainError as e:
        raise fail(e) from e
    with unit_of_work(session_factory()) as session:
        _print(session.get_one(Payroll, payroll_id))


@payroll_app.command("send")
def send(
    payroll_id: int,
    operator: Operator,
    out: Annotated[Path, typer.Option(help="输出目录")] = Path("var/payroll"),
) -> None:
    """Write the bank files (pipe layout and pain.001) of an approved payroll."""
    from backend.cli import fail, session_factory

    try:
        with unit_of_work(session_factory()) as session:
            sent = files.send(
                session=session,
                principal=principal_for(operator),
                payroll_id=payroll_id,
                out_dir=out,
            )
    except DomainError as e:
        raise fail(e) from e
    for batch in sent:
        typer.echo(
            f"批次 {batch.batch_no}（{batch.bank_code}，{batch.county_code}）："
            f"{batch.row_count} 笔，{fen_to_yuan(batch.total_fen)} 元 → "
            f"{batch.pipe_path}，{batch.pain001_path}"
        )


@payroll_app.command("import-return")
def import_return(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="代发回盘文件")],
    format_code: Annotated[
        str, typer.Option("--format", help="回盘格式：pipe（竖线分隔）或 pain002（ISO 20022）")
    ] = "pipe",
) -> None:
    """Import a pay-out return file (again: no change; lying totals: rejected whole)."""
    from backend.banks.cli import print_result
    from backend.cli import fail, session_factory

    try:
        result = returns.import_return(
            factory=session_factory(),
            path=path,
            actor=Actor.system("payroll-return"),
            format_code=format_code,
        )
    except DomainError as e:
        raise fail(e) from e
    print_result(result)
    if not result.accepted:
        raise typer.Exit(code=1)
