"""``xnb demo``: the whole story on one machine, composed from the backend and the agent.

The backend prepares a fresh embedded database (demo county, operators, residents,
contribution history) and is served on 127.0.0.1; a terminal agent with simulated
devices then walks a counter visit against it over HTTP, and the receipts it printed
are saved as PNG previews under ``var/``. The backend and the agent meet only here.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import typer
import uvicorn
from fastapi import FastAPI

from backend.app import create_app
from backend.demo import banner, prepare_demo
from backend.demo_cards import DemoCard

if TYPE_CHECKING:
    from device_drivers.id_scanner import IdCard


def _start_backend(app: FastAPI, port: int) -> tuple[uvicorn.Server, threading.Thread]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="demo-backend", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return server, thread
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    server.should_exit = True
    raise typer.Exit(code=1)


def _id_cards(cards: list[DemoCard]) -> dict[str, IdCard]:
    """The ID cards of the demo's card holders, and two more from the synthetic deck: the
    resident the counter visit registered, and someone not yet enrolled."""
    from device_drivers.id_scanner import IdCard, synthetic_deck
    from terminal_agent.demo import DEMO_ID_CARD

    deck = {
        card.label: IdCard(
            name=card.name,
            gender=card.gender,
            ethnicity=card.ethnicity,
            birth_date=card.birth_date,
            address=card.address,
            id_number=card.id_number,
            issuing_authority="和布克赛尔蒙古自治县公安局",
            valid_from=dt.date(2016, 5, 1),
            valid_to=None,
        )
        for card in cards
    }
    synthetic = synthetic_deck()
    deck["newcomer"] = synthetic[DEMO_ID_CARD]
    deck["unregistered"] = synthetic[DEMO_ID_CARD + 1]
    return deck


def _tour(cards: list[DemoCard], desk_url: str, agent_url: str) -> str:
    """Which card is whose, and the commands that play the resident."""
    lines = [
        "",
        f"柜面工作台  {desk_url}（clerk_hbk 登录；本机终端代理 {agent_url}）",
        "演示卡（另开一个终端输入命令，模拟居民插卡、放身份证）：",
    ]
    lines += [f"  {c.label:<13} {c.role}  {c.name}  {c.id_number}" for c in cards]
    lines += [
        "  newcomer       本次演示登记的新参保人（只有身份证）",
        "  unregistered   尚未登记的居民（只有身份证，可在工作台办理参保登记）",
        "  .venv/bin/xnb card insert pensioner-1     插入社保卡（F2 读卡）",
        "  .venv/bin/xnb idcard place pensioner-1    放上身份证（F3 读证）",
        "  .venv/bin/xnb card remove / xnb idcard lift / xnb card list / xnb idcard list",
        "  社保卡初始密码 123456；打印的收据预览保存在 var/receipts/",
    ]
    return "\n".join(lines)


def run(
    *,
    residents: int,
    seed: int,
    serve: bool,
    port: int,
    counter: bool,
    agent_port: int = 17800,
    control_port: int = 35999,
) -> None:
    """Prepare, serve, walk the counter visit, start the desk's counter agent, print where
    to look; serve until Ctrl+C."""
    from terminal_agent.demo import CounterAgent, run_counter_demo

    prepared = prepare_demo(residents=residents, seed=seed)
    base_url = f"http://127.0.0.1:{port}"
    server, thread = _start_backend(create_app(prepared.settings), port)
    desk_agent = None
    try:
        if counter:
            typer.echo("终端代理（模拟读卡器、身份证阅读器、打印机）走一遍柜台业务 …")
            receipts_dir = prepared.database.parent / "receipts"
            previews = run_counter_demo(
                base_url, receipts_dir, username="clerk_hbk", password=prepared.password
            )
            for preview in previews:
                typer.echo(f"  收据预览  {Path(preview)}")
        typer.echo("启动柜面终端代理（模拟读卡器、身份证阅读器、打印机）…")
        desk_agent = CounterAgent(
            base_url,
            prepared.database.parent,
            chips={card.label: card.chip for card in prepared.cards},
            id_cards=_id_cards(prepared.cards),
            port=agent_port,
            control_port=control_port,
        )
        typer.echo(
            banner(
                base_url=base_url,
                password=prepared.password,
                residents=residents,
                database=prepared.database,
            )
        )
        typer.echo(_tour(prepared.cards, f"{base_url}/desk/", desk_agent.url))
        if serve:
            while thread.is_alive():
                thread.join(timeout=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        if desk_agent is not None:
            desk_agent.close()
        server.should_exit = True
        thread.join(timeout=10)
