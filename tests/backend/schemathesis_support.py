"""A real backend for schemathesis: a seeded county in its own database, served by uvicorn.

Shared by ``tests/backend/test_schemathesis.py`` (bounded examples, in CI) and
``bench/schemathesis_long.py`` (the long run). The server is a separate process started
with ``xnb serve`` (plain HTTP, development mode, 127.0.0.1 only), so what schemathesis
sees is exactly what a client sees: the ASGI server, the middleware, the error handlers.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from backend import migrations
from backend.audit.service import Actor
from backend.config import Settings
from backend.db import make_engine, make_session_factory, unit_of_work
from backend.demo import DEMO_COUNTY, build_world
from backend.keys import LocalKeyVault
from backend.keys import fields as personal_data_keys
from backend.pki import service as pki
from backend.pki.keystore import DatabaseKeyStore, FileKeyStore

PASSWORD = "Schema-Passw0rd!"
#: The roles schemathesis calls the API as (demo operators of build_world).
ROLES = ("clerk_xzg", "reviewer_county", "admin_province", "secadmin", "auditor")
#: Operations left out of the authenticated runs: logging out ends the session the run
#: uses (tests/backend/test_auth.py covers it).
EXCLUDED_PATHS = ("/api/v1/auth/logout",)
#: Problem documents and the checks of every response (module loaded by schemathesis).
HOOKS_MODULE = "tests.backend.schemathesis_hooks"
XNB = str(Path(sys.executable).parent / "xnb")
REPOSITORY = Path(__file__).parents[2]


def server_settings(database_url: str, workdir: Path) -> Settings:
    """The backend's settings: its database, and key files under ``workdir``."""
    return Settings(
        env="dev",
        database_url=database_url,
        card_vault_path=workdir / "card-vault.json",
        receipt_key_dir=workdir / "receipts",
        data_key_path=workdir / "data-keys.json",
        pki_http_port=0,
    )


def seed_county(database_url: str, workdir: Path, *, residents: int) -> None:
    """Migrate ``database_url``; load the demo county's offices, operators and residents,
    the certificate authority and the card keys (demo keys)."""
    from backend.seed import seed_residents

    settings = server_settings(database_url, workdir)
    # Personal data is sealed under the server's data keys: seed with the same ring.
    personal_data_keys.configure(personal_data_keys.source_of(settings))
    migrations.upgrade(database_url)
    LocalKeyVault.create(
        settings.card_vault_path,
        passphrase=settings.card_vault_passphrase.get_secret_value(),
        province_code="65",
        demo_keys=True,
        scrypt_n=2**10,
    )
    engine = make_engine(database_url)
    try:
        factory = make_session_factory(engine)
        with unit_of_work(factory) as session:
            build_world(session=session, password=PASSWORD)
            pki.init_hierarchy(
                session=session,
                keys=DatabaseKeyStore(session, settings.pki_passphrase.get_secret_value()),
                root_keys=FileKeyStore(workdir / "root-ca", "schemathesis-root-passphrase"),
                settings=settings,
                province_code="65",
                actor=Actor.system(),
            )
        with unit_of_work(factory) as session:
            seed_residents(session=session, county=DEMO_COUNTY, residents=residents, seed=7)
    finally:
        engine.dispose()


def free_port(low: int = 18600, high: int = 18699) -> int:
    """A free port of the range this harness may use on 127.0.0.1."""
    for port in range(low, high + 1):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {low}-{high}")


@contextmanager
def running_backend(database_url: str, workdir: Path, *, port: int) -> Iterator[str]:
    """``xnb serve`` on 127.0.0.1:``port`` over ``database_url``; yields its base URL."""
    settings = server_settings(database_url, workdir)
    env = dict(os.environ)
    env.update(
        XNB_ENV="dev",
        XNB_DATABASE_URL=database_url,
        XNB_CARD_VAULT_PATH=str(settings.card_vault_path),
        XNB_RECEIPT_KEY_DIR=str(settings.receipt_key_dir),
        XNB_DATA_KEY_PATH=str(settings.data_key_path),
        XNB_PKI_HTTP_PORT="0",
        # Thousands of requests from one address: the limits would answer most of them
        # with 429 (tests/backend/test_web_security.py shows the limits themselves).
        XNB_RATE_LIMIT_LOGIN_PER_MINUTE="1000000",
        XNB_RATE_LIMIT_PUBLIC_PER_MINUTE="1000000",
        XNB_RATE_LIMIT_KIOSK_PER_MINUTE="1000000",
    )
    log = (workdir / "server.log").open("wb")
    server = subprocess.Popen(
        [XNB, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=workdir,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"backend did not start: {(workdir / 'server.log').read_text()[-2000:]}"
                )
            time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def token(base: str, username: str) -> str:
    """A session token for a demo operator."""
    r = httpx.post(
        f"{base}/api/v1/auth/login",
        json={"username": username, "password": PASSWORD},
        headers={"Idempotency-Key": f"schemathesis-login-{username}-{time.monotonic_ns()}"},
        timeout=10,
    )
    r.raise_for_status()
    return str(r.json()["access_token"])


def run_schemathesis(
    base: str,
    workdir: Path,
    *,
    role: str | None,
    max_examples: int,
    phases: str = "examples,coverage,fuzzing",
    seed: int = 1,
) -> tuple[int, dict[str, object], str]:
    """One schemathesis run over the whole OpenAPI as ``role`` (None: no log-in).

    Returns the exit code, the figures of the run (operations, requests, seconds) and the
    command's output.
    """
    report_dir = Path(tempfile.mkdtemp(prefix=f"report-{role or 'anonymous'}-", dir=workdir))
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        f"{base}/openapi.json",
        "--checks",
        "not_a_server_error,problem_document",
        "--phases",
        phases,
        "--max-examples",
        str(max_examples),
        "--seed",
        str(seed),
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--suppress-health-check",
        "all",
        "--report",
        "ndjson",
        "--report-dir",
        str(report_dir),
        "--no-color",
        "--exclude-path",
        *EXCLUDED_PATHS,
        "-H",
        "X-XNB-Device: schemathesis",
    ]
    if role is not None:
        command += ["-H", f"Authorization: Bearer {token(base, role)}"]
    env = dict(os.environ, SCHEMATHESIS_HOOKS=HOOKS_MODULE, PYTHONPATH=str(REPOSITORY))
    started = time.monotonic()
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=workdir)
    seconds = time.monotonic() - started
    figures: dict[str, object] = {"role": role or "anonymous", "seconds": round(seconds, 1)}
    figures.update(_count_requests(report_dir))
    return done.returncode, figures, done.stdout + done.stderr


def _count_requests(report_dir: Path) -> dict[str, int]:
    operations: set[str] = set()
    requests = 0
    for path in report_dir.glob("*.ndjson"):
        for line in path.read_text().splitlines():
            event = json.loads(line)
            for name, payload in event.items():
                if name == "ScenarioFinished" and isinstance(payload, dict):
                    recorder = payload.get("recorder") or {}
                    requests += len(recorder.get("interactions") or {})
                    label = recorder.get("label")
                    if label:
                        operations.add(str(label))
    return {"operations": len(operations), "requests": requests}
