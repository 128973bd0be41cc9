"""The partner-bank payout API: decisions and their reason codes, own cards only,
idempotent retries, one resolution per authorisation (also under concurrency)."""

from __future__ import annotations

import datetime as dt
import threading
import uuid

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.audit import service as audit
from backend.audit.models import AuditRecord
from backend.db import unit_of_work, utcnow
from backend.partners.models import PayoutAuthorisation
from backend.pki.models import BankPartner
from tests.backend.card_support import BANK, OTHER_BANK, add_card, add_person
from tests.conftest import World


@pytest.fixture
def banks(world: World, session_factory: sessionmaker[Session]) -> None:
    """Two partner banks."""
    with unit_of_work(session_factory) as s:
        s.add_all(
            [
                BankPartner(code=BANK, name="农业银行新疆分行"),
                BankPartner(code=OTHER_BANK, name="工商银行"),
            ]
        )


def _ask(
    world: World, card_number: str, *, bank: str = BANK, amount: int = 15000, txn: str | None = None
):
    body = {
        "bank_transaction_id": txn or uuid.uuid4().hex,
        "card_number": card_number,
        "amount_fen": amount,
        "channel": "village_point",
        "terminal_id": "VP-654226100-07",
    }
    return world.client.post("/bank/v1/payouts/authorize", json=body, headers={"X-XNB-Bank": bank})


def _card(session_factory, state: str = "active", *, enrolment: str | None = "receiving", **fields):
    return add_card(
        session_factory, add_person(session_factory, enrolment=enrolment), state=state, **fields
    )


def test_active_card_is_approved_then_confirmed_once(world: World, banks, session_factory):
    card = _card(session_factory)
    r = _ask(world, card.card_number)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["decision"] == "approved" and answer["reason_code"] is None
    code = answer["authorisation_code"]
    confirmed = world.client.post(f"/bank/v1/payouts/{code}/confirm", headers={"X-XNB-Bank": BANK})
    assert confirmed.json()["state"] == "confirmed" and not confirmed.json()["repeated"]
    again = world.client.post(f"/bank/v1/payouts/{code}/confirm", headers={"X-XNB-Bank": BANK})
    assert again.status_code == 200 and again.json()["repeated"]
    void = world.client.post(f"/bank/v1/payouts/{code}/void", headers={"X-XNB-Bank": BANK})
    assert void.status_code == 409 and void.json()["code"] == "authorisation_resolved"


@pytest.mark.parametrize(
    ("state", "fields", "enrolment", "reason"),
    [
        ("lost", {}, "receiving", "card_lost"),
        ("temporary_loss", {"loss_expires_on": dt.date(2999, 1, 1)}, "receiving", "card_lost"),
        ("cancelled", {}, "receiving", "card_cancelled"),
        ("replaced", {}, "receiving", "card_replaced"),
        ("active", {"expiry_date": dt.date(2020, 1, 1)}, "receiving", "card_expired"),
        ("issued", {}, "receiving", "card_not_active"),
        (
            "cancelled",
            {"holder_died_on": dt.date(2025, 1, 5), "cancel_reason": "death"},
            "receiving",
            "holder_dead",
        ),
        ("active", {}, "suspended", "holder_suspended"),
        ("active", {}, None, "holder_unknown"),
    ],
)
def test_declines_name_their_reason(
    world: World, banks, session_factory, state, fields, enrolment, reason
):
    card = _card(session_factory, state, enrolment=enrolment, **fields)
    r = _ask(world, card.card_number)
    assert r.status_code == 200
    assert r.json()["decision"] == "declined" and r.json()["reason_code"] == reason
    assert r.json()["reason"]
    code = r.json()["authorisation_code"]
    confirm = world.client.post(f"/bank/v1/payouts/{code}/confirm", headers={"X-XNB-Bank": BANK})
    assert confirm.status_code == 409


def test_amount_over_the_policy_limit_is_declined(world: World, banks, session_factory):
    card = _card(session_factory)
    assert (
        _ask(world, card.card_number, amount=500_001).json()["reason_code"] == "amount_over_limit"
    )


def test_a_bank_sees_only_its_own_cards_and_authorisations(world: World, banks, session_factory):
    card = _card(session_factory)
    assert _ask(world, card.card_number, bank=OTHER_BANK).json()["reason_code"] == "card_unknown"
    code = _ask(world, card.card_number).json()["authorisation_code"]
    other = world.client.post(
        f"/bank/v1/payouts/{code}/confirm", headers={"X-XNB-Bank": OTHER_BANK}
    )
    assert other.status_code == 404
    nobody = world.client.post("/bank/v1/payouts/authorize", json={})
    assert nobody.status_code in (401, 422)
    assert world.client.post(f"/bank/v1/payouts/{code}/confirm").status_code == 401


def test_retry_returns_the_first_answer_and_a_reused_id_is_refused(
    world: World, banks, session_factory
):
    card = _card(session_factory)
    first = _ask(world, card.card_number, txn="T-1")
    again = _ask(world, card.card_number, txn="T-1")
    assert again.json()["authorisation_code"] == first.json()["authorisation_code"]
    assert again.json()["repeated"] and not first.json()["repeated"]
    reused = _ask(world, card.card_number, txn="T-1", amount=999)
    assert reused.status_code == 409 and reused.json()["code"] == "transaction_id_reused"
    with world.client.app.state.session_factory() as s:  # type: ignore[attr-defined]
        rows = s.scalars(select(PayoutAuthorisation)).all()
        audited = s.scalars(
            select(AuditRecord.action).where(AuditRecord.object_type == "payout")
        ).all()
    assert len(rows) == 1 and audited == ["bank.payout_authorize"]


def test_unconfirmed_authorisation_expires(world: World, banks, session_factory):
    card = _card(session_factory)
    code = _ask(world, card.card_number).json()["authorisation_code"]
    with unit_of_work(session_factory) as s:
        row = s.scalar(
            select(PayoutAuthorisation).where(PayoutAuthorisation.authorisation_code == code)
        )
        assert row is not None
        row.expires_at = utcnow() - dt.timedelta(seconds=1)
    r = world.client.post(f"/bank/v1/payouts/{code}/confirm", headers={"X-XNB-Bank": BANK})
    assert r.status_code == 409 and r.json()["code"] == "authorisation_expired"


def test_concurrent_confirms_resolve_once_and_confirm_races_void(
    world: World, banks, session_factory
):
    card = _card(session_factory)
    code = _ask(world, card.card_number).json()["authorisation_code"]
    answers: list[tuple[int, bool | None]] = []

    def call(verb: str, target: str) -> None:
        r = world.client.post(f"/bank/v1/payouts/{target}/{verb}", headers={"X-XNB-Bank": BANK})
        answers.append((r.status_code, r.json().get("repeated")))

    threads = [threading.Thread(target=call, args=("confirm", code)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [a for a in answers if a == (200, False)] == [(200, False)]
    assert all(a == (200, True) for a in answers if a != (200, False))
    answers.clear()
    other = _ask(world, card.card_number).json()["authorisation_code"]
    racers = [
        threading.Thread(target=call, args=("confirm", other)),
        threading.Thread(target=call, args=("void", other)),
    ]
    for t in racers:
        t.start()
    for t in racers:
        t.join()
    assert sorted(status for status, _ in answers) == [200, 409]


def test_concurrent_retries_of_one_transaction_make_one_authorisation(
    world: World, banks, session_factory
):
    card = _card(session_factory)
    answers: list[dict] = []

    def ask() -> None:
        answers.append(_ask(world, card.card_number, txn="T-RACE").json())

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({a["authorisation_code"] for a in answers}) == 1
    assert sorted(a["repeated"] for a in answers) == [False, True, True, True]
    with session_factory() as s:
        assert len(s.scalars(select(PayoutAuthorisation)).all()) == 1


def test_a_death_recorded_on_another_card_declines_the_active_one(
    world: World, banks, session_factory
):
    person_id = add_person(session_factory)
    add_card(
        session_factory,
        person_id,
        state="cancelled",
        holder_died_on=dt.date(2025, 1, 5),
        cancel_reason="death",
    )
    active = add_card(session_factory, person_id, state="active")
    assert _ask(world, active.card_number).json()["reason_code"] == "holder_dead"


def test_each_bank_writes_its_own_audit_chain(world: World, banks, session_factory):
    card = _card(session_factory)
    code = _ask(world, card.card_number).json()["authorisation_code"]
    world.client.post(f"/bank/v1/payouts/{code}/confirm", headers={"X-XNB-Bank": BANK})
    _ask(world, card.card_number, bank=OTHER_BANK)
    with unit_of_work(session_factory) as s:
        chains = s.execute(
            select(AuditRecord.action, AuditRecord.chain)
            .where(AuditRecord.object_type == "payout")
            .order_by(AuditRecord.id)
        ).all()
        _, faults = audit.verify(session=s)
    assert [tuple(row) for row in chains] == [
        ("bank.payout_authorize", f"bank:{BANK}"),
        ("bank.payout_confirmed", f"bank:{BANK}"),
        ("bank.payout_authorize", f"bank:{OTHER_BANK}"),
    ]
    assert faults == []


def test_a_cards_payouts_in_one_day_stop_at_the_daily_limit(world: World, banks, session_factory):
    """Five payouts of 2,000 yuan reach the card's 10,000 yuan a day (card policy 2019);
    the sixth is declined with its own code, whichever bank asks; a voided approval frees
    its amount again. Before: only each single payout was limited."""
    card = _card(session_factory)
    answers = [_ask(world, card.card_number, amount=200_000).json() for _ in range(5)]
    assert [a["decision"] for a in answers] == ["approved"] * 5
    for answer in answers[:3]:
        code = answer["authorisation_code"]
        world.client.post(f"/bank/v1/payouts/{code}/confirm", headers={"X-XNB-Bank": BANK})
    over = _ask(world, card.card_number, amount=100)
    assert over.json()["decision"] == "declined"
    assert over.json()["reason_code"] == "daily_limit_exceeded" and over.json()["reason"]
    void = answers[4]["authorisation_code"]
    world.client.post(f"/bank/v1/payouts/{void}/void", headers={"X-XNB-Bank": BANK})
    assert _ask(world, card.card_number, amount=200_000).json()["decision"] == "approved"
    assert _ask(world, card.card_number, amount=100).json()["reason_code"] == (
        "daily_limit_exceeded"
    )
