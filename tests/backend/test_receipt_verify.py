"""The public receipt check: whatever a stranger sends, never a 500 and never a URL token."""

from __future__ import annotations

import base64
import json

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

VERIFY = "/api/v1/public/receipts/verify"
CODES = {"malformed", "too_long", "bad_time", "unknown_key", "bad_signature"}


def _token(payload: bytes) -> str:
    part = base64.urlsafe_b64encode(payload).rstrip(b"=").decode()
    return f"XNBR1.{part}.{base64.urlsafe_b64encode(bytes(64)).rstrip(b'=').decode()}"


def _payload(iat: int) -> bytes:
    document = {"amt": 1, "iat": iat, "kid": "receipts-1", "kind": "contribution"}
    return json.dumps({**document, "no": "R1", "per": "654226********001X"}).encode()


@pytest.mark.parametrize(
    ("token", "code"),
    [
        (_token(_payload(10**18)), "bad_time"),
        (_token(b"[" * 1400), "too_long"),
        (_token(b'{"amt":' + b"[" * 300 + b"]" * 300 + b"}"), "malformed"),
        ("XNBR1.ÿÿ.AAAA", "malformed"),
        ("XNBR1.e30=.AAAA", "malformed"),
    ],
)
def test_hostile_token_is_200_not_genuine_with_a_code(
    client: TestClient, token: str, code: str
) -> None:
    answer = client.post(VERIFY, json={"token": token})
    assert answer.status_code == 200, answer.text
    assert (answer.json()["genuine"], answer.json()["code"]) == (False, code)


def test_the_token_is_not_taken_from_the_url(client: TestClient) -> None:
    answer = client.get(VERIFY, params={"token": "XNBR1.e30.AAAA"})
    assert answer.status_code == 405


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b'{"token": "' + b"A" * 5000 + b'"}', 413, "body_too_large"),
        (b'{"token": ' + b"[" * 3000 + b"]" * 3000 + b"}", 413, "body_too_large"),
        (b'{"token": ' + b"[" * 2000 + b"]" * 2000 + b"}", 422, "invalid_input"),
        (b'{"token": ' + b"[" * 600 + b"]" * 600 + b"}", 422, "invalid_input"),
        (b"\xff\xfe not json", 422, "invalid_input"),
        (b'{"token": 7}', 422, "invalid_input"),
        (b"[]", 422, "invalid_input"),
    ],
)
def test_a_body_that_is_not_a_token_is_a_problem_document(
    client: TestClient, body: bytes, status: int, code: str
) -> None:
    answer = client.post(VERIFY, content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == code


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    st.one_of(
        st.text(max_size=1500).map(lambda t: json.dumps({"token": t}).encode()),
        st.binary(max_size=700).map(lambda b: json.dumps({"token": _token(b)}).encode()),
        st.binary(max_size=1500),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=8),
            lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
            max_leaves=20,
        ).map(lambda v: json.dumps({"token": v}).encode()),
    )
)
def test_any_body_is_answered_never_with_a_server_error(client: TestClient, body: bytes) -> None:
    answer = client.post(VERIFY, content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code in (200, 413, 422), answer.text
    if answer.status_code == 200:
        assert answer.json()["genuine"] is False and answer.json()["code"] in CODES
    else:
        assert answer.headers["content-type"] == "application/problem+json"
