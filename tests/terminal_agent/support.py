"""Helpers for agent tests: free ports, uvicorn in a thread, agent configurations."""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import uvicorn

from terminal_agent.backend_client import BackendLink
from terminal_agent.config import AgentConfig, parse_config
from terminal_agent.sessions import SESSION_HEADER

PAGE_ORIGIN = "http://127.0.0.1:8000"
PAIRING_TOKEN = "test-pairing-token-0123456789"


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class ServerThread:
    """An ASGI app served by uvicorn on 127.0.0.1 in a thread; stopped on exit."""

    def __init__(self, app: Any, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_config=None,
            ws="websockets-sansio",
            lifespan="on",
        )
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ServerThread:
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"server on port {self.port} did not start")
            time.sleep(0.02)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=10)


def agent_config(tmp_path: Path, **sections: Any) -> AgentConfig:
    """A configuration with simulated devices under ``tmp_path``; ``sections`` override."""
    document: dict[str, Any] = {
        "port": free_port(),
        "device_id": "test-workstation",
        "backend_url": f"http://127.0.0.1:{free_port()}",
        "allowed_origin": PAGE_ORIGIN,
        "pairing_token": PAIRING_TOKEN,
        "poll_seconds": 0.2,
        "card_reader": {
            "kind": "simulator",
            "simulator_cards": [3],
            "authentication": "local",
            "verifier": "demo",
        },
        "id_scanner": {"kind": "simulator", "profile": "simulator"},
        "printer": {"kind": "capture", "port": 0, "status_poll_seconds": 0},
        "outbox": {"path": str(tmp_path / "outbox.db"), "replay_interval_seconds": 0.2},
        "log": {"path": str(tmp_path / "logs" / "agent.log")},
        "kiosk": {"launch_file": str(tmp_path / "kiosk-launch.url")},
    }
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(document.get(key), dict):
            document[key] = {**document[key], **value}
        else:
            document[key] = value
    return parse_config(document)


def wait_for(predicate: Any, *, timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


#: The operator session token the fake backend of :func:`fake_backend_link` accepts.
OPERATOR_TOKEN = "Bearer test-operator-session"


def fake_backend_link(config: AgentConfig) -> BackendLink:
    """A backend link to a fake backend that knows one operator's session (``/auth/me``)
    and is otherwise unreachable: for local API tests that need no real backend."""

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/auth/me":
            if request.headers.get("authorization") != OPERATOR_TOKEN:
                return httpx.Response(401, json={"code": "login_required"})
            expires = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
            return httpx.Response(
                200, json={"username": "clerk_test", "session_expires_at": expires.isoformat()}
            )
        raise httpx.ConnectError("backend away", request=request)

    return BackendLink(
        config.backend_url, device_id=config.device_id, transport=httpx.MockTransport(answer)
    )


def open_page_session(
    url: str, *, authorization: str = OPERATOR_TOKEN, origin: str = PAGE_ORIGIN
) -> dict[str, str]:
    """What the counter page does after its log-in: register the operator's session with
    the agent; return the headers its later calls carry (origin and session secret)."""
    opened = httpx.post(
        f"{url}/v1/session", headers={"Origin": origin, "Authorization": authorization}, timeout=20
    )
    assert opened.status_code == 200, opened.text
    return {"Origin": origin, SESSION_HEADER: opened.json()["agent_session"]}
