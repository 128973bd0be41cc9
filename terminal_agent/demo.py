"""The counter demo: an agent with simulated devices walks one visit against a backend.

``run_counter_demo`` starts an agent in this process (the virtual social security
card in a simulated reader, a GA 467 scanner simulator on a pty, a capture printer on
127.0.0.1), serves its local API, and drives it over HTTP as the counter page would:
card read → card authentication → ID card read → receipts signed by the backend and
printed. Each printed receipt is decoded and saved as a PNG preview. The backend is
reached only over HTTP; ``xnb demo`` calls this with the demo operator's log-in.
"""

from __future__ import annotations

import logging
import secrets
import socket
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from device_drivers.printer import decode_escpos
from device_drivers.printer.preview import save_preview
from terminal_agent.agent import bootstrap
from terminal_agent.api import PAIRING_HEADER, create_api
from terminal_agent.config import parse_config

log = logging.getLogger(__name__)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _visit(api: str, headers: dict[str, str], token: str) -> list[dict[str, Any]]:
    """One counter visit through the local API; the receipts it printed."""
    card = httpx.post(f"{api}/v1/card/read", headers=headers, timeout=10).raise_for_status()
    httpx.post(f"{api}/v1/card/authenticate", headers=headers, timeout=10).raise_for_status()
    resident = httpx.post(f"{api}/v1/idcard/read", headers=headers, timeout=10)
    person = resident.raise_for_status().json()
    holder = card.json()["holder"]
    counter = {"office": "和布克赛尔镇社保所", "operator": "演示经办员"}
    receipts = [
        {
            "layout": "contribution",
            "name": person["name"],
            "id_number": person["id_number"],
            "contribution_year": 2026,
            "grade_fen": 50000,
            "amount_fen": 50000,
        },
        {
            "layout": "card_issued",
            "name": holder["name"],
            "id_number": holder["social_security_number"],
            "card_number": card.json()["basic"]["card_number"],
            "bank": "中国农业银行和布克赛尔支行",
        },
    ]
    printed = []
    for receipt in receipts:
        response = httpx.post(
            f"{api}/v1/print/receipt",
            headers={**headers, "Authorization": token},
            json={"receipt": receipt, "counter": counter},
            timeout=20,
        )
        printed.append(response.raise_for_status().json())
    return printed


def run_counter_demo(
    backend_url: str, out_dir: Path, *, username: str, password: str
) -> list[Path]:
    """Walk a counter visit with simulated devices; return the PNG previews written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    login = httpx.post(
        f"{backend_url}/api/v1/auth/login",
        json={"username": username, "password": password},
        timeout=10,
    ).raise_for_status()
    token = f"Bearer {login.json()['access_token']}"
    pairing = secrets.token_urlsafe(24)
    config = parse_config(
        {
            "port": _free_port(),
            "device_id": "demo-counter",
            "backend_url": backend_url,
            "pairing_token": pairing,
            # The demo backend holds no records of the simulator's demo cards, so the card
            # is authenticated and read with the public demo keys in the agent (a
            # production workstation holds no card key: verifier = "backend").
            "card_reader": {
                "kind": "simulator",
                "simulator_cards": [3],
                "authentication": "local",
                "verifier": "demo",
            },
            "id_scanner": {"kind": "simulator", "profile": "simulator", "simulator_card": 0},
            "printer": {"kind": "capture", "port": 0, "status_poll_seconds": 0},
            "outbox": {"path": str(out_dir / "demo-outbox.db")},
            "log": {"path": str(out_dir / "agent.log")},
        }
    )
    agent = bootstrap(config)
    agent.start()
    server = uvicorn.Server(
        uvicorn.Config(create_api(agent), host="127.0.0.1", port=config.port, log_config=None)
    )
    thread = threading.Thread(target=server.run, name="demo-agent-api", daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.02)
        api = f"http://127.0.0.1:{config.port}"
        printed = _visit(api, {PAIRING_HEADER: pairing}, token)
        assert agent.capture is not None
        jobs = [job for job in agent.capture.wait_for_jobs(len(printed)) if b"\x1b@" in job.data]
        previews = []
        for job, receipt in zip(jobs, printed, strict=True):
            path = out_dir / f"receipt-{receipt['receipt_number']}.png"
            (out_dir / f"receipt-{receipt['receipt_number']}.bin").write_bytes(job.data)
            previews.append(save_preview(decode_escpos(job.data), path))
            log.info("receipt %s printed, preview %s", receipt["receipt_number"], path)
        return previews
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        agent.close()
