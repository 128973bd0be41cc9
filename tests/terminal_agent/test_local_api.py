"""The local API over a real socket: who may call it, and what it answers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from websockets.typing import Origin

from device_drivers.card_reader import SimulatedCardReader
from terminal_agent.agent import Agent, bootstrap
from terminal_agent.api import PAIRING_HEADER, create_api
from terminal_agent.devices import CardReaderDevice
from tests.terminal_agent.support import (
    PAGE_ORIGIN,
    PAIRING_TOKEN,
    ServerThread,
    agent_config,
    wait_for,
)

PAGE = {"Origin": PAGE_ORIGIN}


def simulated_reader(agent: Agent) -> SimulatedCardReader:
    """The simulated card reader inside the agent."""
    device = agent.devices["card_reader"]
    assert isinstance(device, CardReaderDevice)
    assert isinstance(device.driver, SimulatedCardReader)
    return device.driver


PAIRED = {PAIRING_HEADER: PAIRING_TOKEN}


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[Agent]:
    """An agent with a simulated reader, a pty scanner and a capture printer, started."""
    running = bootstrap(agent_config(tmp_path))
    running.start()
    try:
        yield running
    finally:
        running.close()


@pytest.fixture
def server(agent: Agent) -> Iterator[ServerThread]:
    """The agent's local API on its configured port."""
    with ServerThread(create_api(agent), agent.config.port) as served:
        yield served


def test_page_from_the_backend_origin_may_call_and_gets_cors_headers(server: ServerThread) -> None:
    response = httpx.get(f"{server.url}/v1/status", headers=PAGE)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == PAGE_ORIGIN
    body = response.json()
    assert body["agent"]["version"]
    assert body["backend"]["reachable"] is False
    assert set(body["devices"]) == {"card_reader", "id_scanner", "printer"}


def test_page_from_another_origin_is_refused_even_with_the_pairing_token(
    server: ServerThread,
) -> None:
    for method, path in (("GET", "/v1/status"), ("POST", "/v1/card/read")):
        response = httpx.request(
            method,
            f"{server.url}{path}",
            headers={"Origin": "http://evil.example", **PAIRED},
        )
        assert response.status_code == 403
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "origin_refused"
        assert "access-control-allow-origin" not in response.headers


def test_preflight_from_the_page_origin_allows_the_call(server: ServerThread) -> None:
    response = httpx.options(
        f"{server.url}/v1/card/read",
        headers={**PAGE, "Access-Control-Request-Method": "POST"},
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == PAGE_ORIGIN
    assert response.headers["access-control-allow-private-network"] == "true"
    refused = httpx.options(
        f"{server.url}/v1/card/read",
        headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert refused.status_code == 403


def test_local_program_needs_the_pairing_token(server: ServerThread) -> None:
    missing = httpx.get(f"{server.url}/v1/status")
    assert missing.status_code == 401
    assert missing.json()["code"] == "pairing_required"
    wrong = httpx.get(f"{server.url}/v1/status", headers={PAIRING_HEADER: "guess"})
    assert wrong.status_code == 401
    assert httpx.get(f"{server.url}/v1/status", headers=PAIRED).status_code == 200


def test_a_rebinding_host_name_is_refused(server: ServerThread) -> None:
    response = httpx.get(
        f"{server.url}/v1/status", headers={**PAIRED, "Host": f"evil.example:{server.port}"}
    )
    assert response.status_code == 403
    assert response.json()["code"] == "host_refused"


def test_readers_and_card_read_from_the_simulated_reader(server: ServerThread) -> None:
    readers = httpx.get(f"{server.url}/v1/readers", headers=PAGE).json()["readers"]
    assert readers[0]["card_present"] is True
    card = httpx.post(f"{server.url}/v1/card/read", headers=PAGE)
    assert card.status_code == 200, card.text
    assert card.json()["basic"]["spec_version"] == "3.00"
    assert card.json()["holder"]["name"] == "巴特尔·额尔德尼巴雅尔"
    auth = httpx.post(f"{server.url}/v1/card/authenticate", headers=PAGE)
    assert auth.status_code == 200, auth.text
    assert auth.json()["genuine"] is True


def test_no_card_is_a_problem_with_the_reader_code(agent: Agent, server: ServerThread) -> None:
    simulated_reader(agent).remove()
    response = httpx.post(f"{server.url}/v1/card/read", headers=PAGE)
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "no_card"
    assert body["provincial_code"] == -2
    assert body["retriable"] is True


def test_id_card_read_over_the_pty(server: ServerThread) -> None:
    response = httpx.post(f"{server.url}/v1/idcard/read", headers=PAGE)
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "巴特尔·孟克"
    again = httpx.post(f"{server.url}/v1/idcard/read", headers=PAGE)
    assert again.status_code == 409
    assert again.json()["code"] == "no_id_card"


def test_bad_print_request_is_invalid_input(server: ServerThread) -> None:
    response = httpx.post(
        f"{server.url}/v1/print/receipt", headers=PAGE, json={"receipt": {"layout": "x"}}
    )
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_input"


def test_events_socket_checks_origin_and_reports_card_removal(
    agent: Agent, server: ServerThread
) -> None:
    ws_url = f"ws://127.0.0.1:{server.port}/v1/events"

    async def refused(**kwargs: Any) -> int:
        with pytest.raises(websockets.InvalidStatus) as caught:
            async with websockets.connect(ws_url, **kwargs):
                pass
        return caught.value.response.status_code

    async def listen() -> list[dict[str, Any]]:
        async with websockets.connect(ws_url, origin=Origin(PAGE_ORIGIN)) as socket:
            hello = json.loads(await socket.recv())
            assert hello["type"] == "hello"
            simulated_reader(agent).remove()
            seen: list[dict[str, Any]] = []
            while not any(e["type"] == "card.removed" for e in seen):
                seen.append(json.loads(await asyncio.wait_for(socket.recv(), 3)))
            return seen

    assert asyncio.run(refused(origin=Origin("http://evil.example"))) == 403
    assert asyncio.run(refused()) == 403
    events = asyncio.run(listen())
    assert events[-1]["reader"] == "Simulated Reader 00 00"
    wait_for(lambda: agent.devices["card_reader"].state == "ready", what="reader ready")

    async def paired() -> str:
        async with websockets.connect(f"{ws_url}?pairing_token={PAIRING_TOKEN}") as socket:
            return str(json.loads(await socket.recv())["type"])

    assert asyncio.run(paired()) == "hello"
