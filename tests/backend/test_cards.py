"""Card lifecycle through the API: every transition allowed and refused, scope, permissions,
idempotency, one live card per person, replacement, and the oral loss report lapsing."""

from __future__ import annotations

import datetime as dt
import threading
import uuid

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.audit.models import AuditRecord
from backend.cards.lifecycle import TRANSITIONS, CardAction, CardState
from backend.cards.models import Card
from backend.cards.policy import policy_on
from tests.backend.card_support import BANK, add_card, add_card_centre, add_person, id_number_of
from tests.backend.registry_support import EMIN_VILLAGE, XZG_VILLAGE
from tests.conftest import World

COUNTER = {
    CardAction.ISSUE,
    CardAction.ACTIVATE,
    CardAction.REPORT_TEMPORARY_LOSS,
    CardAction.REPORT_LOSS,
    CardAction.UNBLOCK,
    CardAction.REPLACE,
    CardAction.CANCEL,
}


def _act(world: World, card_id: int, action: str, user: str = "clerk_hbk", **body):
    return world.client.post(
        f"/api/v1/cards/{card_id}/actions/{action}", json=body, headers=world.headers(user)
    )


def _body_for(action: CardAction, id_number: str) -> dict[str, str]:
    if action is CardAction.ISSUE:
        return {"id_number": id_number}
    if action is CardAction.CANCEL:
        return {"cancel_reason": "holder_request"}
    return {}


def test_application_gives_one_live_card_per_person(world: World, session_factory):
    person_id = add_person(session_factory)
    body = {"person_id": person_id, "generation": 3, "bank_code": BANK}
    r = world.client.post("/api/v1/cards", json=body, headers=world.headers("clerk_hbk"))
    assert r.status_code == 201, r.text
    card = r.json()
    assert card["state"] == "applied" and card["state_label"] == "已申领"
    assert card["social_security_number"] == id_number_of(session_factory, person_id)
    again = world.client.post("/api/v1/cards", json=body, headers=world.headers("clerk_hbk"))
    assert again.status_code == 409
    assert again.json()["code"] == "card_exists" and again.json()["card_id"] == card["id"]


def test_application_outside_scope_is_not_found(world: World, session_factory):
    person_id = add_person(session_factory, village=XZG_VILLAGE)
    r = world.client.post(
        "/api/v1/cards",
        json={"person_id": person_id, "bank_code": BANK},
        headers=world.headers("clerk_hbk"),
    )
    assert r.status_code == 404


def test_repeated_idempotency_key_returns_the_first_answer(world: World, session_factory):
    person_id = add_person(session_factory)
    key = uuid.uuid4().hex
    body = {"person_id": person_id, "bank_code": BANK}
    first = world.client.post(
        "/api/v1/cards", json=body, headers=world.headers("clerk_hbk", key=key)
    )
    second = world.client.post(
        "/api/v1/cards", json=body, headers=world.headers("clerk_hbk", key=key)
    )
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    missing = world.client.post(
        "/api/v1/cards",
        json=body,
        headers={k: v for k, v in world.headers("clerk_hbk").items() if k != "Idempotency-Key"},
    )
    assert missing.status_code == 422


@pytest.mark.parametrize("action", sorted(COUNTER | {CardAction.SPOIL}))
def test_every_counter_transition_is_allowed_only_from_its_states(
    world: World, session_factory: sessionmaker[Session], action: CardAction
):
    add_card_centre(world, session_factory)
    user = "card_centre" if action is CardAction.SPOIL else "clerk_hbk"
    transition = TRANSITIONS[action]
    for state in CardState:
        person_id = add_person(session_factory)
        card = add_card(session_factory, person_id, state=state.value)
        r = _act(
            world,
            card.id,
            action.value,
            user,
            **_body_for(action, id_number_of(session_factory, person_id)),
        )
        if state in transition.from_states:
            assert r.status_code == 200, (state, r.text)
            assert r.json()["card"]["state"] == transition.to_state.value
        else:
            assert r.status_code == 409, (state, r.text)
            problem = r.json()
            assert problem["code"] == "invalid_transition"
            assert problem["from"] == state.value and problem["to"] == transition.to_state.value
            assert "不能" in problem["detail"]


def test_actions_need_their_own_permission(world: World, session_factory):
    add_card_centre(world, session_factory)
    person_id = add_person(session_factory)
    card = add_card(session_factory, person_id, state="active")
    assert _act(world, card.id, "report_loss", "reviewer_hbk").status_code == 403
    assert _act(world, card.id, "report_loss", "card_centre").status_code == 403
    assert _act(world, card.id, "spoil", "clerk_hbk").status_code == 403
    assert _act(world, card.id, "produce", "card_centre").status_code == 422
    assert _act(world, card.id, "report_loss", "clerk_emin").status_code == 404


def test_full_counter_life_with_history_and_audit(world: World, session_factory):
    person_id = add_person(session_factory)
    id_number = id_number_of(session_factory, person_id)
    card = add_card(session_factory, person_id, state="personalised")
    assert _act(world, card.id, "issue", id_number="110101190001011234").json()["code"] == (
        "invalid_input"
    )
    assert _act(world, card.id, "issue", id_number=id_number).status_code == 200
    assert _act(world, card.id, "activate").status_code == 200
    assert _act(world, card.id, "report_temporary_loss").status_code == 200
    assert _act(world, card.id, "unblock").status_code == 200
    assert _act(world, card.id, "report_loss").status_code == 200
    r = _act(world, card.id, "replace", reason="遗失补卡")
    assert r.status_code == 200, r.text
    old, new = r.json()["card"], r.json()["replacement"]
    assert old["state"] == "replaced" and new["state"] == "applied"
    assert new["social_security_number"] == old["social_security_number"]
    assert new["replaces_card_id"] == old["id"] and new["card_number"] is None
    detail = world.client.get(f"/api/v1/cards/{card.id}", headers=world.headers("clerk_hbk"))
    steps = [(e["action"], e["to_state"]) for e in detail.json()["events"]]
    assert steps == [
        ("issue", "issued"),
        ("activate", "active"),
        ("report_temporary_loss", "temporary_loss"),
        ("unblock", "active"),
        ("report_loss", "lost"),
        ("replace", "replaced"),
    ]
    with session_factory() as s:
        actions = s.scalars(
            select(AuditRecord.action).where(AuditRecord.object_type == "card")
        ).all()
    assert "card.replace" in actions and "card.issue" in actions


def test_cancellation_on_death_needs_the_date(world: World, session_factory):
    person_id = add_person(session_factory)
    card = add_card(session_factory, person_id, state="active")
    r = _act(world, card.id, "cancel", cancel_reason="death")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "died_on"
    r = _act(world, card.id, "cancel", cancel_reason="death", died_on="2025-03-01")
    assert r.status_code == 200 and r.json()["card"]["cancel_reason"] == "death"
    r = world.client.post(
        "/api/v1/cards",
        json={"person_id": person_id, "bank_code": BANK},
        headers=world.headers("clerk_hbk"),
    )
    assert r.status_code == 201  # a cancelled card no longer counts as the live one


def test_oral_loss_report_lapses_after_the_policy_days(world: World, session_factory):
    person_id = add_person(session_factory)
    card = add_card(session_factory, person_id, state="active")
    r = _act(world, card.id, "report_temporary_loss")
    today = dt.date.today()
    days = policy_on(today).temporary_loss_days
    assert r.json()["card"]["loss_expires_on"] == (today + dt.timedelta(days=days)).isoformat()
    with session_factory.begin() as s:
        row = s.get(Card, card.id)
        assert row is not None
        row.loss_expires_on = today - dt.timedelta(days=1)
    # A lapsed oral report leaves an active card: it can be reported again.
    r = _act(world, card.id, "report_temporary_loss")
    assert r.status_code == 200, r.text
    detail = world.client.get(f"/api/v1/cards/{card.id}", headers=world.headers("clerk_hbk"))
    assert [e["action"] for e in detail.json()["events"]][-2:] == [
        "loss_expired",
        "report_temporary_loss",
    ]


def test_policy_versions_are_dated():
    assert policy_on(dt.date(2015, 6, 1)).temporary_loss_days == 5
    assert policy_on(dt.date(2020, 6, 1)).temporary_loss_days == 7


def test_lists_show_only_the_scope(world: World, session_factory):
    here = add_card(session_factory, add_person(session_factory), state="active")
    add_card(session_factory, add_person(session_factory, village=EMIN_VILLAGE), state="active")
    r = world.client.get("/api/v1/cards", headers=world.headers("clerk_hbk"))
    assert [c["id"] for c in r.json()["items"]] == [here.id]
    table = world.client.get("/api/v1/cards/lifecycle", headers=world.headers("clerk_hbk"))
    assert {row["action"] for row in table.json()} == {a.value for a in CardAction}


def test_concurrent_replacements_give_one_new_card(world: World, session_factory, engine):
    person_id = add_person(session_factory)
    card = add_card(session_factory, person_id, state="active")
    world.token("clerk_hbk")
    results: list[int] = []

    def replace() -> None:
        results.append(_act(world, card.id, "replace").status_code)

    threads = [threading.Thread(target=replace) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results)[0] == 200 and results.count(200) == 1, results
    with session_factory() as s:
        live = s.scalars(
            select(Card).where(Card.person_id == person_id, Card.state == "applied")
        ).all()
    assert len(live) == 1
