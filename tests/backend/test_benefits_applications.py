"""Qualification, application and maker-checker award of the pension through the API."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from backend.audit.models import AuditRecord
from backend.benefits.models import Pension, PensionDraw
from backend.db import unit_of_work
from backend.orgs import permissions
from backend.orgs.permissions import Permission, Role
from backend.registry.models import Enrolment
from tests.backend.benefits_support import APPLIED_ON, BANK, START, add_candidate
from tests.backend.money_world import load_basics
from tests.conftest import World


@pytest.fixture
def people(world: World, session_factory):
    """Policy loaded; a qualifying resident and one with nine years only, in 夏孜盖乡."""
    with unit_of_work(session_factory) as s:
        load_basics(s, regions=False)
        return {
            "full": add_candidate(s, sequence=21),
            "short": add_candidate(s, sequence=23, years=9, name="巴图"),
        }


def _apply(world: World, person_id: int, *, user: str = "clerk_xzg", key: str | None = None):
    return world.client.post(
        "/api/v1/benefits/applications",
        json={"person_id": person_id, "applied_on": APPLIED_ON.isoformat(), **BANK},
        headers=world.headers(user, key=key),
    )


def _approve(world: World, application_id: int, user: str = "reviewer_xzg"):
    return world.client.post(
        f"/api/v1/benefits/applications/{application_id}/approve",
        json={"note": "材料齐全"},
        headers=world.headers(user),
    )


def test_qualification_shows_each_part_of_the_pension(world: World, people) -> None:
    r = world.client.get(
        f"/api/v1/benefits/persons/{people['full']}/qualification",
        params={"on": APPLIED_ON.isoformat()},
        headers=world.headers("clerk_xzg"),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["qualifies"] is True and body["reasons"] == []
    assert body["start_month"] == START.isoformat()
    # County demo rules in 2026: minimum 143, top-up 35, bonus 15 × 2, 13 900 ÷ 139 = 100.
    pension = body["pension"]
    assert (pension["minimum_fen"], pension["topup_fen"], pension["bonus_fen"]) == (
        14300,
        3500,
        3000,
    )
    assert pension["account_fen"] == 10000
    assert pension["total_fen"] == 30800
    assert pension["balance_fen"] == 1_390_000


def test_person_short_of_years_is_refused_with_the_rule(world: World, people) -> None:
    r = _apply(world, people["short"])
    assert r.status_code == 409, r.text
    assert r.json()["code"] == "not_qualified"
    assert [x["rule"] for x in r.json()["reasons"]] == ["min_contribution_years"]


def test_award_needs_a_second_operator_and_starts_the_pension(
    world: World, people, session_factory
) -> None:
    r = _apply(world, people["full"])
    assert r.status_code == 201, r.text
    application_id = r.json()["id"]
    assert r.json()["status"] == "pending"

    mine = world.client.post(
        f"/api/v1/benefits/applications/{application_id}/approve",
        json={},
        headers=world.headers("clerk_xzg"),
    )
    assert mine.status_code == 403

    r = _approve(world, application_id)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "approved"
    assert r.json()["checker_id"] == world.operator_ids["reviewer_xzg"]
    assert _approve(world, application_id).json()["code"] == "application_decided"

    r = world.client.get(
        f"/api/v1/benefits/pensions/{people['full']}", headers=world.headers("reviewer_xzg")
    )
    assert r.status_code == 200, r.text
    pension = r.json()
    assert pension["status"] == "receiving"
    assert pension["monthly_fen"] == 30800
    [computation] = pension["computations"]
    assert computation["from_month"] == START.isoformat()
    assert computation["cause"] == "award"
    assert computation["policy_version_id"] > 0
    with unit_of_work(session_factory) as s:
        enrolment = s.scalar(select(Enrolment).where(Enrolment.person_id == people["full"]))
        assert enrolment is not None and enrolment.status == "receiving"
        actions = set(s.scalars(select(AuditRecord.action)))
        assert {"benefit.apply", "benefit.approve"} <= actions
        draws = dict(s.execute(select(PensionDraw.source, PensionDraw.monthly_fen)).all())
        assert draws == {"own": 7194, "government_subsidy": 2806}


def test_the_maker_may_not_approve_their_own_application(
    world: World, people, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No role holds both permissions today; give one to prove the rule does not rely on that.
    both = permissions.ROLE_PERMISSIONS[Role.CLERK] | {Permission.BENEFIT_APPROVE}
    monkeypatch.setitem(permissions.ROLE_PERMISSIONS, Role.CLERK, both)
    application_id = _apply(world, people["full"]).json()["id"]
    r = _approve(world, application_id, user="clerk_xzg")
    assert r.status_code == 403
    assert r.json()["code"] == "maker_is_checker"


def test_retry_returns_the_first_answer_and_a_second_application_is_refused(
    world: World, people
) -> None:
    first = _apply(world, people["full"], key="apply-1")
    again = _apply(world, people["full"], key="apply-1")
    assert again.status_code == 201 and again.json() == first.json()
    other = _apply(world, people["full"])
    assert other.status_code == 409 and other.json()["code"] == "application_pending"


def test_out_of_scope_person_looks_not_found(world: World, people) -> None:
    assert _apply(world, people["full"], user="clerk_hbk").status_code == 404
    r = world.client.get(
        f"/api/v1/benefits/persons/{people['full']}/qualification",
        headers=world.headers("clerk_hbk"),
    )
    assert r.status_code == 404


def test_rejection_awards_nothing(world: World, people, session_factory) -> None:
    application_id = _apply(world, people["full"]).json()["id"]
    r = world.client.post(
        f"/api/v1/benefits/applications/{application_id}/reject",
        json={"note": "户籍待核实"},
        headers=world.headers("reviewer_xzg"),
    )
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    with unit_of_work(session_factory) as s:
        assert s.scalar(select(Pension.id)) is None
