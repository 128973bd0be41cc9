"""The CA in process: hierarchy, profiles, enrolment, CSR approval, revocation, CRL, OCSP,
inventory, identity behind client certificates, renewal and two-factor log-in."""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.audit.models import AuditRecord
from backend.audit.service import Actor
from backend.config import Settings
from backend.db import unit_of_work, utcnow
from backend.orgs import service as orgs
from backend.orgs.permissions import Role
from backend.pki import login as pki_login
from backend.pki import profiles
from backend.pki import service as pki
from backend.pki.keystore import DatabaseKeyStore, ca_key_store
from backend.pki.models import EnrolmentToken
from backend.pki.service.issuance import _sign
from backend.pki.service.ocsp import OcspAnswer, ResponseCache, _Cached
from tests.backend.pki_support import (
    enrol_device,
    init_ca,
    issue_operator,
    key_headers,
    with_client_certificate,
)
from tests.conftest import PASSWORD, World
from tests.softhsm import STORES, store_settings
from xnb_client import challenge_message, make_csr, new_private_key, sign_challenge


@pytest.fixture(params=STORES)
def settings(request: pytest.FixtureRequest, database_url: str, tmp_path: Path) -> Settings:
    """Every CA test runs with its keys in the database and again in a SoftHSM2 token."""
    return store_settings(request, database_url, tmp_path)


@pytest.fixture
def chain(
    world: World, session_factory: sessionmaker[Session], settings: Settings, tmp_path: Path
) -> str:
    """The CA of the test world (after the world, whose operators it certifies)."""
    return init_ca(session_factory, settings, tmp_path / "offline-root")


def _audit(session_factory: sessionmaker[Session], action: str) -> list[AuditRecord]:
    with unit_of_work(session_factory) as s:
        return list(s.scalars(select(AuditRecord).where(AuditRecord.action == action)))


def _reasons(session_factory: sessionmaker[Session], action: str) -> list[str]:
    return [
        json.loads(r.detail).get("reason", "")
        for r in _audit(session_factory, action)
        if r.result == "denied"
    ]


# ---- hierarchy and profiles ---------------------------------------------------------------


def test_ceremony_makes_root_and_issuing_ca_and_a_first_crl(
    chain: str, client: TestClient, session_factory: sessionmaker[Session], settings: Settings
):
    certs = x509.load_pem_x509_certificates(chain.encode())
    issuing, root = certs
    issuing.verify_directly_issued_by(root)
    assert issuing.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 0
    assert isinstance(issuing.public_key(), type(root.public_key()))
    crl = x509.load_der_x509_crl(client.get("/pki/crl").content)
    assert crl.is_signature_valid(issuing.public_key())
    assert client.get("/pki/ca.pem").text == chain
    with unit_of_work(session_factory) as s, pytest.raises(Exception, match="签发CA已存在"):
        pki.init_hierarchy(
            session=s,
            keys=DatabaseKeyStore(s, "x"),
            root_keys=DatabaseKeyStore(s, "x"),
            settings=settings,
            province_code="65",
            actor=pki.Actor.system(),
        )


def test_profiles_are_data_and_a_template_that_breaks_one_is_refused():
    operator = profiles.get("operator")
    now = utcnow()
    good = pki.template_for(
        profile=operator,
        holder=pki.Holder(
            kind="operator",
            name="a",
            common_name="a",
            organisational_unit="X",
            uris={"operator": "a", "office": "X", "region": "654226100000"},
        ),
        public_key=new_private_key().public_key(),
        now=now,
    )
    assert profiles.check(operator, good) == []
    good.not_after = now + dt.timedelta(days=3650)
    good.extended_key_usage = frozenset({"server_auth"})
    good.dns_names = ["evil.example"]
    codes = {v.code for v in profiles.check(operator, good)}
    assert codes == {"lifetime_too_long", "extended_key_usage_mismatch", "name_not_allowed"}
    with pytest.raises(pki.InvalidInput) as caught:
        _sign(
            template=good,
            profile=operator,
            issuer=None,
            issuer_key=new_private_key(),
            public_url=None,
        )
    assert caught.value.code in codes


# ---- device enrolment ---------------------------------------------------------------------


def test_device_enrols_once_with_its_token_and_names_its_office_and_region(
    chain: str, client: TestClient, world: World, session_factory: sessionmaker[Session]
):
    issued = enrol_device(client, world, name="HBK-WS-01")
    cert = issued.certificate
    cert.verify_directly_issued_by(x509.load_pem_x509_certificates(chain.encode())[0])
    uris = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(uris.get_values_for_type(x509.UniformResourceIdentifier)) == {
        "urn:xnb:device:HBK-WS-01",
        "urn:xnb:office:654226100-SB",
        "urn:xnb:region:654226100000",
    }
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]
    assert [json.loads(r.detail)["holder"] for r in _audit(session_factory, "pki.issue")] == [
        "device:HBK-WS-01"
    ]


def _new_token(client: TestClient, world: World, name: str) -> tuple[str, str]:
    r = client.post(
        "/api/v1/devices",
        json={"name": name, "kind": "kiosk", "office_id": world.offices["xzg"].id},
        headers=key_headers(world, "secadmin"),
    )
    device_id = r.json()["id"]
    r = client.post(
        f"/api/v1/devices/{device_id}/tokens", json={}, headers=key_headers(world, "secadmin")
    )
    csr = make_csr(new_private_key(), common_name=name, uris={"device": name})
    return r.json()["token"], csr


def test_reused_expired_and_unknown_tokens_are_refused_and_audited(
    chain: str, client: TestClient, world: World, session_factory: sessionmaker[Session]
):
    token, csr = _new_token(client, world, "XZG-KIOSK-1")
    assert client.post("/pki/enrol", json={"token": token, "csr_pem": csr}).status_code == 201
    r = client.post("/pki/enrol", json={"token": token, "csr_pem": csr})
    assert (r.status_code, r.json()["code"]) == (401, "token_used")
    r = client.post("/pki/enrol", json={"token": "nonsense", "csr_pem": csr})
    assert r.json()["code"] == "token_unknown"
    token2, csr2 = _new_token(client, world, "XZG-KIOSK-2")
    with unit_of_work(session_factory) as s:
        for row in s.scalars(select(EnrolmentToken).where(EnrolmentToken.used_at.is_(None))):
            row.expires_at = utcnow() - dt.timedelta(seconds=1)
    r = client.post("/pki/enrol", json={"token": token2, "csr_pem": csr2})
    assert r.json()["code"] == "token_expired"
    assert _reasons(session_factory, "pki.enrol") == [
        "token_used",
        "token_unknown",
        "token_expired",
    ]


@pytest.mark.parametrize(
    ("csr_factory", "code"),
    [
        (lambda: "-----BEGIN CERTIFICATE REQUEST-----\nnot base64\n", "csr_malformed"),
        (lambda: make_csr(new_private_key(), common_name="SOMEONE-ELSE"), "name_mismatch"),
        (
            lambda: make_csr(new_private_key(), common_name="XZG-KIOSK-1", uris={"bank": "ICBC"}),
            "name_not_allowed",
        ),
        (
            lambda: make_csr(
                new_private_key(), common_name="XZG-KIOSK-1", dns_names=["kiosk.example"]
            ),
            "name_not_allowed",
        ),
        (
            lambda: make_csr(
                new_private_key(), common_name="XZG-KIOSK-1", uris={"region": "650000000000"}
            ),
            "name_mismatch",
        ),
    ],
)
def test_csrs_that_are_malformed_or_break_the_profile_are_refused_with_the_reason(
    chain: str,
    client: TestClient,
    world: World,
    session_factory: sessionmaker[Session],
    csr_factory,
    code: str,
):
    token, _ = _new_token(client, world, "XZG-KIOSK-1")
    r = client.post("/pki/enrol", json={"token": token, "csr_pem": csr_factory()})
    assert r.status_code == 422, r.text
    assert r.json()["code"] == code
    assert _reasons(session_factory, "pki.enrol") == [code]
    assert _audit(session_factory, "pki.issue") == []


def test_rsa_1024_and_tampered_csrs_are_refused(chain: str, client: TestClient, world: World):
    from cryptography.hazmat.primitives.asymmetric import rsa

    token, _ = _new_token(client, world, "XZG-KIOSK-1")
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    r = client.post(
        "/pki/enrol", json={"token": token, "csr_pem": make_csr(weak, common_name="XZG-KIOSK-1")}
    )
    assert r.json()["code"] == "key_type_not_allowed"
    good = x509.load_pem_x509_csr(make_csr(new_private_key(), common_name="XZG-KIOSK-1").encode())
    der = bytearray(good.public_bytes(serialization.Encoding.DER))
    der[-5] ^= 0x01  # inside the signature
    tampered = x509.load_der_x509_csr(bytes(der)).public_bytes(serialization.Encoding.PEM)
    r = client.post("/pki/enrol", json={"token": token, "csr_pem": tampered.decode()})
    assert r.json()["code"] in ("csr_bad_signature", "csr_malformed")


# ---- operators and banks ------------------------------------------------------------------


def test_operator_certificate_from_an_approved_csr_names_operator_office_and_region(
    chain: str, client: TestClient, world: World
):
    issued = issue_operator(client, world, "clerk_hbk", algorithm="rsa-2048")
    names = issued.certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert set(names.value.get_values_for_type(x509.UniformResourceIdentifier)) == {
        "urn:xnb:operator:clerk_hbk",
        "urn:xnb:office:654226100-SB",
        "urn:xnb:region:654226100000",
    }


def test_csr_approval_needs_the_security_administrator_and_names_must_be_the_operators(
    chain: str, client: TestClient, world: World, session_factory: sessionmaker[Session]
):
    key = new_private_key()
    r = client.post(
        "/api/v1/certificate-requests",
        json={
            "profile": "operator",
            "operator_id": world.operator_ids["clerk_hbk"],
            "csr_pem": make_csr(key, common_name="clerk_hbk", uris={"operator": "clerk_xzg"}),
        },
        headers=key_headers(world, "clerk_hbk"),
    )
    assert (r.status_code, r.json()["code"]) == (422, "name_mismatch")
    assert _reasons(session_factory, "pki.request_submit") == ["name_mismatch"]
    # A clerk may submit their own CSR, not approve it, nor submit for someone else.
    own = {
        "profile": "operator",
        "operator_id": world.operator_ids["clerk_hbk"],
        "csr_pem": make_csr(key, common_name="clerk_hbk"),
    }
    r = client.post(
        "/api/v1/certificate-requests", json=own, headers=key_headers(world, "clerk_hbk")
    )
    assert r.status_code == 201, r.text
    request_id = r.json()["id"]
    r = client.post(
        f"/api/v1/certificate-requests/{request_id}/approve",
        headers=key_headers(world, "clerk_hbk"),
    )
    assert r.status_code == 403
    other = own | {"operator_id": world.operator_ids["clerk_xzg"]}
    r = client.post(
        "/api/v1/certificate-requests", json=other, headers=key_headers(world, "clerk_hbk")
    )
    assert r.json()["code"] == "not_own_request"
    r = client.post(
        f"/api/v1/certificate-requests/{request_id}/approve",
        headers=key_headers(world, "secadmin"),
    )
    assert r.status_code == 200 and r.json()["state"] == "approved"


def test_bank_partner_gets_a_client_certificate_naming_its_code(
    chain: str, client: TestClient, world: World, session_factory: sessionmaker[Session]
):
    with unit_of_work(session_factory) as s:  # a second security administrator approves
        orgs.create_operator(
            session=s,
            principal=None,
            actor=Actor.system(),
            username="secadmin2",
            full_name="secadmin2",
            role=Role.SECURITY_ADMIN,
            office_id=world.offices["province"].id,
            password=PASSWORD,
        )
    r = client.post(
        "/api/v1/banks",
        json={"code": "ABC", "name": "农业银行"},
        headers=key_headers(world, "secadmin"),
    )
    assert r.status_code == 201, r.text
    key = new_private_key("rsa-3072")
    r = client.post(
        "/api/v1/certificate-requests",
        json={
            "profile": "bank",
            "bank_code": "ABC",
            "csr_pem": make_csr(key, common_name="ABC", uris={"bank": "ABC"}),
        },
        headers=key_headers(world, "secadmin"),
    )
    assert r.status_code == 201, r.text
    request_id = r.json()["id"]
    r = client.post(
        f"/api/v1/certificate-requests/{request_id}/approve",
        headers=key_headers(world, "secadmin"),
    )
    assert (r.status_code, r.json()["code"]) == (403, "self_approval")
    r = client.post(
        f"/api/v1/certificate-requests/{request_id}/approve",
        headers=key_headers(world, "secadmin2"),
    )
    cert = x509.load_pem_x509_certificate(r.json()["issued"]["certificate_pem"].encode())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == ["urn:xnb:bank:ABC"]


# ---- revocation, CRL, OCSP, inventory ------------------------------------------------------


def _ocsp(client: TestClient, cert: x509.Certificate, issuer: x509.Certificate):
    request = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA256()).build()
    r = client.post(
        "/pki/ocsp",
        content=request.public_bytes(serialization.Encoding.DER),
        headers={"Content-Type": "application/ocsp-request"},
    )
    assert r.headers["content-type"] == "application/ocsp-response"
    return ocsp.load_der_ocsp_response(r.content)


def test_revocation_reaches_crl_and_ocsp_at_once_and_is_audited(
    chain: str, client: TestClient, world: World, session_factory: sessionmaker[Session]
):
    issuer = x509.load_pem_x509_certificates(chain.encode())[0]
    issued = enrol_device(client, world, name="HBK-WS-02")
    assert _ocsp(client, issued.certificate, issuer).certificate_status == ocsp.OCSPCertStatus.GOOD
    r = client.post(
        f"/api/v1/certificates/{issued.serial}/revoke",
        json={"reason": "key_compromise"},
        headers=key_headers(world, "secadmin"),
    )
    assert r.status_code == 200 and r.json()["state"] == "revoked"
    crl = x509.load_der_x509_crl(client.get("/pki/crl").content)
    entry = crl.get_revoked_certificate_by_serial_number(issued.certificate.serial_number)
    assert entry is not None
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 2
    response = _ocsp(client, issued.certificate, issuer)
    assert response.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert response.revocation_reason == x509.ReasonFlags.key_compromise
    assert [json.loads(r.detail)["reason"] for r in _audit(session_factory, "pki.revoke")] == [
        "key_compromise"
    ]
    r = client.post(
        f"/api/v1/certificates/{issued.serial}/revoke",
        json={"reason": "superseded"},
        headers=key_headers(world, "secadmin"),
    )
    assert r.json()["code"] == "already_revoked"


def test_scheduled_crl_increments_its_number(
    chain: str, session_factory: sessionmaker[Session], settings: Settings
):
    with unit_of_work(session_factory) as s:
        keys = ca_key_store(s, settings)
        assert pki.generate_crl(session=s, keys=keys, settings=settings).number == 2


def _ocsp_get(client: TestClient, request: ocsp.OCSPRequest, **headers: str):
    encoded = base64.b64encode(request.public_bytes(serialization.Encoding.DER)).decode()
    return client.get(f"/pki/ocsp/{encoded}", headers=headers)


def test_ocsp_answer_is_reused_with_rfc5019_headers_until_the_certificate_is_revoked(
    chain: str, client: TestClient, world: World
):
    issuer = x509.load_pem_x509_certificates(chain.encode())[0]
    issued = enrol_device(client, world, name="HBK-WS-C1")
    request = (
        ocsp.OCSPRequestBuilder().add_certificate(issued.certificate, issuer, hashes.SHA1()).build()
    )
    first, second = _ocsp_get(client, request), _ocsp_get(client, request)
    assert first.content == second.content  # the same signed response, not a new signature
    response = ocsp.load_der_ocsp_response(first.content)
    assert response.certificate_status == ocsp.OCSPCertStatus.GOOD
    assert first.headers["etag"] == second.headers["etag"]
    max_age = int(first.headers["cache-control"].split("max-age=")[1].split(",")[0])
    assert 3000 < max_age <= 3600
    assert parsedate_to_datetime(first.headers["last-modified"]) == response.this_update_utc
    assert parsedate_to_datetime(first.headers["expires"]) == response.next_update_utc
    not_modified = _ocsp_get(client, request, **{"If-None-Match": first.headers["etag"]})
    assert not_modified.status_code == 304 and not_modified.content == b""

    r = client.post(
        f"/api/v1/certificates/{issued.serial}/revoke",
        json={"reason": "key_compromise"},
        headers=key_headers(world, "secadmin"),
    )
    assert r.status_code == 200, r.text
    after = _ocsp_get(client, request, **{"If-None-Match": first.headers["etag"]})
    assert after.status_code == 200 and after.headers["etag"] != first.headers["etag"]
    revoked = ocsp.load_der_ocsp_response(after.content)
    assert revoked.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert revoked.revocation_reason == x509.ReasonFlags.key_compromise
    assert _ocsp(client, issued.certificate, issuer).certificate_status == (
        ocsp.OCSPCertStatus.REVOKED
    )


def test_revocation_by_another_process_reaches_a_cached_ocsp_answer_at_once(
    chain: str,
    client: TestClient,
    world: World,
    session_factory: sessionmaker[Session],
    settings: Settings,
):
    issuer = x509.load_pem_x509_certificates(chain.encode())[0]
    issued = enrol_device(client, world, name="HBK-WS-C2")
    assert _ocsp(client, issued.certificate, issuer).certificate_status == (
        ocsp.OCSPCertStatus.GOOD
    )
    # As `xnb cert revoke` would from its own process: nothing tells this app's cache.
    with unit_of_work(session_factory) as s:
        pki.revoke(
            session=s,
            keys=ca_key_store(s, settings),
            settings=settings,
            certificate=pki.get_certificate(session=s, principal=None, serial=issued.serial),
            reason="superseded",
            actor=pki.Actor.system(),
        )
    response = _ocsp(client, issued.certificate, issuer)
    assert response.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert response.revocation_reason == x509.ReasonFlags.superseded


def test_a_request_with_a_nonce_gets_a_fresh_response_carrying_that_nonce(
    chain: str, client: TestClient, world: World
):
    issuer = x509.load_pem_x509_certificates(chain.encode())[0]
    issued = enrol_device(client, world, name="HBK-WS-C3")
    answers = []
    for nonce in (b"\x01" * 16, b"\x02" * 16):
        request = (
            ocsp.OCSPRequestBuilder()
            .add_certificate(issued.certificate, issuer, hashes.SHA1())
            .add_extension(x509.OCSPNonce(nonce), critical=False)
            .build()
        )
        r = _ocsp_get(client, request)
        assert r.headers["cache-control"] == "no-store" and "etag" not in r.headers
        response = ocsp.load_der_ocsp_response(r.content)
        assert response.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == nonce
        answers.append(r.content)
    assert answers[0] != answers[1]


def test_ocsp_response_cache_is_a_bounded_thread_safe_lru():
    now = utcnow()
    cache = ResponseCache(max_entries=2)

    def entry(reuse_until: dt.datetime) -> Any:
        return _Cached(OcspAnswer(b"x"), 1, ocsp.OCSPCertStatus.GOOD, reuse_until=reuse_until)

    later = now + dt.timedelta(minutes=10)
    cache.put((b"n", b"k", "sha1", 1), entry(later))
    cache.put((b"n", b"k", "sha1", 2), entry(later))
    assert cache.get((b"n", b"k", "sha1", 1), now=now) is not None  # now the most recent
    cache.put((b"n", b"k", "sha1", 3), entry(later))
    assert cache.get((b"n", b"k", "sha1", 2), now=now) is None  # least recently used: gone
    assert cache.get((b"n", b"k", "sha1", 1), now=later) is None  # past its reuse point
    assert len(cache) == 1

    def fill(start: int) -> None:
        for serial in range(start, start + 500):
            cache.put((b"n", b"k", "sha1", serial), entry(later))
            cache.get((b"n", b"k", "sha1", serial - 1), now=now)

    threads = [threading.Thread(target=fill, args=(i * 1000,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(cache) == 2


def test_inventory_search_expiry_report_and_scope(chain: str, client: TestClient, world: World):
    enrol_device(client, world, name="HBK-WS-03")
    enrol_device(client, world, name="EMIN-WS-01", office="emin")
    r = client.get("/api/v1/certificates?q=hbk-ws", headers=key_headers(world, "secadmin"))
    assert [c["holder"] for c in r.json()["items"]] == ["device:HBK-WS-03"]
    r = client.get(
        "/api/v1/certificates?profile=device&expiring_within_days=800",
        headers=key_headers(world, "auditor"),
    )
    assert r.json()["total"] == 2
    r = client.get(
        "/api/v1/certificates?expiring_within_days=30", headers=key_headers(world, "secadmin")
    )
    assert r.json()["total"] == 0
    r = client.get("/api/v1/certificates", headers=key_headers(world, "admin_county"))
    assert [c["holder"] for c in r.json()["items"]] == ["device:HBK-WS-03"]
    r = client.get("/api/v1/certificates", headers=key_headers(world, "clerk_hbk"))
    assert r.status_code == 403


# ---- identity behind the client certificate (TLS extension as the server sets it) ----------


def test_request_identity_comes_from_the_client_certificate_and_reaches_the_audit_log(
    chain: str,
    app: FastAPI,
    client: TestClient,
    world: World,
    session_factory: sessionmaker[Session],
):
    device = enrol_device(client, world, name="HBK-WS-04")
    with TestClient(with_client_certificate(app, device.certificate_pem)) as tls:
        r = tls.post("/api/v1/auth/login", json={"username": "clerk_hbk", "password": PASSWORD})
        assert r.status_code == 200, r.text
        assert tls.get("/readyz").json()["transport"] == "mtls"
    logins = [r for r in _audit(session_factory, "auth.login") if r.username == "clerk_hbk"]
    assert logins[-1].device == "device:HBK-WS-04"


def test_https_without_certificate_revoked_and_foreign_certificates_are_refused(
    chain: str,
    app: FastAPI,
    client: TestClient,
    world: World,
    session_factory: sessionmaker[Session],
):
    device = enrol_device(client, world, name="HBK-WS-05")
    body = {"username": "clerk_hbk", "password": PASSWORD}
    with TestClient(with_client_certificate(app, None)) as tls:
        assert tls.get("/healthz").status_code == 200
        assert tls.get("/pki/crl").status_code == 200
        r = tls.post("/api/v1/auth/login", json=body)
        assert (r.status_code, r.json()["code"]) == (401, "client_certificate_required")
    foreign_key = new_private_key()
    foreign = (
        x509.CertificateBuilder()
        .subject_name(device.certificate.subject)
        .issuer_name(device.certificate.issuer)
        .public_key(foreign_key.public_key())
        .serial_number(device.certificate.serial_number)
        .not_valid_before(utcnow() - dt.timedelta(days=1))
        .not_valid_after(utcnow() + dt.timedelta(days=1))
        .sign(foreign_key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
        .decode()
    )
    with TestClient(with_client_certificate(app, foreign)) as tls:
        assert tls.post("/api/v1/auth/login", json=body).json()["code"] == "certificate_unknown"
    client.post(
        f"/api/v1/certificates/{device.serial}/revoke",
        json={"reason": "cessation_of_operation"},
        headers=key_headers(world, "secadmin"),
    )
    with TestClient(with_client_certificate(app, device.certificate_pem)) as tls:
        r = tls.post("/api/v1/auth/login", json=body)
        assert (r.status_code, r.json()["code"]) == (401, "certificate_revoked")
    refused = [json.loads(r.detail)["code"] for r in _audit(session_factory, "access.refused")]
    assert refused == ["client_certificate_required", "certificate_unknown", "certificate_revoked"]


# ---- two-factor log-in -----------------------------------------------------------------


def _two_factor(
    tls: TestClient, username: str, issued, *, key=None, fingerprint=None, challenge=None
):
    if challenge is None:
        challenge = tls.post("/api/v1/auth/challenge", json={"username": username}).json()
    signature = sign_challenge(
        key or issued.key,
        username=username,
        nonce_hex=challenge["nonce"],
        device_fingerprint=challenge["device_fingerprint"] if fingerprint is None else fingerprint,
    )
    return tls.post(
        "/api/v1/auth/login",
        json={
            "username": username,
            "password": PASSWORD,
            "challenge_id": challenge["challenge_id"],
            "signature": signature,
            "certificate_pem": issued.certificate_pem,
        },
    ), challenge


def test_two_factor_login_binds_the_session_to_certificate_and_device(
    chain: str,
    app: FastAPI,
    client: TestClient,
    world: World,
):
    device = enrol_device(client, world, name="HBK-WS-07")
    other_device = enrol_device(client, world, name="HBK-WS-08")
    operator = issue_operator(client, world, "clerk_hbk")
    with TestClient(with_client_certificate(app, device.certificate_pem)) as tls:
        r, _ = _two_factor(tls, "clerk_hbk", operator)
        assert r.status_code == 200, r.text
        assert r.json()["factors"] == ["password", "certificate"]
        token = {"Authorization": f"Bearer {r.json()['access_token']}"}
        assert tls.get("/api/v1/auth/me", headers=token).json()["factors"] == [
            "password",
            "certificate",
        ]
    with TestClient(with_client_certificate(app, other_device.certificate_pem)) as tls:
        r = tls.get("/api/v1/auth/me", headers=token)
        assert r.json()["code"] == "session_device_mismatch"
    # Revoking the operator certificate ends the session and new log-ins at once.
    client.post(
        f"/api/v1/certificates/{operator.serial}/revoke",
        json={"reason": "affiliation_changed"},
        headers=key_headers(world, "secadmin"),
    )
    with TestClient(with_client_certificate(app, device.certificate_pem)) as tls:
        assert tls.get("/api/v1/auth/me", headers=token).json()["code"] == "session_expired"
        r, _ = _two_factor(tls, "clerk_hbk", operator)
        assert r.json()["code"] == "certificate_revoked"


def test_bad_certificate_factors_are_refused_with_specific_reasons_and_audited(
    chain: str,
    app: FastAPI,
    client: TestClient,
    world: World,
    session_factory: sessionmaker[Session],
):
    device = enrol_device(client, world, name="HBK-WS-09")
    mine = issue_operator(client, world, "clerk_hbk")
    theirs = issue_operator(client, world, "clerk_xzg")
    with TestClient(with_client_certificate(app, device.certificate_pem)) as tls:
        r, _ = _two_factor(tls, "clerk_hbk", mine, key=new_private_key())
        assert r.json()["code"] == "signature_invalid"
        r, challenge = _two_factor(tls, "clerk_hbk", mine)
        assert r.status_code == 200
        r, _ = _two_factor(tls, "clerk_hbk", mine, challenge=challenge)
        assert r.json()["code"] == "challenge_used"
        r, _ = _two_factor(tls, "clerk_hbk", theirs)
        assert r.json()["code"] == "certificate_wrong_operator"
        r, _ = _two_factor(tls, "clerk_hbk", mine, fingerprint="0" * 64)
        assert r.json()["code"] == "signature_invalid"
        r, _ = _two_factor(tls, "clerk_hbk", device)
        assert r.json()["code"] == "certificate_not_operator"
    with TestClient(with_client_certificate(app, None)) as plain:
        r = plain.post("/api/v1/auth/challenge", json={"username": "clerk_hbk"})
        assert r.json()["code"] == "client_certificate_required"
    assert _reasons(session_factory, "auth.login") == [
        "signature_invalid",
        "challenge_used",
        "certificate_wrong_operator",
        "signature_invalid",
        "certificate_not_operator",
    ]


def test_failed_certificate_factors_count_toward_the_lockout(
    chain: str, app: FastAPI, client: TestClient, world: World
):
    device = enrol_device(client, world, name="HBK-WS-10")
    mine = issue_operator(client, world, "clerk_hbk")
    with TestClient(with_client_certificate(app, device.certificate_pem)) as tls:
        for _ in range(5):  # the right password, a signature by another key
            r, _ = _two_factor(tls, "clerk_hbk", mine, key=new_private_key())
            assert r.json()["code"] == "signature_invalid"
        r, _ = _two_factor(tls, "clerk_hbk", mine)
        assert r.status_code == 401
        assert r.json()["code"] == "authentication_failed"


def test_password_alone_is_refused_when_two_factors_are_required(
    chain: str, settings: Settings, engine, world: World
):
    from backend.app import create_app

    strict = create_app(settings.model_copy(update={"login_requires_certificate": True}))
    with TestClient(strict) as c:
        r = c.post("/api/v1/auth/login", json={"username": "clerk_hbk", "password": PASSWORD})
    assert (r.status_code, r.json()["code"]) == (401, "certificate_required")


def test_client_library_and_backend_sign_the_same_bytes():
    args = {"username": "u", "nonce_hex": "ab" * 32, "device_fingerprint": "cd" * 32}
    assert challenge_message(**args) == pki_login.challenge_message(**args)
