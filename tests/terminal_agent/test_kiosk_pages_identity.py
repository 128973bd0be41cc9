"""Who may use the kiosk page's backend routes: only a kiosk's device certificate (mutual
TLS as the server presents it), never a workstation's, whatever ``X-XNB-Device`` says."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.audit.models import AuditRecord
from backend.config import Settings
from backend.db import unit_of_work
from backend.keys import LocalKeyVault
from tests.backend.pki_support import enrol_device, init_ca, with_client_certificate
from tests.conftest import World

CHALLENGES = "/api/v1/benefits/kiosk/challenges"
UNKNOWN_CARD = {"identification_code": "0" * 32}


def test_only_a_kiosk_certificate_may_ask_for_kiosk_challenges(
    app: FastAPI,
    client: TestClient,
    world: World,
    session_factory: sessionmaker[Session],
    settings: Settings,
    tmp_path: Path,
) -> None:
    init_ca(session_factory, settings, tmp_path / "root")
    app.state.key_vault = LocalKeyVault.create(
        tmp_path / "vault.json",
        passphrase="test vault passphrase",
        province_code="65",
        demo_keys=True,
        scrypt_n=2**10,
    )
    kiosk = enrol_device(client, world, name="HBK-KIOSK-01", kind="kiosk")
    workstation = enrol_device(client, world, name="HBK-WS-09")

    with TestClient(with_client_certificate(app, kiosk.certificate_pem)) as tls:
        r = tls.post(CHALLENGES, json=UNKNOWN_CARD)
        # Accepted as the kiosk; the card is simply not one of ours.
        assert (r.status_code, r.json()["code"]) == (404, "card_unknown")
        r = tls.post("/api/v1/benefits/kiosk/certifications", json={})
        assert r.status_code == 422

    with TestClient(with_client_certificate(app, workstation.certificate_pem)) as tls:
        r = tls.post(CHALLENGES, json=UNKNOWN_CARD, headers={"X-XNB-Device": "HBK-KIOSK-01"})
        assert (r.status_code, r.json()["code"]) == (403, "kiosk_required")

    with TestClient(with_client_certificate(app, None)) as tls:
        r = tls.post(CHALLENGES, json=UNKNOWN_CARD, headers={"X-XNB-Device": "HBK-KIOSK-01"})
        assert (r.status_code, r.json()["code"]) == (401, "client_certificate_required")

    with unit_of_work(session_factory) as s:
        refused = s.scalars(
            select(AuditRecord).where(
                AuditRecord.action == "access.refused", AuditRecord.object_id == CHALLENGES
            )
        ).all()
        devices = [r.device for r in refused]
    assert "device:HBK-WS-09" in devices
