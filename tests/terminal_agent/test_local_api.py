"""The local API over a real socket: who may call it, and what it answers.

The pages' calls carry the session secret the agent gave at ``POST /v1/session`` (here
from a fake backend that knows one operator); headers alone (``Origin``,
``Sec-Fetch-Site``) open nothing (issue 19, defect 8)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from fastapi import FastAPI
from fastapi.routing import APIRoute, APIWebSocketRoute
from websockets.typing import Origin, Subprotocol

from device_drivers.card_reader import SimulatedCardReader
from terminal_agent.agent import Agent, bootstrap
from terminal_agent.api import PAIRING_HEADER, create_api
from terminal_agent.devices import CardReaderDevice
from terminal_agent.sessions import (
    EVENTS_PROTOCOL,
    SESSION_HEADER,
    SESSION_PROTOCOL_PREFIX,
    AgentSession,
    AgentSessions,
    SessionKind,
)
from tests.terminal_agent.support import (
    OPERATOR_TOKEN,
    PAGE_ORIGIN,
    PAIRING_TOKEN,
    ServerThread,
    agent_config,
    fake_backend_link,
    open_page_session,
    wait_for,
)


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
    config = agent_config(tmp_path)
    running = bootstrap(config, link=fake_backend_link(config))
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


@pytest.fixture
def page(server: ServerThread) -> dict[str, str]:
    """The counter page's headers after its operator logged in (origin, session secret)."""
    return open_page_session(server.url)


def test_page_from_the_backend_origin_may_call_and_gets_cors_headers(
    server: ServerThread, page: dict[str, str]
) -> None:
    response = httpx.get(f"{server.url}/v1/status", headers=page)
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
        headers={"Origin": PAGE_ORIGIN, "Access-Control-Request-Method": "POST"},
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
    assert missing.json()["code"] == "agent_session_required"
    wrong = httpx.get(f"{server.url}/v1/status", headers={PAIRING_HEADER: "guess"})
    assert wrong.status_code == 401
    assert httpx.get(f"{server.url}/v1/status", headers=PAIRED).status_code == 200


def test_a_rebinding_host_name_is_refused(server: ServerThread) -> None:
    response = httpx.get(
        f"{server.url}/v1/status", headers={**PAIRED, "Host": f"evil.example:{server.port}"}
    )
    assert response.status_code == 403
    assert response.json()["code"] == "host_refused"


def test_readers_and_card_read_from_the_simulated_reader(
    server: ServerThread, page: dict[str, str]
) -> None:
    readers = httpx.get(f"{server.url}/v1/readers", headers=page).json()["readers"]
    assert readers[0]["card_present"] is True
    card = httpx.post(f"{server.url}/v1/card/read", headers=page)
    assert card.status_code == 200, card.text
    assert card.json()["basic"]["spec_version"] == "3.00"
    assert card.json()["holder"]["name"] == "巴特尔·额尔德尼巴雅尔"
    auth = httpx.post(f"{server.url}/v1/card/authenticate", headers=page)
    assert auth.status_code == 200, auth.text
    assert auth.json()["genuine"] is True


def test_no_card_is_a_problem_with_the_reader_code(
    agent: Agent, server: ServerThread, page: dict[str, str]
) -> None:
    simulated_reader(agent).remove()
    response = httpx.post(f"{server.url}/v1/card/read", headers=page)
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "no_card"
    assert body["provincial_code"] == -2
    assert body["retriable"] is True


def test_id_card_read_over_the_pty(server: ServerThread, page: dict[str, str]) -> None:
    response = httpx.post(f"{server.url}/v1/idcard/read", headers=page)
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "巴特尔·孟克"
    again = httpx.post(f"{server.url}/v1/idcard/read", headers=page)
    assert again.status_code == 409
    assert again.json()["code"] == "no_id_card"


def test_bad_print_request_is_invalid_input(server: ServerThread, page: dict[str, str]) -> None:
    response = httpx.post(
        f"{server.url}/v1/print/receipt", headers=page, json={"receipt": {"layout": "x"}}
    )
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_input"


def test_events_socket_needs_the_session_and_reports_card_removal(
    agent: Agent, server: ServerThread, page: dict[str, str]
) -> None:
    ws_url = f"ws://127.0.0.1:{server.port}/v1/events"
    secret = page[SESSION_HEADER]

    async def refused(url: str = ws_url, **kwargs: Any) -> int:
        with pytest.raises(websockets.InvalidStatus) as caught:
            async with websockets.connect(url, **kwargs):
                pass
        return caught.value.response.status_code

    async def listen() -> list[dict[str, Any]]:
        # As the page does it: the secret in a subprotocol, never in the URL.
        async with websockets.connect(
            ws_url,
            origin=Origin(PAGE_ORIGIN),
            subprotocols=[
                Subprotocol(EVENTS_PROTOCOL),
                Subprotocol(SESSION_PROTOCOL_PREFIX + secret),
            ],
        ) as socket:
            assert socket.subprotocol == EVENTS_PROTOCOL
            hello = json.loads(await socket.recv())
            assert hello["type"] == "hello"
            simulated_reader(agent).remove()
            seen: list[dict[str, Any]] = []
            while not any(e["type"] == "card.removed" for e in seen):
                seen.append(json.loads(await asyncio.wait_for(socket.recv(), 3)))
            return seen

    assert asyncio.run(refused(origin=Origin("http://evil.example"))) == 403
    assert asyncio.run(refused()) == 403
    assert asyncio.run(refused(origin=Origin(PAGE_ORIGIN))) == 403
    guessed = [Subprotocol(EVENTS_PROTOCOL), Subprotocol(SESSION_PROTOCOL_PREFIX + "guess")]
    assert asyncio.run(refused(origin=Origin(PAGE_ORIGIN), subprotocols=guessed)) == 403
    events = asyncio.run(listen())
    assert events[-1]["reader"] == "Simulated Reader 00 00"
    wait_for(lambda: agent.devices["card_reader"].state == "ready", what="reader ready")

    async def paired() -> str:
        async with websockets.connect(ws_url, additional_headers=PAIRED) as socket:
            return str(json.loads(await socket.recv())["type"])

    assert asyncio.run(paired()) == "hello"
    # A query-string token (which access logs would keep) opens nothing.
    assert asyncio.run(refused(f"{ws_url}?pairing_token={PAIRING_TOKEN}")) == 403


#: What a local program can claim in headers to pass for a page (each alone and together).
_BROWSER_CLAIMS = (
    {"Origin": PAGE_ORIGIN},
    {"Sec-Fetch-Site": "same-origin"},
    {"Origin": PAGE_ORIGIN, "Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors"},
)


def _http_routes(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, path) of the app's HTTP routes, path parameters filled in."""
    found = []
    for route in app.routes:
        if isinstance(route, APIRoute):
            path = route.path.replace("{operation}", "person.register")
            found += [(method, path) for method in sorted(route.methods)]
    return found


def test_headers_without_a_secret_open_no_route_http_or_websocket(tmp_path: Path) -> None:
    # A kiosk agent: its own origin is allowed too, so every claim a program can make is tried.
    config = agent_config(tmp_path, kiosk={"enabled": True})
    kiosk = bootstrap(config, link=fake_backend_link(config))
    kiosk.start()
    app = create_api(kiosk)
    own = f"http://127.0.0.1:{config.port}"
    claims = (*_BROWSER_CLAIMS, {"Origin": own}, {"Origin": own, "Sec-Fetch-Site": "same-origin"})
    routes = _http_routes(app)
    assert ("POST", "/v1/idcard/read") in routes and ("POST", "/v1/kiosk/certify") in routes
    sockets = [r.path for r in app.routes if isinstance(r, APIWebSocketRoute)]
    assert sockets == ["/v1/events"]
    try:
        with ServerThread(app, config.port) as served:
            for method, path in routes:
                for headers in claims:
                    answer = httpx.request(
                        method, f"{served.url}{path}", headers=headers, json={}, timeout=10
                    )
                    # /v1/session is the one route open without a secret: it needs the
                    # operator's backend session instead, and gives nothing without it.
                    expected = (
                        "login_required"
                        if (method, path) == ("POST", "/v1/session")
                        else "agent_session_required"
                    )
                    assert answer.status_code == 401, (method, path, headers, answer.text)
                    assert answer.json()["code"] == expected, (method, path, headers)
                    assert "agent_session" not in answer.json()

            async def refused(headers: dict[str, str]) -> int:
                with pytest.raises(websockets.InvalidStatus) as caught:
                    async with websockets.connect(
                        f"ws://127.0.0.1:{config.port}{sockets[0]}", additional_headers=headers
                    ):
                        pass
                return caught.value.response.status_code

            for headers in claims:
                assert asyncio.run(refused(headers)) == 403
            # Nothing reached a device: the ID card on the scanner is still unread.
            first = httpx.post(f"{served.url}/v1/idcard/read", headers=PAIRED, timeout=10)
            assert first.status_code == 200, first.text
    finally:
        kiosk.close()


def test_kiosk_page_session_comes_from_the_private_launch_file_and_opens_kiosk_routes_only(
    tmp_path: Path,
) -> None:
    config = agent_config(tmp_path, kiosk={"enabled": True})
    kiosk = bootstrap(config, link=fake_backend_link(config))
    kiosk.start()
    try:
        launch = config.kiosk.launch_file
        assert stat.S_IMODE(launch.stat().st_mode) == 0o600
        url = launch.read_text().strip()
        assert url == kiosk.kiosk_launch_url
        assert url.startswith(f"http://127.0.0.1:{config.port}/kiosk/#session=")
        secret = url.split("#session=", 1)[1]
        with ServerThread(create_api(kiosk), config.port) as served:
            # The page's static files are public (they hold no secret).
            page_html = httpx.get(f"{served.url}/kiosk/")
            assert page_html.status_code == 200 and secret not in page_html.text
            own = {"Sec-Fetch-Site": "same-origin", SESSION_HEADER: secret}
            assert httpx.get(f"{served.url}/v1/readers", headers=own).status_code == 200
            # Past the guard: the (unreachable) backend is what answers.
            card = httpx.post(f"{served.url}/v1/kiosk/card", headers=own, timeout=10)
            assert card.json()["code"] == "backend_unreachable"
            for path in ("/v1/idcard/read", "/v1/card/read", "/v1/print/receipt"):
                limited = httpx.post(f"{served.url}{path}", headers=own, json={})
                assert limited.status_code == 403
                assert limited.json()["code"] == "kiosk_session_limited"
            # The counter page's operator session may not act as the kiosk.
            operator = open_page_session(served.url)
            counter = httpx.post(f"{served.url}/v1/kiosk/card", headers=operator, timeout=10)
            assert counter.status_code == 403
            assert counter.json()["code"] == "kiosk_page_only"
    finally:
        kiosk.close()


def test_operator_session_needs_the_backend_and_ends_at_log_out(
    server: ServerThread, page: dict[str, str]
) -> None:
    forged = httpx.post(
        f"{server.url}/v1/session", headers={"Origin": PAGE_ORIGIN, "Authorization": "Bearer x"}
    )
    assert forged.status_code == 401 and "agent_session" not in forged.json()
    assert httpx.get(f"{server.url}/v1/outbox", headers=page).status_code == 200
    ended = httpx.delete(f"{server.url}/v1/session", headers=page)
    assert ended.status_code == 204
    after = httpx.get(f"{server.url}/v1/outbox", headers=page)
    assert after.status_code == 401 and after.json()["code"] == "agent_session_required"
    # A second log-in gets a new secret; the operator is the backend's answer.
    again = httpx.post(
        f"{server.url}/v1/session", headers={"Origin": PAGE_ORIGIN, "Authorization": OPERATOR_TOKEN}
    ).json()
    assert again["operator"] == "clerk_test" and again["agent_session"] != page[SESSION_HEADER]


def test_an_expired_session_is_refused() -> None:
    sessions = AgentSessions()
    now = dt.datetime.now(dt.UTC)
    secret = sessions.open(
        AgentSession(
            SessionKind.OPERATOR, operator="clerk", expires_at=now + dt.timedelta(minutes=5)
        )
    )
    assert sessions.find(secret, now=now) is not None
    assert sessions.find(secret, now=now + dt.timedelta(minutes=5)) is None
    assert sessions.find(secret, now=now) is None  # closed for good
