"""Renewal: only in the last part of the validity, once; the predecessor superseded at the
successor's first use or after the grace period; a revocation takes the whole renewal chain;
revoked and expired certificates never renew. The CRL read back by ``openssl crl``."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.db import unit_of_work
from backend.pki.models import Certificate
from tests.backend.pki_support import (
    Issued,
    enrol_device,
    init_ca,
    key_headers,
    with_client_certificate,
)
from tests.conftest import World
from xnb_client import make_csr, new_private_key

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")

# Every module that reads the clock on the way of a request, renewal and the CRL.
_CLOCKED = (
    "backend.pki.service.renewal",
    "backend.pki.service.revocation",
    "backend.pki.service.identity",
    "backend.pki.service.issuance",
)


@pytest.fixture
def chain(world: World, session_factory: sessionmaker[Session], settings, tmp_path: Path) -> str:
    """The CA of the test world."""
    return init_ca(session_factory, settings, tmp_path / "offline-root")


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[dt.datetime], None]:
    """Set the time the CA sees."""

    def set_to(moment: dt.datetime) -> None:
        for module in _CLOCKED:
            monkeypatch.setattr(f"{module}.utcnow", lambda: moment)

    return set_to


def _renew(app: FastAPI, presented: Issued, name: str) -> tuple[int, dict]:
    key = new_private_key()
    with TestClient(with_client_certificate(app, presented.certificate_pem)) as tls:
        r = tls.post(
            "/api/v1/certificates/renew", json={"csr_pem": make_csr(key, common_name=name)}
        )
    body = r.json()
    if r.status_code == 201:
        body["issued"] = Issued(key, body["certificate_pem"], body["chain_pem"], body["serial"])
    return r.status_code, body


def _use(app: FastAPI, presented: Issued) -> str:
    """Present the certificate on an API call: past mutual TLS it says missing_token."""
    with TestClient(with_client_certificate(app, presented.certificate_pem)) as tls:
        return str(tls.get("/api/v1/auth/me").json()["code"])


def _state(session_factory: sessionmaker[Session], serial: str) -> tuple[str, str | None]:
    with unit_of_work(session_factory) as s:
        row = s.scalar(select(Certificate).where(Certificate.serial == serial))
        assert row is not None
        return row.state, row.revocation_reason


def _crl_text(client: TestClient, tmp_path: Path, chain: str) -> str:
    (tmp_path / "crl.der").write_bytes(client.get("/pki/crl").content)
    (tmp_path / "chain.pem").write_text(chain)
    result = subprocess.run(
        [
            "openssl",
            "crl",
            "-inform",
            "DER",
            "-in",
            str(tmp_path / "crl.der"),
            "-noout",
            "-text",
            "-CAfile",
            str(tmp_path / "chain.pem"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0 and "verify OK" in result.stdout + result.stderr, result.stderr
    return result.stdout


def _in_crl(text: str, serial: str) -> str | None:
    """The reason openssl prints for ``serial`` in the CRL, None when it is not listed."""
    digits = serial.upper()
    marker = f"Serial Number: {'0' * (len(digits) % 2)}{digits}"
    if marker not in text:
        return None
    entry = text.split(marker, 1)[1].split("Serial Number:", 1)[0]
    return entry.split("CRL Reason Code:", 1)[1].split()[0] if "CRL Reason Code:" in entry else ""


def test_renewal_opens_only_in_the_last_part_of_the_validity_and_happens_once(
    chain: str, app: FastAPI, client: TestClient, world: World, clock
):
    device = enrol_device(client, world, name="HBK-WS-RN1")
    status, body = _renew(app, device, "HBK-WS-RN1")
    assert (status, body["code"]) == (409, "renewal_too_early")
    not_after = device.certificate.not_valid_after_utc
    assert body["renewal_opens_at"] == (not_after - dt.timedelta(days=90)).isoformat()
    clock(not_after - dt.timedelta(days=80))  # the device profile's window: the last 90 days
    status, body = _renew(app, device, "HBK-WS-RN1")
    assert status == 201, body
    assert body["serial"] != device.serial
    status, again = _renew(app, device, "HBK-WS-RN1")
    assert (status, again["code"]) == (409, "already_renewed")
    without = client.post("/api/v1/certificates/renew", json={"csr_pem": "x"})
    assert without.json()["code"] == "mtls_required"
    other = enrol_device(client, world, name="HBK-WS-RN2")
    clock(other.certificate.not_valid_after_utc + dt.timedelta(minutes=1))
    status, expired = _renew(app, other, "HBK-WS-RN2")  # an expired one never renews
    assert (status, expired["code"]) == (401, "certificate_expired")


def test_first_use_of_the_successor_supersedes_the_predecessor_in_the_crl(
    chain: str,
    app: FastAPI,
    client: TestClient,
    world: World,
    clock,
    session_factory: sessionmaker[Session],
    tmp_path: Path,
):
    device = enrol_device(client, world, name="HBK-WS-RN3")
    renewed_at = device.certificate.not_valid_after_utc - dt.timedelta(days=30)
    clock(renewed_at)
    _, body = _renew(app, device, "HBK-WS-RN3")
    successor: Issued = body["issued"]
    assert _use(app, device) == "missing_token"  # until the successor is used, both work
    assert _in_crl(_crl_text(client, tmp_path, chain), device.serial) is None
    clock(renewed_at + dt.timedelta(hours=1))
    assert _use(app, successor) == "missing_token"
    assert _use(app, device) == "certificate_revoked"
    assert _state(session_factory, device.serial) == ("revoked", "superseded")
    crl = _crl_text(client, tmp_path, chain)
    assert _in_crl(crl, device.serial) == "Superseded"
    assert _in_crl(crl, successor.serial) is None
    # The revoked predecessor can never renew again.
    status, refused = _renew(app, device, "HBK-WS-RN3")
    assert (status, refused["code"]) == (401, "certificate_revoked")


def test_an_unused_successor_supersedes_the_predecessor_after_the_grace_period(
    chain: str,
    app: FastAPI,
    client: TestClient,
    world: World,
    clock,
    session_factory: sessionmaker[Session],
    tmp_path: Path,
):
    device = enrol_device(client, world, name="HBK-WS-RN4")
    renewed_at = device.certificate.not_valid_after_utc - dt.timedelta(days=30)
    clock(renewed_at)
    _renew(app, device, "HBK-WS-RN4")
    clock(renewed_at + dt.timedelta(days=13))  # the device profile's grace: 14 days
    assert _use(app, device) == "missing_token"
    clock(renewed_at + dt.timedelta(days=14, minutes=1))
    assert _use(app, device) == "certificate_revoked"
    assert _in_crl(_crl_text(client, tmp_path, chain), device.serial) == "Superseded"
    assert _state(session_factory, device.serial) == ("revoked", "superseded")


def test_revoking_one_certificate_of_a_renewal_chain_revokes_all_of_it(
    chain: str,
    app: FastAPI,
    client: TestClient,
    world: World,
    clock,
    session_factory: sessionmaker[Session],
    tmp_path: Path,
):
    first = enrol_device(client, world, name="HBK-WS-RN5")
    clock(first.certificate.not_valid_after_utc - dt.timedelta(days=30))
    second: Issued = _renew(app, first, "HBK-WS-RN5")[1]["issued"]
    _use(app, second)  # supersedes the first
    clock(second.certificate.not_valid_after_utc - dt.timedelta(days=30))
    third: Issued = _renew(app, second, "HBK-WS-RN5")[1]["issued"]
    # The compromised key is the first one's: everything renewed from it goes too.
    r = client.post(
        f"/api/v1/certificates/{first.serial}/revoke",
        json={"reason": "key_compromise"},
        headers=key_headers(world, "secadmin"),
    )
    assert r.status_code == 200, r.text
    assert _state(session_factory, first.serial) == ("revoked", "superseded")
    assert _state(session_factory, second.serial) == ("revoked", "key_compromise")
    assert _state(session_factory, third.serial) == ("revoked", "key_compromise")
    assert _use(app, third) == "certificate_revoked"
    crl = _crl_text(client, tmp_path, chain)
    assert _in_crl(crl, third.serial) == "Key"  # openssl prints "Key Compromise"
    status, refused = _renew(app, third, "HBK-WS-RN5")
    assert (status, refused["code"]) == (401, "certificate_revoked")
    # And from the other end: revoking a successor takes its predecessor still in grace.
    other = enrol_device(client, world, name="HBK-WS-RN6")
    clock(other.certificate.not_valid_after_utc - dt.timedelta(days=30))
    renewed: Issued = _renew(app, other, "HBK-WS-RN6")[1]["issued"]
    r = client.post(
        f"/api/v1/certificates/{renewed.serial}/revoke",
        json={"reason": "affiliation_changed"},
        headers=key_headers(world, "secadmin"),
    )
    assert r.status_code == 200, r.text
    assert _state(session_factory, other.serial) == ("revoked", "affiliation_changed")
