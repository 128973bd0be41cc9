"""Survival certification, the suspension of overdue pensioners, and resumption."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from backend.audit.service import Actor
from backend.benefits import survival
from backend.benefits.models import Pension
from backend.benefits.survival_rules import FaceCheck, FaceOutcome, kiosk_face_refusal, next_due
from backend.db import unit_of_work
from backend.errors import InvalidInput
from backend.policy import service as policy
from backend.policy.rules import rules_from_dict
from tests.backend.benefits_support import (
    EARLY_APPLIED_ON,
    EARLY_BIRTH,
    add_candidate,
    award,
)
from tests.backend.money_world import load_basics
from tests.conftest import World

FOUND_ON = dt.date(2026, 11, 1)


@pytest.fixture
def pensioners(world: World, session_factory):
    """Two pensioners since 2020: one certified long ago (overdue), one certified recently."""
    with unit_of_work(session_factory) as s:
        load_basics(s, regions=False)
        overdue = add_candidate(s, sequence=31, birth=EARLY_BIRTH)
        current = add_candidate(s, sequence=33, birth=EARLY_BIRTH, name="其其格")
    award(world, overdue, EARLY_APPLIED_ON)
    award(world, current, EARLY_APPLIED_ON)
    _certify(world, current, "2026-03-01", method="data_matching")
    return {"overdue": overdue, "current": current}


def _certify(world: World, person_id: int, on: str, method: str = "counter"):
    documents = ["social_security_card", "id_card"] if method == "counter" else []
    return world.client.post(
        f"/api/v1/benefits/pensions/{person_id}/certifications",
        json={"method": method, "certified_on": on, "documents_seen": documents},
        headers=world.headers("clerk_xzg"),
    )


def _pension(session_factory, person_id: int) -> Pension:
    with unit_of_work(session_factory) as s:
        pension = s.scalar(select(Pension).where(Pension.person_id == person_id))
        assert pension is not None
        s.expunge(pension)
        return pension


def test_award_counts_as_the_first_certification(world: World, pensioners, session_factory):
    pension = _pension(session_factory, pensioners["overdue"])
    assert pension.certified_until == dt.date(2021, 3, 15)
    assert pension.start_month == dt.date(2020, 4, 1)
    # 2020 county rules: minimum 93, top-up 35, bonus 30, 13 900 ÷ 139 = 100.
    assert pension.monthly_fen == 25800


def test_certification_records_how_and_when_the_next_is_due(world: World, pensioners):
    r = _certify(world, pensioners["current"], "2026-04-02")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["method"] == "counter"
    assert body["operator_id"] == world.operator_ids["clerk_xzg"]
    assert body["device"] == "test-workstation"
    assert body["next_due"] == "2027-04-02"
    assert body["resumed"] is False
    assert body["documents_seen"] == ["social_security_card", "id_card"]
    assert body["face_outcome"] is None and body["face_device"] is None
    assert _certify(world, pensioners["current"], "2026-04-02", method="fax").status_code == 422


def _counter_certify(world: World, person_id: int, **body: object):
    return world.client.post(
        f"/api/v1/benefits/pensions/{person_id}/certifications",
        json={"method": "counter", "certified_on": "2026-04-02", **body},
        headers=world.headers("clerk_xzg"),
    )


@pytest.mark.parametrize(
    ("documents", "message"),
    [
        (None, "身份证件"),  # not given at all
        ([], "身份证件"),
        (["social_security_card"], "身份证件"),  # no photo: not an identity document
        (["id_card", "id_card"], "重复"),
    ],
)
def test_a_counter_certification_names_an_identity_document_the_clerk_saw(
    world: World, pensioners, session_factory, documents, message
):
    body = {} if documents is None else {"documents_seen": documents}
    r = _counter_certify(world, pensioners["current"], **body)
    assert r.status_code == 422, r.text
    [error] = r.json()["errors"]
    assert error["field"] == "documents_seen" and message in error["message"]
    unknown = _counter_certify(world, pensioners["current"], documents_seen=["library_card"])
    assert unknown.status_code == 422
    assert _pension(session_factory, pensioners["current"]).certified_until == dt.date(2027, 3, 1)
    r = _counter_certify(
        world, pensioners["current"], documents_seen=["household_register", "social_security_card"]
    )
    assert r.status_code == 201, r.text
    assert r.json()["documents_seen"] == ["household_register", "social_security_card"]


def test_an_operator_cannot_record_a_kiosk_certification(world: World, pensioners):
    # The kiosk's checks (card, ID card, face by policy) are the kiosk's own.
    r = _certify(world, pensioners["current"], "2026-04-02", method="kiosk")
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "method"


def test_job_suspends_only_the_overdue_with_the_reason(world: World, pensioners, session_factory):
    summary = survival.run_suspension(
        factory=session_factory, on=FOUND_ON, actor=Actor.system("test")
    )
    assert (summary.rows, summary.finished) == (1, True)
    overdue = _pension(session_factory, pensioners["overdue"])
    assert overdue.status == "suspended"
    assert overdue.status_code == "overdue_certification"
    assert overdue.status_since == FOUND_ON
    assert _pension(session_factory, pensioners["current"]).status == "receiving"
    again = survival.run_suspension(
        factory=session_factory, on=FOUND_ON, actor=Actor.system("test")
    )
    assert again.rows == 0


def test_certifying_after_suspension_resumes_from_that_month(
    world: World, pensioners, session_factory
):
    survival.run_suspension(factory=session_factory, on=FOUND_ON, actor=Actor.system("test"))
    r = _certify(world, pensioners["overdue"], "2026-11-20", method="home_visit")
    assert r.status_code == 201, r.text
    assert r.json()["resumed"] is True
    pension = _pension(session_factory, pensioners["overdue"])
    assert pension.status == "receiving"
    assert pension.status_code is None
    assert pension.status_since == dt.date(2026, 11, 1)
    assert pension.certified_until == dt.date(2027, 11, 20)


def test_out_of_scope_certification_looks_not_found(world: World, pensioners):
    r = world.client.post(
        f"/api/v1/benefits/pensions/{pensioners['current']}/certifications",
        json={"method": "counter", "certified_on": "2026-04-02", "documents_seen": ["id_card"]},
        headers=world.headers("clerk_hbk"),
    )
    assert r.status_code == 404


@pytest.mark.parametrize(
    ("certified_on", "months", "due"),
    [
        (dt.date(2026, 4, 2), 12, dt.date(2027, 4, 2)),
        (dt.date(2024, 2, 29), 12, dt.date(2025, 2, 28)),
        (dt.date(2026, 1, 31), 1, dt.date(2026, 2, 28)),
        (dt.date(2026, 8, 31), 6, dt.date(2027, 2, 28)),
        (dt.date(2026, 12, 15), 24, dt.date(2028, 12, 15)),
    ],
)
def test_next_due_follows_the_policy_period(certified_on, months, due):
    assert next_due(certified_on, months) == due


def test_policy_refuses_a_certification_period_outside_one_to_sixty_months():
    [version] = policy.read_file(policy.DATA_DIR / "national_2014.toml")
    for months in (0, 61):
        with pytest.raises(InvalidInput, match="认证周期"):
            rules_from_dict({**version.rules, "survival_certification_months": months})
    six = rules_from_dict({**version.rules, "survival_certification_months": 6})
    assert six.survival_certification_months == 6
    assert rules_from_dict(version.rules).survival_certification_months == 12


def test_kiosk_face_requirement_is_dated_policy_data():
    [v2009] = policy.read_file(policy.DATA_DIR / "national_2009.toml")
    [v2014] = policy.read_file(policy.DATA_DIR / "national_2014.toml")
    assert rules_from_dict(v2009.rules).kiosk_certification_requires_face is False
    assert rules_from_dict(v2014.rules).kiosk_certification_requires_face is True
    with pytest.raises(InvalidInput, match="true 或 false"):
        rules_from_dict({**v2014.rules, "kiosk_certification_requires_face": "yes"})


@pytest.mark.parametrize(
    ("required", "outcome", "refusal"),
    [
        (True, None, "face_required"),
        (False, None, None),
        (True, FaceOutcome.MATCH, None),
        (True, FaceOutcome.NO_MATCH, "face_no_match"),
        (True, FaceOutcome.LIVENESS_FAILED, "face_liveness_failed"),
        # A comparison that was made must match even where policy does not ask for one.
        (False, FaceOutcome.NO_MATCH, "face_no_match"),
        (False, FaceOutcome.LIVENESS_FAILED, "face_liveness_failed"),
    ],
)
def test_kiosk_face_refusal(required, outcome, refusal):
    face = None if outcome is None else FaceCheck(outcome=outcome, score=50, device="simulator/1")
    assert kiosk_face_refusal(required=required, face=face) == refusal


def test_a_second_certification_the_same_day_is_refused_in_plain_words(
    world: World, pensioners, session_factory
):
    url = f"/api/v1/benefits/pensions/{pensioners['current']}/certifications"
    body = {"method": "counter", "certified_on": "2026-04-02", "documents_seen": ["id_card"]}
    first = world.client.post(url, json=body, headers=world.headers("clerk_xzg", key="cert-1"))
    assert first.status_code == 201, first.text
    # The same request again (a retry after a lost answer) gets the first certification.
    retried = world.client.post(url, json=body, headers=world.headers("clerk_xzg", key="cert-1"))
    assert retried.status_code == 201 and retried.json()["id"] == first.json()["id"]
    again = world.client.post(url, json=body, headers=world.headers("clerk_xzg", key="cert-2"))
    assert again.status_code == 409, again.text
    problem = again.json()
    assert problem["code"] == "already_certified"
    assert "2026年04月02日已办理过资格认证" in problem["detail"]
    assert "无需再次办理" in problem["detail"]
    assert problem["certification_id"] == first.json()["id"]
    assert _pension(session_factory, pensioners["current"]).certified_until == dt.date(2027, 4, 2)
