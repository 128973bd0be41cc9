"""Payroll cases: exclusions with reasons, back pay after resumption, crash and resume."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys

import pytest
from sqlalchemy import select, update

from backend.audit.service import Actor
from backend.benefits import survival
from backend.benefits.models import Pension
from backend.cards.models import Card
from backend.db import unit_of_work
from backend.ledger.jobs import CRASH_EXIT_CODE
from backend.orgs.permissions import Role
from backend.payroll import build
from backend.payroll.models import Payroll, PayrollCounty, PayrollExclusion, PayrollLine
from backend.registry.models import Enrolment, Person
from tests.backend.benefits_support import add_candidate, award
from tests.backend.money_world import EMIN_VILLAGE, load_basics
from tests.backend.payroll_support import add_province_operator, principal
from tests.conftest import World


@pytest.fixture
def pensioners(world: World, session_factory):
    """Two pensioners of 夏孜盖乡 paid from 2026-06."""
    with unit_of_work(session_factory) as s:
        load_basics(s, regions=False)
        ids = [add_candidate(s, sequence=51), add_candidate(s, sequence=53, name="图雅")]
    for person_id in ids:
        award(world, person_id)
    return ids


def _build(session_factory, month: dt.date) -> int:
    clerk = principal(session_factory, "clerk_county")
    return build.build(factory=session_factory, principal=clerk, month=month, scope="654226")


def _lines(session_factory, payroll_id: int) -> list[tuple[int, str, str, int]]:
    with unit_of_work(session_factory) as s:
        return sorted(
            (line.person_id, line.kind, line.month.isoformat(), line.amount_fen)
            for line in s.scalars(select(PayrollLine).where(PayrollLine.payroll_id == payroll_id))
        )


def _exclusions(session_factory, payroll_id: int) -> list[str]:
    with unit_of_work(session_factory) as s:
        return sorted(
            s.scalars(
                select(PayrollExclusion.reason_code).where(
                    PayrollExclusion.payroll_id == payroll_id
                )
            )
        )


def _paid_through(session_factory) -> dict[object, object]:
    """Each pension's (in step with the county, own month) and the county's month."""
    with unit_of_work(session_factory) as s:
        found: dict[object, object] = {
            p.person_id: (p.paid_with_county, p.paid_through and p.paid_through.isoformat())
            for p in s.scalars(select(Pension))
        }
        for county in s.scalars(select(PayrollCounty)):
            found[county.county_code] = county.paid_through.isoformat()
        return found


def test_suspended_pensioner_is_left_out_and_gets_back_pay_after_certifying(
    world: World, pensioners, session_factory
):
    lapsed, other = pensioners
    _build(session_factory, dt.date(2026, 6, 1))
    with unit_of_work(session_factory) as s:
        s.execute(
            update(Pension)
            .where(Pension.person_id == lapsed)
            .values(certified_until=dt.date(2026, 6, 15))
        )
    survival.run_suspension(
        factory=session_factory, on=dt.date(2026, 7, 1), actor=Actor.system("t")
    )
    july = _build(session_factory, dt.date(2026, 7, 1))
    assert _lines(session_factory, july) == [(other, "regular", "2026-07-01", 30800)]
    assert _exclusions(session_factory, july) == ["overdue_certification"]
    # Only the pension left out is written: it keeps June; the other follows the county.
    assert _paid_through(session_factory) == {
        lapsed: (False, "2026-06-01"),
        other: (True, None),
        "654226": "2026-07-01",
    }

    r = world.client.post(
        f"/api/v1/benefits/pensions/{lapsed}/certifications",
        json={"method": "counter", "certified_on": "2026-08-05", "documents_seen": ["id_card"]},
        headers=world.headers("clerk_xzg"),
    )
    assert r.json()["resumed"] is True
    august = _build(session_factory, dt.date(2026, 8, 1))
    assert _lines(session_factory, august) == sorted(
        [
            (lapsed, "back_pay", "2026-07-01", 30800),
            (lapsed, "regular", "2026-08-01", 30800),
            (other, "regular", "2026-08-01", 30800),
        ]
    )
    assert _exclusions(session_factory, august) == []
    assert _paid_through(session_factory) == {
        lapsed: (True, None),
        other: (True, None),
        "654226": "2026-08-01",
    }


def test_supervision_leaves_out_dead_card_holders_and_ended_enrolments(
    world: World, pensioners, session_factory
):
    dead, ended = pensioners
    with unit_of_work(session_factory) as s:
        person = s.get_one(Person, dead)
        s.add(
            Card(
                person_id=dead,
                social_security_number=person.id_number,
                generation=3,
                region_code=person.hukou_region_code,
                county_code=person.county_code,
                bank_code="RCC",
                state="cancelled",
                holder_died_on=dt.date(2026, 5, 30),
            )
        )
        s.execute(update(Enrolment).where(Enrolment.person_id == ended).values(status="terminated"))
    payroll_id = _build(session_factory, dt.date(2026, 6, 1))
    assert _lines(session_factory, payroll_id) == []
    assert _exclusions(session_factory, payroll_id) == [
        "card_holder_dead",
        "enrolment_not_receiving",
    ]


def _build_in_subprocess(database_url: str, env_extra: dict[str, str]) -> int:
    code = (
        "import datetime as dt\n"
        "from backend.audit.service import Actor\n"
        "from backend.db import make_engine, make_session_factory, unit_of_work\n"
        "from backend.orgs import service as orgs\n"
        "from backend.payroll import build\n"
        f"f = make_session_factory(make_engine({database_url!r}))\n"
        "with unit_of_work(f) as s:\n"
        "    op = orgs.get_operator_by_username(session=s, username='clerk_province')\n"
        "    p = orgs.Principal.of(op, Actor(operator_id=op.id))\n"
        "build.build(factory=f, principal=p, month=dt.date(2026, 6, 1), scope='65')\n"
    )
    env = {**os.environ, **env_extra}
    return subprocess.run([sys.executable, "-c", code], env=env, timeout=120).returncode


def test_crash_between_counties_resumes_to_the_same_totals(
    world: World, pensioners, session_factory, database_url
):
    with unit_of_work(session_factory) as s:
        emin = add_candidate(s, sequence=55, village=EMIN_VILLAGE, name="古丽")
    r = world.client.post(
        "/api/v1/benefits/applications",
        json={
            "person_id": emin,
            "applied_on": "2026-05-20",
            "bank_code": "RCC",
            "bank_account": "6230000099999999",
        },
        headers=world.headers("clerk_emin"),
    )
    assert r.status_code == 201, r.text
    add_province_operator(world, session_factory, "reviewer_province", Role.REVIEWER)
    r = world.client.post(
        f"/api/v1/benefits/applications/{r.json()['id']}/approve",
        json={},
        headers=world.headers("reviewer_province"),
    )
    assert r.status_code == 200, r.text
    add_province_operator(world, session_factory, "clerk_province")
    assert _build_in_subprocess(database_url, {"XNB_CRASH_AFTER_CHUNKS": "1"}) == CRASH_EXIT_CODE
    with unit_of_work(session_factory) as s:
        payroll = s.scalar(select(Payroll))
        assert payroll is not None and payroll.status == "building"
    assert _build_in_subprocess(database_url, {}) == 0
    with unit_of_work(session_factory) as s:
        payroll = s.scalar(select(Payroll))
        assert payroll is not None and payroll.status == "draft"
        # 2 × 308.00 in the demo county; 143.00 + 100.00 under the national rules in 额敏.
        assert (payroll.line_count, payroll.total_fen) == (3, 2 * 30800 + 24300)
