"""Policy tables: pure computations on hand-computed cases, loading, lookup, maker-checker."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session, sessionmaker

from backend.audit.service import Actor
from backend.db import unit_of_work
from backend.errors import Conflict, InvalidInput, NoPolicyVersion
from backend.policy import service as policy
from backend.policy.rules import (
    InheritanceRule,
    InterestConvention,
    account_pension_monthly,
    assess,
    interest_from_weight,
    interest_weight,
    round_half_up,
    yuan_to_fen,
)
from tests.conftest import World

# ---- pure ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def national_2014():
    [v] = policy.read_file(policy.DATA_DIR / "national_2014.toml")
    from backend.policy.rules import rules_from_dict

    return rules_from_dict(v.rules)


def test_round_half_up_at_half_fen():
    assert round_half_up(Decimal("2.5")) == 3
    assert round_half_up(Decimal("2.4999")) == 2
    assert round_half_up(Decimal("-2.5")) == -3


def test_yuan_to_fen_is_exact_and_refuses_fractions_of_a_fen():
    assert yuan_to_fen("100") == 10000
    assert yuan_to_fen("0.05") == 5
    with pytest.raises(ValueError):
        yuan_to_fen("0.005")


def test_2014_subsidy_is_30_below_500_and_60_from_500(national_2014):
    low = assess(national_2014, grade_fen=40000)
    high = assess(national_2014, grade_fen=50000)
    assert (low.government_subsidy_fen, high.government_subsidy_fen) == (3000, 6000)
    assert low.own_due_fen == 40000


def test_hardship_payer_pays_the_lowest_grade(national_2014):
    amounts = assess(national_2014, grade_fen=20000, hardship_group="severely_disabled")
    assert amounts.hardship_paid_fen == 10000
    assert amounts.own_due_fen == 10000
    assert amounts.total_credit_fen == 10000 + 10000 + 3000


def test_grade_outside_the_table_is_refused(national_2014):
    with pytest.raises(InvalidInput) as exc:
        assess(national_2014, grade_fen=25000)
    assert exc.value.fields[0].field == "grade_fen"


def test_collective_and_donation_capped_at_top_grade(national_2014):
    assess(national_2014, grade_fen=10000, collective_fen=150000, donation_fen=50000)
    with pytest.raises(InvalidInput):
        assess(national_2014, grade_fen=10000, collective_fen=150000, donation_fen=50001)


def test_make_up_year_gets_no_subsidy(national_2014):
    amounts = assess(national_2014, grade_fen=50000, collective_fen=1000, make_up=True)
    assert amounts.government_subsidy_fen == 0 and amounts.collective_fen == 0


def test_interest_default_convention_hand_computed():
    # Opening 1000.00 yuan at 1.5 %: 15.00; 300.00 paid in March earns 9 months: 3.375;
    # 100.00 in December earns nothing. Total 18.375 yuan → 1837.5 fen → 1838 fen.
    weight = interest_weight(100000, [(3, 30000), (12, 10000)], InterestConvention.MONTHS_REMAINING)
    assert interest_from_weight(weight, Decimal("0.015")) == 1838


def test_interest_alternative_convention_ignores_this_years_entries():
    weight = interest_weight(100000, [(3, 30000)], InterestConvention.OPENING_ONLY)
    assert interest_from_weight(weight, Decimal("0.015")) == 1500


def test_account_pension_is_balance_over_139_half_up():
    # 13 900.69 fen / 139 = 100.00496… → 100; 13 970 / 139 = 100.503… → 101
    from backend.policy.rules import rules_from_dict

    [v] = policy.read_file(policy.DATA_DIR / "national_2009.toml")
    rules = rules_from_dict(v.rules)
    assert account_pension_monthly(rules, 13900) == 100
    assert account_pension_monthly(rules, 13970) == 101
    assert rules.inheritance is InheritanceRule.EXCLUDE_GOVERNMENT_SUBSIDY


def test_missing_interest_rate_is_an_explicit_error(national_2014):
    with pytest.raises(InvalidInput) as exc:
        national_2014.rate_for(2013)
    assert exc.value.code == "interest_rate_missing"


# ---- stored versions -----------------------------------------------------------------------


@pytest.fixture
def loaded(session_factory: sessionmaker[Session]) -> sessionmaker[Session]:
    with unit_of_work(session_factory) as s:
        from backend.orgs import service as orgs

        orgs.load_regions(session=s, path=orgs.DATA_DIR / "regions_654226.csv")
        policy.load_defaults(session=s, actor=Actor.system())
    return session_factory


def test_lookup_picks_county_override_then_national(loaded):
    with unit_of_work(loaded) as s:
        county = policy.rules_on(session=s, region_code="654226200001", on=dt.date(2020, 6, 1))
        assert county.region_prefix == "654226"
        assert 300000 in county.rules.grades_fen
        # Inherited from the national 2014 version: the basic pension schedule.
        assert county.rules.basic_pension_minimum_on(dt.date(2020, 6, 1)) == 9300
        other = policy.rules_on(session=s, region_code="654221000000", on=dt.date(2020, 6, 1))
        assert other.region_prefix == "" and 300000 not in other.rules.grades_fen
        early = policy.rules_on(session=s, region_code="654226200001", on=dt.date(2012, 1, 1))
        assert early.rules.grades_fen[-1] == 50000


def test_date_before_any_version_is_an_explicit_error(loaded):
    with unit_of_work(loaded) as s, pytest.raises(NoPolicyVersion) as exc:
        policy.rules_on(session=s, region_code="654226200001", on=dt.date(2008, 12, 31))
    assert exc.value.code == "no_policy_version"


def test_loading_the_same_file_twice_changes_nothing(loaded):
    with unit_of_work(loaded) as s:
        assert policy.load_defaults(session=s, actor=Actor.system()) == 0
        assert len(policy.list_versions(session=s)) == 3


def test_version_with_valid_to_leaves_a_gap(loaded):
    version = policy.VersionIn(
        region_prefix="65",
        valid_from=dt.date(2030, 1, 1),
        valid_to=dt.date(2030, 12, 31),
        name="临时",
        source="测试",
        rules={"interest_rates": {"2030": "1.0"}},
        inherit=True,
    )
    with unit_of_work(loaded) as s:
        policy.create_version(
            session=s, version_in=version, actor=Actor.system(), maker_id=None, active=True
        )
        assert (
            policy.rules_on(
                session=s, region_code="654221000000", on=dt.date(2030, 6, 1)
            ).region_prefix
            == "65"
        )
        # After valid_to the province has nothing; the national version applies again.
        assert (
            policy.rules_on(
                session=s, region_code="654221000000", on=dt.date(2031, 1, 1)
            ).region_prefix
            == ""
        )


def test_different_rules_for_an_active_start_date_conflict(loaded):
    [v] = policy.read_file(policy.DATA_DIR / "national_2014.toml")
    changed = policy.VersionIn(
        v.region_prefix, v.valid_from, v.name, v.source, {**v.rules, "account_divisor": 140}
    )
    with unit_of_work(loaded) as s, pytest.raises(Conflict):
        policy.create_version(
            session=s, version_in=changed, actor=Actor.system(), maker_id=None, active=True
        )


def _proposal(valid_from: str = "2026-01-01") -> dict:
    return {
        "region_prefix": "65",
        "valid_from": valid_from,
        "name": "自治区调整",
        "source": "新人社发〔2026〕1号（测试）",
        "inherit": True,
        "rules": {"basic_pension_topup_yuan": 20},
    }


def test_policy_change_needs_a_second_administrator(world: World, session_factory):
    with unit_of_work(session_factory) as s:
        policy.load_defaults(session=s, actor=Actor.system())
        from backend.orgs import service as orgs
        from backend.orgs.permissions import Role
        from tests.conftest import PASSWORD

        op = orgs.create_operator(
            session=s,
            principal=None,
            actor=Actor.system(),
            username="admin_province2",
            full_name="第二省级管理员",
            role=Role.PROVINCE_ADMIN,
            office_id=world.offices["province"].id,
            password=PASSWORD,
        )
        assert op.id
    c = world.client
    r = c.post("/api/v1/policy/versions", json=_proposal(), headers=world.headers("admin_province"))
    assert r.status_code == 201, r.text
    version_id = r.json()["id"]
    assert r.json()["status"] == "pending"
    # Not yet in force.
    r = c.get(
        "/api/v1/policy/rules",
        params={"region_code": "654221000000", "on": "2026-06-01"},
        headers=world.headers("clerk_emin"),
    )
    assert r.json()["region_prefix"] == ""
    same = c.post(
        f"/api/v1/policy/versions/{version_id}/approve", headers=world.headers("admin_province")
    )
    assert same.status_code == 403 and same.json()["code"] == "maker_is_checker"
    clerk = c.post(
        f"/api/v1/policy/versions/{version_id}/approve", headers=world.headers("clerk_county")
    )
    assert clerk.status_code == 403
    ok = c.post(
        f"/api/v1/policy/versions/{version_id}/approve", headers=world.headers("admin_province2")
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["status"] == "active"
    r = c.get(
        "/api/v1/policy/rules",
        params={"region_code": "654221000000", "on": "2026-06-01"},
        headers=world.headers("clerk_emin"),
    )
    assert r.json()["region_prefix"] == "65"
    assert r.json()["version_id"] == version_id
    audit = c.get(
        "/api/v1/audit", params={"object_type": "policy_version"}, headers=world.headers("auditor")
    )
    assert {i["action"] for i in audit.json()["items"]} >= {"policy.propose", "policy.approve"}


def test_county_admin_cannot_propose_policy(world: World):
    r = world.client.post(
        "/api/v1/policy/versions", json=_proposal(), headers=world.headers("admin_county")
    )
    assert r.status_code == 403


def test_rules_lookup_without_version_is_422_problem(world: World):
    r = world.client.get(
        "/api/v1/policy/rules",
        params={"region_code": "654226000000", "on": "2020-01-01"},
        headers=world.headers("clerk_county"),
    )
    assert r.status_code == 422
    assert r.json()["code"] == "no_policy_version"
