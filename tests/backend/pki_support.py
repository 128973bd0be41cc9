"""Helpers shared by the PKI and mutual-TLS tests: a CA, enrolled devices, operator certificates."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from backend.audit.service import Actor
from backend.config import Settings
from backend.db import unit_of_work
from backend.pki import service as pki
from backend.pki.keystore import FileKeyStore, KeyStore, ca_key_store
from tests.conftest import World
from xnb_client import make_csr, new_private_key, private_key_pem
from xnb_client.keys import PrivateKey

ROOT_PASSPHRASE = "root-ceremony-passphrase"


def root_key_store(session: Session, settings: Settings, root_dir: Path) -> KeyStore:
    """The root's keys: offline files with the file stores, the token with the HSM."""
    if settings.key_store == "pkcs11":
        return ca_key_store(session, settings)
    return FileKeyStore(root_dir, ROOT_PASSPHRASE)


def init_ca(session_factory: sessionmaker[Session], settings: Settings, root_dir: Path) -> str:
    """Run the key ceremony (on the configured store); return the CA chain PEM."""
    with unit_of_work(session_factory) as s:
        pki.init_hierarchy(
            session=s,
            keys=ca_key_store(s, settings),
            root_keys=root_key_store(s, settings, root_dir),
            settings=settings,
            province_code="65",
            actor=Actor.system(),
        )
        return pki.chain_pem(session=s)


@dataclass
class Issued:
    """A certificate with its key, as PEM and as objects."""

    key: PrivateKey
    certificate_pem: str
    chain_pem: str
    serial: str

    @property
    def certificate(self) -> x509.Certificate:
        """The parsed certificate."""
        return x509.load_pem_x509_certificate(self.certificate_pem.encode())

    def write(self, directory: Path, name: str) -> tuple[Path, Path]:
        """Write ``name.pem`` (certificate) and ``name.key`` (unencrypted key)."""
        cert_path, key_path = directory / f"{name}.pem", directory / f"{name}.key"
        cert_path.write_text(self.certificate_pem)
        key_path.write_bytes(private_key_pem(self.key))
        return cert_path, key_path


def key_headers(world: World, username: str) -> dict[str, str]:
    """Session and idempotency headers of an operator."""
    return world.headers(username, key=uuid.uuid4().hex)


def enrol_device(
    client: TestClient, world: World, *, name: str, office: str = "hbk", kind: str = "workstation"
) -> Issued:
    """Register a device, issue its token and enrol it; the device's own key."""
    r = client.post(
        "/api/v1/devices",
        json={"name": name, "kind": kind, "office_id": world.offices[office].id},
        headers=key_headers(world, "secadmin"),
    )
    assert r.status_code == 201, r.text
    device_id = r.json()["id"]
    r = client.post(
        f"/api/v1/devices/{device_id}/tokens", json={}, headers=key_headers(world, "secadmin")
    )
    assert r.status_code == 201, r.text
    key = new_private_key()
    office_row = world.offices[office]
    csr = make_csr(
        key,
        common_name=name,
        uris={"device": name, "office": office_row.code, "region": office_row.region_code},
    )
    r = client.post("/pki/enrol", json={"token": r.json()["token"], "csr_pem": csr})
    assert r.status_code == 201, r.text
    body = r.json()
    return Issued(key, body["certificate_pem"], body["chain_pem"], body["serial"])


def issue_operator(
    client: TestClient, world: World, username: str, *, algorithm: str = "ec-p256"
) -> Issued:
    """The operator submits their own CSR; the security administrator approves it."""
    key = new_private_key(algorithm)
    r = client.post(
        "/api/v1/certificate-requests",
        json={
            "profile": "operator",
            "operator_id": world.operator_ids[username],
            "csr_pem": make_csr(key, common_name=username, uris={"operator": username}),
        },
        headers=key_headers(world, username),
    )
    assert r.status_code == 201, r.text
    r = client.post(
        f"/api/v1/certificate-requests/{r.json()['id']}/approve",
        headers=key_headers(world, "secadmin"),
    )
    assert r.status_code == 200, r.text
    issued = r.json()["issued"]
    return Issued(key, issued["certificate_pem"], issued["chain_pem"], issued["serial"])


def with_client_certificate(app: Any, certificate_pem: str | None) -> Any:
    """The app as a TLS server would present it: https, with this client certificate."""

    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            chain = [certificate_pem] if certificate_pem else []
            scope = {
                **scope,
                "scheme": "https",
                "extensions": {**scope.get("extensions", {}), "tls": {"client_cert_chain": chain}},
            }
        await app(scope, receive, send)

    return wrapped
