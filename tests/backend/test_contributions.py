"""Assessment, counter collection, reversal, make-up and refunds through the API."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import func, select

from backend.accounts.models import AccountEntry
from backend.audit.models import AuditRecord
from backend.db import unit_of_work
from backend.ledger import service as ledger
from backend.policy import service as policy
from tests.backend.money_world import EMIN_VILLAGE, add_resident, load_basics
from tests.conftest import World

THIS_YEAR = dt.date.today().year


@pytest.fixture
def people(world: World, session_factory):
    """Policy loaded; residents in 夏孜盖乡 (xzg) and 额敏县 (emin)."""
    with unit_of_work(session_factory) as s:
        load_basics(s, regions=False)
        young = add_resident(s, sequence=11, birth=dt.date(1990, 3, 1))
        older = add_resident(s, sequence=13, birth=dt.date(THIS_YEAR - 52, 1, 1), name="其木格")
        emin = add_resident(s, sequence=15, village=EMIN_VILLAGE, name="阿依古丽·买买提")
        return {"young": young.id, "older": older.id, "emin": emin.id}


def _assess(world: World, user: str, person_id: int, **kw):
    body = {"person_id": person_id, "year": THIS_YEAR, "grade_fen": 50000, **kw}
    return world.client.post(
        "/api/v1/contributions/assessments",
        json=body,
        headers=world.headers(user, key=kw.pop("key", None)),
    )


def _books_ok(session_factory) -> None:
    with unit_of_work(session_factory) as s:
        report = ledger.check(session=s)
        assert report.ok, report.problems


def test_assessment_records_amounts_and_the_rule_version(world: World, people, session_factory):
    r = _assess(world, "clerk_xzg", people["young"], collective_fen=5000)
    assert r.status_code == 201, r.text
    body = r.json()
    # Hoboksar demo override: grade 500 → subsidy 65 yuan.
    assert body["own_due_fen"] == 50000
    assert body["government_subsidy_fen"] == 6500
    assert body["collective_fen"] == 5000
    with unit_of_work(session_factory) as s:
        expected = policy.rules_on(
            session=s, region_code="654226200200", on=dt.date(THIS_YEAR, 12, 31)
        ).version_id
    assert body["policy_version_id"] == expected
    again = _assess(world, "clerk_xzg", people["young"])
    assert again.status_code == 409 and again.json()["code"] == "already_assessed"


def test_assessment_retry_with_same_key_returns_first_answer(world: World, people):
    body = {"person_id": people["young"], "year": THIS_YEAR, "grade_fen": 20000}
    headers = world.headers("clerk_xzg", key="assess-1")
    first = world.client.post("/api/v1/contributions/assessments", json=body, headers=headers)
    second = world.client.post("/api/v1/contributions/assessments", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    no_key = world.headers("clerk_xzg")
    del no_key["Idempotency-Key"]
    r = world.client.post("/api/v1/contributions/assessments", json=body, headers=no_key)
    assert r.status_code == 422


def test_out_of_scope_person_is_404(world: World, people):
    r = _assess(world, "clerk_hbk", people["young"])
    assert r.status_code == 404
    r = _assess(world, "clerk_xzg", people["emin"])
    assert r.status_code == 404


def test_counter_collection_credits_account_subsidies_and_books(
    world: World, people, session_factory
):
    a = _assess(world, "clerk_xzg", people["young"], collective_fen=5000).json()
    r = world.client.post(
        "/api/v1/contributions/collections",
        json={"assessment_id": a["id"], "amount_fen": 20000},
        headers=world.headers("clerk_xzg"),
    )
    assert r.status_code == 201, r.text
    assert r.json()["receipt_no"].startswith("SJ654226")
    part = world.client.get(
        f"/api/v1/contributions/assessments/{a['id']}", headers=world.headers("clerk_xzg")
    ).json()
    assert part["paid_fen"] == 20000 and not part["settled"]
    rest = world.client.post(
        "/api/v1/contributions/collections",
        json={"assessment_id": a["id"]},
        headers=world.headers("clerk_xzg"),
    )
    assert rest.json()["amount_fen"] == 30000
    over = world.client.post(
        "/api/v1/contributions/collections",
        json={"assessment_id": a["id"]},
        headers=world.headers("clerk_xzg"),
    )
    assert over.status_code == 409 and over.json()["code"] == "already_paid"
    st = world.client.get(
        f"/api/v1/persons/{people['young']}/statement",
        params={"year": THIS_YEAR},
        headers=world.headers("clerk_xzg"),
    ).json()
    assert st["credits_by_source"] == {"own": 50000, "government_subsidy": 6500, "collective": 5000}
    assert st["closing_fen"] == 61500 and st["opening_fen"] == 0
    assert all(line["policy_version_id"] == a["policy_version_id"] for line in st["lines"])
    _books_ok(session_factory)
    books = world.client.get("/api/v1/ledger/check", headers=world.headers("reviewer_xzg"))
    assert books.json()["ok"] and books.json()["individual_total_fen"] == 61500


def test_reviewer_reverses_a_collection_with_reversing_entries(
    world: World, people, session_factory
):
    a = _assess(world, "clerk_xzg", people["young"]).json()
    c = world.client.post(
        "/api/v1/contributions/collections",
        json={"assessment_id": a["id"]},
        headers=world.headers("clerk_xzg"),
    ).json()
    clerk = world.client.post(
        f"/api/v1/contributions/collections/{c['id']}/reversal",
        json={"reason": "收错人"},
        headers=world.headers("clerk_xzg"),
    )
    assert clerk.status_code == 403
    other = world.client.post(
        f"/api/v1/contributions/collections/{c['id']}/reversal",
        json={"reason": "收错人"},
        headers=world.headers("reviewer_hbk"),
    )
    assert other.status_code == 404
    r = world.client.post(
        f"/api/v1/contributions/collections/{c['id']}/reversal",
        json={"reason": "收错人"},
        headers=world.headers("reviewer_xzg"),
    )
    assert r.status_code == 201, r.text
    assert r.json()["amount_fen"] == -50000 and r.json()["reverses_id"] == c["id"]
    twice = world.client.post(
        f"/api/v1/contributions/collections/{c['id']}/reversal",
        json={"reason": "再冲"},
        headers=world.headers("reviewer_xzg"),
    )
    assert twice.status_code == 409
    after = world.client.get(
        f"/api/v1/contributions/assessments/{a['id']}", headers=world.headers("clerk_xzg")
    ).json()
    assert after["paid_fen"] == 0 and not after["settled"]
    with unit_of_work(session_factory) as s:
        entries = s.scalars(select(AccountEntry).order_by(AccountEntry.id)).all()
        assert sum(e.amount_fen for e in entries) == 0
        assert len(entries) == 4  # own + subsidy, then their reversals
        own_back = next(e for e in entries[2:] if e.source == "own")
        assert (own_back.amount_fen, own_back.ref_type, own_back.ref_id) == (
            -50000,
            "collection",
            r.json()["id"],
        )
        subsidy_back = next(e for e in entries[2:] if e.source == "government_subsidy")
        assert subsidy_back.reverses_id == entries[1].id
    _books_ok(session_factory)


def test_hardship_payer_at_lowest_grade_is_settled_at_assessment(
    world: World, people, session_factory
):
    r = _assess(
        world, "clerk_xzg", people["young"], grade_fen=10000, hardship_group="severely_disabled"
    )
    body = r.json()
    assert body["own_due_fen"] == 0 and body["hardship_paid_fen"] == 10000
    assert body["settled"]
    with unit_of_work(session_factory) as s:
        sources = dict(
            s.execute(
                select(AccountEntry.source, func.sum(AccountEntry.amount_fen)).group_by(
                    AccountEntry.source
                )
            ).all()
        )
    assert sources == {"government_paid": 10000, "government_subsidy": 4000}
    _books_ok(session_factory)


def test_make_up_years_only_close_to_pension_age_and_without_subsidy(world: World, people):
    young = _assess(world, "clerk_xzg", people["young"], year=THIS_YEAR - 3)
    assert young.status_code == 422 and young.json()["errors"][0]["code"] == "make_up_not_allowed"
    older = _assess(world, "clerk_xzg", people["older"], year=THIS_YEAR - 3, collective_fen=1000)
    assert older.status_code == 201, older.text
    assert older.json()["is_make_up"]
    assert older.json()["government_subsidy_fen"] == 0 and older.json()["collective_fen"] == 0
    hardship = _assess(
        world,
        "clerk_xzg",
        people["older"],
        year=THIS_YEAR - 4,
        grade_fen=10000,
        hardship_group="severely_disabled",
    )
    assert hardship.status_code == 422


def test_refund_of_overlap_year_needs_a_reviewer_and_returns_own_money(
    world: World, people, session_factory
):
    a = _assess(world, "clerk_xzg", people["young"]).json()
    world.client.post(
        "/api/v1/contributions/collections",
        json={"assessment_id": a["id"]},
        headers=world.headers("clerk_xzg"),
    )
    r = world.client.post(
        "/api/v1/contributions/refunds",
        json={"assessment_id": a["id"], "reason": "employee_overlap"},
        headers=world.headers("clerk_xzg"),
    )
    assert r.status_code == 201, r.text
    refund = r.json()
    assert refund["amount_fen"] == 50000 and refund["status"] == "pending"
    with unit_of_work(session_factory) as s:
        assert s.scalar(select(func.sum(AccountEntry.amount_fen))) == 56500  # nothing moved yet
    denied = world.client.post(
        f"/api/v1/contributions/refunds/{refund['id']}/approve", headers=world.headers("clerk_xzg")
    )
    assert denied.status_code == 403
    ok = world.client.post(
        f"/api/v1/contributions/refunds/{refund['id']}/approve",
        headers=world.headers("reviewer_xzg"),
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["status"] == "approved"
    with unit_of_work(session_factory) as s:
        sources = dict(
            s.execute(
                select(AccountEntry.source, func.sum(AccountEntry.amount_fen)).group_by(
                    AccountEntry.source
                )
            ).all()
        )
    # Own money back to the resident; the subsidy of the year back to the fund.
    assert sources == {"own": 50000, "refund": -50000, "government_subsidy": 0}
    _books_ok(session_factory)


def test_duplicate_refund_with_nothing_paid_twice_is_refused(world: World, people):
    a = _assess(world, "clerk_xzg", people["young"]).json()
    world.client.post(
        "/api/v1/contributions/collections",
        json={"assessment_id": a["id"]},
        headers=world.headers("clerk_xzg"),
    )
    r = world.client.post(
        "/api/v1/contributions/refunds",
        json={"assessment_id": a["id"], "reason": "duplicate"},
        headers=world.headers("clerk_xzg"),
    )
    assert r.status_code == 409 and r.json()["code"] == "nothing_to_refund"


def test_refund_is_rejected_only_with_a_reason_that_is_kept_audited_and_shown(
    world: World, people, session_factory
):
    a = _assess(world, "clerk_xzg", people["young"]).json()
    world.client.post(
        "/api/v1/contributions/collections",
        json={"assessment_id": a["id"]},
        headers=world.headers("clerk_xzg"),
    )
    refund = world.client.post(
        "/api/v1/contributions/refunds",
        json={"assessment_id": a["id"], "reason": "employee_overlap"},
        headers=world.headers("clerk_xzg"),
    ).json()
    url = f"/api/v1/contributions/refunds/{refund['id']}/reject"
    [item] = world.client.get("/api/v1/inbox", headers=world.headers("reviewer_xzg")).json()[
        "items"
    ]
    assert (item["reject_path"], item["reject_reason_field"]) == (
        url.removeprefix("/api/v1"),
        "reason",
    )
    for body in ({}, {"reason": "  "}):
        refused = world.client.post(url, json=body, headers=world.headers("reviewer_xzg"))
        assert refused.status_code == 422, refused.text
        assert [e["field"] for e in refused.json()["errors"]] == ["reason"]
    rejected = world.client.post(
        url, json={"reason": "职工养老保险未参保"}, headers=world.headers("reviewer_xzg")
    )
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["status"] == "rejected"
    assert rejected.json()["rejection_reason"] == "职工养老保险未参保"
    assert (
        world.client.get("/api/v1/inbox", headers=world.headers("reviewer_xzg")).json()["items"]
        == []
    )
    [history] = world.client.get(
        f"/api/v1/persons/{people['young']}/refunds", headers=world.headers("clerk_xzg")
    ).json()
    assert (history["year"], history["status"], history["rejection_reason"]) == (
        a["year"],
        "rejected",
        "职工养老保险未参保",
    )
    with unit_of_work(session_factory) as s:
        [detail] = s.scalars(
            select(AuditRecord.detail).where(AuditRecord.action == "refund.reject")
        ).all()
    assert json.loads(detail)["reason"] == "职工养老保险未参保"
