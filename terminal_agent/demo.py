"""The counter demo: an agent with simulated devices walks one visit against a backend.

``run_counter_demo`` starts an agent in this process (the virtual social security
card in a simulated reader, a GA 467 scanner simulator on a pty, a capture printer on
127.0.0.1), serves its local API, and drives it over HTTP as the counter page would:
card read → card authentication → ID card read → the resident registered, enrolled,
assessed and paid at the backend → the collection's receipt signed by the backend and
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

from card_services.virtual_card import CardState
from device_drivers.card_emulator import CardDeck
from device_drivers.card_reader import SimulatedCardReader
from device_drivers.cli import CONTROL_PORT
from device_drivers.demo_devices import DemoDevices
from device_drivers.id_scanner import IdCard
from device_drivers.printer import decode_escpos
from device_drivers.printer.preview import save_preview
from terminal_agent.agent import bootstrap
from terminal_agent.api import PAIRING_HEADER, create_api
from terminal_agent.config import parse_config

log = logging.getLogger(__name__)
#: The village in the demo clerk's township where the visiting resident is registered.
DEMO_VILLAGE = "654226100200"
#: The simulated ID card on the scanner: a resident of working age (GA 467 deck, card 4).
DEMO_ID_CARD = 4


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _backend(backend_url: str, token: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """One state-changing call to the backend, as the counter page makes it."""
    response = httpx.post(
        f"{backend_url}/api/v1{path}",
        headers={"Authorization": token, "Idempotency-Key": secrets.token_hex(16)},
        json=body,
        timeout=20,
    )
    answer: dict[str, Any] = response.raise_for_status().json()
    return answer


def collect_at_backend(backend_url: str, token: str, resident: dict[str, Any]) -> dict[str, Any]:
    """Register the resident read from the ID card, enrol, assess this year, take the cash."""
    person = _backend(
        backend_url,
        token,
        "/persons",
        {
            "id_number": resident["id_number"],
            "name": resident["name"],
            "ethnicity": resident["ethnicity"],
            "hukou_region_code": DEMO_VILLAGE,
            "address": resident["address"],
        },
    )
    _backend(backend_url, token, "/enrolments", {"person_id": person["id"]})
    assessment = _backend(
        backend_url,
        token,
        "/contributions/assessments",
        {"person_id": person["id"], "year": time.gmtime().tm_year, "grade_fen": 50000},
    )
    collection = _backend(
        backend_url, token, "/contributions/collections", {"assessment_id": assessment["id"]}
    )
    return {"assessment": assessment, "collection": collection}


def _visit(api: str, headers: dict[str, str], backend_url: str, token: str) -> list[dict[str, Any]]:
    """One counter visit through the local API; the receipts it printed.

    The agent has the backend sign the receipt of the collection the visit made: the
    backend takes the person and the amount from the collection, not from the page.
    """
    httpx.post(f"{api}/v1/card/read", headers=headers, timeout=10).raise_for_status()
    httpx.post(f"{api}/v1/card/authenticate", headers=headers, timeout=10).raise_for_status()
    resident = httpx.post(f"{api}/v1/idcard/read", headers=headers, timeout=10)
    person = resident.raise_for_status().json()
    paid = collect_at_backend(backend_url, token, person)
    counter = {"office": "和布克赛尔镇社保所", "operator": "演示经办员"}
    receipt = {
        "layout": "contribution",
        "name": person["name"],
        "id_number": person["id_number"],
        "contribution_year": paid["assessment"]["year"],
        "grade_fen": paid["assessment"]["grade_fen"],
        "amount_fen": paid["collection"]["amount_fen"],
    }
    response = httpx.post(
        f"{api}/v1/print/receipt",
        headers={**headers, "Authorization": token},
        json={"receipt": receipt, "counter": counter, "fact_id": paid["collection"]["id"]},
        timeout=20,
    )
    return [response.raise_for_status().json()]


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
            "id_scanner": {
                "kind": "simulator",
                "profile": "simulator",
                "simulator_card": DEMO_ID_CARD,
            },
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
        printed = _visit(api, {PAIRING_HEADER: pairing}, backend_url, token)
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


class CounterAgent:
    """The demo's counter agent, left running for the desk: devices the user controls with
    ``xnb card insert …`` / ``xnb idcard place …`` (``device_drivers.demo_devices``)."""

    def __init__(
        self,
        backend_url: str,
        var_dir: Path,
        *,
        chips: dict[str, CardState],
        id_cards: dict[str, IdCard],
        port: int = 17800,
        control_port: int = CONTROL_PORT,
    ) -> None:
        deck_dir = var_dir / "cards"
        deck_dir.mkdir(parents=True, exist_ok=True)
        deck = CardDeck(deck_dir, slots=0)
        for state in chips.values():
            deck.add(state, replace=True)
        self.pairing = secrets.token_urlsafe(24)
        self.config = parse_config(
            {
                "port": port,
                "device_id": "demo-counter",
                "backend_url": backend_url,
                "pairing_token": self.pairing,
                # The cards were issued by the backend under its vault's keys: a production
                # setting, the workstation holds no card key.
                "card_reader": {"kind": "simulator", "simulator_cards": []},
                "id_scanner": {"kind": "simulator", "profile": "simulator", "simulator_card": None},
                "printer": {"kind": "capture", "port": 0, "status_poll_seconds": 0},
                "outbox": {"path": str(var_dir / "agent" / "outbox.db")},
                "log": {"path": str(var_dir / "agent" / "agent.log")},
            }
        )
        (var_dir / "agent").mkdir(parents=True, exist_ok=True)
        self.agent = bootstrap(self.config)
        reader = self.agent.device("card_reader").driver
        assert isinstance(reader, SimulatedCardReader)
        assert self.agent.scanner_simulator is not None
        self.devices = DemoDevices(
            deck=deck,
            reader=reader,
            scanner=self.agent.scanner_simulator,
            id_cards=id_cards,
            capture=self.agent.capture,
            receipts_dir=var_dir / "receipts",
        )
        self.devices.serve(control_port)
        self.agent.start()
        self.server = uvicorn.Server(
            uvicorn.Config(create_api(self.agent), host="127.0.0.1", port=port, log_config=None)
        )
        self.thread = threading.Thread(target=self.server.run, name="demo-agent", daemon=True)
        self.thread.start()
        while not self.server.started and self.thread.is_alive():
            time.sleep(0.02)
        self.url = f"http://127.0.0.1:{port}"

    def close(self) -> None:
        """Stop the API, the devices and the agent."""
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.devices.close()
        self.agent.close()
