"""A whole counter visit without a browser: social security card on pcscd + vpcd, card
authentication online against the backend, ID card over a pty, receipt to a capture
printer on TCP 127.0.0.1, and the receipt's QR token checked on the backend's public
endpoint."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from card_services import read_basic_data
from device_drivers.printer import decode_escpos
from terminal_agent.agent import Agent, bootstrap
from terminal_agent.api import create_api
from terminal_agent.demo import DEMO_ID_CARD, collect_at_backend
from tests.pcsc_rig import SLOT0_READER, PcscRig
from tests.terminal_agent.backend_support import LiveBackend
from tests.terminal_agent.support import (
    PAGE_ORIGIN,
    ServerThread,
    agent_config,
    open_page_session,
    wait_for,
)

pytestmark = pytest.mark.pcsc


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[LiveBackend]:
    """The real backend on 127.0.0.1."""
    (tmp_path / "backend").mkdir()
    with LiveBackend(tmp_path / "backend") as served:
        yield served


@pytest.fixture
def agent(tmp_path: Path, backend: LiveBackend, rig: PcscRig) -> Iterator[Agent]:
    """An agent on the PC/SC stack, a pty scanner and a capture printer."""
    config = agent_config(
        tmp_path,
        backend_url=backend.url,
        allowed_origin=PAGE_ORIGIN,
        card_reader={
            "kind": "pcsc",
            "reader": "Virtual PCD",
            "authentication": "online",
            "verifier": "backend",
        },
        # A resident of working age, who pays a contribution year at the counter.
        id_scanner={"kind": "simulator", "profile": "simulator", "simulator_card": DEMO_ID_CARD},
    )
    running = bootstrap(config)
    running.start()
    try:
        yield running
    finally:
        running.close()


def test_counter_flow_card_id_card_and_verifiable_receipt(
    agent: Agent, backend: LiveBackend, rig: PcscRig
) -> None:
    token = backend.login()
    with ServerThread(create_api(agent), agent.config.port) as local:
        # The page's operator logged in; the agent gave the page its session secret.
        page = open_page_session(local.url, authorization=token)
        rig.fresh_card(generation=3)
        wait_for(
            lambda: any(e["type"] == "card.inserted" for e in agent.bus.recent),
            timeout=3,
            what="card inserted event",
        )
        with rig.reader.connect(name=SLOT0_READER) as connection:
            chip = read_basic_data(connection)
        card_id = backend.register_card(
            identification_code=chip.identification_code.hex().upper(),
            card_number=chip.card_number,
            generation=3,
        )
        wait_for(
            lambda: httpx.get(f"{local.url}/v1/status", headers=page).json()["backend"][
                "reachable"
            ],
            what="the backend probe",
        )
        status = httpx.get(f"{local.url}/v1/status", headers=page).json()
        assert status["devices"]["card_reader"]["state"] == "ready"

        # The workstation holds no card key: protected holder data needs the operator's
        # session, with which the backend's vault answers the card's challenge.
        anonymous = httpx.post(f"{local.url}/v1/card/read", headers=page, timeout=10)
        assert anonymous.status_code == 401, anonymous.text
        assert anonymous.json()["code"] == "login_required"
        operator = {**page, "Authorization": token}
        card = httpx.post(f"{local.url}/v1/card/read", headers=operator, timeout=10)
        assert card.status_code == 200, card.text
        assert card.json()["reader"].startswith("Virtual PCD")
        holder = card.json()["holder"]
        auth = httpx.post(f"{local.url}/v1/card/authenticate", headers=operator, timeout=10)
        assert auth.status_code == 200, auth.text
        assert auth.json()["genuine"] is True and auth.json()["mode"] == "online"
        assert auth.json()["card"]["id"] == card_id

        id_card = httpx.post(f"{local.url}/v1/idcard/read", headers=page, timeout=10)
        assert id_card.status_code == 200, id_card.text
        resident = id_card.json()
        # The counter takes the year's cash at the backend; the receipt is for that collection.
        paid = collect_at_backend(backend.url, operator["Authorization"], resident)

        receipt = httpx.post(
            f"{local.url}/v1/print/receipt",
            headers=operator,
            json={
                "receipt": {
                    "layout": "contribution",
                    "name": resident["name"],
                    "id_number": resident["id_number"],
                    "contribution_year": 2026,
                    "grade_fen": 50000,
                    "amount_fen": 50000,
                },
                "counter": {"office": "和布克赛尔镇社保所", "operator": "李娜"},
                "fact_id": paid["collection"]["id"],
            },
            timeout=20,
        )
        assert receipt.status_code == 200, receipt.text
        printed = receipt.json()

    assert agent.capture is not None
    jobs = [job for job in agent.capture.wait_for_jobs(1) if b"\x1b@" in job.data]
    decoded = decode_escpos(jobs[-1].data)
    assert resident["name"] in decoded.text
    assert "500.00元" in decoded.text
    assert decoded.barcodes == [printed["receipt_number"]]
    assert decoded.qr_payloads == [printed["token"]]
    check = httpx.post(
        f"{backend.url}/api/v1/public/receipts/verify", json={"token": decoded.qr_payloads[0]}
    ).json()
    assert check["genuine"] is True
    assert check["claims"]["receipt_number"] == printed["receipt_number"]
    assert check["claims"]["amount_fen"] == 50000
    assert (
        check["claims"]["person"]
        == resident["id_number"][:6] + "********" + resident["id_number"][-4:]
    )
    assert holder["name"]

    rig.remove()
    wait_for(
        lambda: any(e["type"] == "card.removed" for e in agent.bus.recent),
        timeout=2,
        what="card removed event",
    )
