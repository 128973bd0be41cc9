"""Receipt tokens from the backend: an operator has one signed, anyone can check it."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from backend.config import Settings
from backend.receipts import service
from receipts import ReceiptKind
from tests.conftest import World

VERIFY = "/api/v1/public/receipts/verify"
ID_NUMBER = "65422619580101002X"
BODY = {"kind": "contribution", "id_number": ID_NUMBER, "amount_fen": 50000}


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Test settings with the receipt keys in the test's own directory."""
    return Settings(env="test", database_url=database_url, receipt_key_dir=tmp_path / "receipts")


def sign(world: World, body: dict[str, object], *, key: str | None = None) -> dict[str, object]:
    response = world.client.post(
        "/api/v1/receipts", json=body, headers=world.headers("clerk_hbk", key=key)
    )
    assert response.status_code == 201, response.text
    result: dict[str, object] = response.json()
    return result


def test_signed_receipt_verifies_on_the_public_endpoint(world: World, client: TestClient) -> None:
    signed = sign(world, BODY)
    claims = signed["claims"]
    assert isinstance(claims, dict)
    assert claims["person"] == "654226********002X"
    assert str(claims["receipt_number"]).startswith("R")
    check = client.post(VERIFY, json={"token": signed["token"]})
    assert check.status_code == 200
    assert check.json()["genuine"] is True
    assert check.json()["claims"]["amount_fen"] == 50000


def test_a_retry_with_the_same_key_returns_the_same_token(world: World) -> None:
    key = uuid.uuid4().hex
    body = {**BODY, "receipt_number": "JF2026-000123"}
    assert sign(world, body, key=key) == sign(world, body, key=key)


def test_forged_and_garbled_tokens_are_not_genuine(world: World, client: TestClient) -> None:
    token = str(sign(world, BODY)["token"])
    prefix, payload, signature = token.split(".")
    forged = f"{prefix}.{payload}.{signature[:-4]}AAAA"
    assert client.post(VERIFY, json={"token": forged}).json() == {
        "genuine": False,
        "claims": None,
        "code": "bad_signature",
        "detail": "receipt signature does not match",
    }
    garbled = client.post(VERIFY, json={"token": "not-a-token"}).json()
    assert (garbled["genuine"], garbled["code"]) == (False, "malformed")


def test_signing_needs_a_logged_in_operator(client: TestClient, world: World) -> None:
    response = client.post("/api/v1/receipts", json=BODY, headers={"Idempotency-Key": "k1"})
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


def test_bad_receipt_request_is_invalid_input(world: World) -> None:
    response = world.client.post(
        "/api/v1/receipts",
        json={**BODY, "kind": "lottery"},
        headers=world.headers("clerk_hbk"),
    )
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_input"


def test_old_receipts_still_verify_after_the_key_is_rotated(settings: Settings) -> None:
    old_token, _ = service.sign_receipt(
        settings=settings,
        kind=ReceiptKind.SURVIVAL,
        id_number=ID_NUMBER,
        amount_fen=None,
        receipt_number=None,
    )
    rotated = settings.model_copy(update={"receipt_key_id": "receipts-2"})
    new_token, claims = service.sign_receipt(
        settings=rotated,
        kind=ReceiptKind.SURVIVAL,
        id_number=ID_NUMBER,
        amount_fen=None,
        receipt_number=None,
    )
    assert claims.key_id == "receipts-2"
    verifier = service.verifier(rotated)
    assert verifier.verify(old_token).key_id == "receipts-1"
    assert verifier.verify(new_token).key_id == "receipts-2"


def test_public_check_needs_no_client_certificate_where_the_api_does(
    database_url: str, tmp_path: Path, engine: object
) -> None:
    from backend.app import create_app

    strict = Settings(
        env="test",
        database_url=database_url,
        receipt_key_dir=tmp_path / "receipts",
        allow_insecure_http=False,
    )
    token, _ = service.sign_receipt(
        settings=strict,
        kind=ReceiptKind.CARD_ISSUED,
        id_number=ID_NUMBER,
        amount_fen=None,
        receipt_number=None,
    )
    with TestClient(create_app(strict)) as strict_client:
        refused = strict_client.post(
            "/api/v1/receipts", json=BODY, headers={"Idempotency-Key": "k"}
        )
        assert refused.status_code in (401, 403)
        assert strict_client.post(VERIFY, json={"token": token}).json()["genuine"] is True
