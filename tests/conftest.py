"""Shared fixtures: one migrated database per backend (SQLite and PostgreSQL) per run.

Every database test runs on both backends. PostgreSQL comes from
``XNB_TEST_POSTGRES_URL``; the run creates its own database there and drops it
at the end. When ``XNB_REQUIRE_RIGS=1`` (CI), a missing PostgreSQL fails the
run instead of skipping.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from backend import migrations
from backend.app import create_app
from backend.audit.service import Actor
from backend.auth import service as auth_service
from backend.config import Settings
from backend.db import Base, make_engine, make_session_factory, unit_of_work
from backend.orgs import service as orgs
from backend.orgs.models import Office
from backend.orgs.permissions import Role

REQUIRE_RIGS = os.environ.get("XNB_REQUIRE_RIGS") == "1"
# Tests send hundreds of requests from one address (and start servers that inherit this
# environment): the rate limits are lifted, except where tests/backend/test_web_security.py
# sets its own small ones.
for _group in ("LOGIN", "PUBLIC", "KIOSK"):
    os.environ.setdefault(f"XNB_RATE_LIMIT_{_group}_PER_MINUTE", "1000000")
# One data key ring per run (personal data is encrypted at rest), shared with subprocesses.
os.environ.setdefault(
    "XNB_DATA_KEY_PATH", os.path.join(tempfile.mkdtemp(prefix="xnb-test-keys-"), "data-keys.json")
)
# One PC/SC rig (pcscd + vpcd + card deck) per run, shared by every package's tests;
# SoftHSM2: a token directory per run and a token per test (marker hsm).
pytest_plugins = ["tests.pcsc_rig", "tests.softhsm"]
PASSWORD = "Test-Passw0rd!"


def missing(reason: str) -> None:
    """Skip locally, fail in CI: a rig the suite needs is not there."""
    if REQUIRE_RIGS:
        pytest.fail(f"required test rig missing: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session", autouse=True)
def _cheap_password_hashing() -> Iterator[None]:
    """Argon2id with tiny parameters: the same code path, a fraction of the time."""
    original = auth_service._hasher
    auth_service._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    yield
    auth_service._hasher = original


def _postgres_database() -> Iterator[str]:
    base_url = os.environ.get("XNB_TEST_POSTGRES_URL")
    if not base_url:
        missing("XNB_TEST_POSTGRES_URL is not set")
        return
    name = f"xnb_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        admin.dispose()
        missing(f"PostgreSQL at {make_url(base_url).host} unreachable: {exc}")
        return
    url = make_url(base_url).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(
    scope="session",
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """A freshly migrated database of each backend, for the whole run."""
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("db") / "xnb.db"
        url = f"sqlite:///{path}"
        migrations.upgrade(url)
        yield url
        return
    gen = _postgres_database()
    url = next(gen)
    migrations.upgrade(url)
    yield url
    for _ in gen:
        pass


@pytest.fixture(scope="session")
def _engines() -> Iterator[dict[str, Engine]]:
    cache: dict[str, Engine] = {}
    yield cache
    for engine in cache.values():
        engine.dispose()


@pytest.fixture
def engine(database_url: str, _engines: dict[str, Engine]) -> Iterator[Engine]:
    """The run's engine for this backend; every table is emptied after the test."""
    if database_url not in _engines:
        _engines[database_url] = make_engine(database_url)
    eng = _engines[database_url]
    yield eng
    _empty_all_tables(eng)


def _empty_all_tables(engine: Engine) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for name in tables:
                conn.execute(text(f"DELETE FROM {name}"))


@pytest.fixture
def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions on the test database."""
    return make_session_factory(engine)


@pytest.fixture
def session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session for a test's own reads and writes (commit it yourself)."""
    with session_factory() as s:
        yield s


@pytest.fixture
def settings(database_url: str) -> Settings:
    """Test settings on this backend."""
    return Settings(env="test", database_url=database_url)


@pytest.fixture
def app(settings: Settings, engine: Engine) -> FastAPI:
    """The backend application on the test database."""
    return create_app(settings)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """An HTTP client against the app (lifespan run, so the schema check is exercised)."""
    with TestClient(app) as c:
        yield c


# Offices of the test world: county office, two township offices, another county.
OFFICES = {
    "county": ("654226-SB", "和布克赛尔县社保中心", "654226000000"),
    "hbk": ("654226100-SB", "和布克赛尔镇社保所", "654226100000"),
    "xzg": ("654226200-SB", "夏孜盖乡社保所", "654226200000"),
    "emin": ("654221-SB", "额敏县社保中心", "654221000000"),
    "province": ("65-SB", "自治区社保局", "650000000000"),
}
# username -> (role, office key)
OPERATORS = {
    "clerk_hbk": (Role.CLERK, "hbk"),
    "reviewer_hbk": (Role.REVIEWER, "hbk"),
    "clerk_xzg": (Role.CLERK, "xzg"),
    "reviewer_xzg": (Role.REVIEWER, "xzg"),
    "clerk_county": (Role.CLERK, "county"),
    "reviewer_county": (Role.REVIEWER, "county"),
    "clerk_emin": (Role.CLERK, "emin"),
    "admin_county": (Role.COUNTY_ADMIN, "county"),
    "admin_emin": (Role.COUNTY_ADMIN, "emin"),
    "admin_province": (Role.PROVINCE_ADMIN, "province"),
    "sysadmin": (Role.SYSTEM_ADMIN, "province"),
    "secadmin": (Role.SECURITY_ADMIN, "province"),
    "auditor": (Role.AUDIT_ADMIN, "province"),
}


@dataclass
class World:
    """The region tree, offices and one operator of every role, plus log-in helpers."""

    client: TestClient
    offices: dict[str, Office] = field(default_factory=dict)
    operator_ids: dict[str, int] = field(default_factory=dict)
    _tokens: dict[str, str] = field(default_factory=dict)

    def token(self, username: str) -> str:
        """A bearer token for ``username`` (logged in once per test)."""
        if username not in self._tokens:
            r = self.client.post(
                "/api/v1/auth/login", json={"username": username, "password": PASSWORD}
            )
            assert r.status_code == 200, r.text
            self._tokens[username] = r.json()["access_token"]
        return self._tokens[username]

    def headers(self, username: str, *, key: str | None = None) -> dict[str, str]:
        """Authorization headers, with an idempotency key (fresh unless given)."""
        return {
            "Authorization": f"Bearer {self.token(username)}",
            "Idempotency-Key": key or uuid.uuid4().hex,
            "X-XNB-Device": "test-workstation",
        }


@pytest.fixture
def world(client: TestClient, session_factory: sessionmaker[Session]) -> World:
    """Regions of the demo county, its offices, and an operator of every role."""
    w = World(client=client)
    with unit_of_work(session_factory) as s:
        orgs.load_regions(session=s, path=orgs.DATA_DIR / "regions_654226.csv")
        for key, (code, name, region) in OFFICES.items():
            w.offices[key] = orgs.create_office(
                session=s, code=code, name=name, region_code=region, actor=Actor.system()
            )
        for username, (role, office_key) in OPERATORS.items():
            op = orgs.create_operator(
                session=s,
                principal=None,
                actor=Actor.system(),
                username=username,
                full_name=username,
                role=role,
                office_id=w.offices[office_key].id,
                password=PASSWORD,
            )
            w.operator_ids[username] = op.id
    return w


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    """In CI (``XNB_REQUIRE_RIGS=1``) a skipped test is a failed test: nothing may hide."""
    outcome = yield
    report = outcome.get_result()
    if REQUIRE_RIGS and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, which requires every rig: {report.longrepr}"
