"""Log-in, sessions, lockout."""

from __future__ import annotations

import json
import threading

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.audit.models import AuditRecord
from backend.audit.service import Actor
from backend.auth import service as auth_service
from backend.config import Settings
from backend.db import unit_of_work
from backend.orgs.models import Operator
from tests.conftest import PASSWORD, World


def test_login_returns_short_lived_token_and_me_shows_scope(world: World, client: TestClient):
    r = client.post("/api/v1/auth/login", json={"username": "clerk_hbk", "password": PASSWORD})
    assert r.status_code == 200
    body = r.json()
    assert body["factors"] == ["password"]
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["scope_prefix"] == "654226100"
    assert me.json()["role_label"] == "经办员"


def test_wrong_password_is_401_problem(world: World, client: TestClient):
    r = client.post("/api/v1/auth/login", json={"username": "clerk_hbk", "password": "nope"})
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "authentication_failed"


def test_account_locks_after_repeated_failures_even_with_right_password(
    world: World, client: TestClient, session_factory: sessionmaker[Session]
):
    for _ in range(5):
        r = client.post("/api/v1/auth/login", json={"username": "clerk_xzg", "password": "bad"})
        assert r.status_code == 401
    r = client.post("/api/v1/auth/login", json={"username": "clerk_xzg", "password": PASSWORD})
    assert r.status_code == 401
    assert r.json()["code"] == "authentication_failed"
    with unit_of_work(session_factory) as s:
        operator = s.get(Operator, world.operator_ids["clerk_xzg"])
        assert operator is not None and operator.locked_until is not None
        reasons = [
            json.loads(d)["reason"]
            for d in s.scalars(
                select(AuditRecord.detail)
                .where(AuditRecord.action == "auth.login", AuditRecord.result == "denied")
                .order_by(AuditRecord.id)
            )
        ]
    assert reasons == ["bad_password"] * 5 + ["locked"]


def test_unknown_inactive_locked_and_wrong_password_get_one_answer_after_the_same_work(
    world: World,
    client: TestClient,
    session_factory: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
):
    for _ in range(5):
        client.post("/api/v1/auth/login", json={"username": "clerk_xzg", "password": "bad"})
    with unit_of_work(session_factory) as s:
        operator = s.get(Operator, world.operator_ids["reviewer_xzg"])
        assert operator is not None
        operator.is_active = False
    verified: list[str] = []
    real = auth_service._verify_password

    def counting(stored_hash: str, password: str) -> bool:
        verified.append(password)
        return real(stored_hash, password)

    monkeypatch.setattr(auth_service, "_verify_password", counting)
    answers = {}
    for case, username, password in [
        ("unknown", "nobody_here", PASSWORD),
        ("inactive", "reviewer_xzg", PASSWORD),
        ("locked", "clerk_xzg", PASSWORD),
        ("wrong", "clerk_hbk", "Wrong-Passw0rd!"),
    ]:
        before = len(verified)
        r = client.post("/api/v1/auth/login", json={"username": username, "password": password})
        # One password hash verified whatever the account: the same work, the same time.
        assert len(verified) == before + 1, case
        answers[case] = (r.status_code, r.headers.get("www-authenticate"), r.json())
    assert len({repr(answer) for answer in answers.values()}) == 1, answers
    assert answers["locked"][0] == 401


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_wrong_passwords_sent_at_once_are_all_counted(
    world: World, session_factory: sessionmaker[Session], settings: Settings
):
    lenient = settings.model_copy(update={"login_max_failures": 100})
    start = threading.Barrier(8)

    def attempt() -> None:
        start.wait(timeout=10)
        with unit_of_work(session_factory) as s:
            outcome = auth_service.login(
                session=s,
                settings=lenient,
                username="clerk_hbk",
                password="Wrong-Passw0rd!",
                actor=Actor(address="127.0.0.1"),
            )
            assert outcome.error is not None

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    with unit_of_work(session_factory) as s:
        operator = s.get(Operator, world.operator_ids["clerk_hbk"])
        assert operator is not None and operator.failed_logins == 8


def test_security_admin_unlocks(world: World, client: TestClient):
    for _ in range(5):
        client.post("/api/v1/auth/login", json={"username": "clerk_xzg", "password": "bad"})
    op_id = world.operator_ids["clerk_xzg"]
    r = client.post(f"/api/v1/operators/{op_id}/unlock", headers=world.headers("secadmin"))
    assert r.status_code == 200
    r = client.post("/api/v1/auth/login", json={"username": "clerk_xzg", "password": PASSWORD})
    assert r.status_code == 200


def test_logout_ends_session(world: World, client: TestClient):
    headers = world.headers("clerk_hbk")
    assert client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    r = client.get("/api/v1/auth/me", headers=headers)
    assert r.status_code == 401
    assert r.json()["code"] == "session_expired"


def test_missing_token_is_401(world: World, client: TestClient):
    r = client.get("/api/v1/auth/me")
    assert r.status_code == 401
    assert r.json()["code"] == "missing_token"
