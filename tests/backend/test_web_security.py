"""Security headers on pages and API answers; rate limits with 429 problem documents."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from backend.app import create_app
from backend.config import Settings
from backend.web_security import TokenBuckets


@pytest.fixture
def limited(settings: Settings, engine: Engine) -> Iterator[TestClient]:
    """The app with tiny limits: two requests per minute to each limited group."""
    tight = settings.model_copy(
        update={
            "rate_limit_login_per_minute": 2,
            "rate_limit_public_per_minute": 2,
            "rate_limit_kiosk_per_minute": 2,
        }
    )
    with TestClient(create_app(tight)) as c:
        yield c


def test_api_answers_carry_the_security_headers_and_are_never_cached(client: TestClient):
    r = client.get("/api/v1/auth/me")
    assert r.status_code == 401
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert "strict-transport-security" not in r.headers  # plain HTTP: HSTS means nothing


def test_pages_may_not_be_framed_and_keep_their_own_policy(client: TestClient):
    r = client.get("/desk/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    # The page's own CSP is in a <meta> tag, which cannot say frame-ancestors.
    assert r.headers["content-security-policy"] == "frame-ancestors 'none'"
    assert r.headers["x-frame-options"] == "DENY"
    assert "no-store" not in r.headers.get("cache-control", "")


def test_routes_that_choose_their_caching_keep_it(client: TestClient):
    r = client.get("/pki/ca.pem")
    # The CA's public answers set their own Cache-Control (or fail without a CA): never
    # overwritten with no-store, and never without the other headers.
    assert r.headers["x-content-type-options"] == "nosniff"
    if r.status_code == 200:
        assert r.headers["cache-control"] == "max-age=300"


def test_answers_over_tls_carry_hsts(app):
    with TestClient(app, base_url="https://testserver") as c:
        r = c.get("/healthz")
    assert r.status_code == 200
    assert r.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/api/v1/auth/login", {"username": "nobody", "password": "wrong-password"}),
        ("post", "/api/v1/auth/challenge", {"username": "nobody"}),
        ("post", "/api/v1/public/receipts/verify", {"token": "not-a-token"}),
        ("get", "/12333/", None),
        ("get", "/pki/crl", None),
        ("post", "/api/v1/benefits/kiosk/challenges", {"identification_code": "00"}),
    ],
)
def test_a_client_past_the_limit_gets_429_with_retry_after(
    limited: TestClient, method: str, path: str, body: dict[str, str] | None
):
    kwargs = {"json": body} if body is not None else {}
    first = [getattr(limited, method)(path, **kwargs).status_code for _ in range(2)]
    assert 429 not in first
    r = getattr(limited, method)(path, **kwargs)
    assert r.status_code == 429, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert int(r.headers["retry-after"]) >= 1
    problem = r.json()
    assert problem["code"] == "rate_limited" and problem["status"] == 429
    assert r.headers["x-content-type-options"] == "nosniff"  # headers on refusals too


def test_limits_are_per_group_and_leave_other_routes_alone(limited: TestClient):
    for _ in range(3):
        limited.post("/api/v1/auth/login", json={"username": "x", "password": "y" * 8})
    assert limited.post("/api/v1/auth/login", json={"username": "x"}).status_code == 429
    assert limited.post("/api/v1/public/receipts/verify", json={"token": "x"}).status_code != 429
    assert all(limited.get("/healthz").status_code == 200 for _ in range(10))
    assert all(limited.get("/api/v1/persons").status_code == 401 for _ in range(10))


def test_bucket_refills_at_its_rate_and_counts_each_client_alone():
    buckets = TokenBuckets(per_minute=60)  # one a second
    assert all(buckets.take("10.0.0.1", 100.0) == 0 for _ in range(60))
    assert buckets.take("10.0.0.1", 100.0) == pytest.approx(1.0)
    assert buckets.take("10.0.0.2", 100.0) == 0  # another address has its own bucket
    assert buckets.take("10.0.0.1", 101.5) == 0  # 1.5 s later: one token back
    assert buckets.take("10.0.0.1", 101.5) > 0
