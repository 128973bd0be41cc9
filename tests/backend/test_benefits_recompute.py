"""A rise of the basic pension: every pensioner recomputed from its month, back pay after."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from backend.audit.service import Actor
from backend.benefits import recompute
from backend.benefits.models import Computation, Overpayment, Pension
from backend.db import unit_of_work
from backend.ledger import service as ledger
from backend.payroll import build
from backend.payroll.models import PayrollLine
from backend.policy import service as policy
from tests.backend.benefits_support import add_candidate, award
from tests.backend.money_world import load_basics
from tests.backend.payroll_support import principal
from tests.conftest import World

SEPTEMBER = dt.date(2026, 9, 1)


@pytest.fixture
def paid_to_october(world: World, session_factory):
    """Two pensioners from 2026-06, payrolls built June to October at 308.00 a month."""
    with unit_of_work(session_factory) as s:
        load_basics(s, regions=False)
        ids = [add_candidate(s, sequence=71), add_candidate(s, sequence=73, name="敖登")]
    for person_id in ids:
        award(world, person_id)
    for month in range(6, 11):
        _build(session_factory, dt.date(2026, month, 1))
    return ids


def _build(session_factory, month: dt.date) -> int:
    clerk = principal(session_factory, "clerk_county")
    return build.build(factory=session_factory, principal=clerk, month=month, scope="654226")


def _raise_topup(session_factory) -> int:
    """The county raises its top-up from 35 to 50 yuan from 2026-09."""
    with unit_of_work(session_factory) as s:
        version, _ = policy.create_version(
            session=s,
            version_in=policy.VersionIn(
                region_prefix="654226",
                valid_from=SEPTEMBER,
                name="和布克赛尔县提高基础养老金加发（演示）",
                source="测试",
                # A county version inherits from the national one: it restates its bonus.
                rules={
                    "basic_pension_topup_yuan": 50,
                    "long_contribution_bonus": {
                        "per_year_yuan": 2,
                        "threshold_years": 15,
                        "beyond_per_year_yuan": 3,
                    },
                },
                inherit=True,
            ),
            actor=Actor.system("t"),
            maker_id=None,
            active=True,
        )
        return version.id


def test_rise_adds_a_computation_from_its_month_and_back_pay_next_payroll(
    world: World, paid_to_october, session_factory
):
    version_id = _raise_topup(session_factory)
    summary = recompute.recompute(factory=session_factory, month=SEPTEMBER, actor=Actor.system("t"))
    assert summary.rows == 2
    again = recompute.recompute(factory=session_factory, month=SEPTEMBER, actor=Actor.system("t"))
    assert again.rows == 0
    with unit_of_work(session_factory) as s:
        rows = s.scalars(select(Computation).where(Computation.cause == "policy_change")).all()
        assert {(c.from_month, c.topup_fen, c.total_fen, c.policy_version_id) for c in rows} == {
            (SEPTEMBER, 5000, 32300, version_id)
        }
        assert {p.monthly_fen for p in s.scalars(select(Pension))} == {32300}
    november = _build(session_factory, dt.date(2026, 11, 1))
    with unit_of_work(session_factory) as s:
        lines = sorted(
            (line.kind, line.month.isoformat(), line.amount_fen, line.basic_fen)
            for line in s.scalars(select(PayrollLine).where(PayrollLine.payroll_id == november))
        )
    assert lines == sorted(
        2
        * [
            ("regular", "2026-11-01", 32300, 22300),
            ("adjustment", "2026-09-01", 1500, 1500),
            ("adjustment", "2026-10-01", 1500, 1500),
        ]
    )
    december = _build(session_factory, dt.date(2026, 12, 1))
    with unit_of_work(session_factory) as s:
        kinds = {
            line.kind
            for line in s.scalars(select(PayrollLine).where(PayrollLine.payroll_id == december))
        }
    assert kinds == {"regular"}


def _county_version(session_factory, valid_from: dt.date, topup_yuan: int) -> int:
    """A county version from ``valid_from`` with another top-up (the bonus restated)."""
    with unit_of_work(session_factory) as s:
        version, _ = policy.create_version(
            session=s,
            version_in=policy.VersionIn(
                region_prefix="654226",
                valid_from=valid_from,
                name=f"和布克赛尔县基础养老金加发{topup_yuan}元（测试）",
                source="测试",
                rules={
                    "basic_pension_topup_yuan": topup_yuan,
                    "long_contribution_bonus": {
                        "per_year_yuan": 2,
                        "threshold_years": 15,
                        "beyond_per_year_yuan": 3,
                    },
                },
                inherit=True,
            ),
            actor=Actor.system("t"),
            maker_id=None,
            active=True,
        )
        return version.id


def _payroll_lines(session_factory, payroll_id: int) -> list[tuple[str, str, int]]:
    with unit_of_work(session_factory) as s:
        return sorted(
            (line.kind, line.month.isoformat(), line.amount_fen)
            for line in s.scalars(select(PayrollLine).where(PayrollLine.payroll_id == payroll_id))
        )


def test_decrease_opens_one_overpayment_per_pension_and_a_later_rise_pays_it_back(
    world: World, paid_to_october, session_factory
):
    _county_version(session_factory, SEPTEMBER, 20)
    before = _ledger(session_factory)
    summary = recompute.recompute(factory=session_factory, month=SEPTEMBER, actor=Actor.system("t"))
    assert (summary.rows, summary.amount_fen) == (2, 2 * 3000)
    again = recompute.recompute(factory=session_factory, month=SEPTEMBER, actor=Actor.system("t"))
    assert (again.rows, again.amount_fen) == (0, 0)
    with unit_of_work(session_factory) as s:
        found = s.scalars(select(Overpayment)).all()
        lowered = {
            c.pension_id: c.id
            for c in s.scalars(select(Computation)).all()
            if c.from_month == SEPTEMBER
        }
        assert (
            sorted((o.cause, o.method, o.debtor, o.ref_type, o.amount_fen) for o in found)
            == [("recompute", "deduction", "pensioner", "pension_computation", 3000)] * 2
        )
        assert {o.pension_id: o.ref_id for o in found} == lowered
    after = _ledger(session_factory)
    assert after[("654226", "1201")] - before.get(("654226", "1201"), 0) == 6000

    # November: the lower amount, no negative line, 30.00 kept back of 293.00.
    november = _build(session_factory, dt.date(2026, 11, 1))
    assert _payroll_lines(session_factory, november) == sorted(
        2 * [("regular", "2026-11-01", 29300), ("recovery", "2026-11-01", -3000)]
    )
    # A rise from October: October and November paid 15.00 below the old 308.00 count as
    # not paid, so the difference to 323.00 is 30.00 each; September stays lowered. The
    # debt is not kept back twice while November's recovery line is still unpaid.
    _county_version(session_factory, dt.date(2026, 10, 1), 50)
    recompute.recompute(
        factory=session_factory, month=dt.date(2026, 10, 1), actor=Actor.system("t")
    )
    december = _build(session_factory, dt.date(2026, 12, 1))
    assert _payroll_lines(session_factory, december) == sorted(
        2
        * [
            ("adjustment", "2026-10-01", 3000),
            ("adjustment", "2026-11-01", 3000),
            ("regular", "2026-12-01", 32300),
        ]
    )


def _ledger(session_factory) -> dict[tuple[str, str], int]:
    with unit_of_work(session_factory) as s:
        report = ledger.check(session=s)
        assert report.ok, report.problems
        return ledger.balances(session=s)
