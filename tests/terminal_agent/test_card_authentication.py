"""``POST /v1/card/authenticate``: the card in a real reader (pcscd + vpcd) answers the
backend's single-use challenge and the backend's vault and records decide; a replayed
answer and a card reported lost are refused; without the backend the configured mode
either refuses or checks locally and says so."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from card_services import read_basic_data
from terminal_agent.agent import Agent, bootstrap
from terminal_agent.api import PAIRING_HEADER, create_api
from terminal_agent.backend_client import BackendLink
from tests.pcsc_rig import SLOT0_READER, PcscRig
from tests.terminal_agent.backend_support import LiveBackend
from tests.terminal_agent.support import (
    PAIRING_TOKEN,
    ServerThread,
    agent_config,
    free_port,
    open_page_session,
)

PAIRED = {PAIRING_HEADER: PAIRING_TOKEN}


class RecordingTransport(httpx.BaseTransport):
    """The real network, keeping every request the agent sent (to replay one)."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.sent: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Record, then send."""
        request.read()
        self.sent.append(request)
        return self.inner.handle_request(request)

    def close(self) -> None:
        """Close the real transport."""
        self.inner.close()


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[LiveBackend]:
    """The real backend on 127.0.0.1 with the demo keys in its vault."""
    (tmp_path / "backend").mkdir()
    with LiveBackend(tmp_path / "backend") as served:
        yield served


@pytest.fixture
def recorded() -> RecordingTransport:
    """What the agent sent to the backend."""
    return RecordingTransport()


def _agent(tmp_path: Path, backend_url: str, link: BackendLink | None, **reader: object) -> Agent:
    config = agent_config(tmp_path, backend_url=backend_url, card_reader=reader)
    running = bootstrap(config, link=link)
    running.start()
    return running


@pytest.fixture
def online_agent(
    tmp_path: Path, backend: LiveBackend, rig: PcscRig, recorded: RecordingTransport
) -> Iterator[Agent]:
    """An agent on the PC/SC stack that authenticates cards online only."""
    link = BackendLink(backend.url, device_id="test-workstation", transport=recorded)
    running = _agent(
        tmp_path,
        backend.url,
        link,
        kind="pcsc",
        reader="Virtual PCD",
        authentication="online_or_local",
    )
    try:
        yield running
    finally:
        running.close()


def _registered_card(backend: LiveBackend, rig: PcscRig) -> int:
    """A fresh personalised card in the reader, registered as active in the backend."""
    rig.fresh_card(generation=3)
    with rig.reader.connect(name=SLOT0_READER) as connection:
        basic = read_basic_data(connection)
    return backend.register_card(
        identification_code=basic.identification_code.hex().upper(),
        card_number=basic.card_number,
        generation=3,
    )


@pytest.mark.pcsc
def test_card_is_authenticated_online_and_a_replayed_answer_is_refused(
    online_agent: Agent, backend: LiveBackend, rig: PcscRig, recorded: RecordingTransport
) -> None:
    card_id = _registered_card(backend, rig)
    token = backend.login()
    with ServerThread(create_api(online_agent), online_agent.config.port) as local:
        operator = {**open_page_session(local.url, authorization=token), "Authorization": token}
        answer = httpx.post(f"{local.url}/v1/card/authenticate", headers=operator, timeout=20)
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["mode"] == "online" and result["card_state_checked"] is True
    assert result["genuine"] is True and result["may_use"] is True
    assert result["card"]["id"] == card_id and result["card"]["state"] == "active"
    assert result["reader"].startswith("Virtual PCD")
    assert result["holder"] is not None  # the card's holder is in the clerk's township

    # Someone who saw the card's answer sends it again: the challenge is spent.
    sent = [r for r in recorded.sent if r.url.path == "/api/v1/cards/authentications"]
    assert len(sent) == 1
    replayed = httpx.post(
        f"{backend.url}/api/v1/cards/authentications",
        content=sent[0].content,
        headers={"Authorization": operator["Authorization"], "Content-Type": "application/json"},
    )
    assert replayed.status_code == 409
    assert replayed.json()["code"] == "challenge_used"
    audited = backend.count("SELECT count(*) FROM audit_records WHERE action = 'card.authenticate'")
    assert audited == 2


@pytest.mark.pcsc
def test_a_card_reported_lost_is_refused_and_never_checked_locally_instead(
    online_agent: Agent, backend: LiveBackend, rig: PcscRig
) -> None:
    card_id = _registered_card(backend, rig)
    token = backend.login()
    lost = httpx.post(
        f"{backend.url}/api/v1/cards/{card_id}/actions/report_loss",
        json={"reason": "持卡人电话挂失"},
        headers={
            "Authorization": token,
            "Idempotency-Key": secrets.token_hex(8),
        },
    )
    assert lost.status_code == 200, lost.text
    with ServerThread(create_api(online_agent), online_agent.config.port) as local:
        operator = {**open_page_session(local.url, authorization=token), "Authorization": token}
        answer = httpx.post(f"{local.url}/v1/card/authenticate", headers=operator, timeout=20)
    assert answer.status_code == 409, answer.text
    problem = answer.json()
    assert problem["code"] == "card_lost"
    assert problem["authentic"] is True  # genuine, but not to be used
    assert answer.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("mode", "status", "outcome"),
    [("online", 503, "backend_unreachable"), ("online_or_local", 200, "offline")],
)
def test_without_the_backend_online_mode_refuses_and_fallback_says_it_is_offline(
    tmp_path: Path, mode: str, status: int, outcome: str
) -> None:
    nobody = f"http://127.0.0.1:{free_port()}"
    agent = _agent(tmp_path, nobody, None, kind="simulator", authentication=mode)
    try:
        with ServerThread(create_api(agent), agent.config.port) as local:
            answer = httpx.post(f"{local.url}/v1/card/authenticate", headers=PAIRED, timeout=20)
    finally:
        agent.close()
    assert answer.status_code == status, answer.text
    if status == 200:
        assert answer.json()["mode"] == outcome
        assert answer.json()["card_state_checked"] is False
        assert "未核对" in answer.json()["warning"]
    else:
        assert answer.json()["code"] == outcome
