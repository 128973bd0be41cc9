"""Recomputing every pension when a new policy version changes the basic pension.

From the effective month, each pension gets a new computation (part by part, with the
version's id) wherever the amount changes; set-based per county, resumable, and a rerun
for the same month adds nothing. A rise: the payroll pays the difference for months
already paid at the old amount as ``adjustment`` lines (back pay), see ``payroll.build``.
A decrease: what months already paid (or built) got above the new amount opens one
overpayment per pension (cause ``recompute``, referring to the new computation, recovered
by deduction from later pensions), booked Dr 1201 / Cr 5201 in one entry per county, and
never a negative bank payment. A month whose earlier decrease is already owed counts
only the part beyond it (``payroll.build`` lets a later rise pay it back the same way).

The account pension is carried over: the balance was fixed at the award, and a version
that changes the divisor is refused rather than silently mixing two divisors.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from backend.accounts.posting import open_posting
from backend.audit.service import Actor, record
from backend.benefits.formula import first_of_month
from backend.benefits.models import Overpayment, Pension
from backend.db import unit_of_work, utcnow
from backend.errors import Conflict
from backend.ledger import chart, jobs
from backend.ledger.models import JobChunk, JournalLine
from backend.policy import service as policy

JOB = "pension_recompute"

_CURRENT = """
pension_computations c ON c.id = (
    SELECT c2.id FROM pension_computations c2
    WHERE c2.pension_id = p.id AND c2.from_month <= :month
    ORDER BY c2.from_month DESC, c2.id DESC LIMIT 1)
"""

_BONUS = """CASE WHEN c.contribution_years <= :threshold THEN c.contribution_years * :per_year
     ELSE :threshold * :per_year + (c.contribution_years - :threshold) * :beyond END"""

_INSERT = f"""
INSERT INTO pension_computations (pension_id, county_code, from_month, minimum_fen, topup_fen,
    bonus_fen, account_fen, total_fen, contribution_years, balance_fen, divisor,
    policy_version_id, cause, created_at)
SELECT p.id, p.county_code, :month, :minimum, :topup, {_BONUS}, c.account_fen,
       :minimum + :topup + {_BONUS} + c.account_fen, c.contribution_years, c.balance_fen,
       c.divisor, :version_id, 'policy_change', :now
FROM pensions p
JOIN {_CURRENT}
WHERE p.county_code = :county AND p.status <> 'terminated' AND p.start_month <= :month
  AND c.total_fen <> :minimum + :topup + {_BONUS} + c.account_fen
  AND NOT EXISTS (SELECT 1 FROM pension_computations x
                  WHERE x.pension_id = p.id AND x.from_month = :month)
"""

_OTHER_DIVISOR = f"""
SELECT COUNT(*) FROM pensions p JOIN {_CURRENT}
WHERE p.county_code = :county AND p.status <> 'terminated' AND c.divisor <> :divisor
"""

_MONTHLY = """
UPDATE pensions SET monthly_fen = (
    SELECT c.total_fen FROM pension_computations c
    WHERE c.pension_id = pensions.id AND c.from_month <= :today
    ORDER BY c.from_month DESC, c.id DESC LIMIT 1),
    computation_id = (
    SELECT c.id FROM pension_computations c WHERE c.pension_id = pensions.id
    ORDER BY c.from_month DESC, c.id DESC LIMIT 1), updated_at = :now
WHERE county_code = :county AND status <> 'terminated'
  AND EXISTS (SELECT 1 FROM pension_computations c
              WHERE c.pension_id = pensions.id AND c.from_month = :month
                AND c.cause = 'policy_change')
"""


# Per pension and month already paid (non-failed lines) under a new computation of
# ``:month`` (no later one in force for that month): what was paid above the new amount,
# less what an earlier decrease already made owed for that month.
_OVERPAID_MONTHS = """
SELECT g.pension_id, g.computation_id,
       g.paid_fen - g.total_fen - COALESCE((
           SELECT MAX(g.base_fen - y.total_fen) FROM benefit_overpayments o
           JOIN pension_computations y ON y.id = o.ref_id
           WHERE o.pension_id = g.pension_id AND o.cause = 'recompute'
             AND o.ref_type = 'pension_computation' AND y.from_month <= g.month
             AND y.total_fen < g.base_fen), 0) AS over_fen
FROM (
    SELECT x.pension_id, x.id AS computation_id, x.total_fen, l.month,
           SUM(l.amount_fen) AS paid_fen,
           SUM(CASE WHEN l.kind <> 'adjustment' THEN l.amount_fen ELSE 0 END) AS base_fen
    FROM pension_computations x
    JOIN payroll_lines l ON l.pension_id = x.pension_id AND l.month >= x.from_month
    WHERE x.county_code = :county AND x.from_month = :month AND x.cause = 'policy_change'
      AND l.kind IN ('regular', 'back_pay', 'reissue', 'adjustment') AND l.state <> 'failed'
      AND NOT EXISTS (SELECT 1 FROM pension_computations z
                      WHERE z.pension_id = x.pension_id AND z.from_month > x.from_month
                        AND z.from_month <= l.month)
      AND NOT EXISTS (SELECT 1 FROM benefit_overpayments o
                      WHERE o.cause = 'recompute' AND o.ref_type = 'pension_computation'
                        AND o.ref_id = x.id)
    GROUP BY x.pension_id, x.id, x.total_fen, l.month
) g
"""

_OPEN_OVERPAYMENTS = f"""
INSERT INTO benefit_overpayments (person_id, pension_id, county_code, region_code, cause,
    ref_type, ref_id, debtor, method, amount_fen, recovered_fen, status, reason,
    journal_entry_id, created_at)
SELECT p.person_id, p.id, p.county_code, p.region_code, 'recompute', 'pension_computation',
       m.computation_id, 'pensioner', 'deduction', SUM(m.over_fen), 0, 'open', :reason,
       :je, :now
FROM ({_OVERPAID_MONTHS}) m
JOIN pensions p ON p.id = m.pension_id
WHERE m.over_fen > 0
GROUP BY p.person_id, p.id, p.county_code, p.region_code, m.computation_id
"""


def _open_overpayments(session: Session, county_code: str, month: dt.date, actor: Actor) -> int:
    """Open the overpayments of months paid above a decreased pension; returns the total."""
    entry = open_posting(
        session=session,
        county_code=county_code,
        event="pension.overpayment",
        posted_on=dt.date.today(),
        ref_type="pension_recompute",
        memo=f"{month:%Y-%m}起待遇重算，已发月份多发",
    )
    params = {
        "county": county_code,
        "month": month,
        "je": entry.id,
        "now": utcnow(),
        "reason": f"{month:%Y-%m}起待遇重算后已发月份多发，从以后的养老金中抵扣",
    }
    session.execute(text(_OPEN_OVERPAYMENTS), params)
    count, total = session.execute(
        select(
            func.count(Overpayment.id), func.coalesce(func.sum(Overpayment.amount_fen), 0)
        ).where(Overpayment.journal_entry_id == entry.id)
    ).one()
    if not count:
        session.delete(entry)
        session.flush()
        return 0
    session.add_all(
        JournalLine(
            entry_id=entry.id,
            county_code=county_code,
            account_code=line.account_code,
            debit_fen=line.debit_fen,
            credit_fen=line.credit_fen,
        )
        for line in (
            chart.debit(chart.OVERPAYMENT_RECEIVABLE, int(total)),
            chart.credit(chart.BASIC_PENSION_EXPENSE, int(total)),
        )
    )
    session.flush()
    record(
        session=session,
        actor=actor,
        action="overpayment.open",
        object_type="county",
        object_id=county_code,
        detail={
            "cause": "recompute",
            "from": f"{month:%Y-%m}",
            "count": count,
            "amount_fen": int(total),
        },
    )
    return int(total)


def recompute_county(
    *, session: Session, county_code: str, month: dt.date, actor: Actor
) -> tuple[int, int]:
    """Recompute one county's pensions from ``month``; returns (pensions changed, overpaid)."""
    resolved = policy.rules_on(session=session, region_code=county_code, on=month)
    rules = resolved.rules
    bonus = rules.long_contribution_bonus
    params = {
        "county": county_code,
        "month": month,
        "minimum": rules.basic_pension_minimum_on(month),
        "topup": rules.basic_pension_topup_fen,
        "threshold": bonus.threshold_years if bonus else 0,
        "per_year": bonus.per_year_fen if bonus else 0,
        "beyond": bonus.beyond_per_year_fen if bonus else 0,
        "divisor": rules.account_divisor,
        "version_id": resolved.version_id,
        "now": utcnow(),
        "today": first_of_month(dt.date.today()),
    }
    if session.scalar(text(_OTHER_DIVISOR), params):
        raise Conflict(
            detail=f"县{county_code}政策版本{resolved.version_id}改变了计发月数，需逐人重新核定",
            code="divisor_changed",
        )
    changed = session.execute(text(_INSERT), params)
    session.execute(text(_MONTHLY), params)
    overpaid = _open_overpayments(session, county_code, month, actor)
    count = int(getattr(changed, "rowcount", 0) or 0)
    record(
        session=session,
        actor=actor,
        action="benefit.recompute",
        object_type="county",
        object_id=county_code,
        detail={"from": f"{month:%Y-%m}", "version_id": resolved.version_id, "pensions": count},
    )
    return count, overpaid


def recompute(*, factory: sessionmaker[Session], month: dt.date, actor: Actor) -> jobs.RunSummary:
    """Recompute every pension from ``month`` under the versions then in force, per county."""
    month = first_of_month(month)
    with unit_of_work(factory) as session:
        counties = list(
            session.scalars(select(Pension.county_code).distinct().order_by(Pension.county_code))
        )
        run = jobs.start_or_resume(
            session=session, job=JOB, period=f"{month:%Y-%m}", scopes=counties
        )
        run_id = run.id

    def work(session: Session, chunk: JobChunk) -> tuple[int, int]:
        return recompute_county(session=session, county_code=chunk.scope, month=month, actor=actor)

    return jobs.run_chunks(
        factory=factory, run_id=run_id, job=JOB, period=f"{month:%Y-%m}", work=work
    )
