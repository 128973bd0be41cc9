"""The outbox after an expired log-in: blocked, then resumed by the same operator's fresh
log-in (the page registers it with ``POST /v1/session``), each operation taking effect
exactly once; another operator's log-in resumes nothing."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from backend.audit.service import Actor
from backend.db import make_session_factory, unit_of_work
from backend.orgs import service as orgs
from backend.orgs.models import Office
from backend.orgs.permissions import Role
from national_codes import make_id_number
from terminal_agent.agent import Agent, bootstrap
from terminal_agent.api import create_api
from terminal_agent.sessions import SESSION_HEADER
from tests.terminal_agent.backend_support import PASSWORD, VILLAGE, LiveBackend
from tests.terminal_agent.support import PAGE_ORIGIN, ServerThread, agent_config, wait_for

PAGE = {"Origin": PAGE_ORIGIN}


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[LiveBackend]:
    """The real backend on 127.0.0.1."""
    (tmp_path / "backend").mkdir()
    with LiveBackend(tmp_path / "backend") as served:
        yield served


@pytest.fixture
def local(tmp_path: Path, backend: LiveBackend) -> Iterator[tuple[Agent, ServerThread]]:
    """An agent whose outbox takes ``person.register`` offline, and its local API."""
    config = agent_config(
        tmp_path,
        backend_url=backend.url,
        operations={"person.register": {"method": "POST", "path": "/api/v1/persons"}},
        outbox={"offline_operations": ["person.register"]},
    )
    agent = bootstrap(config)
    agent.start()
    try:
        with ServerThread(create_api(agent), config.port) as server:
            yield agent, server
    finally:
        agent.close()


def person(n: int) -> dict[str, Any]:
    """Resident number ``n`` of the clerk's township."""
    birth = dt.date(1960, 1, 1) + dt.timedelta(days=41 * n)
    return {
        "id_number": make_id_number("654226", birth, 300 + n),
        "name": "王" + "秀桂建德玉"[n],
        "ethnicity": "01",
        "hukou_region_code": VILLAGE,
    }


def login_as(backend: LiveBackend, username: str) -> str:
    """``Bearer <token>`` of ``username``."""
    response = httpx.post(
        f"{backend.url}/api/v1/auth/login", json={"username": username, "password": PASSWORD}
    )
    response.raise_for_status()
    return f"Bearer {response.json()['access_token']}"


def second_clerk(backend: LiveBackend) -> str:
    """Another clerk of the same office."""
    with unit_of_work(make_session_factory(backend.engine)) as session:
        office = session.query(Office).filter_by(code="654226100-SB").one()
        orgs.create_operator(
            session=session,
            principal=None,
            actor=Actor.system(),
            username="clerk_other",
            full_name="王芳",
            role=Role.CLERK,
            office_id=office.id,
            password=PASSWORD,
        )
    return "clerk_other"


def test_expired_login_resumes_with_the_same_operators_new_login_exactly_once(
    local: tuple[Agent, ServerThread], backend: LiveBackend
) -> None:
    agent, server = local
    first = backend.login()
    session = httpx.post(f"{server.url}/v1/session", headers={**PAGE, "Authorization": first})
    opened = session.json()
    assert (opened["operator"], opened["resumed"], opened["blocked"]) == ("clerk_hbk", 0, None)
    page = {**PAGE, SESSION_HEADER: opened["agent_session"]}

    # The session ends (the agent is not told), the link goes down, the clerk keeps working.
    httpx.post(f"{backend.url}/api/v1/auth/logout", headers={"Authorization": first})
    backend.cut()
    for n in range(3):
        queued = httpx.post(
            f"{server.url}/v1/operations/person.register",
            json=person(n),
            headers={**page, "Authorization": first},
            timeout=20,
        )
        assert queued.json()["state"] == "queued", queued.text
    backend.restore()
    wait_for(lambda: agent.outbox.blocked == "login_expired", what="the 401 to block the queue")
    assert agent.outbox.counts()["pending"] == 3
    # Blocked, the agent stops sending the refused token (replay interval: 0.2 s).
    attempts = agent.outbox.entries(state="pending")[0].attempts
    time.sleep(1)
    assert agent.outbox.entries(state="pending")[0].attempts == attempts
    assert backend.count("SELECT count(*) FROM persons") == 0

    # Another clerk logging in on this workstation does not send the first clerk's work.
    other = login_as(backend, second_clerk(backend))
    refused = httpx.post(f"{server.url}/v1/session", headers={**PAGE, "Authorization": other})
    assert refused.json()["resumed"] == 0
    assert agent.outbox.counts()["pending"] == 3

    again = httpx.post(
        f"{server.url}/v1/session",
        headers={**PAGE, "Authorization": backend.login()},
        timeout=20,
    )
    assert again.status_code == 200, again.text
    assert again.json()["operator"] == "clerk_hbk" and again.json()["resumed"] == 3
    wait_for(lambda: agent.outbox.counts()["sent"] == 3, what="the queue to drain")
    assert agent.outbox.blocked is None
    for n in range(3):
        assert backend.persons_with(person(n)["id_number"]) == 1
    # Sent under the new session, with the keys the operations were queued with.
    entries = agent.outbox.entries(state="sent")
    assert [e.body["id_number"] for e in entries] == [person(n)["id_number"] for n in range(3)]


def test_a_session_the_backend_does_not_know_is_refused(
    local: tuple[Agent, ServerThread],
) -> None:
    _agent, server = local
    answer = httpx.post(
        f"{server.url}/v1/session", headers={**PAGE, "Authorization": "Bearer forged"}
    )
    assert answer.status_code == 401
    assert answer.json()["code"] == "login_required"
