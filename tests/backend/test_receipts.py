"""Receipt tokens from the backend: signed only for a business fact the operator may see and
does the business of, once per fact, with the fact's person and amount; anyone can check one."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy.orm import Session, sessionmaker

from backend.config import Settings
from backend.db import unit_of_work
from backend.orgs.models import Office
from backend.receipts import service
from device_drivers.printer import MemoryPrinter, decode_escpos
from firmware_profiles.printers import printer_profile
from receipts import ReceiptKind
from terminal_agent.printing import PrintRequest, build_receipt, sign_body
from tests.backend.benefits_support import add_candidate, award
from tests.backend.card_support import add_card, add_person
from tests.backend.money_world import add_resident, load_basics
from tests.conftest import World

VERIFY = "/api/v1/public/receipts/verify"
ID_NUMBER = "65422619580101002X"
THIS_YEAR = dt.date.today().year


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Test settings with the receipt keys in the test's own directory."""
    return Settings(env="test", database_url=database_url, receipt_key_dir=tmp_path / "receipts")


@pytest.fixture
def collection(world: World, session_factory: sessionmaker[Session]) -> dict[str, Any]:
    """A resident of 夏孜盖乡 (xzg) who paid part of this year's contribution at the counter."""
    with unit_of_work(session_factory) as s:
        load_basics(s, regions=False)
        person = add_resident(s, sequence=11, birth=dt.date(1990, 3, 1))
        person_id, id_number = person.id, person.id_number
    assessment = world.client.post(
        "/api/v1/contributions/assessments",
        json={"person_id": person_id, "year": THIS_YEAR, "grade_fen": 50000},
        headers=world.headers("clerk_xzg"),
    )
    assert assessment.status_code == 201, assessment.text
    paid = world.client.post(
        "/api/v1/contributions/collections",
        json={"assessment_id": assessment.json()["id"], "amount_fen": 20000},
        headers=world.headers("clerk_xzg"),
    )
    assert paid.status_code == 201, paid.text
    return {**paid.json(), "id_number": id_number}


def ask(world: World, user: str, body: dict[str, object], *, key: str | None = None) -> Response:
    return world.client.post("/api/v1/receipts", json=body, headers=world.headers(user, key=key))


def test_receipt_of_a_collection_vouches_for_its_person_and_amount(
    world: World, client: TestClient, collection: dict[str, Any]
) -> None:
    signed = ask(world, "clerk_xzg", {"kind": "contribution", "fact_id": collection["id"]})
    assert signed.status_code == 201, signed.text
    claims = signed.json()["claims"]
    number = collection["id_number"]
    assert claims["person"] == number[:6] + "********" + number[-4:]
    assert claims["amount_fen"] == 20000
    assert claims["receipt_number"] == collection["receipt_no"]
    check = client.post(VERIFY, json={"token": signed.json()["token"]})
    assert check.status_code == 200
    assert check.json()["genuine"] is True
    assert check.json()["claims"]["amount_fen"] == 20000


def test_one_fact_has_one_receipt(world: World, collection: dict[str, Any]) -> None:
    body = {"kind": "contribution", "fact_id": collection["id"]}
    first = ask(world, "clerk_xzg", body)
    again = ask(world, "clerk_xzg", body)  # another key: a new request, not a retry
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    key = uuid.uuid4().hex
    assert ask(world, "clerk_xzg", body, key=key).json() == first.json()
    assert ask(world, "clerk_xzg", body, key=key).json() == first.json()


def test_the_caller_cannot_name_the_person_or_the_amount(
    world: World, collection: dict[str, Any]
) -> None:
    forged = {
        "kind": "contribution",
        "fact_id": collection["id"],
        "id_number": ID_NUMBER,
        "amount_fen": 99_999_999,
    }
    answer = ask(world, "clerk_xzg", forged)
    assert answer.status_code == 422
    assert {e["field"] for e in answer.json()["errors"]} >= {"id_number", "amount_fen"}


@pytest.mark.parametrize(
    ("user", "status"),
    [
        ("auditor", 403),  # the audit administrator does no counter business
        ("sysadmin", 403),
        ("reviewer_xzg", 403),  # reviews, does not take cash
        ("clerk_hbk", 404),  # another township: the collection does not exist for them
        ("clerk_emin", 404),
    ],
)
def test_only_a_role_doing_the_business_in_its_scope_gets_a_receipt(
    world: World, collection: dict[str, Any], user: str, status: int
) -> None:
    answer = ask(world, user, {"kind": "contribution", "fact_id": collection["id"]})
    assert answer.status_code == status, answer.text


def test_no_receipt_for_a_fact_that_does_not_exist_or_is_of_another_kind(
    world: World, collection: dict[str, Any]
) -> None:
    missing = ask(world, "clerk_xzg", {"kind": "contribution", "fact_id": 999_999})
    assert missing.status_code == 404
    other_kind = ask(world, "clerk_xzg", {"kind": "survival", "fact_id": collection["id"]})
    assert other_kind.status_code == 404
    card = ask(world, "clerk_xzg", {"kind": "card_issued", "fact_id": collection["id"]})
    assert card.status_code == 404


def test_no_receipt_for_a_reversed_collection(world: World, collection: dict[str, Any]) -> None:
    reversal = world.client.post(
        f"/api/v1/contributions/collections/{collection['id']}/reversal",
        json={"reason": "收错人"},
        headers=world.headers("reviewer_xzg"),
    )
    assert reversal.status_code == 201, reversal.text
    answer = ask(world, "clerk_xzg", {"kind": "contribution", "fact_id": collection["id"]})
    assert answer.status_code == 409
    assert answer.json()["code"] == "already_reversed"
    negative = ask(world, "clerk_xzg", {"kind": "contribution", "fact_id": reversal.json()["id"]})
    assert negative.status_code == 409


def test_forged_and_garbled_tokens_are_not_genuine(
    world: World, client: TestClient, collection: dict[str, Any]
) -> None:
    token = ask(world, "clerk_xzg", {"kind": "contribution", "fact_id": collection["id"]})
    prefix, payload, signature = token.json()["token"].split(".")
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
    response = client.post(
        "/api/v1/receipts",
        json={"kind": "contribution", "fact_id": 1},
        headers={"Idempotency-Key": "k1"},
    )
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


def test_bad_receipt_request_is_invalid_input(world: World) -> None:
    response = ask(world, "clerk_hbk", {"kind": "lottery", "fact_id": 1})
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
            "/api/v1/receipts",
            json={"kind": "contribution", "fact_id": 1},
            headers={"Idempotency-Key": "k"},
        )
        assert refused.status_code in (401, 403)
        assert strict_client.post(VERIFY, json={"token": token}).json()["genuine"] is True


def test_receipt_of_a_survival_certification_once(
    world: World, session_factory: sessionmaker[Session]
) -> None:
    with unit_of_work(session_factory) as s:
        load_basics(s, regions=False)
        person_id = add_candidate(s, sequence=21)
    award(world, person_id)
    certified = world.client.post(
        f"/api/v1/benefits/pensions/{person_id}/certifications",
        json={"method": "counter", "documents_seen": ["social_security_card", "id_card"]},
        headers=world.headers("clerk_xzg"),
    )
    assert certified.status_code == 201, certified.text
    body = {"kind": "survival", "fact_id": certified.json()["id"]}
    first = ask(world, "clerk_xzg", body)
    assert first.status_code == 201, first.text
    assert first.json()["claims"]["amount_fen"] is None
    assert ask(world, "clerk_county", body).json() == first.json()
    assert ask(world, "reviewer_xzg", body).status_code == 403  # certifies nobody
    assert ask(world, "clerk_hbk", body).status_code == 404


def test_receipt_of_a_card_loss_report(world: World, session_factory: sessionmaker[Session]):
    card = add_card(session_factory, add_person(session_factory), state="active")
    reported = world.client.post(
        f"/api/v1/cards/{card.id}/actions/report_loss",
        json={"reason": "遗失"},
        headers=world.headers("clerk_hbk"),
    )
    assert reported.status_code == 200, reported.text
    events = world.client.get(f"/api/v1/cards/{card.id}", headers=world.headers("clerk_hbk"))
    [loss] = [e for e in events.json()["events"] if e["action"] == "report_loss"]
    signed = ask(world, "clerk_hbk", {"kind": "card_loss", "fact_id": loss["id"]})
    assert signed.status_code == 201, signed.text
    assert (
        ask(world, "clerk_hbk", {"kind": "card_issued", "fact_id": loss["id"]}).status_code == 404
    )
    assert ask(world, "clerk_xzg", {"kind": "card_loss", "fact_id": loss["id"]}).status_code == 404


def test_day_close_slip_is_signed_only_for_the_signed_day_of_the_own_office(
    world: World,
    client: TestClient,
    collection: dict[str, Any],
    session_factory: sessionmaker[Session],
) -> None:
    today = dt.date.today().isoformat()
    open_day = world.client.get(
        "/api/v1/contributions/day-close",
        params={"business_date": today},
        headers=world.headers("reviewer_xzg"),
    ).json()
    assert open_day["closed"] is None
    # Nothing to sign before the reviewer signs the day off.
    assert ask(world, "reviewer_xzg", {"kind": "day_close", "fact_id": 1}).status_code == 404
    signed_day = world.client.post(
        "/api/v1/contributions/day-close",
        json={"business_date": today},
        headers=world.headers("reviewer_xzg", key=str(uuid.uuid4())),
    )
    assert signed_day.status_code == 201, signed_day.text
    day = signed_day.json()
    body = {"kind": "day_close", "fact_id": day["closed"]["id"]}
    # Another township's office does not see this office's day.
    assert ask(world, "reviewer_hbk", body).status_code == 404
    signed = ask(world, "clerk_xzg", body)
    assert signed.status_code == 201, signed.text
    claims = signed.json()["claims"]
    assert (claims["kind"], claims["amount_fen"]) == ("day_close", 20000)
    with unit_of_work(session_factory) as s:
        office = s.get_one(Office, day["office_id"])
        assert claims["person"] == office.code
    assert ask(world, "reviewer_xzg", body).json()["token"] == signed.json()["token"]
    check = client.post(VERIFY, json={"token": signed.json()["token"]})
    assert check.json()["genuine"] is True

    # The workstation agent's layout of that slip, as it goes to the printer and back.
    request = PrintRequest.model_validate(
        {
            "receipt": {
                "layout": "day_close",
                "business_date": today,
                "clerks": [
                    {
                        "name": clerk["operator_name"],
                        **{
                            k: clerk[k]
                            for k in (
                                "collections_count",
                                "collected_fen",
                                "reversals_count",
                                "reversed_fen",
                                "deposit_fen",
                            )
                        },
                    }
                    for clerk in day["clerks"]
                ],
                "deposit_fen": day["deposit_fen"],
                "signed_by": day["signed_by_name"],
            },
            "counter": {"office": day["office_name"], "operator": "复核员"},
            "fact_id": day["closed"]["id"],
        }
    )
    assert sign_body(request) == body
    printer = MemoryPrinter(profile=printer_profile("capture_80"))
    printer.print_receipt(build_receipt(request, signed.json()["token"]))
    decoded = decode_escpos(bytes(printer.output))
    assert "柜面日结单" in decoded.text
    assert f"日结日期 {today}" in " ".join(decoded.text.split())
    assert "应缴存现金合计：200.00元" in decoded.text
    printed = client.post(VERIFY, json={"token": decoded.qr_payloads[0]}).json()
    assert printed["genuine"] and printed["claims"]["receipt_number"] == claims["receipt_number"]
