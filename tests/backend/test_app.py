"""Health, readiness, schema currency, problem responses, OpenAPI."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from backend.app import create_app
from backend.config import Settings


def test_healthz_and_readyz(client: TestClient):
    assert client.get("/healthz").json() == {"status": "ok"}
    r = client.get("/readyz")
    assert r.status_code == 200
    assert r.json()["checks"] == {"database": "ok", "schema": "ok"}


def test_openapi_documents_every_area(client: TestClient):
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    for path in (
        "/api/v1/auth/login",
        "/api/v1/orgs/regions",
        "/api/v1/operators",
        "/api/v1/audit",
    ):
        assert path in paths
    assert client.get("/docs").status_code == 200


def test_malformed_json_is_a_problem_naming_the_body(client: TestClient):
    r = client.post(
        "/api/v1/auth/login", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["errors"][0]["code"] == "malformed_json"


def test_missing_field_is_named(client: TestClient):
    r = client.post("/api/v1/auth/login", json={"username": "x"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "password"


def test_unknown_route_is_problem_404(client: TestClient):
    r = client.get("/api/v1/nothing-here")
    assert r.status_code == 404
    assert r.json()["code"] == "not_found"


def test_server_refuses_to_start_on_old_schema(engine, settings: Settings):
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'old'"))
    try:
        app = create_app(settings)
        with pytest.raises(Exception, match="xnb db upgrade"), TestClient(app):
            pass
        with TestClient(create_app(settings, check_schema=False)) as c:
            r = c.get("/readyz")
            assert r.status_code == 503
            assert r.json()["checks"]["schema"] == "out_of_date"
    finally:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": _head()})


def _head() -> str:
    from backend.migrations import head_revision

    return head_revision()


def test_production_settings_refuse_sqlite():
    with pytest.raises(ValueError, match="PostgreSQL"):
        Settings(env="production", database_url="sqlite:///x.db")
