"""``xnb policy``: load, list, approve and look up policy versions (server console)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from backend.audit.service import Actor
from backend.db import unit_of_work
from backend.errors import DomainError, PermissionDenied
from backend.orgs import service as orgs
from backend.orgs.permissions import ROLE_PERMISSIONS, Permission, Role
from backend.policy import service

policy_app = typer.Typer(
    help="政策参数版本（档次、补贴、利率、基础养老金等）", no_args_is_help=True
)


def _policy_admin(session: object, username: str) -> int:
    from sqlalchemy.orm import Session

    assert isinstance(session, Session)
    operator = orgs.get_operator_by_username(session=session, username=username)
    if Permission.POLICY_MANAGE not in ROLE_PERMISSIONS[Role(operator.role)]:
        raise PermissionDenied(detail=f"{username}没有政策管理权限", code="permission_denied")
    return operator.id


@policy_app.command("load")
def load(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="政策TOML文件")],
    maker: Annotated[str | None, typer.Option(help="提出人（政策管理员用户名）")] = None,
    bootstrap: Annotated[
        bool, typer.Option(help="首次部署：直接生效（仅在尚无任何政策版本时允许）")
    ] = False,
) -> None:
    """Propose every version of a file (pending until approved), or bootstrap an empty system."""
    from backend.cli import fail, session_factory

    try:
        with unit_of_work(session_factory()) as session:
            if bootstrap:
                if service.list_versions(session=session):
                    raise PermissionDenied(
                        detail="已有政策版本，不能再以 --bootstrap 直接生效",
                        code="bootstrap_refused",
                    )
                maker_id = None
            elif maker is None:
                raise typer.BadParameter("须用 --maker 指明提出人，或首次部署时用 --bootstrap")
            else:
                maker_id = _policy_admin(session, maker)
            results = service.load_file(
                session=session,
                path=path,
                actor=Actor.system(maker or "bootstrap"),
                maker_id=maker_id,
                active=bootstrap,
            )
            for version, created in results:
                state = "新建" if created else "已存在，未改变"
                typer.echo(
                    f"版本 {version.id} [{version.status}] {version.region_prefix or '全国'}"
                    f" 自 {version.valid_from}：{version.name}（{state}）"
                )
    except DomainError as e:
        raise fail(e) from e


@policy_app.command("defaults")
def defaults() -> None:
    """Activate the shipped national 2009/2014 defaults and the demo county override."""
    from backend.cli import session_factory

    with unit_of_work(session_factory()) as session:
        created = service.load_defaults(session=session, actor=Actor.system("bootstrap"))
    typer.echo(f"已载入随附政策：新建 {created} 个版本")


@policy_app.command("approve")
def approve(
    version_id: int,
    checker: Annotated[str, typer.Option(help="审核人（另一位政策管理员）")],
    reject: Annotated[bool, typer.Option(help="驳回而不是通过")] = False,
) -> None:
    """Approve (activate) or reject a pending version; the checker may not be its maker."""
    from backend.cli import fail, session_factory

    try:
        with unit_of_work(session_factory()) as session:
            checker_id = _policy_admin(session, checker)
            version = service.decide(
                session=session,
                version_id=version_id,
                checker_id=checker_id,
                actor=Actor.system(checker),
                approve=not reject,
            )
            typer.echo(f"版本 {version.id} 现为 {version.status}")
    except DomainError as e:
        raise fail(e) from e


@policy_app.command("list")
def list_versions() -> None:
    """Every version with its region, dates and state."""
    from backend.cli import session_factory

    with unit_of_work(session_factory()) as session:
        for v in service.list_versions(session=session):
            until = v.valid_to or "下一版本"
            typer.echo(
                f"{v.id:>4} {v.status:<8} {v.region_prefix or '全国':<7} "
                f"{v.valid_from} 至 {until}  {v.name}"
            )


@policy_app.command("show")
def show(
    region: Annotated[str, typer.Option(help="区划代码（6或12位）")],
    on: Annotated[str, typer.Option(help="日期 YYYY-MM-DD")],
) -> None:
    """The version in force at a region on a date (an error if none covers it)."""
    from backend.cli import fail, session_factory

    try:
        with unit_of_work(session_factory()) as session:
            v = service.version_on(
                session=session, region_code=region.ljust(12, "0"), on=dt.date.fromisoformat(on)
            )
            typer.echo(f"版本 {v.id}：{v.name}（{v.region_prefix or '全国'}，自 {v.valid_from}）")
            typer.echo(v.rules_json)
    except DomainError as e:
        raise fail(e) from e
