"""A second opinion from the ``openssl`` command line, and mutual TLS against a running
backend (uvicorn in a thread on 127.0.0.1, stopped at the end of each test)."""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from backend.app import create_app
from backend.audit.models import AuditRecord
from backend.audit.service import Actor
from backend.config import Settings
from backend.db import unit_of_work, utcnow
from backend.pki import service as pki
from backend.pki.keystore import DatabaseKeyStore
from backend.pki.models import Crl
from backend.tls import serve_all, uvicorn_config, uvicorn_configs
from tests.backend.pki_support import Issued, enrol_device, init_ca, issue_operator, key_headers
from tests.conftest import PASSWORD, World
from xnb.cli import app as xnb_app
from xnb_client import (
    BackendClient,
    BackendError,
    make_csr,
    new_private_key,
    private_key_pem,
    sign_challenge,
)

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


@contextmanager
def running(settings: Settings) -> Iterator[int]:
    """The backend served by uvicorn on a free 127.0.0.1 port until the block ends."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn_config(
        create_app(settings), settings, host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


def openssl(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """Run the openssl command line (never hangs: a timeout and closed stdin)."""
    return subprocess.run(
        ["openssl", *args], input=stdin, capture_output=True, text=True, timeout=60, check=False
    )


class Pki:
    """Files of the test CA: chain, issuing CA, server certificate and key."""

    def __init__(self, directory: Path, chain: str) -> None:
        self.dir = directory
        self.chain = directory / "chain.pem"
        self.chain.write_text(chain)
        self.issuing = directory / "issuing.pem"
        self.issuing.write_text(
            x509.load_pem_x509_certificates(chain.encode())[0]
            .public_bytes(serialization.Encoding.PEM)
            .decode()
        )


@pytest.fixture
def ca_files(
    world: World, session_factory: sessionmaker[Session], settings: Settings, tmp_path: Path
) -> Pki:
    """The CA of the test world, its files, and the backend's server certificate."""
    files = Pki(tmp_path, init_ca(session_factory, settings, tmp_path / "root"))
    key = new_private_key()
    with unit_of_work(session_factory) as s:
        keys = DatabaseKeyStore(s, settings.pki_passphrase.get_secret_value())
        row = pki.issue_server_certificate(
            session=s,
            keys=keys,
            settings=settings,
            hosts=["127.0.0.1", "localhost"],
            public_key=key.public_key(),
            actor=Actor.system(),
        )
        (tmp_path / "server.pem").write_text(row.pem + pki.chain_pem(session=s))
    (tmp_path / "server.key").write_bytes(
        private_key_pem(key, settings.pki_passphrase.get_secret_value())
    )
    return files


def _tls_settings(settings: Settings, files: Pki) -> Settings:
    return settings.model_copy(
        update={
            "tls_certfile": files.dir / "server.pem",
            "tls_keyfile": files.dir / "server.key",
            "tls_client_ca_file": files.chain,
            "allow_insecure_http": False,
        }
    )


def _revoke(client: TestClient, world: World, serial: str) -> None:
    r = client.post(
        f"/api/v1/certificates/{serial}/revoke",
        json={"reason": "key_compromise"},
        headers=key_headers(world, "secadmin"),
    )
    assert r.status_code == 200, r.text


# ---- openssl verify and openssl ocsp ------------------------------------------------------


def test_openssl_verify_with_the_published_crl_fails_a_revoked_certificate(
    ca_files: Pki, client: TestClient, world: World, tmp_path: Path
):
    device = enrol_device(client, world, name="HBK-WS-V1")
    cert, _ = device.write(tmp_path, "device")
    crl = tmp_path / "crl.pem"

    def verify() -> subprocess.CompletedProcess[str]:
        published = x509.load_der_x509_crl(client.get("/pki/crl").content)
        crl.write_bytes(published.public_bytes(serialization.Encoding.PEM))
        return openssl(
            "verify", "-CAfile", str(ca_files.chain), "-crl_check", "-CRLfile", str(crl), str(cert)
        )

    good = verify()
    assert good.returncode == 0, good.stdout + good.stderr
    _revoke(client, world, device.serial)
    bad = verify()
    assert bad.returncode != 0
    assert "certificate revoked" in bad.stdout + bad.stderr


def test_openssl_ocsp_says_good_revoked_and_unknown(
    ca_files: Pki, client: TestClient, world: World, settings: Settings, tmp_path: Path
):
    device = enrol_device(client, world, name="HBK-WS-O1")
    cert, _ = device.write(tmp_path, "device")
    with running(settings) as port:
        url = f"http://127.0.0.1:{port}/pki/ocsp"
        common = ["-issuer", str(ca_files.issuing), "-CAfile", str(ca_files.chain), "-url", url]
        good = openssl("ocsp", *common, "-cert", str(cert))
        assert f"{cert}: good" in good.stdout, good.stdout + good.stderr
        assert "Response verify OK" in good.stderr + good.stdout
        _revoke(client, world, device.serial)
        revoked = openssl("ocsp", *common, "-cert", str(cert))
        assert f"{cert}: revoked" in revoked.stdout, revoked.stdout + revoked.stderr
        assert "Reason: keyCompromise" in revoked.stdout
        unknown = openssl("ocsp", *common, "-serial", "0x1234abcd")
        assert ": unknown" in unknown.stdout, unknown.stdout + unknown.stderr


# ---- openssl s_client and clients against the HTTPS backend --------------------------------


def _s_client(port: int, files: Pki, path: str, *cert_args: str) -> str:
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    result = openssl(
        "s_client",
        "-connect",
        f"127.0.0.1:{port}",
        "-CAfile",
        str(files.chain),
        "-verify_return_error",
        "-quiet",
        *cert_args,
        stdin=request,
    )
    return result.stdout + result.stderr


def test_s_client_with_and_without_a_client_certificate(
    ca_files: Pki, client: TestClient, world: World, settings: Settings, tmp_path: Path
):
    cert, key = enrol_device(client, world, name="HBK-WS-S1").write(tmp_path, "device")
    with running(_tls_settings(settings, ca_files)) as port:
        with_cert = _s_client(
            port, ca_files, "/api/v1/auth/me", "-cert", str(cert), "-key", str(key)
        )
        assert "missing_token" in with_cert, with_cert  # past mutual TLS, at the session check
        without = _s_client(port, ca_files, "/api/v1/auth/me")
        assert "client_certificate_required" in without, without
        health = _s_client(port, ca_files, "/readyz")
        assert '"transport":"mtls"' in health, health
        crl = _s_client(port, ca_files, "/pki/ca.pem")
        assert "BEGIN CERTIFICATE" in crl


def test_foreign_and_expired_certificates_fail_the_handshake_with_a_reason_in_the_log(
    ca_files: Pki,
    client: TestClient,
    world: World,
    settings: Settings,
    session_factory: sessionmaker[Session],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
):
    device = enrol_device(client, world, name="HBK-WS-E1")
    foreign_key = new_private_key()
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "HBK-WS-E1")])
    now = utcnow()
    foreign = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(foreign_key.public_key())
        .serial_number(7)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(foreign_key, hashes.SHA256())
    )
    with unit_of_work(session_factory) as s:
        ca_key = DatabaseKeyStore(s, settings.pki_passphrase.get_secret_value()).signing_key(
            label=pki.ISSUING_KEY_LABEL
        )
    expired = (
        x509.CertificateBuilder()
        .subject_name(device.certificate.subject)
        .issuer_name(device.certificate.issuer)
        .public_key(foreign_key.public_key())
        .serial_number(8)
        .not_valid_before(now - dt.timedelta(days=10))
        .not_valid_after(now - dt.timedelta(days=1))
        .sign(ca_key, hashes.SHA256())
    )
    for label, certificate in (("foreign", foreign), ("expired", expired)):
        Issued(
            foreign_key, certificate.public_bytes(serialization.Encoding.PEM).decode(), "", ""
        ).write(tmp_path, label)
    with running(_tls_settings(settings, ca_files)) as port, caplog.at_level("WARNING"):
        for label in ("foreign", "expired"):
            cert, key = tmp_path / f"{label}.pem", tmp_path / f"{label}.key"
            with (
                pytest.raises(BackendError) as refused,
                BackendClient(
                    f"https://127.0.0.1:{port}",
                    ca_file=ca_files.chain,
                    client_cert=cert,
                    client_key=key,
                ) as c,
            ):
                c.login(username="clerk_hbk", password=PASSWORD)
            assert refused.value.code == "transport_error"
        time.sleep(0.2)
    assert "alert UNKNOWN_CA" in caplog.text or "alert unknown_ca" in caplog.text.lower()
    assert "certificate_expired" in caplog.text.lower()


def test_two_factor_login_over_mutual_tls_with_the_client_library_and_xnb_login(
    ca_files: Pki, client: TestClient, world: World, settings: Settings, tmp_path: Path
):
    device_cert, device_key = enrol_device(client, world, name="HBK-WS-L1").write(tmp_path, "dev")
    operator = issue_operator(client, world, "clerk_hbk")
    op_cert, op_key = operator.write(tmp_path, "operator")
    strict = _tls_settings(settings, ca_files).model_copy(
        update={"login_requires_certificate": True}
    )
    url_args = ["--ca-file", str(ca_files.chain)]
    with running(strict) as port:
        url = f"https://127.0.0.1:{port}"
        with BackendClient(
            url, ca_file=ca_files.chain, client_cert=device_cert, client_key=device_key
        ) as c:
            session = c.login(
                username="clerk_hbk",
                password=PASSWORD,
                certificate_pem=op_cert.read_bytes(),
                private_key=operator.key,
            )
            assert session.factors == ["password", "certificate"]
            assert c.me(session)["username"] == "clerk_hbk"
            with pytest.raises(BackendError) as refused:
                c.login(username="clerk_hbk", password=PASSWORD)
            assert refused.value.code == "certificate_required"
        result = CliRunner().invoke(
            xnb_app,
            [
                "login",
                "--url",
                url,
                "--username",
                "clerk_hbk",
                "--cert",
                str(op_cert),
                "--key",
                str(op_key),
                "--device-cert",
                str(device_cert),
                "--device-key",
                str(device_key),
                "--password",
                PASSWORD,
                *url_args,
            ],
        )
        assert result.exit_code == 0, result.output
        assert "password+certificate" in result.output
        with httpx.Client(verify=False) as bare:
            r = bare.get(f"{url}/api/v1/auth/me")
            assert r.json()["code"] == "client_certificate_required"


# ---- the CRL kept fresh by the running backend --------------------------------------------


def _crl_number(der: bytes) -> int:
    crl = x509.load_der_x509_crl(der)
    return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number


def test_crl_is_published_anew_once_half_its_validity_has_passed(
    ca_files: Pki, client: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    assert _crl_number(client.get("/pki/crl").content) == 1
    assert _crl_number(client.get("/pki/crl").content) == 1  # still fresh: not published again
    later = utcnow() + dt.timedelta(hours=13)  # past half of XNB_PKI_CRL_HOURS=24
    monkeypatch.setattr("backend.pki.service.revocation.utcnow", lambda: later)
    fresh = client.get("/pki/crl").content
    assert _crl_number(fresh) == 2
    assert _crl_number(client.get("/pki/crl").content) == 2
    (tmp_path / "fresh.crl").write_bytes(fresh)
    parsed = openssl(
        "crl",
        "-inform",
        "DER",
        "-in",
        str(tmp_path / "fresh.crl"),
        "-noout",
        "-text",
        "-CAfile",
        str(ca_files.chain),
    )
    assert parsed.returncode == 0, parsed.stderr
    assert "verify OK" in parsed.stdout + parsed.stderr
    assert "X509v3 CRL Number: \n                2" in parsed.stdout


# The lock under test is PostgreSQL's (SQLite serves one writer at a time): PostgreSQL only.
@pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_processes_refreshing_the_crl_together_publish_it_once(
    ca_files: Pki,
    session_factory: sessionmaker[Session],
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
):
    later = utcnow() + dt.timedelta(hours=13)
    monkeypatch.setattr("backend.pki.service.revocation.utcnow", lambda: later)
    start = threading.Barrier(4)
    numbers: list[int] = []

    def refresh() -> None:
        start.wait(timeout=10)
        with unit_of_work(session_factory) as s:
            keys = DatabaseKeyStore(s, settings.pki_passphrase.get_secret_value())
            numbers.append(pki.current_crl(session=s, keys=keys, settings=settings).number)

    threads = [threading.Thread(target=refresh) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert numbers == [2, 2, 2, 2]
    with unit_of_work(session_factory) as s:
        assert sorted(c.number for c in s.scalars(select(Crl))) == [1, 2]


# ---- CRL and OCSP over plain HTTP beside the HTTPS API --------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(settings: Settings) -> Iterator[list[int]]:
    """What `xnb serve` runs, in a thread: every listener's port until the block ends."""
    app = create_app(settings)
    configs = uvicorn_configs(
        app, settings, host="127.0.0.1", port=_free_port(), log_level="warning"
    )
    servers = [uvicorn.Server(config) for config in configs]
    thread = threading.Thread(target=asyncio.run, args=(serve_all(servers),), daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not all(server.started for server in servers):
        assert thread.is_alive() and time.monotonic() < deadline, "servers did not start"
        time.sleep(0.02)
    try:
        yield [config.port for config in configs]
    finally:
        servers[0].should_exit = True  # serve_all stops the others
        thread.join(timeout=15)
        assert not thread.is_alive()


def test_crl_and_ocsp_are_served_over_plain_http_while_the_api_needs_tls(
    ca_files: Pki, client: TestClient, world: World, settings: Settings, tmp_path: Path
):
    assert len(uvicorn_configs(create_app(settings), settings, host="127.0.0.1", port=1)) == 1
    device = enrol_device(client, world, name="HBK-WS-P1")
    cert, _ = device.write(tmp_path, "device")
    tls = _tls_settings(settings, ca_files).model_copy(update={"pki_http_port": _free_port()})
    with serving(tls) as (api_port, pki_port):
        assert pki_port == tls.pki_http_port
        plain = f"http://127.0.0.1:{pki_port}"
        common = ["-issuer", str(ca_files.issuing), "-CAfile", str(ca_files.chain)]
        common += ["-url", f"{plain}/pki/ocsp", "-no_nonce"]  # no nonce: the cached answer
        good = openssl("ocsp", *common, "-cert", str(cert))
        assert f"{cert}: good" in good.stdout, good.stdout + good.stderr
        assert "Response verify OK" in good.stderr + good.stdout
        _revoke(client, world, device.serial)
        revoked = openssl("ocsp", *common, "-cert", str(cert))
        assert f"{cert}: revoked" in revoked.stdout, revoked.stdout + revoked.stderr

        with httpx.Client(base_url=plain, timeout=10) as http:
            crl = http.get("/pki/crl")
            assert crl.status_code == 200
            assert x509.load_der_x509_crl(crl.content).get_revoked_certificate_by_serial_number(
                device.certificate.serial_number
            )
            assert http.get("/pki/ca.pem").text.startswith("-----BEGIN CERTIFICATE-----")
            for method, path in [("POST", "/pki/enrol"), ("GET", "/api/v1/auth/me")]:
                refused = http.request(method, path, json={})
                assert refused.status_code == 404
                assert refused.json()["code"] == "not_on_plain_http"
            assert http.get("/healthz").status_code == 404
        with pytest.raises(httpx.HTTPError):  # the API port speaks TLS only
            httpx.get(f"http://127.0.0.1:{api_port}/pki/crl", timeout=5)
        assert "200 OK" in _s_client(api_port, ca_files, "/pki/ca.pem")


# ---- enrolment over server-authenticated TLS ------------------------------------------------


def test_a_new_device_enrols_over_https_without_a_client_certificate(
    ca_files: Pki, client: TestClient, world: World, settings: Settings, tmp_path: Path
):
    r = client.post(
        "/api/v1/devices",
        json={"name": "HBK-WS-N1", "kind": "workstation", "office_id": world.offices["hbk"].id},
        headers=key_headers(world, "secadmin"),
    )
    assert r.status_code == 201, r.text
    r = client.post(
        f"/api/v1/devices/{r.json()['id']}/tokens", json={}, headers=key_headers(world, "secadmin")
    )
    token = r.json()["token"]
    office = world.offices["hbk"]
    key = new_private_key()
    csr = make_csr(
        key,
        common_name="HBK-WS-N1",
        uris={"device": "HBK-WS-N1", "office": office.code, "region": office.region_code},
    )
    with running(_tls_settings(settings, ca_files)) as port:
        url = f"https://127.0.0.1:{port}"
        # The device has only the CA chain: the server is authenticated, the device is not yet.
        with BackendClient(url, ca_file=ca_files.chain) as bare:
            issued = bare.enrol(token=token, csr_pem=csr)
            with pytest.raises(BackendError) as again:
                bare.enrol(token=token, csr_pem=csr)
            assert again.value.code == "token_used"
        Issued(key, issued["certificate_pem"], issued["chain_pem"], issued["serial"]).write(
            tmp_path, "device"
        )
        # The new certificate then opens the API; without one the API stays closed.
        context = ssl.create_default_context(cafile=str(ca_files.chain))
        context.load_cert_chain(tmp_path / "device.pem", tmp_path / "device.key")
        with httpx.Client(verify=context) as device:
            assert device.get(f"{url}/api/v1/auth/me").json()["code"] == "missing_token"
        with httpx.Client(verify=ssl.create_default_context(cafile=ca_files.chain)) as anonymous:
            refused = anonymous.get(f"{url}/api/v1/auth/me")
            assert refused.json()["code"] == "client_certificate_required"
            assert anonymous.get(f"{url}/healthz").status_code == 200


# ---- single use under real concurrency (PostgreSQL: SQLite admits one writer at a time) ----


def _at_once(count: int, call: Callable[[], httpx.Response]) -> list[httpx.Response]:
    """``count`` threads make the same request at the same moment."""
    start = threading.Barrier(count)
    answers: list[httpx.Response] = []

    def one() -> None:
        start.wait(timeout=10)
        answers.append(call())

    threads = [threading.Thread(target=one) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return answers


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_one_enrolment_token_sent_eight_times_at_once_enrols_one_device(
    ca_files: Pki, client: TestClient, world: World, settings: Settings
):
    r = client.post(
        "/api/v1/devices",
        json={"name": "HBK-WS-R1", "kind": "workstation", "office_id": world.offices["hbk"].id},
        headers=key_headers(world, "secadmin"),
    )
    device_id = r.json()["id"]
    r = client.post(
        f"/api/v1/devices/{device_id}/tokens", json={}, headers=key_headers(world, "secadmin")
    )
    token = r.json()["token"]
    office = world.offices["hbk"]
    csr = make_csr(
        new_private_key(),
        common_name="HBK-WS-R1",
        uris={"device": "HBK-WS-R1", "office": office.code, "region": office.region_code},
    )
    with running(settings) as port:
        url = f"http://127.0.0.1:{port}/pki/enrol"
        answers = _at_once(8, lambda: httpx.post(url, json={"token": token, "csr_pem": csr}))
    assert sorted(a.status_code for a in answers) == [201] + [401] * 7
    assert {a.json()["code"] for a in answers if a.status_code == 401} == {"token_used"}
    r = client.get(
        "/api/v1/certificates", params={"q": "HBK-WS-R1"}, headers=key_headers(world, "secadmin")
    )
    assert r.json()["total"] == 1


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_one_signed_login_challenge_sent_eight_times_at_once_opens_one_session(
    ca_files: Pki, client: TestClient, world: World, settings: Settings
):
    operator = issue_operator(client, world, "clerk_hbk")
    challenge = client.post("/api/v1/auth/challenge", json={"username": "clerk_hbk"}).json()
    body = {
        "username": "clerk_hbk",
        "password": PASSWORD,
        "challenge_id": challenge["challenge_id"],
        "signature": sign_challenge(
            operator.key,
            username="clerk_hbk",
            nonce_hex=challenge["nonce"],
            device_fingerprint=None,
        ),
        "certificate_pem": operator.certificate_pem,
    }
    with running(settings) as port:
        url = f"http://127.0.0.1:{port}/api/v1/auth/login"
        answers = _at_once(8, lambda: httpx.post(url, json=body))
    assert sorted(a.status_code for a in answers) == [200] + [401] * 7
    assert {a.json()["code"] for a in answers if a.status_code == 401} == {"challenge_used"}


# ---- X-Forwarded-* believed only from configured proxies -----------------------------------


def _last_login_address(session_factory: sessionmaker[Session]) -> str | None:
    with unit_of_work(session_factory) as s:
        return s.scalar(
            select(AuditRecord.address)
            .where(AuditRecord.action == "auth.login")
            .order_by(AuditRecord.id.desc())
            .limit(1)
        )


def test_forwarded_headers_are_believed_only_from_a_configured_proxy(
    world: World, settings: Settings, session_factory: sessionmaker[Session]
):
    forged = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
    wrong = {"username": "clerk_hbk", "password": "Wrong-Passw0rd!"}
    with running(settings) as port:  # no proxies configured (the default)
        r = httpx.post(f"http://127.0.0.1:{port}/api/v1/auth/login", json=wrong, headers=forged)
        # Neither the address nor the scheme (https would demand a client certificate).
        assert r.json()["code"] == "authentication_failed"
    assert _last_login_address(session_factory) == "127.0.0.1"
    behind_proxy = settings.model_copy(update={"trusted_proxies": ["127.0.0.1"]})
    with running(behind_proxy) as port:
        r = httpx.post(
            f"http://127.0.0.1:{port}/api/v1/auth/login",
            json=wrong,
            headers={"X-Forwarded-For": "203.0.113.9"},
        )
        assert r.json()["code"] == "authentication_failed"
    assert _last_login_address(session_factory) == "203.0.113.9"


# ---- OCSP request size -------------------------------------------------------------------


def test_an_oversized_ocsp_request_is_refused_before_it_is_read(ca_files: Pki, client: TestClient):
    for body in (b"\x30" * 20_000, iter([b"\x30" * 4096] * 5)):  # declared, and chunked
        r = client.post(
            "/pki/ocsp", content=body, headers={"Content-Type": "application/ocsp-request"}
        )
        assert r.status_code == 413
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["code"] == "body_too_large"
    small = client.post("/pki/ocsp", content=b"\x30\x00")
    assert small.status_code == 200  # a malformed request still gets an OCSP answer
