"""The kiosk page in a real Chromium, served by a kiosk agent on pcscd + vpcd, a pty ID
scanner and a TCP capture printer, certifying against the real backend as the kiosk."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import text

from device_drivers.printer import decode_escpos
from tests.browser.conftest import screenshot
from tests.browser.world import KIOSK, Pensioner, bearer, make_pensioner, running_agent
from tests.pcsc_rig import PcscRig
from tests.terminal_agent.backend_support import CLERK, LiveBackend
from tests.terminal_agent.support import PAIRING_TOKEN

pytestmark = [pytest.mark.browser, pytest.mark.pcsc]
STRANGER = "654226195005050018"
KIOSK_SETTINGS = {
    "device_id": KIOSK,
    "kiosk": {"enabled": True, "location": "和布克赛尔镇便民服务大厅"},
    "face": {"kind": "simulator"},
}


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[LiveBackend]:
    """The real backend on 127.0.0.1."""
    (tmp_path / "backend").mkdir()
    with LiveBackend(tmp_path / "backend") as served:
        yield served


@pytest.fixture
def card_label(rig: PcscRig) -> str:
    """The deck label of the pensioner's card (in the kiosk's reader)."""
    return rig.fresh_card(generation=3)


@pytest.fixture
def pensioner(backend: LiveBackend, rig: PcscRig, card_label: str) -> Pensioner:
    """A pensioner whose card is in the kiosk's reader."""
    return make_pensioner(backend, rig)


def _headline(browser: Any) -> str:
    return str(browser.find_element(By.ID, "headline").text)


def _certifications(backend: LiveBackend) -> list[tuple[Any, ...]]:
    with backend.engine.connect() as connection:
        return [
            tuple(row)
            for row in connection.execute(
                text("SELECT method, operator_id, device, next_due FROM survival_certifications")
            )
        ]


def test_kiosk_refuses_a_stranger_and_other_origins_and_certifies_once_per_key(
    backend: LiveBackend, pensioner: Pensioner, tmp_path: Path
) -> None:
    device = {"X-XNB-Device": KIOSK}
    with running_agent(tmp_path, backend, **KIOSK_SETTINGS) as (agent, agent_url):
        paired = {"X-XNB-Pairing-Token": PAIRING_TOKEN}
        # A local program claiming to be a page (issue 19, defect 8) gets nowhere: neither
        # the counter's origin nor the kiosk page's own (Sec-Fetch-Site) opens a route.
        for claim in ({"Origin": backend.url}, {"Sec-Fetch-Site": "same-origin"}):
            posed = httpx.post(f"{agent_url}/v1/kiosk/card", headers=claim, timeout=10)
            assert posed.status_code == 401
            assert posed.json()["code"] == "agent_session_required"
        # The counter page's operator session may not use the kiosk's certification.
        operator = httpx.post(
            f"{agent_url}/v1/session",
            headers={"Origin": backend.url, **bearer(backend, CLERK)},
            timeout=10,
        ).json()["agent_session"]
        counter = httpx.post(
            f"{agent_url}/v1/kiosk/card",
            headers={"Origin": backend.url, "X-XNB-Agent-Session": operator},
            timeout=10,
        )
        assert counter.status_code == 403
        assert counter.json()["code"] == "kiosk_page_only"
        # Nor may a device that is not a registered kiosk ask the backend directly.
        workstation = httpx.post(
            f"{backend.url}/api/v1/benefits/kiosk/challenges",
            json={"identification_code": "0" * 32},
            headers={"X-XNB-Device": "test-workstation"},
        )
        assert workstation.status_code == 403
        assert workstation.json()["code"] == "kiosk_required"

        card = httpx.post(f"{agent_url}/v1/kiosk/card", headers=paired, timeout=10)
        assert card.status_code == 200, card.text
        assert card.json()["name_masked"] == pensioner.name[0] + "*" * (len(pensioner.name) - 1)
        assert "name" not in card.json() and "id_number" not in card.json()

        # Someone else's ID card with this pensioner's social security card.
        assert agent.scanner_simulator is not None
        agent.scanner_simulator.place(
            pensioner.stranger_id_card(STRANGER, "张三", dt.date(1950, 5, 5))
        )
        refused = httpx.post(
            f"{agent_url}/v1/kiosk/certify",
            headers={**paired, "Idempotency-Key": "visit-stranger"},
            timeout=20,
        )
        assert refused.status_code == 422, refused.text
        assert refused.json()["code"] == "id_mismatch"
        assert _certifications(backend) == []

        # The pensioner's own ID card, but the face in front of the camera is not the
        # photo's, or is a photo held up: refused (policy: kiosks need the face).
        assert agent.face_simulator is not None
        for outcome in ("no_match", "liveness_failed"):
            agent.face_simulator.set_outcome(outcome)
            agent.scanner_simulator.place(pensioner.id_card())
            refused = httpx.post(
                f"{agent_url}/v1/kiosk/certify",
                headers={**paired, "Idempotency-Key": f"visit-{outcome}"},
                timeout=20,
            )
            assert refused.status_code == 422, refused.text
            assert refused.json()["code"] == f"face_{outcome}"
        assert _certifications(backend) == []

        # The pensioner in person: certified once, however often the page retries.
        agent.face_simulator.set_outcome("match")
        agent.scanner_simulator.place(pensioner.id_card())
        visit = {**paired, "Idempotency-Key": "visit-1"}
        first = httpx.post(f"{agent_url}/v1/kiosk/certify", headers=visit, timeout=20)
        assert first.status_code == 200, first.text
        again = httpx.post(f"{agent_url}/v1/kiosk/certify", headers=visit, timeout=20)
        assert again.json() == first.json()
        assert first.json()["printed"] is True

        # The backend, asked again under the same key with a fresh card answer, gives the
        # first certification back and records nothing new.
        def challenge_for(code: str) -> tuple[str, bytes]:
            issued = httpx.post(
                f"{backend.url}/api/v1/benefits/kiosk/challenges",
                json={"identification_code": code},
                headers=device,
            ).json()
            return issued["challenge_id"], bytes.fromhex(issued["challenge"])

        # A kiosk that sends no face comparison is refused where policy needs one.
        answer = agent.device("card_reader").answer_challenge(challenge_for)
        faceless = httpx.post(
            f"{backend.url}/api/v1/benefits/kiosk/certifications",
            json={
                "challenge_id": answer.challenge_id,
                "cryptogram": answer.cryptogram.hex(),
                "id_number": pensioner.id_number,
                "face": None,
            },
            headers={**device, "Idempotency-Key": "visit-faceless"},
        )
        assert faceless.status_code == 422, faceless.text
        assert faceless.json()["code"] == "face_required"

        answer = agent.device("card_reader").answer_challenge(challenge_for)
        replay = httpx.post(
            f"{backend.url}/api/v1/benefits/kiosk/certifications",
            json={
                "challenge_id": answer.challenge_id,
                "cryptogram": answer.cryptogram.hex(),
                "id_number": pensioner.id_number,
            },
            headers={**device, "Idempotency-Key": "visit-1"},
        )
        assert replay.status_code == 201, replay.text
        assert replay.json()["replayed"] is True
        assert replay.json()["receipt"]["receipt_number"] == first.json()["receipt_number"]
        assert agent.capture is not None
        printed = [job for job in agent.capture.wait_for_jobs(1) if b"\x1b@" in job.data]
        assert len(printed) == 1

    assert len(_certifications(backend)) == 1
    with backend.engine.connect() as connection:
        audited = connection.execute(
            text(
                "SELECT result, device, detail FROM audit_records "
                "WHERE action = 'survival.kiosk_certify' ORDER BY id"
            )
        ).all()
    assert [(result, device) for result, device, _ in audited] == [
        ("denied", KIOSK),
        ("denied", KIOSK),
        ("denied", KIOSK),
        ("ok", KIOSK),
        ("denied", KIOSK),
    ]
    details = [json.loads(detail) for _, _, detail in audited]
    assert [d["code"] for d in details] == [
        "id_mismatch",
        "face_no_match",
        "face_liveness_failed",
        "ok",
        "face_required",
    ]
    assert details[1]["face_device"] == "simulator/SIM-0001"
    with backend.engine.connect() as connection:
        recorded = connection.execute(
            text(
                "SELECT face_outcome, face_score, face_device, documents_seen "
                "FROM survival_certifications"
            )
        ).one()
    assert tuple(recorded) == ("match", 92, "simulator/SIM-0001", "social_security_card,id_card")


def test_kiosk_visit_card_then_id_card_certifies_and_prints(
    browser: Any,
    backend: LiveBackend,
    pensioner: Pensioner,
    rig: PcscRig,
    card_label: str,
    tmp_path: Path,
) -> None:
    with running_agent(tmp_path, backend, **KIOSK_SETTINGS) as (agent, agent_url):
        # Opened without the launch address, the page calls nothing and says so.
        browser.get(f"{agent_url}/kiosk/")
        WebDriverWait(browser, 10).until(lambda b: _headline(b) == "本终端暂停服务")
        # As the kiosk's browser is started: with the launch address from the agent's
        # private file (the session secret in the fragment, taken out of the address bar).
        assert agent.kiosk_launch_url is not None
        browser.get(agent.kiosk_launch_url)
        # The card is already in: the page authenticates it online and asks for the ID card.
        WebDriverWait(browser, 15).until(lambda b: "您好" in _headline(b))
        assert "#session=" not in browser.current_url
        assert _headline(browser).startswith(pensioner.name[0] + "*")
        assert "身份证" in browser.find_element(By.ID, "message").text
        screenshot(browser, "kiosk-place-id-card")

        # Someone else in front of the camera: refused in plain words, code only in the footer.
        assert agent.scanner_simulator is not None and agent.face_simulator is not None
        agent.face_simulator.set_outcome("no_match")
        agent.scanner_simulator.place(pensioner.id_card())
        WebDriverWait(browser, 20).until(lambda b: _headline(b) == "人脸与身份证照片不一致")
        assert "本人" in browser.find_element(By.ID, "message").text
        assert "face_no_match" not in browser.find_element(By.ID, "message").text
        assert "face_no_match" in browser.find_element(By.ID, "support-code").text
        screenshot(browser, "kiosk-face-no-match")

        # The pensioner in person: card out and in again, ID card, face.
        agent.face_simulator.set_outcome("match")
        rig.insert(card_label)
        WebDriverWait(browser, 20).until(lambda b: "您好" in _headline(b))
        agent.scanner_simulator.place(pensioner.id_card())
        WebDriverWait(browser, 20).until(lambda b: _headline(b) == "资格认证成功")
        message = browser.find_element(By.ID, "message").text
        assert "人脸核验通过" in message
        screenshot(browser, "kiosk-certified")

        assert agent.capture is not None
        jobs = [job for job in agent.capture.wait_for_jobs(1) if b"\x1b@" in job.data]

    certifications = _certifications(backend)
    assert len(certifications) == 1
    method, operator_id, device, next_due = certifications[0]
    assert (method, operator_id, device) == ("kiosk", None, KIOSK)
    assert f"下次认证截止日期：{next_due}" in message
    with backend.engine.connect() as connection:
        certified_until = connection.execute(
            text("SELECT certified_until FROM pensions WHERE person_id = :p"),
            {"p": pensioner.person_id},
        ).scalar_one()
        audited = connection.execute(
            text(
                "SELECT action, result, device FROM audit_records "
                "WHERE action IN ('card.authenticate', 'survival.certify', "
                "'survival.kiosk_certify', 'receipt.signed') ORDER BY id"
            )
        ).all()
    assert str(certified_until) == str(next_due)
    assert [tuple(row) for row in audited] == [
        ("card.authenticate", "ok", KIOSK),
        ("survival.kiosk_certify", "denied", KIOSK),  # the face did not match
        ("card.authenticate", "ok", KIOSK),
        ("survival.certify", "ok", KIOSK),
        ("survival.kiosk_certify", "ok", KIOSK),
        ("receipt.signed", "ok", KIOSK),
    ]

    assert len(jobs) == 1, "one receipt printed"
    receipt = decode_escpos(jobs[0].data)
    assert "领取待遇资格认证回执" in receipt.text
    assert "自助终端认证" in receipt.text
    assert "和布克赛尔镇便民服务大厅" in receipt.text
    assert str(next_due) in receipt.text
    assert receipt.barcodes and receipt.barcodes[0] in message
    check = httpx.post(
        f"{backend.url}/api/v1/public/receipts/verify", json={"token": receipt.qr_payloads[0]}
    ).json()
    assert check["genuine"] is True and check["claims"]["kind"] == "survival"
