"""``xnb supervision``: load the thresholds and run the rules (idempotent, resumable)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated

import typer

from backend.db import unit_of_work
from backend.errors import DomainError, invalid
from backend.supervision import framework, thresholds
from backend.supervision.models import Run
from backend.supervision.rules import BY_NAME, RULES

supervision_app = typer.Typer(help="基金监管：疑点规则与运行", no_args_is_help=True)


def _yuan(fen: int) -> str:
    return f"{fen / 100:,.2f}元"


@supervision_app.command("thresholds")
def load_thresholds(
    file: Annotated[Path, typer.Option(help="阈值文件（TOML）")] = thresholds.DEFAULT_FILE,
) -> None:
    """Store the dated regional thresholds of a file (all or nothing; a second load adds none)."""
    from backend.cli import fail, session_factory

    try:
        with unit_of_work(session_factory()) as session:
            added = thresholds.load(session=session, path=file)
    except DomainError as e:
        raise fail(e) from e
    typer.echo(f"新增阈值版本 {added} 个")


@supervision_app.command("run")
def run(
    rule: Annotated[str | None, typer.Option(help="只运行这一条规则")] = None,
    region: Annotated[str, typer.Option(help="区划前缀：省2位、市4位或县6位")] = "65",
    as_of: Annotated[str | None, typer.Option(help="判断日期 YYYY-MM-DD，默认今天")] = None,
) -> None:
    """Run the rules over every county of the region; an unfinished run is resumed."""
    from backend.cli import fail, session_factory

    try:
        if rule is not None and rule not in BY_NAME:
            raise invalid("rule", f"没有这条规则；可用：{'、'.join(BY_NAME)}")
        try:
            on = dt.date.fromisoformat(as_of) if as_of else dt.date.today()
        except ValueError as e:
            raise invalid("as_of", "日期格式应为 YYYY-MM-DD") from e
        factory = session_factory()

        def progress(rule_name: str, county: str, counts: framework.ChunkCounts) -> None:
            typer.echo(
                f"  {BY_NAME[rule_name].label} 县 {county}：新增 {counts.new_count}，"
                f"仍存在 {counts.open_count}，已消除 {counts.resolved_count}",
                err=True,
            )

        run_id = framework.run(
            factory=factory,
            rules=[BY_NAME[rule]] if rule else list(RULES),
            region_prefix=region,
            as_of=on,
            only_rule=rule,
            progress=progress,
        )
    except DomainError as e:
        raise fail(e) from e
    with unit_of_work(factory) as session:
        summary = json.loads(session.get_one(Run, run_id).summary_json)
    typer.echo(f"运行 {run_id}（{region}，{on}）完成")
    for name, totals in summary.items():
        typer.echo(
            f"{BY_NAME[name].label}：新增 {totals['new_count']}（{_yuan(totals['new_fen'])}），"
            f"仍存在 {totals['open_count']}（{_yuan(totals['open_fen'])}），"
            f"已消除 {totals['resolved_count']}（{_yuan(totals['resolved_fen'])}）"
        )
