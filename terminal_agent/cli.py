"""``xnb agent``: run the terminal agent, or collect a support bundle.

Device drivers are imported when the agent starts, so ``xnb`` itself starts without
the agent's extras installed.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from terminal_agent.config import AgentConfig, AgentConfigError, load_config

agent_app = typer.Typer(help="终端代理：设备、本机接口、离线队列", no_args_is_help=False)

ConfigOption = Annotated[
    Path, typer.Option("--config", "-c", help="代理配置文件 agent.toml", dir_okay=False)
]


def _config(path: Path) -> AgentConfig:
    try:
        return load_config(path)
    except AgentConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(code=2) from exc


@agent_app.callback(invoke_without_command=True)
def run(ctx: typer.Context, config: ConfigOption = Path("agent.toml")) -> None:
    """Run the agent: devices, the local API on 127.0.0.1, the outbox replay."""
    if ctx.invoked_subcommand is not None:
        return
    from terminal_agent.serve import serve

    serve(_config(config))


@agent_app.command("bundle")
def bundle(
    config: ConfigOption = Path("agent.toml"),
    out: Annotated[Path | None, typer.Option(help="输出 zip 文件")] = None,
) -> None:
    """Collect logs, the configuration (secrets removed) and device states into a zip."""
    from terminal_agent.bundle import make_bundle

    settings = _config(config)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    target = out or settings.log.path.parent / f"support-{settings.device_id}-{stamp}.zip"
    typer.echo(str(make_bundle(settings, target)))
