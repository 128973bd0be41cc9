"""Recomputing every pension when a new policy version raises the basic pension.

From the effective month, each pension gets a new computation (part by part, with the
version's id) wherever the amount changes; set-based per county, resumable, and a rerun
for the same month adds nothing. The payroll then pays the difference for months already
paid at the old amount as ``adjustment`` lines (back pay), see ``payroll.build``.

The account pension is carried over: the balance was fixed at the award, and a version
that changes the divisor is refused rather than silently mixing two divisors.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from backend.audit.service import Actor, record
from backend.benefits.formula import first_of_month
from backend.benefits.models import Pension
from backend.db import unit_of_work, utcnow
from backend.errors import Conflict
from backend.ledger import jobs
from backend.ledger.models import JobChunk
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
    ORDER BY c.from_month DESC, c.id DESC LIMIT 1), updated_at = :now
WHERE county_code = :county AND status <> 'terminated'
  AND EXISTS (SELECT 1 FROM pension_computations c
              WHERE c.pension_id = pensions.id AND c.from_month = :month
                AND c.cause = 'policy_change')
"""


def recompute_county(
    *, session: Session, county_code: str, month: dt.date, actor: Actor
) -> tuple[int, int]:
    """Recompute one county's pensions from ``month``; returns (pensions changed, 0)."""
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
    count = int(getattr(changed, "rowcount", 0) or 0)
    record(
        session=session,
        actor=actor,
        action="benefit.recompute",
        object_type="county",
        object_id=county_code,
        detail={"from": f"{month:%Y-%m}", "version_id": resolved.version_id, "pensions": count},
    )
    return count, 0


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
