"""The agent on the real PC/SC stack keeps working across a real pcscd restart: the page
sees the card go (``card.removed``, ``service_not_running``) and come back
(``card.inserted``) on the WebSocket, and reads the card again without an agent restart."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from terminal_agent.agent import Agent, bootstrap
from terminal_agent.api import PAIRING_HEADER, create_api
from tests.pcsc_rig import PcscRig
from tests.terminal_agent.support import PAIRING_TOKEN, ServerThread, agent_config

pytestmark = pytest.mark.pcsc
PAIRED = {PAIRING_HEADER: PAIRING_TOKEN}


@pytest.fixture
def agent(tmp_path: Path, rig: PcscRig) -> Iterator[Agent]:
    """An agent with only the PC/SC card reader."""
    config = agent_config(
        tmp_path,
        card_reader={"kind": "pcsc", "reader": "Virtual PCD", "verifier": "demo"},
        id_scanner={"kind": "none"},
        printer={"kind": "none"},
    )
    running = bootstrap(config)
    running.start()
    try:
        yield running
    finally:
        running.close()


def events_until(socket: ClientConnection, *wanted: dict[str, Any]) -> list[dict[str, Any]]:
    """Events received until each of ``wanted`` (type and fields) came, in any order."""
    seen: list[dict[str, Any]] = []
    missing = list(wanted)
    while missing:
        event: dict[str, Any] = json.loads(socket.recv(timeout=15))
        seen.append(event)
        missing = [w for w in missing if not all(event.get(k) == v for k, v in w.items())]
    return seen


def of_type(events: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    """The first event of ``kind``."""
    return next(event for event in events if event["type"] == kind)


def test_agent_rides_through_a_real_pcscd_restart(agent: Agent, rig: PcscRig) -> None:
    if not rig.pcscd.owned:
        pytest.fail("the rig must own pcscd to restart it; stop the system pcscd first")
    with ServerThread(create_api(agent), agent.config.port) as local:
        ws_url = f"ws://127.0.0.1:{local.port}/v1/events"
        with connect(ws_url, additional_headers=PAIRED) as socket:
            assert json.loads(socket.recv(timeout=5))["type"] == "hello"
            rig.fresh_card(generation=3)
            inserted = of_type(events_until(socket, {"type": "card.inserted"}), "card.inserted")
            assert inserted["reader"].startswith("Virtual PCD")
            before = httpx.post(f"{local.url}/v1/card/read", headers=PAIRED, timeout=20)
            assert before.status_code == 200, before.text

            rig.pcscd.stop()
            try:
                stopped = events_until(
                    socket,
                    {"type": "card.removed"},
                    {"type": "device.state", "state": "service_not_running"},
                )
                assert of_type(stopped, "card.removed")["atr"] == inserted["atr"]
                during = httpx.post(f"{local.url}/v1/card/read", headers=PAIRED, timeout=20)
                assert during.status_code == 503
                assert during.json()["code"] == "service_not_running"
            finally:
                rig.pcscd.start()

            back = events_until(
                socket, {"type": "card.inserted"}, {"type": "device.state", "state": "ready"}
            )
            assert of_type(back, "card.inserted")["atr"] == inserted["atr"]
            after = httpx.post(f"{local.url}/v1/card/read", headers=PAIRED, timeout=20)
            assert after.status_code == 200, after.text
            assert after.json()["basic"] == before.json()["basic"]
            status = httpx.get(f"{local.url}/v1/status", headers=PAIRED).json()
            assert status["devices"]["card_reader"]["state"] == "ready"
    rig.wait_until(present=True)
