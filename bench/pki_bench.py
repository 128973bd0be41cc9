"""Certificates issued per second, OCSP responses per second, and the cost of mutual TLS.

Run: ``.venv/bin/python bench/pki_bench.py [--certs 300] [--ocsp 2000] [--requests 1000]``.
Uses its own SQLite database in a temporary directory. Times:

* issuance: CSR check + profile check + ECDSA P-256 signature + inventory row + audit
  record, one transaction per certificate (what ``POST /pki/enrol`` does), one process;
* OCSP: ``ocsp_answer`` in process, then over HTTP with two client threads against
  uvicorn (one worker); each both ways: requests without a nonce, answered from the
  response cache after the first (the state look-up still runs), and requests with a
  nonce, each signed afresh (what the responder costs without its cache);
* mutual TLS: ``GET /api/v1/auth/me`` with a session token, the same app served once
  over plain HTTP and once over HTTPS with the device certificate, keep-alive and a new
  connection per request; the ratio is HTTPS/HTTP in the same run.

Writes ``bench/results/pki.md``.
"""

from __future__ import annotations

import argparse
import base64
import os
import platform
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from backend import migrations  # noqa: E402
from backend.app import create_app  # noqa: E402
from backend.audit.service import Actor  # noqa: E402
from backend.auth import service as auth_service  # noqa: E402
from backend.config import Settings  # noqa: E402
from backend.db import make_engine, make_session_factory, unit_of_work  # noqa: E402
from backend.orgs import service as orgs  # noqa: E402
from backend.orgs.permissions import Role  # noqa: E402
from backend.pki import service as pki  # noqa: E402
from backend.pki.keystore import DatabaseKeyStore, FileKeyStore  # noqa: E402
from backend.tls import uvicorn_config  # noqa: E402
from xnb_client import make_csr, new_private_key, private_key_pem  # noqa: E402

PASSWORD = "Bench-Passw0rd!"


def rate(count: int, seconds: float) -> str:
    """Operations per second, rounded for a table."""
    return f"{count / seconds:,.0f}"


@contextmanager
def running(settings: Settings) -> Iterator[int]:
    """uvicorn in a thread on a free 127.0.0.1 port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn_config(
        create_app(settings), settings, host="127.0.0.1", port=port, log_level="error"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


def timed(action: Callable[[], None], count: int) -> float:
    """Seconds for ``count`` calls of ``action``."""
    start = time.perf_counter()
    for _ in range(count):
        action()
    return time.perf_counter() - start


def main() -> None:
    """Set up a CA and a county, run the three measurements, write the results."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--certs", type=int, default=300)
    parser.add_argument("--ocsp", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="xnb-pki-bench-"))
    url = f"sqlite:///{work / 'bench.db'}"
    migrations.upgrade(url)
    settings = Settings(env="dev", database_url=url, pki_public_url="http://127.0.0.1:1")
    factory = make_session_factory(make_engine(url))
    passphrase = settings.pki_passphrase.get_secret_value()
    with unit_of_work(factory) as s:
        orgs.load_regions(session=s, path=orgs.DATA_DIR / "regions_654226.csv")
        office = orgs.create_office(
            session=s,
            code="HBK",
            name="和布克赛尔镇社保所",
            region_code="654226100000",
            actor=Actor.system(),
        )
        orgs.create_operator(
            session=s,
            principal=None,
            actor=Actor.system(),
            username="clerk",
            full_name="c",
            role=Role.CLERK,
            office_id=office.id,
            password=PASSWORD,
        )
        pki.init_hierarchy(
            session=s,
            keys=DatabaseKeyStore(s, passphrase),
            root_keys=FileKeyStore(work / "root", "root-pass"),
            settings=settings,
            province_code="65",
            actor=Actor.system(),
        )
        device = pki.register_device(
            session=s,
            principal=None,
            name="BENCH-WS",
            kind="workstation",
            office_id=office.id,
            actor=Actor.system(),
        )
        device_id = device.id

    # ---- issuance ----------------------------------------------------------------------
    csrs = []
    for _ in range(args.certs):
        key = new_private_key()
        csrs.append((key, make_csr(key, common_name="BENCH-WS")))
    tokens = []
    with unit_of_work(factory) as s:
        for _ in range(args.certs):
            tokens.append(
                pki.issue_enrolment_token(
                    session=s,
                    principal=None,
                    device_id=device_id,
                    valid_hours=1,
                    actor=Actor.system(),
                )[1]
            )
    issued: list[pki.Certificate] = []

    def issue_one() -> None:
        csr = csrs[len(issued)][1]
        with unit_of_work(factory) as s:
            issued.append(
                pki.enrol_device(
                    session=s,
                    keys=DatabaseKeyStore(s, passphrase),
                    settings=settings,
                    token=tokens[len(issued)],
                    csr_pem=csr,
                    actor=Actor.system(),
                )
            )

    issue_seconds = timed(issue_one, args.certs)

    # ---- OCSP in process ---------------------------------------------------------------
    with unit_of_work(factory) as s:
        chain = pki.chain_pem(session=s)
    issuer = x509.load_pem_x509_certificates(chain.encode())[0]

    def ocsp_request(certificate: pki.Certificate, nonce: bool) -> bytes:
        builder = ocsp.OCSPRequestBuilder().add_certificate(
            x509.load_pem_x509_certificate(certificate.pem.encode()), issuer, hashes.SHA1()
        )
        if nonce:
            builder = builder.add_extension(x509.OCSPNonce(os.urandom(16)), critical=False)
        return builder.build().public_bytes(serialization.Encoding.DER)

    requests = [ocsp_request(c, nonce=False) for c in issued]
    nonce_requests = [ocsp_request(c, nonce=True) for c in issued]

    def ocsp_one_factory(pool: list[bytes]) -> Callable[[], None]:
        counter = iter(range(10**9))

        def one() -> None:
            with unit_of_work(factory) as s:
                pki.ocsp_answer(
                    session=s,
                    keys=DatabaseKeyStore(s, passphrase),
                    settings=settings,
                    request_der=pool[next(counter) % len(pool)],
                )

        return one

    ocsp_seconds = timed(ocsp_one_factory(requests), args.ocsp)
    ocsp_nonce_seconds = timed(ocsp_one_factory(nonce_requests), args.ocsp)

    # ---- files for TLS: server certificate, device certificate ---------------------------
    server_key = new_private_key()
    with unit_of_work(factory) as s:
        row = pki.issue_server_certificate(
            session=s,
            keys=DatabaseKeyStore(s, passphrase),
            settings=settings,
            hosts=["127.0.0.1"],
            public_key=server_key.public_key(),
            actor=Actor.system(),
        )
        (work / "server.pem").write_text(row.pem + chain)
    (work / "server.key").write_bytes(private_key_pem(server_key, passphrase))
    (work / "chain.pem").write_text(chain)
    device_key, device_row = csrs[-1][0], issued[-1]
    (work / "device.pem").write_text(device_row.pem)
    (work / "device.key").write_bytes(private_key_pem(device_key))
    tls_settings = settings.model_copy(
        update={
            "tls_certfile": work / "server.pem",
            "tls_keyfile": work / "server.key",
            "tls_client_ca_file": work / "chain.pem",
            "allow_insecure_http": False,
        }
    )
    import ssl

    client_ctx = ssl.create_default_context(cafile=str(work / "chain.pem"))
    client_ctx.load_cert_chain(str(work / "device.pem"), str(work / "device.key"))

    def measure(base: str, verify: ssl.SSLContext | bool, n: int) -> tuple[float, float]:
        with httpx.Client(base_url=base, verify=verify) as c:
            token = c.post(
                "/api/v1/auth/login", json={"username": "clerk", "password": PASSWORD}
            ).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            c.get("/api/v1/auth/me", headers=headers)
            keep = timed(lambda: c.get("/api/v1/auth/me", headers=headers).raise_for_status(), n)

        def fresh() -> None:
            with httpx.Client(base_url=base, verify=verify) as one:
                one.get("/api/v1/auth/me", headers=headers).raise_for_status()

        new = timed(fresh, max(n // 5, 20))
        return keep / n, new / max(n // 5, 20)

    # The login hasher is Argon2id at full cost; the bench times requests, not log-ins.
    auth_service._hasher = auth_service.PasswordHasher(time_cost=1, memory_cost=1024)
    with running(settings) as port:
        plain = measure(f"http://127.0.0.1:{port}", False, args.requests)
        with ThreadPoolExecutor(2) as pool, httpx.Client(base_url=f"http://127.0.0.1:{port}") as c:

            def over_http(send: Callable[[int], httpx.Response]) -> float:
                start = time.perf_counter()
                list(pool.map(lambda i: send(i).raise_for_status(), range(args.ocsp)))
                return time.perf_counter() - start

            def post(pool_of: list[bytes]) -> Callable[[int], httpx.Response]:
                return lambda i: c.post(
                    "/pki/ocsp",
                    content=pool_of[i % len(pool_of)],
                    headers={"Content-Type": "application/ocsp-request"},
                )

            encoded = [base64.b64encode(r).decode() for r in requests]
            http_post_seconds = over_http(post(requests))
            http_nonce_seconds = over_http(post(nonce_requests))
            http_get_seconds = over_http(lambda i: c.get(f"/pki/ocsp/{encoded[i % len(encoded)]}"))
    with running(tls_settings) as port:
        mtls = measure(f"https://127.0.0.1:{port}", client_ctx, args.requests)

    cpu = platform.processor() or platform.machine()
    lines = [
        "# PKI benchmark",
        "",
        f"Machine: {os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, "
        f"SQLite; `bench/pki_bench.py --certs {args.certs} --ocsp {args.ocsp} "
        f"--requests {args.requests}`. CA keys ECDSA P-256.",
        "",
        "| measurement | result |",
        "|---|---|",
        f"| certificates issued per second (enrolment: CSR + profile checks, signature, "
        f"inventory row, audit record, one transaction each; 1 process) | "
        f"{rate(args.certs, issue_seconds)} /s |",
        f"| OCSP responses per second, in process, from the response cache (no nonce; "
        f"state look-up) | {rate(args.ocsp, ocsp_seconds)} /s |",
        f"| OCSP responses per second, in process, each signed (nonce) | "
        f"{rate(args.ocsp, ocsp_nonce_seconds)} /s |",
        f"| OCSP responses per second over HTTP, POST, from the cache (uvicorn, 1 worker; "
        f"2 client threads on the same 2 cores) | {rate(args.ocsp, http_post_seconds)} /s |",
        f"| OCSP responses per second over HTTP, GET (RFC 5019), from the cache | "
        f"{rate(args.ocsp, http_get_seconds)} /s |",
        f"| OCSP responses per second over HTTP, POST, each signed (nonce) | "
        f"{rate(args.ocsp, http_nonce_seconds)} /s |",
        f"| `GET /api/v1/auth/me`, keep-alive: plain HTTP | {plain[0] * 1000:.2f} ms |",
        f"| `GET /api/v1/auth/me`, keep-alive: mutual TLS | {mtls[0] * 1000:.2f} ms |",
        f"| **ratio mTLS / HTTP, keep-alive** | **{mtls[0] / plain[0]:.2f}** |",
        f"| new connection per request: plain HTTP | {plain[1] * 1000:.2f} ms |",
        f"| new connection per request: mutual TLS (full handshake) | {mtls[1] * 1000:.2f} ms |",
        f"| **ratio mTLS / HTTP, new connection each** | **{mtls[1] / plain[1]:.2f}** |",
        "",
        "The keep-alive figure is the steady state of a workstation (one connection, many "
        "requests); the per-request certificate check (inventory look-up, revocation, holder "
        "active) is included in both columns' code path only under TLS.",
        "",
    ]
    out = ROOT / "bench" / "results" / "pki.md"
    out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
