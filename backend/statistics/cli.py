"""``xnb stats``: the report forms (make, sign off, export, verify); ``xnb projection run``."""

from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path
from typing import Annotated

import typer

from backend.db import unit_of_work
from backend.errors import DomainError
from backend.payroll.cli import Operator, principal_for
from backend.policy.rules import fen_to_yuan
from backend.statistics import forms, projection, reports
from backend.statistics.models import StatisticsReport
from backend.statistics.population import starting_population

stats_app = typer.Typer(help="统计报表：编制、签发、导出、复算", no_args_is_help=True)
report_app = typer.Typer(help="统计报表", no_args_is_help=True)
stats_app.add_typer(report_app, name="report")


def _print(report: StatisticsReport) -> None:
    typer.echo(
        f"报表 {report.id}：{reports.FORMS[report.form]}（{report.period}），"
        f"{forms.STATUS_LABELS[report.status]}，数据截止 {report.data_cutoff:%Y-%m-%d %H:%M} UTC，"
        f"查询版本 {report.query_version}"
    )


@report_app.command("make")
def make(
    period: Annotated[str, typer.Option(help="统计期：月报 YYYY-MM，年报 YYYY")],
    region: Annotated[str, typer.Option(help="区划代码（12位）")],
    operator: Operator,
    form: Annotated[str, typer.Option(help="monthly（月报）或 annual（年报）")] = "monthly",
) -> None:
    """Compute and store a report form (a draft awaiting sign-off)."""
    from backend.cli import fail, session_factory

    try:
        with unit_of_work(session_factory()) as session:
            report = reports.make(
                session=session,
                principal=principal_for(operator),
                region_code=region,
                period_text=period,
                form=form,
            )
            _print(report)
    except DomainError as e:
        raise fail(e) from e


@report_app.command("sign")
def sign(report_id: int, operator: Operator) -> None:
    """Sign a draft off (a county or province administrator other than its maker)."""
    from backend.cli import fail, session_factory

    try:
        with unit_of_work(session_factory()) as session:
            _print(
                reports.sign(
                    session=session, principal=principal_for(operator), report_id=report_id
                )
            )
    except DomainError as e:
        raise fail(e) from e


@report_app.command("xlsx")
def export_xlsx(
    report_id: int,
    operator: Operator,
    out: Annotated[Path, typer.Option(help="输出文件")],
) -> None:
    """Write the report form as an XLSX workbook."""
    from backend.cli import fail, session_factory

    try:
        with unit_of_work(session_factory()) as session:
            report = reports.get(
                session=session, principal=principal_for(operator), report_id=report_id
            )
            names = reports.region_names(session=session, report=report)
            out.write_bytes(forms.xlsx(report, names, reports.FORMS[report.form]))
    except DomainError as e:
        raise fail(e) from e
    typer.echo(f"已写出 {out}")


@stats_app.command("verify")
def verify(report_id: int) -> None:
    """Recompute a report and show every figure that differs (exit 1 when any does)."""
    from backend.cli import session_factory

    with unit_of_work(session_factory()) as session:
        report = session.get(StatisticsReport, report_id)
        if report is None:
            typer.secho(f"报表 {report_id} 不存在", fg="red", err=True)
            raise typer.Exit(code=2)
        _print(report)
        differences = reports.verify(session=session, report=report)
        names = reports.region_names(session=session, report=report)
    if report.query_version != reports.QUERY_VERSION:
        typer.echo(f"注意：指标口径已由 {report.query_version} 更新为 {reports.QUERY_VERSION}")
    if not differences:
        typer.secho("复算结果与报表一致", fg="green")
        return
    for d in differences:
        typer.secho(
            f"  {names.get(d.region, d.region)} {forms.heading(d.indicator)}："
            f"报表 {forms.cell(d.indicator, {d.indicator: d.stored})}，"
            f"现在 {forms.cell(d.indicator, {d.indicator: d.now})}",
            fg="red",
        )
    raise typer.Exit(code=1)


projection_app = typer.Typer(help="基金长期测算", no_args_is_help=True)


@projection_app.command("run")
def run_projection(
    scenario: Annotated[Path, typer.Option(help="测算方案文件（TOML）")],
    region: Annotated[str, typer.Option(help="区划代码前缀（县6位、省2位）")],
) -> None:
    """Project the scheme of a region from today's registry and accounts under a scenario."""
    from backend.cli import fail, session_factory

    try:
        with scenario.open("rb") as f:
            data = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as e:
        typer.secho(f"无法读取测算方案文件：{e}", fg="red", err=True)
        raise typer.Exit(code=2) from e
    try:
        parsed = projection.parse_scenario(data)
    except DomainError as e:
        raise fail(e) from e
    mortality = projection.load_mortality()
    with unit_of_work(session_factory()) as session:
        start, entrants = starting_population(
            session=session,
            prefix=region,
            on=dt.date(parsed.start_year - 1, 12, 31),
            years=parsed.years,
        )
    if not start.alive:
        typer.secho(
            f"区划 {region} 在 {parsed.start_year - 1} 年末没有参保人员", fg="red", err=True
        )
        raise typer.Exit(code=2)
    if not mortality.confirmed:
        typer.echo(f"注意：死亡率表未经确认（{mortality.source}）")
    typer.echo(
        "年份  参保人数  缴费人数  领取人数  个人账户结余（元）  账户支付（元）  政府兜底（元）"
    )
    for y in projection.project(start, scenario=parsed, mortality=mortality, entrants=entrants):
        typer.echo(
            f"{y.year}  {y.alive:.0f}  {y.contributors:.0f}  {y.pensioners:.0f}  "
            f"{fen_to_yuan(y.balance_fen)}  {fen_to_yuan(y.account_pension_paid_fen)}  "
            f"{fen_to_yuan(y.government_basic_fen + y.government_after_exhaustion_fen)}"
        )
