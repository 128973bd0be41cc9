"""Issuing-CA rotation, on the database key store and in a SoftHSM2 token: during the
overlap certificates of the old and the new issuing CA both authenticate, the chain names
both, each CA answers OCSP for its own certificates, new issuance uses the new CA, and
after the old CA's retirement its certificates are refused. ``openssl verify`` is the
second opinion on both chains."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from backend.audit.models import AuditRecord
from backend.config import Settings, get_settings
from backend.db import unit_of_work
from backend.errors import PermissionDenied
from backend.pki import service as pki
from backend.pki.keystore import ca_key_store
from tests.backend.pki_support import (
    Issued,
    enrol_device,
    init_ca,
    key_headers,
    root_key_store,
    with_client_certificate,
)
from tests.conftest import PASSWORD, World
from tests.softhsm import STORES, store_settings
from xnb.cli import app as xnb_app


@pytest.fixture(params=STORES)
def settings(request: pytest.FixtureRequest, database_url: str, tmp_path: Path) -> Settings:
    """The CA's keys in the database, and again in a SoftHSM2 token."""
    return store_settings(request, database_url, tmp_path)


def _login(app: FastAPI, issued: Issued) -> tuple[int, str]:
    with TestClient(with_client_certificate(app, issued.certificate_pem)) as tls:
        r = tls.post("/api/v1/auth/login", json={"username": "clerk_hbk", "password": PASSWORD})
        return r.status_code, r.json().get("code", "")


def _ocsp_status(client: TestClient, issued: Issued, issuer: x509.Certificate):
    request = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(issued.certificate, issuer, hashes.SHA1())
        .build()
        .public_bytes(serialization.Encoding.DER)
    )
    r = client.post("/pki/ocsp", content=request)
    response = ocsp.load_der_ocsp_response(r.content)
    assert response.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    # Signed by the issuing CA that issued the certificate (raises otherwise).
    public_key = issuer.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    public_key.verify(response.signature, response.tbs_response_bytes, ec.ECDSA(hashes.SHA256()))
    return response.certificate_status


def _crl_path(issued: Issued) -> str:
    """The path of the CRL distribution point the certificate names."""
    points = issued.certificate.extensions.get_extension_for_class(x509.CRLDistributionPoints)
    url = points.value[0].full_name[0].value  # type: ignore[index]
    return "/" + url.split("/", 3)[3]


def _openssl_verify(
    tmp_path: Path, root: str, intermediate: str, leaf: str, crl: str | None = None
) -> str:
    if shutil.which("openssl") is None:
        pytest.fail("openssl is in the Makefile's APT_PACKAGES and must be installed")
    files = {}
    for name, pem in (("root", root), ("intermediate", intermediate), ("leaf", leaf)):
        files[name] = tmp_path / f"{name}.pem"
        files[name].write_text(pem)
    checks: list[str] = []
    if crl is not None:
        (tmp_path / "crl.pem").write_text(crl)
        checks = ["-crl_check", "-CRLfile", str(tmp_path / "crl.pem")]
    paths = [str(files["root"]), str(files["intermediate"]), str(files["leaf"])]
    result = subprocess.run(
        ["openssl", "verify", *checks, "-CAfile", paths[0], "-untrusted", *paths[1:]],
        capture_output=True,
        text=True,
    )
    return result.stdout + result.stderr


def test_old_and_new_issuing_ca_overlap_then_the_old_one_is_retired(
    app: FastAPI,
    client: TestClient,
    world: World,
    session_factory: sessionmaker[Session],
    settings: Settings,
    tmp_path: Path,
):
    root_dir = tmp_path / "offline-root"
    init_ca(session_factory, settings, root_dir)
    old_device = enrol_device(client, world, name="HBK-WS-OLD")
    old_device_2 = enrol_device(client, world, name="HBK-WS-OLD2")

    with unit_of_work(session_factory) as s:
        old_ca = pki.issuing_ca(session=s)
        new_ca = pki.rotate_issuing_ca(
            session=s,
            keys=ca_key_store(s, settings),
            root_keys=root_key_store(s, settings, root_dir),
            settings=settings,
            actor=pki.Actor.system(),
        )
        old_pem, new_pem, old_serial = old_ca.pem, new_ca.pem, old_ca.serial
        root_pem = s.get(pki.Certificate, new_ca.issuer_id).pem  # type: ignore[union-attr]
    assert new_pem != old_pem

    # The chain relying parties and the mutual-TLS listener trust names both issuing CAs.
    bundle = client.get("/pki/ca.pem").text
    assert bundle == new_pem + old_pem + root_pem
    new_device = enrol_device(client, world, name="HBK-WS-NEW")
    old_cert = x509.load_pem_x509_certificate(old_pem.encode())
    new_cert = x509.load_pem_x509_certificate(new_pem.encode())
    # New issuance uses the new CA; the old certificate was the old CA's.
    assert new_device.certificate.issuer == new_cert.subject
    assert old_device.certificate.issuer == old_cert.subject
    new_device.certificate.verify_directly_issued_by(new_cert)

    # openssl, as a second opinion: each leaf chains to the root through its own CA only.
    assert "OK" in _openssl_verify(tmp_path, root_pem, new_pem, new_device.certificate_pem)
    assert "OK" in _openssl_verify(tmp_path, root_pem, old_pem, old_device.certificate_pem)
    assert "OK" not in _openssl_verify(tmp_path, root_pem, new_pem, old_device.certificate_pem)

    # During the overlap both authenticate, and each CA answers OCSP for its own.
    assert _login(app, old_device) == (200, "")
    assert _login(app, new_device) == (200, "")
    assert _ocsp_status(client, old_device, old_cert) == ocsp.OCSPCertStatus.GOOD
    assert _ocsp_status(client, new_device, new_cert) == ocsp.OCSPCertStatus.GOOD

    # CRLs per issuer: each certificate names its own issuer's CRL; a revocation during
    # the overlap reaches the old CA's CRL, signed by the old CA.
    r = client.post(
        f"/api/v1/certificates/{old_device_2.serial}/revoke",
        json={"reason": "key_compromise"},
        headers=key_headers(world, "secadmin"),
    )
    assert r.status_code == 200, r.text
    old_crl = x509.load_der_x509_crl(client.get(_crl_path(old_device_2)).content)
    new_crl = x509.load_der_x509_crl(client.get(_crl_path(new_device)).content)
    assert old_crl.is_signature_valid(old_cert.public_key())  # type: ignore[arg-type]
    assert new_crl.is_signature_valid(new_cert.public_key())  # type: ignore[arg-type]
    serial = old_device_2.certificate.serial_number
    assert old_crl.get_revoked_certificate_by_serial_number(serial) is not None
    assert new_crl.get_revoked_certificate_by_serial_number(serial) is None
    assert client.get("/pki/crl/abcdef").json()["code"] == "ca_missing"
    old_crl_pem = old_crl.public_bytes(serialization.Encoding.PEM).decode()
    new_crl_pem = new_crl.public_bytes(serialization.Encoding.PEM).decode()
    verdict = _openssl_verify(
        tmp_path, root_pem, old_pem, old_device_2.certificate_pem, old_crl_pem
    )
    assert "certificate revoked" in verdict
    assert "OK" in _openssl_verify(
        tmp_path, root_pem, old_pem, old_device.certificate_pem, old_crl_pem
    )
    assert "OK" in _openssl_verify(
        tmp_path, root_pem, new_pem, new_device.certificate_pem, new_crl_pem
    )

    with unit_of_work(session_factory) as s, pytest.raises(PermissionDenied):
        pki.retire_issuing_ca(session=s, serial=new_ca.serial, actor=pki.Actor.system())
    with unit_of_work(session_factory) as s:
        pki.retire_issuing_ca(session=s, serial=old_serial, actor=pki.Actor.system())

    # After retirement: the old CA has left the chain, its certificates are refused.
    assert client.get("/pki/ca.pem").text == new_pem + root_pem
    assert _login(app, old_device) == (401, "certificate_issuer_retired")
    assert _login(app, new_device) == (200, "")


def test_ca_ceremony_commands_init_rotate_and_retire_on_the_configured_store(
    settings: Settings,
    engine: Engine,
    session_factory: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
):
    monkeypatch.setenv("XNB_DATABASE_URL", settings.database_url)
    root: list[str] = []
    if settings.key_store == "pkcs11":
        assert settings.pkcs11_pin_file is not None
        monkeypatch.setenv("XNB_KEY_STORE", "pkcs11")
        monkeypatch.setenv("XNB_PKCS11_MODULE", str(settings.pkcs11_module))
        monkeypatch.setenv("XNB_PKCS11_TOKEN_LABEL", settings.pkcs11_token_label)
        monkeypatch.setenv("XNB_PKCS11_PIN_FILE", str(settings.pkcs11_pin_file))
    else:
        root = ["--root-dir", str(tmp_path / "root"), "--root-passphrase", "root-ceremony-pass"]
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        done = runner.invoke(xnb_app, ["ca", "init", "--province", "65", *root])
        assert done.exit_code == 0, done.output
        done = runner.invoke(xnb_app, ["ca", "rotate-issuing", *root])
        assert done.exit_code == 0 and "新签发CA" in done.output, done.output
        with unit_of_work(session_factory) as s:
            new, old = (ca.serial for ca in pki.issuing_cas(session=s))
        refused = runner.invoke(xnb_app, ["ca", "retire-issuing", new])
        assert refused.exit_code == 2 and "ca_retire_current" in refused.output
        done = runner.invoke(xnb_app, ["ca", "retire-issuing", old])
        assert done.exit_code == 0, done.output
    finally:
        get_settings.cache_clear()
    with unit_of_work(session_factory) as s:
        assert [ca.serial for ca in pki.issuing_cas(session=s)] == [new]
        actions = s.scalars(
            select(AuditRecord.action)
            .where(AuditRecord.action.startswith("pki.ca_"))
            .order_by(AuditRecord.id)
        ).all()
    assert actions == ["pki.ca_init", "pki.ca_init", "pki.ca_rotate", "pki.ca_retire"]
    if settings.key_store == "file":
        assert (tmp_path / "root" / "root-ca.key.pem").exists()
