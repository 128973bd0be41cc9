"""The reviewer's inbox: every pending item of the reviewer's scope, from the domains that
own them, with maker and before/after; decided at the owning endpoint."""

from __future__ import annotations

import datetime as dt

import pytest

from backend.db import unit_of_work
from tests.backend.benefits_support import add_candidate, award
from tests.backend.money_world import add_resident, load_basics
from tests.conftest import World

THIS_YEAR = dt.date.today().year


@pytest.fixture
def person_id(world: World, session_factory) -> int:
    with unit_of_work(session_factory) as s:
        load_basics(s, regions=False)
        return add_resident(s, sequence=11, birth=dt.date(1990, 3, 1)).id


def _inbox(world: World, user: str) -> dict:
    r = world.client.get("/api/v1/inbox", headers=world.headers(user))
    assert r.status_code == 200, r.text
    return r.json()


def test_reviewer_sees_pending_changes_and_refunds_and_decides_them(world: World, person_id):
    renamed = world.client.patch(
        f"/api/v1/persons/{person_id}",
        json={"name": "巴特尔·额尔敦", "reason": "户口本更名"},
        headers=world.headers("clerk_xzg"),
    )
    assert renamed.status_code == 202, renamed.text
    assessed = world.client.post(
        "/api/v1/contributions/assessments",
        json={"person_id": person_id, "year": THIS_YEAR, "grade_fen": 20000},
        headers=world.headers("clerk_xzg"),
    ).json()
    collected = world.client.post(
        "/api/v1/contributions/collections",
        json={"assessment_id": assessed["id"]},
        headers=world.headers("clerk_xzg"),
    )
    assert collected.status_code == 201, collected.text
    refund = world.client.post(
        "/api/v1/contributions/refunds",
        json={
            "assessment_id": assessed["id"],
            "reason": "employee_overlap",
            "note": "已参加职工养老",
        },
        headers=world.headers("clerk_xzg"),
    )
    assert refund.status_code == 201, refund.text

    inbox = _inbox(world, "reviewer_xzg")
    kinds = {item["kind"]: item for item in inbox["items"]}
    assert set(kinds) == {"person_change", "refund"} and inbox["total"] == 2
    change = kinds["person_change"]
    assert change["person_name"] == "巴特尔"
    assert change["maker_name"] == "clerk_xzg" and change["mine"] is False
    assert change["changes"] == [{"field": "name", "before": "巴特尔", "after": "巴特尔·额尔敦"}]
    assert change["note"] == "户口本更名"
    assert kinds["refund"]["amount_fen"] == 20000
    assert {"field": "year", "before": None, "after": str(THIS_YEAR)} in kinds["refund"]["changes"]

    # The maker's own inbox offers nothing to decide; an auditor's neither; another
    # township's reviewer does not see this township's items.
    assert _inbox(world, "clerk_xzg")["items"] == []
    assert _inbox(world, "auditor")["items"] == []
    assert _inbox(world, "reviewer_hbk")["items"] == []

    # The maker cannot approve at the owning endpoint; the reviewer can, with a reason.
    refused = world.client.post(
        f"/api/v1{change['approve_path']}", json={}, headers=world.headers("clerk_xzg")
    )
    assert refused.status_code == 403
    approved = world.client.post(
        f"/api/v1{change['approve_path']}",
        json={"reason": "与户口本一致"},
        headers=world.headers("reviewer_xzg"),
    )
    assert approved.status_code == 200, approved.text
    rejected = world.client.post(
        f"/api/v1{kinds['refund']['reject_path']}",
        json={kinds["refund"]["reject_reason_field"]: "未重复缴费"},
        headers=world.headers("reviewer_xzg"),
    )
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["rejection_reason"] == "未重复缴费"
    assert _inbox(world, "reviewer_xzg")["items"] == []
    person = world.client.get(
        f"/api/v1/persons/{person_id}", headers=world.headers("clerk_xzg")
    ).json()
    assert person["name"] == "巴特尔·额尔敦"


def test_payee_account_change_waits_in_the_inbox(world: World, session_factory):
    with unit_of_work(session_factory) as s:
        load_basics(s, regions=False)
        person_id = add_candidate(s, sequence=61)
    award(world, person_id)
    asked = world.client.put(
        f"/api/v1/benefits/pensions/{person_id}/bank",
        json={
            "bank_code": "RCC",
            "bank_account": "6230000099998888",
            "account_holder": "乌云",
            "reason": "原账户已销户",
        },
        headers=world.headers("clerk_xzg"),
    )
    assert asked.status_code == 202, asked.text
    (item,) = _inbox(world, "reviewer_xzg")["items"]
    assert item["kind"] == "payee_account_change" and item["maker_name"] == "clerk_xzg"
    assert {"field": "bank_account", "before": "6230000012345678", "after": "6230000099998888"} in (
        item["changes"]
    )
    rejected = world.client.post(
        f"/api/v1{item['reject_path']}",
        json={item["reject_reason_field"]: "户名与身份证不符"},
        headers=world.headers("reviewer_xzg"),
    )
    assert rejected.status_code == 200, rejected.text
    assert _inbox(world, "reviewer_xzg")["items"] == []
