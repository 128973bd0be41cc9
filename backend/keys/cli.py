"""``xnb keys …``: the key ceremony on the server console (audited as the system actor)."""

from __future__ import annotations

from typing import Annotated

import typer

from backend.audit.service import Actor
from backend.cli import fail, session_factory
from backend.config import get_settings
from backend.db import unit_of_work
from backend.errors import DomainError
from backend.keys import fields, service, stores
from backend.keys.vault import KeyFamily

keys_app = typer.Typer(help="社保卡主密钥（密钥仪式）", no_args_is_help=True)


@keys_app.command("init")
def keys_init(
    province: Annotated[str, typer.Option(help="省级区划代码（2位）")],
    demo_keys: Annotated[
        bool, typer.Option("--demo-keys", help="载入公开的演示密钥（仅开发与测试）")
    ] = False,
) -> None:
    """Generate the province's card master keys into a new vault (file or HSM token)."""
    settings = get_settings()
    try:
        with unit_of_work(session_factory()) as session:
            vault = service.init_vault(
                session=session,
                settings=settings,
                actor=Actor.system("key-ceremony"),
                province_code=province,
                demo_keys=demo_keys,
            )
    except DomainError as e:
        raise fail(e) from e
    typer.echo(f"密钥库已建立：{stores.location(settings)}（省 {vault.province_code}）")
    for value in vault.key_check_values():
        typer.echo(f"  {value.family.value:<5} v{value.version} {value.key_name:<14} {value.kcv}")


@keys_app.command("rotate")
def keys_rotate(family: Annotated[KeyFamily, typer.Argument(help="3des 或 sm4")]) -> None:
    """Generate the next version of one family's issuer keys and make it active."""
    try:
        with unit_of_work(session_factory()) as session:
            value = service.rotate(
                session=session,
                settings=get_settings(),
                actor=Actor.system("key-ceremony"),
                family=family,
            )
    except DomainError as e:
        raise fail(e) from e
    typer.echo(f"{family.value} 密钥已轮换为第{value.version}版（内部认证主密钥 KCV {value.kcv}）")


@keys_app.command("kcv")
def keys_kcv() -> None:
    """Print the key check values of every master key and version."""
    try:
        with unit_of_work(session_factory()) as session:
            values = service.check_values(
                session=session, settings=get_settings(), actor=Actor.system("key-ceremony")
            )
    except DomainError as e:
        raise fail(e) from e
    for value in values:
        mark = "*" if value.active else " "
        typer.echo(
            f"{mark} {value.family.value:<5} v{value.version} {value.key_name:<14} {value.kcv}"
        )


@keys_app.command("init-data")
def keys_init_data() -> None:
    """Create the personal-data key ring (data key version 1 and the lookup key)."""
    settings = get_settings()
    try:
        with unit_of_work(session_factory()) as session:
            service.init_data_keys(
                session=session, settings=settings, actor=Actor.system("key-ceremony")
            )
    except DomainError as e:
        raise fail(e) from e
    typer.echo(f"个人数据密钥已建立：{settings.data_key_path}")


@keys_app.command("rotate-data-key")
def keys_rotate_data_key() -> None:
    """Make a new personal-data key version the one new values are encrypted with."""
    try:
        with unit_of_work(session_factory()) as session:
            version = service.rotate_data_key(
                session=session, settings=get_settings(), actor=Actor.system("key-ceremony")
            )
    except DomainError as e:
        raise fail(e) from e
    typer.echo(f"个人数据密钥已轮换为第{version}版")
    typer.echo("请运行 xnb keys rewrap-personal-data，用新密钥重新加密已有数据")


@keys_app.command("rewrap-personal-data")
def keys_rewrap_personal_data(
    chunk_rows: Annotated[int, typer.Option(min=100, help="每次提交的行数")] = 5000,
) -> None:
    """Re-encrypt every stored personal-data value under the active data key (streamed)."""

    def progress(count: fields.RewrapCount) -> None:
        typer.echo(f"  {count.table}：已读{count.rows_read}行，重新加密{count.values_rewrapped}项")

    try:
        counts = service.rewrap_personal_data(
            factory=session_factory(),
            actor=Actor.system("key-ceremony"),
            chunk_rows=chunk_rows,
            progress=progress,
        )
    except DomainError as e:
        raise fail(e) from e
    total = sum(c.values_rewrapped for c in counts)
    version = fields.ring().active_version
    typer.echo(f"完成：{len(counts)}张表，重新加密{total}项（现行第{version}版）")
