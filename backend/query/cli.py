"""``xnb ivr serve``: the 12333 phone menu's line-protocol server."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from backend.config import get_settings
from backend.query.ivr_server import serve as serve_ivr

ivr_app = typer.Typer(help="12333电话语音查询", no_args_is_help=True)


@ivr_app.command("serve")
def serve(
    port: Annotated[int, typer.Option(help="监听端口")],
    host: Annotated[str, typer.Option(help="监听地址（与电话平台同机）")] = "127.0.0.1",
    timeout: Annotated[int, typer.Option(help="等待按键的秒数")] = 8,
    calls_per_minute: Annotated[int, typer.Option(help="同一来电号码每分钟最多呼入次数")] = 10,
) -> None:
    """Serve the phone menu: one call per TCP connection (docs/ivr.md)."""
    from backend.cli import session_factory

    typer.echo(f"12333电话语音查询：监听 {host}:{port}")
    try:
        asyncio.run(
            serve_ivr(
                factory=session_factory(),
                settings=get_settings(),
                host=host,
                port=port,
                timeout_s=timeout,
                calls_per_minute=calls_per_minute,
            )
        )
    except KeyboardInterrupt:
        typer.echo("已停止")
