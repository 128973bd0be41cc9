"""Helpers for agent tests: free ports, uvicorn in a thread, agent configurations."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import uvicorn

from terminal_agent.config import AgentConfig, parse_config

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
