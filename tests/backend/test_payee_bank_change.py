"""A pensioner's payee account changes only when a second operator approves (maker-checker).

Before: ``PUT /benefits/pensions/{id}/bank`` by one clerk paid the next pension to the new
account at once. Now it is a request; a reviewer approves or rejects it with a reason.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.audit.models import AuditRecord
from backend.db import unit_of_work
from tests.backend.benefits_support import BANK, add_candidate, award
from tests.backend.money_world import load_basics
from tests.conftest import World

NEW = {"bank_code": "ABC", "bank_account": "6228480000000001"}


@pytest.fixture
def pensioner(world: World, session_factory: sessionmaker[Session]) -> int:
    """A pensioner of 夏孜盖乡 named 乌云, paid to the rural credit co-operative (RCC)."""
    with unit_of_work(session_factory) as s:
        load_basics(s, regions=False)
        person_id = add_candidate(s, sequence=21)
    award(world, person_id)
    return person_id


def ask(world: World, person_id: int, *, holder: str = "乌云", user: str = "clerk_xzg"):
    return world.client.put(
        f"/api/v1/benefits/pensions/{person_id}/bank",
        json={**NEW, "account_holder": holder, "reason": "原存折遗失，改用社保卡金融账户"},
        headers=world.headers(user),
    )


def paid_to(world: World, person_id: int) -> tuple[str, str]:
    pension = world.client.get(
        f"/api/v1/benefits/pensions/{person_id}", headers=world.headers("reviewer_xzg")
    ).json()
    return pension["bank_code"], pension["bank_account"]


def decide(world: World, change_id: int, verb: str, user: str, body: dict[str, str]):
    return world.client.post(
        f"/api/v1/benefits/bank-changes/{change_id}/{verb}", json=body, headers=world.headers(user)
    )


def test_a_clerks_change_waits_for_a_reviewer(
    world: World, pensioner: int, session_factory: sessionmaker[Session]
) -> None:
    asked = ask(world, pensioner)
    assert asked.status_code == 202, asked.text
    change = asked.json()
    assert change["status"] == "pending" and change["holder_check"] == "name_matches_pensioner"
    assert (change["old_bank_code"], change["new_bank_account"]) == ("RCC", NEW["bank_account"])
    assert change["requested_at"] and change["approved_at"] is None
    assert paid_to(world, pensioner) == (BANK["bank_code"], BANK["bank_account"])

    # The clerk cannot approve (no reviewer permission); the reviewer of the township can.
    assert decide(world, change["id"], "approve", "clerk_xzg", {}).status_code == 403
    approved = decide(world, change["id"], "approve", "reviewer_xzg", {"note": "核对存折"})
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved" and approved.json()["approved_at"]
    assert approved.json()["checker_id"] == world.operator_ids["reviewer_xzg"]
    assert paid_to(world, pensioner) == (NEW["bank_code"], NEW["bank_account"])
    again = decide(world, change["id"], "approve", "reviewer_county", {})
    assert (again.status_code, again.json()["code"]) == (409, "bank_change_decided")
    with unit_of_work(session_factory) as s:
        actions = s.scalars(
            select(AuditRecord.action)
            .where(AuditRecord.action.like("benefit.bank_change.%"))
            .order_by(AuditRecord.id)
        ).all()
        assert actions == ["benefit.bank_change.request", "benefit.bank_change.approve"]
        details = s.scalars(
            select(AuditRecord.detail).where(AuditRecord.action.like("benefit.bank_change.%"))
        ).all()
        assert all(NEW["bank_account"] not in str(d) for d in details)  # masked: ****0001


def test_the_holder_must_be_the_pensioner(world: World, pensioner: int) -> None:
    refused = ask(world, pensioner, holder="王小明")
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["code"] == "holder_not_pensioner"
    listed = world.client.get(
        "/api/v1/benefits/bank-changes", headers=world.headers("reviewer_xzg")
    )
    assert listed.json() == []


def test_one_open_request_per_pensioner(world: World, pensioner: int) -> None:
    assert ask(world, pensioner).status_code == 202
    second = ask(world, pensioner)
    assert (second.status_code, second.json()["code"]) == (409, "bank_change_pending")


def test_a_rejection_needs_a_reason_and_changes_nothing(world: World, pensioner: int) -> None:
    change_id = ask(world, pensioner).json()["id"]
    assert decide(world, change_id, "reject", "reviewer_xzg", {"reason": ""}).status_code == 422
    rejected = decide(world, change_id, "reject", "reviewer_xzg", {"reason": "户名与身份证不符"})
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["status"] == "rejected"
    assert rejected.json()["decision_reason"] == "户名与身份证不符"
    assert paid_to(world, pensioner) == (BANK["bank_code"], BANK["bank_account"])
    assert ask(world, pensioner).status_code == 202  # a new request may follow


def test_reviewers_see_the_pending_requests_of_their_scope_only(
    world: World, pensioner: int
) -> None:
    change_id = ask(world, pensioner).json()["id"]

    def inbox(user: str) -> list[int]:
        r = world.client.get("/api/v1/benefits/bank-changes", headers=world.headers(user))
        assert r.status_code == 200, r.text
        return [c["id"] for c in r.json()]

    assert inbox("reviewer_xzg") == [change_id]
    assert inbox("reviewer_county") == [change_id]
    assert inbox("reviewer_hbk") == []
    other = world.client.get(
        f"/api/v1/benefits/bank-changes/{change_id}", headers=world.headers("reviewer_hbk")
    )
    assert other.status_code == 404
    assert decide(world, change_id, "approve", "reviewer_hbk", {}).status_code == 404
    assert decide(world, change_id, "approve", "auditor", {}).status_code == 403
