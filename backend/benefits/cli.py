"""``xnb pension``: computations part by part, the suspension job, death and employee lists."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import select

from backend.audit.service import Actor
from backend.benefits import death, recompute, service, survival
from backend.benefits.models import Pension
from backend.db import unit_of_work
from backend.errors import DomainError
from backend.policy.models import PolicyVersion
from backend.policy.rules import fen_to_yuan
from backend.registry import matching
from backend.registry.models import Person
from backend.transfers import double_pension

pension_app = typer.Typer(help="养老金待遇：核定明细、资格认证暂停", no_args_is_help=True)


@pension_app.command("show")
def show(person_id: int) -> None:
    """A pensioner's computations: each part and the policy version that gave it."""
    from backend.cli import session_factory

    with unit_of_work(session_factory()) as session:
        pension = session.scalar(select(Pension).where(Pension.person_id == person_id))
        if pension is None:
            typer.secho(f"人员{person_id}没有养老金待遇", fg="red", err=True)
            raise typer.Exit(code=1)
        person = session.get_one(Person, person_id)
        typer.echo(
            f"{person.name}（{person.id_number}）：{pension.status}，"
            f"自{pension.start_month:%Y-%m}起，月领 {fen_to_yuan(pension.monthly_fen)} 元"
        )
        for c in service.computations(session=session, pension_id=pension.id):
            version = session.get_one(PolicyVersion, c.policy_version_id)
            typer.echo(
                f"  自{c.from_month:%Y-%m}（{c.cause}，政策版本 {version.id} {version.name}）"
            )
            typer.echo(f"    基础养老金最低标准   {fen_to_yuan(c.minimum_fen):>10} 元")
            typer.echo(f"    地方加发             {fen_to_yuan(c.topup_fen):>10} 元")
            typer.echo(
                f"    长缴多得（{c.contribution_years}年）     {fen_to_yuan(c.bonus_fen):>10} 元"
            )
            typer.echo(
                f"    个人账户养老金 {fen_to_yuan(c.balance_fen)}÷{c.divisor}"
                f" {fen_to_yuan(c.account_fen):>10} 元"
            )
            typer.echo(f"    合计                 {fen_to_yuan(c.total_fen):>10} 元")


@pension_app.command("suspend-overdue")
def suspend_overdue(
    on: Annotated[str | None, typer.Option(help="检查日期 YYYY-MM-DD（默认今天）")] = None,
) -> None:
    """Suspend pensioners whose survival certification has lapsed (per county, resumable)."""
    from backend.cli import session_factory

    day = dt.date.fromisoformat(on) if on else dt.date.today()
    summary = survival.run_suspension(
        factory=session_factory(), on=day, actor=Actor.system("survival-job")
    )
    typer.echo(
        f"{day}：暂停发放 {summary.rows} 人（{summary.chunks_done}/{summary.chunks_total} 个县）"
    )


@pension_app.command("import-deaths")
def import_deaths(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="死亡名单 CSV")],
    source: Annotated[str, typer.Option(help="public_security | civil_affairs | cremation")],
    accept_valid: Annotated[
        bool, typer.Option("--accept-valid", help="跳过有误的行，只导入正确的行")
    ] = False,
) -> None:
    """Match a death list: matching pensioners are suspended at once, a case opened each."""
    from backend.cli import fail, session_factory

    try:
        with unit_of_work(session_factory()) as session:
            result = death.import_death_list(
                session=session,
                path=path,
                source=source,
                actor=Actor.system("death-list"),
                accept_valid=accept_valid,
            )
    except DomainError as e:
        raise fail(e) from e
    _list_summary(result)


@pension_app.command("import-employee-pensioners")
def import_employee_pensioners(
    path: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="职工养老保险待遇人员名单 CSV")
    ],
    agency: Annotated[str, typer.Option(help="提供名单的职工养老保险经办机构")],
    accept_valid: Annotated[
        bool, typer.Option("--accept-valid", help="跳过有误的行，只导入正确的行")
    ] = False,
) -> None:
    """Match employee-scheme pensioners: residents' pensions suspended, a case each."""
    from backend.cli import fail, session_factory

    try:
        with unit_of_work(session_factory()) as session:
            result = double_pension.import_employee_pensioners(
                session=session,
                path=path,
                agency=agency,
                actor=Actor.system("employee-pensioner-list"),
                accept_valid=accept_valid,
            )
    except DomainError as e:
        raise fail(e) from e
    _list_summary(result)


def _list_summary(result: matching.ListResult) -> None:
    if result.already_imported:
        typer.echo("该名单已导入过，未作任何变更")
        return
    skipped = f"，跳过有误的行 {result.rejected_rows} 行" if result.rejected_rows else ""
    typer.echo(
        f"名单 {result.rows} 行{skipped}，匹配领取人员 {result.matched} 人，"
        f"新立案 {result.opened} 件"
    )


@pension_app.command("recompute")
def recompute_pensions(
    month: Annotated[str, typer.Option("--from", help="新政策生效月份 YYYY-MM")],
) -> None:
    """Recompute every pension from a month (a new version raised the basic pension)."""
    from backend.cli import fail, session_factory

    try:
        summary = recompute.recompute(
            factory=session_factory(),
            month=dt.datetime.strptime(month, "%Y-%m").date(),
            actor=Actor.system("recompute"),
        )
    except (DomainError, ValueError) as e:
        raise fail(e) if isinstance(e, DomainError) else typer.BadParameter(str(e)) from e
    typer.echo(f"自{month}起重新核定 {summary.rows} 人（补差在下月发放名册中）")
