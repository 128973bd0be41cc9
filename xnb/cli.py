"""The ``xnb`` command: one root, a sub-command group per area."""

from __future__ import annotations

from typing import Annotated

import typer

from backend.cli import register as register_backend
from backend.pki.cli import cert_app
from device_drivers.cli import card_app, idcard_app
from device_drivers.receipt_cli import app as receipt_app
from terminal_agent.cli import agent_app
from xnb_client.cli import cert_request, login

app = typer.Typer(
    name="xnb",
    help="xnb 城乡居民养老保险与社保卡平台",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
register_backend(app)
# The client's commands: the backend may not import xnb_client, so they join here, `request`
# in the backend's `cert` group.
app.command("login")(login)
cert_app.command("request")(cert_request)
app.add_typer(card_app, name="card", help="社保卡：虚拟卡与读卡器")
app.add_typer(idcard_app, name="idcard", help="身份证：演示工作台的模拟身份证阅读器")
app.add_typer(receipt_app, name="receipt", help="收据：预览与模拟打印机")
app.add_typer(agent_app, name="agent", help="终端代理：设备、本机接口、离线队列")


@app.command("demo")
def demo(
    residents: Annotated[int, typer.Option(min=0, help="合成居民人数")] = 3000,
    seed: Annotated[int, typer.Option(help="随机种子")] = 2026,
    serve: Annotated[bool, typer.Option(help="准备完成后启动服务")] = True,
    port: Annotated[int, typer.Option(help="服务端口")] = 8000,
    counter: Annotated[bool, typer.Option(help="用模拟设备走一遍柜台业务并保存收据预览")] = True,
    agent_port: Annotated[int, typer.Option(help="柜面终端代理的本机端口")] = 17800,
    control_port: Annotated[
        int, typer.Option(help="模拟设备的控制端口（xnb card insert / xnb idcard place）")
    ] = 35999,
) -> None:
    """The demo: fresh embedded database, demo county, operators, residents, a counter
    visit through a terminal agent with simulated devices, and the server."""
    from xnb.demo import run

    run(
        residents=residents,
        seed=seed,
        serve=serve,
        port=port,
        counter=counter,
        agent_port=agent_port,
        control_port=control_port,
    )


def main() -> None:
    """Console entry point."""
    app()
