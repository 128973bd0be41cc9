"""Exactly once across crashes: the agent is killed with SIGKILL while it submits and while
it replays, and the backend is cut off; the backend must end up holding every
acknowledged operation once, and nothing twice.

The operation is a real state change of the backend (``POST /api/v1/persons``, one
resident per operation, idempotent by ``Idempotency-Key``). An operation whose
submission died with the agent before it was acknowledged may or may not have reached
the outbox; it must then be there once or not at all.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from national_codes import make_id_number
from terminal_agent.api import PAIRING_HEADER
from tests.terminal_agent.backend_support import VILLAGE, LiveBackend
from tests.terminal_agent.support import PAIRING_TOKEN, free_port, wait_for

PAIRED = {PAIRING_HEADER: PAIRING_TOKEN}


class AgentProcess:
    """``python -m terminal_agent`` with no devices, restartable, killed with SIGKILL."""

    def __init__(self, directory: Path, backend_url: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = directory / "agent.toml"
        self.config.write_text(
            f"""
port = {self.port}
device_id = "kill-test"
backend_url = "{backend_url}"
pairing_token = "{PAIRING_TOKEN}"
backend_timeout_seconds = 2.0

[card_reader]
kind = "none"
[id_scanner]
kind = "none"
[printer]
kind = "none"

[outbox]
path = "{directory / "outbox.db"}"
offline_operations = ["person.register"]
replay_interval_seconds = 0.1

[log]
path = "{directory / "logs" / "agent.log"}"

[operations."person.register"]
path = "/api/v1/persons"
""",
            encoding="utf-8",
        )
        self.config.chmod(0o600)  # it holds the pairing token
        self.process: subprocess.Popen[bytes] | None = None
        self.kills = 0

    def start(self) -> None:
        """Start the agent and wait until its API answers."""
        self.process = subprocess.Popen(
            [sys.executable, "-m", "terminal_agent", "--config", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(self._answers, timeout=30, what="agent up")

    def _answers(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"agent exited with {self.process.returncode}")
        try:
            return httpx.get(f"{self.url}/v1/outbox", headers=PAIRED, timeout=1).is_success
        except httpx.HTTPError:
            return False

    def kill(self) -> None:
        """SIGKILL: no clean-up, no flush, no goodbye."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
            self.kills += 1
        self.process = None

    def outbox(self) -> dict[str, Any]:
        """The agent's outbox as the local API reports it."""
        response = httpx.get(f"{self.url}/v1/outbox", headers=PAIRED, timeout=5)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[LiveBackend, AgentProcess]]:
    """A served backend and a started agent process; both stopped afterwards."""
    (tmp_path / "backend").mkdir()
    with LiveBackend(tmp_path / "backend") as b:
        agent = AgentProcess(tmp_path, b.url)
        agent.start()
        try:
            yield b, agent
        finally:
            agent.kill()


def person(n: int) -> dict[str, Any]:
    """Resident number ``n``: a valid, unique ID number in the clerk's township."""
    birth = dt.date(1950, 1, 1) + dt.timedelta(days=37 * n)
    return {
        "id_number": make_id_number("654226", birth, 100 + n),
        "name": "王" + "秀桂建德玉志淑国海永"[n % 10] + "英兰国明华强珍军燕"[n // 10],
        "ethnicity": "01",
        "hukou_region_code": VILLAGE,
    }


def submit(agent: AgentProcess, token: str, body: dict[str, Any]) -> dict[str, Any] | None:
    """One submission through the local API; ``None`` when the agent died under it."""
    try:
        response = httpx.post(
            f"{agent.url}/v1/operations/person.register",
            json=body,
            headers={**PAIRED, "Authorization": token},
            timeout=10,
        )
    except httpx.HTTPError:
        return None
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def register(agent: AgentProcess, token: str) -> None:
    """What the page does when it finds the agent (re)started: register the operator's
    session (the agent keeps session tokens in memory only, so a restarted agent's queue
    waits for this)."""
    response = httpx.post(f"{agent.url}/v1/session", headers={"Authorization": token}, timeout=10)
    assert response.status_code == 200, response.text


def test_killed_agent_and_cut_backend_deliver_every_operation_exactly_once(
    world: tuple[LiveBackend, AgentProcess],
) -> None:
    backend, agent = world
    rng = random.Random(8)
    token = backend.login()
    acknowledged: dict[str, str] = {}
    unknown: set[str] = set()

    def feed(numbers: range, *, kill_chance: float, online: bool) -> None:
        for n in numbers:
            body = person(n)
            if agent.process is None:
                agent.start()
                if online:
                    register(agent, token)
            if rng.random() < kill_chance:
                # Kill while this submission is in flight, at a random moment.
                killer = threading_timer(rng.uniform(0.0, 0.05), agent.kill)
                result = submit(agent, token, body)
                killer.join()
            else:
                result = submit(agent, token, body)
            if result is None:
                unknown.add(body["id_number"])
            else:
                assert result["state"] in ("sent", "queued"), result
                acknowledged[body["id_number"]] = result["state"]

    # Online, with kills during submission.
    feed(range(0, 25), kill_chance=0.3, online=True)
    # The backend goes away: operations queue up, kills continue.
    backend.cut()
    feed(range(25, 50), kill_chance=0.3, online=False)
    if agent.process is None:
        agent.start()
    assert agent.outbox()["counts"]["pending"] > 0
    # The link returns; kill the agent at random moments while it replays.
    backend.restore()
    for _ in range(4):
        time.sleep(rng.uniform(0.0, 0.3))
        agent.kill()
        agent.start()
        register(agent, token)
    wait_for(lambda: agent.outbox()["counts"]["pending"] == 0, timeout=60, what="outbox drained")

    assert agent.kills >= 8
    assert any(state == "queued" for state in acknowledged.values())
    outbox = agent.outbox()
    # A second send under a new key would have been refused as a duplicate person.
    assert outbox["counts"]["rejected"] == 0, outbox["entries"]
    for id_number in acknowledged:
        assert backend.persons_with(id_number) == 1
    for id_number in unknown:
        assert backend.persons_with(id_number) <= 1
    keys = [entry["idempotency_key"] for entry in outbox["entries"]]
    assert len(keys) == len(set(keys))
    for key in keys:
        assert backend.count("SELECT count(*) FROM idempotency_records WHERE key = :k", k=key) == 1
    assert backend.count("SELECT count(*) FROM persons") == len(keys)


def threading_timer(delay: float, action: Any) -> threading.Timer:
    """Run ``action`` after ``delay`` seconds in a thread; join it to wait."""
    timer = threading.Timer(delay, action)
    timer.start()
    return timer
