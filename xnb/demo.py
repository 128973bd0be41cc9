"""``xnb demo``: the whole story on one machine, composed from the backend and the agent.

The backend prepares a fresh embedded database (demo county, operators, residents,
contribution history) and is served on 127.0.0.1; a terminal agent with simulated
devices then walks a counter visit against it over HTTP, and the receipts it printed
are saved as PNG previews under ``var/``. The backend and the agent meet only here.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import typer
import uvicorn
from fastapi import FastAPI

from backend.app import create_app
from backend.demo import banner, prepare_demo


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


def run(*, residents: int, seed: int, serve: bool, port: int, counter: bool) -> None:
    """Prepare, serve, walk the counter visit, print where to look; serve until Ctrl+C."""
    from terminal_agent.demo import run_counter_demo

    prepared = prepare_demo(residents=residents, seed=seed)
    base_url = f"http://127.0.0.1:{port}"
    server, thread = _start_backend(create_app(prepared.settings), port)
    try:
        if counter:
            typer.echo("终端代理（模拟读卡器、身份证阅读器、打印机）走一遍柜台业务 …")
            receipts_dir = prepared.database.parent / "receipts"
            previews = run_counter_demo(
                base_url, receipts_dir, username="clerk_hbk", password=prepared.password
            )
            for preview in previews:
                typer.echo(f"  收据预览  {Path(preview)}")
        typer.echo(
            banner(
                base_url=base_url,
                password=prepared.password,
                residents=residents,
                database=prepared.database,
            )
        )
        if serve:
            while thread.is_alive():
                thread.join(timeout=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.should_exit = True
        thread.join(timeout=10)
