"""Log-in, sessions, lockout."""

from __future__ import annotations

from fastapi.testclient import TestClient

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
    world: World, client: TestClient
):
    for _ in range(4):
        assert (
            client.post(
                "/api/v1/auth/login", json={"username": "clerk_xzg", "password": "bad"}
            ).status_code
            == 401
        )
    r = client.post("/api/v1/auth/login", json={"username": "clerk_xzg", "password": "bad"})
    assert r.status_code == 423
    assert r.json()["code"] == "account_locked"
    r = client.post("/api/v1/auth/login", json={"username": "clerk_xzg", "password": PASSWORD})
    assert r.status_code == 423


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
