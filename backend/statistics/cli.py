"""``xnb stats``: make, sign off, export and verify the report forms of the residents' scheme."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from backend.db import unit_of_work
from backend.errors import DomainError
from backend.payroll.cli import Operator, principal_for
from backend.statistics import forms, reports
from backend.statistics.models import StatisticsReport

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
