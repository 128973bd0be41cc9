"""``GET /v1/status`` reports the backend's reachability from a background probe: it
answers at once while the backend hangs, and follows the backend going away and back."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx

from terminal_agent.agent import bootstrap
from terminal_agent.api import PAIRING_HEADER, create_api
from tests.terminal_agent.backend_support import LiveBackend
from tests.terminal_agent.support import PAIRING_TOKEN, ServerThread, agent_config, wait_for

PAIRED = {PAIRING_HEADER: PAIRING_TOKEN}


def test_status_answers_while_the_backend_hangs_then_follows_it_down_and_up(
    tmp_path: Path,
) -> None:
    # Accepts connections and never answers: a call waits for the whole backend timeout.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    port = silent.getsockname()[1]
    (tmp_path / "backend").mkdir()
    backend = LiveBackend(tmp_path / "backend", port=port)
    config = agent_config(
        tmp_path,
        backend_url=backend.url,
        backend_timeout_seconds=60,
        backend_probe_seconds=0.2,
    )
    agent = bootstrap(config)
    agent.start()
    try:
        with ServerThread(create_api(agent), config.port) as local:

            def backend_state() -> dict[str, object]:
                # The client's timeout is far below the backend timeout of 60 s.
                status = httpx.get(f"{local.url}/v1/status", headers=PAIRED, timeout=5)
                state: dict[str, object] = status.json()["backend"]
                return state

            hanging = backend_state()
            assert hanging["reachable"] is None and hanging["checked_at"] is None
            silent.close()  # the hanging connection is reset; nobody listens any more
            wait_for(lambda: backend_state()["reachable"] is False, what="backend down")
            with backend:
                wait_for(lambda: backend_state()["reachable"] is True, what="backend up")
            wait_for(lambda: backend_state()["reachable"] is False, what="backend down again")
            assert backend_state()["checked_at"] is not None
    finally:
        silent.close()
        agent.close()
        backend.engine.dispose()
