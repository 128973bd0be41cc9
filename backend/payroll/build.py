"""Building a month's payroll: set-based, chunked by county, resumable, never built twice.

Each county chunk, in one transaction: records who is left out and why (suspended,
terminated, death known from the card register, enrolment no longer receiving), writes one
line per month owed to every other receiving pensioner (the month itself, and back pay
for months after ``paid_through`` missed while suspended), re-issues earlier failed
payments to the pensioner's current account, pays the difference for months paid before
a policy rise (``adjustment``), keeps back what the pensioner owes from open overpayments
recovered by deduction (``recovery``, negative), and moves the county's month on: pensions
in step with it need no row written (``Pension.paid_with_county``); only those left out,
or falling back in step, are updated.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, insert, or_, select, text
from sqlalchemy.orm import Session, sessionmaker

from backend.audit.service import record
from backend.benefits.formula import add_months, first_of_month
from backend.benefits.models import Pension
from backend.db import is_postgres, unit_of_work, utcnow
from backend.errors import Conflict, NotFound, invalid
from backend.ledger import jobs
from backend.ledger.models import JobChunk
from backend.orgs.permissions import Permission
from backend.orgs.service import Principal
from backend.payroll.models import (
    CalendarMonth,
    Payroll,
    PayrollCounty,
    PayrollExclusion,
    PayrollLine,
)
from backend.policy import service as policy

JOB = "payroll_build"


class Status:
    """Payroll states, in order."""

    BUILDING = "building"
    DRAFT = "draft"
    REVIEWED = "reviewed"
    APPROVED = "approved"
    SENT = "sent"
    RECONCILED = "reconciled"


_EXCLUDE = """
INSERT INTO payroll_exclusions (payroll_id, pension_id, county_code, reason_code, reason)
SELECT :payroll_id, p.id, p.county_code, COALESCE(p.status_code, p.status),
       COALESCE(p.status_reason, '待遇非领取状态')
FROM pensions p
WHERE p.county_code = :county AND p.status <> 'receiving' AND p.start_month <= :month
  AND (p.status_since IS NULL OR p.status_since >= :year_ago)
UNION ALL
SELECT :payroll_id, p.id, p.county_code, 'card_holder_dead', '社保卡登记持卡人已死亡，待核实'
FROM pensions p
WHERE p.county_code = :county AND p.status = 'receiving' AND p.start_month <= :month
  AND EXISTS (SELECT 1 FROM cards c
              WHERE c.person_id = p.person_id AND c.holder_died_on IS NOT NULL)
UNION ALL
SELECT :payroll_id, p.id, p.county_code, 'enrolment_not_receiving',
       '参保登记不在领取待遇状态（已转出或终止），待核实'
FROM pensions p
WHERE p.county_code = :county AND p.status = 'receiving' AND p.start_month <= :month
  AND NOT EXISTS (SELECT 1 FROM enrolments e
                  WHERE e.person_id = p.person_id AND e.status = 'receiving')
"""

# The computation of the month: the pension's newest one when it has started by then (the
# regular month, nearly always), else the latest starting on or before the month.
_LINES = """
INSERT INTO payroll_lines (payroll_id, pension_id, person_id, county_code, bank_code,
    bank_account, kind, month, amount_fen, basic_fen, account_fen, computation_id,
    policy_version_id, state)
SELECT :payroll_id, p.id, p.person_id, p.county_code, p.bank_code, p.bank_account,
       CASE WHEN m.month = :month THEN 'regular' ELSE 'back_pay' END, m.month,
       c.total_fen, c.minimum_fen + c.topup_fen + c.bonus_fen, c.account_fen, c.id,
       c.policy_version_id, 'built'
FROM pensions p
JOIN calendar_months m
  ON m.month >= p.start_month AND m.month <= :month
 AND m.month > COALESCE(CASE WHEN p.paid_with_county THEN :county_through
                                 ELSE p.paid_through END, :before_all)
 AND (p.end_month IS NULL OR m.month <= p.end_month)
JOIN pension_computations newest ON newest.id = p.computation_id
JOIN pension_computations c ON c.id = CASE WHEN newest.from_month <= m.month THEN newest.id
    ELSE (SELECT c2.id FROM pension_computations c2
          WHERE c2.pension_id = p.id AND c2.from_month <= m.month
          ORDER BY c2.from_month DESC, c2.id DESC LIMIT 1) END
WHERE p.county_code = :county AND p.status = 'receiving'
  AND NOT EXISTS (SELECT 1 FROM payroll_exclusions x
                  WHERE x.payroll_id = :payroll_id AND x.pension_id = p.id)
"""

# Pensions awarded since the last payroll get their newest computation noted.
_NEWEST = """
UPDATE pensions SET computation_id = (
    SELECT c.id FROM pension_computations c WHERE c.pension_id = pensions.id
    ORDER BY c.from_month DESC, c.id DESC LIMIT 1)
WHERE county_code = :county AND computation_id IS NULL
"""

_REISSUE = """
INSERT INTO payroll_lines (payroll_id, pension_id, person_id, county_code, bank_code,
    bank_account, kind, month, amount_fen, basic_fen, account_fen, computation_id,
    policy_version_id, reissue_of_id, state)
SELECT :payroll_id, f.pension_id, f.person_id, f.county_code, p.bank_code, p.bank_account,
       'reissue', f.month, f.amount_fen, f.basic_fen, f.account_fen, f.computation_id,
       f.policy_version_id, f.id, 'built'
FROM payroll_lines f
JOIN pensions p ON p.id = f.pension_id
WHERE f.county_code = :county AND f.state = 'failed' AND f.payroll_id <> :payroll_id
  AND f.kind NOT IN ('adjustment', 'recovery') AND p.status = 'receiving'
  AND NOT EXISTS (SELECT 1 FROM payroll_lines r WHERE r.reissue_of_id = f.id)
  AND NOT EXISTS (SELECT 1 FROM payroll_exclusions x
                  WHERE x.payroll_id = :payroll_id AND x.pension_id = p.id)
"""

# Months already paid at an amount the pension no longer has (a policy rise, recomputed
# from its effective month): the difference, less earlier adjustments, as its own line.
# What a decrease already booked as an overpayment (``benefits.recompute``) counts as not
# paid, so a later rise pays it back. A failed adjustment is not re-issued: the difference
# is simply found again.
_RECORDED = """(SELECT MAX(b.amount_fen - y.total_fen) FROM benefit_overpayments o
     JOIN pension_computations y ON y.id = o.ref_id
     WHERE o.pension_id = b.pension_id AND o.cause = 'recompute'
       AND o.ref_type = 'pension_computation' AND y.from_month <= b.month
       AND y.total_fen < b.amount_fen)"""

_ADJUST = f"""
INSERT INTO payroll_lines (payroll_id, pension_id, person_id, county_code, bank_code,
    bank_account, kind, month, amount_fen, basic_fen, account_fen, computation_id,
    policy_version_id, state)
SELECT :payroll_id, d.pension_id, d.person_id, d.county_code, d.bank_code, d.bank_account,
       'adjustment', d.month, d.due_fen - d.paid_fen, d.due_basic_fen - d.paid_basic_fen,
       d.due_account_fen - d.paid_account_fen, d.computation_id, d.policy_version_id, 'built'
FROM (
    SELECT b.pension_id, b.person_id, b.county_code, p.bank_code, p.bank_account, b.month,
           c.id AS computation_id, c.policy_version_id, c.total_fen AS due_fen,
           c.total_fen - c.account_fen AS due_basic_fen, c.account_fen AS due_account_fen,
           b.amount_fen + COALESCE(a.amount_fen, 0) - COALESCE({_RECORDED}, 0) AS paid_fen,
           b.basic_fen + COALESCE(a.basic_fen, 0) - COALESCE({_RECORDED}, 0) AS paid_basic_fen,
           b.account_fen + COALESCE(a.account_fen, 0) AS paid_account_fen
    FROM payroll_lines b
    JOIN pensions p ON p.id = b.pension_id
    JOIN pension_computations c ON c.id = (
        SELECT c2.id FROM pension_computations c2
        WHERE c2.pension_id = b.pension_id AND c2.from_month <= b.month
        ORDER BY c2.from_month DESC, c2.id DESC LIMIT 1)
    LEFT JOIN (SELECT pension_id, month, SUM(amount_fen) AS amount_fen,
                      SUM(basic_fen) AS basic_fen, SUM(account_fen) AS account_fen
               FROM payroll_lines
               WHERE county_code = :county AND kind = 'adjustment' AND state <> 'failed'
               GROUP BY pension_id, month) a
      ON a.pension_id = b.pension_id AND a.month = b.month
    WHERE b.county_code = :county AND b.kind IN ('regular', 'back_pay', 'reissue')
      AND b.state <> 'failed' AND b.payroll_id <> :payroll_id AND p.status = 'receiving'
      AND NOT EXISTS (SELECT 1 FROM payroll_exclusions x
                      WHERE x.payroll_id = :payroll_id AND x.pension_id = p.id)
) d
WHERE d.due_fen > d.paid_fen
"""

# Open overpayments the pensioner owes, recovered by deduction: each gets a negative line of
# what is still owed (less what unsettled recovery lines already keep back), oldest first,
# within the policy's share of the pension's positive lines in this payroll. A failed
# recovery line recovers nothing; the next payroll finds the amount still owed.
_RECOVER = """
INSERT INTO payroll_lines (payroll_id, pension_id, person_id, county_code, bank_code,
    bank_account, kind, month, amount_fen, basic_fen, account_fen, computation_id,
    policy_version_id, overpayment_id, state)
SELECT :payroll_id, r.pension_id, r.person_id, r.county_code, r.bank_code, r.bank_account,
       'recovery', :month, -r.kept_fen, -r.kept_fen, 0, r.computation_id,
       r.policy_version_id, r.overpayment_id, 'built'
FROM (
    SELECT o.pension_id, o.person_id, o.county_code, o.bank_code, o.bank_account,
           o.computation_id, o.policy_version_id, o.overpayment_id,
           CASE WHEN o.cap_fen - o.before_fen >= o.owed_fen THEN o.owed_fen
                ELSE o.cap_fen - o.before_fen END AS kept_fen
    FROM (
        SELECT g.pension_id, g.person_id, g.county_code, g.bank_code, g.bank_account,
               g.computation_id, g.policy_version_id, g.cap_fen, w.overpayment_id, w.owed_fen,
               SUM(w.owed_fen) OVER (PARTITION BY g.pension_id ORDER BY w.overpayment_id
                                     ROWS UNBOUNDED PRECEDING) - w.owed_fen AS before_fen
        FROM (
            SELECT o.id AS overpayment_id, o.person_id,
                   o.amount_fen - o.recovered_fen - COALESCE(
                       (SELECT -SUM(k.amount_fen) FROM payroll_lines k
                        WHERE k.overpayment_id = o.id
                          AND k.state IN ('built', 'unknown')), 0) AS owed_fen
            FROM benefit_overpayments o
            WHERE o.county_code = :county AND o.status = 'open' AND o.method = 'deduction'
              AND o.debtor = 'pensioner'
        ) w
        JOIN (
            SELECT l.pension_id, l.person_id, l.county_code, l.bank_code, l.bank_account,
                   MAX(l.computation_id) AS computation_id,
                   MAX(l.policy_version_id) AS policy_version_id,
                   CAST(SUM(l.amount_fen) AS BIGINT) * :percent / 100 AS cap_fen
            FROM payroll_lines l
            WHERE l.payroll_id = :payroll_id AND l.county_code = :county AND l.amount_fen > 0
              AND l.person_id IN (SELECT o.person_id FROM benefit_overpayments o
                                  WHERE o.county_code = :county AND o.status = 'open'
                                    AND o.method = 'deduction')
            GROUP BY l.pension_id, l.person_id, l.county_code, l.bank_code, l.bank_account
        ) g ON g.person_id = w.person_id
        WHERE w.owed_fen > 0
    ) o
) r
WHERE r.kept_fen > 0
"""

# After the lines: pensions in step that got none (left out) keep the month they were paid
# through; pensions that got their months up to this one (new, resumed) fall in step. Every
# other pension is paid through the county's month without its row being written.
_PIN = """
UPDATE pensions SET paid_through = :county_through, paid_with_county = false
WHERE county_code = :county AND paid_with_county
  AND (status <> 'receiving'
       OR id IN (SELECT x.pension_id FROM payroll_exclusions x
                 WHERE x.payroll_id = :payroll_id))
"""

# A month older than the county's last payroll: pensions not in step move on to it.
_CATCH_UP = """
UPDATE pensions SET paid_through = :month
WHERE county_code = :county AND NOT paid_with_county AND status = 'receiving'
  AND (paid_through IS NULL OR paid_through < :month)
  AND EXISTS (SELECT 1 FROM payroll_lines l
              WHERE l.payroll_id = :payroll_id AND l.pension_id = pensions.id
                AND l.kind <> 'reissue')
"""

_IN_STEP = """
UPDATE pensions SET paid_through = NULL, paid_with_county = true
WHERE county_code = :county AND NOT paid_with_county AND status = 'receiving'
  AND EXISTS (SELECT 1 FROM payroll_lines l
              WHERE l.payroll_id = :payroll_id AND l.pension_id = pensions.id
                AND l.kind <> 'reissue')
"""


def parse_month(text_month: str) -> dt.date:
    """``YYYY-MM`` to the first day of the month (422 if malformed)."""
    try:
        return dt.datetime.strptime(text_month, "%Y-%m").date()
    except ValueError:
        raise invalid("month", f"月份格式应为YYYY-MM：{text_month}") from None


def _period(payroll: Payroll) -> str:
    return f"{payroll.month:%Y-%m}:{payroll.scope}"


def _check_scope(principal: Principal, scope: str) -> None:
    if len(scope) not in (2, 6) or not scope.isdigit():
        raise invalid("scope", "发放范围须为6位县级区划或2位省级区划")
    if not scope.startswith(principal.scope.prefix):
        raise NotFound(detail=f"区划{scope}不存在", code="scope_not_found", audit_refusal=True)


def _ensure_months(session: Session, scope: str, month: dt.date) -> None:
    """Make sure every month from the earliest start in scope up to ``month`` is listed."""
    earliest = session.scalar(
        select(func.min(Pension.start_month)).where(Pension.county_code.startswith(scope))
    )
    if earliest is None or earliest > month:
        return
    have = set(
        session.scalars(
            select(CalendarMonth.month).where(
                CalendarMonth.month >= earliest, CalendarMonth.month <= month
            )
        )
    )
    wanted, current = [], first_of_month(earliest)
    while current <= month:
        if current not in have:
            wanted.append({"month": current})
        current = add_months(current, 1)
    if wanted:
        session.execute(insert(CalendarMonth), wanted)


def _start(session: Session, principal: Principal, month: dt.date, scope: str) -> Payroll:
    """The payroll being built for (month, scope), or a new one; refuses a second payroll."""
    # The same scope, a county inside it, or the province around it: all would pay twice.
    existing = session.scalars(
        select(Payroll).where(
            Payroll.month == month,
            or_(Payroll.scope.startswith(scope), Payroll.scope == scope[:2]),
        )
    ).all()
    for payroll in existing:
        if payroll.scope == scope and payroll.status == Status.BUILDING:
            return payroll
        raise Conflict(
            detail=f"{month:%Y-%m}的发放名册已在范围{payroll.scope}生成，不能重复生成",
            code="payroll_exists",
            extra={"payroll_id": payroll.id},
        )
    payroll = Payroll(
        month=month, scope=scope, status=Status.BUILDING, built_by=principal.operator_id
    )
    session.add(payroll)
    session.flush()
    _ensure_months(session, scope, month)
    counties = list(
        session.scalars(
            select(Pension.county_code)
            .where(Pension.county_code.startswith(scope))
            .distinct()
            .order_by(Pension.county_code)
        )
    )
    run = jobs.start_or_resume(session=session, job=JOB, period=_period(payroll), scopes=counties)
    payroll.run_id = run.id
    record(
        session=session,
        actor=principal.actor,
        action="payroll.start",
        object_type="payroll",
        object_id=payroll.id,
        detail={"month": f"{month:%Y-%m}", "scope": scope, "counties": len(counties)},
    )
    return payroll


def build_county(*, session: Session, payroll_id: int, county_code: str) -> tuple[int, int]:
    """Build one county's part of a payroll; returns (lines, amount in fen)."""
    payroll = session.get_one(Payroll, payroll_id)
    county = session.get(PayrollCounty, county_code, with_for_update=True)
    params = {
        "payroll_id": payroll_id,
        "county": county_code,
        "month": payroll.month,
        "year_ago": add_months(payroll.month, -12),
        "county_through": county.paid_through if county else None,
        "before_all": dt.date(1, 1, 1),
    }
    rules = policy.rules_on(session=session, region_code=county_code, on=payroll.month).rules
    session.execute(text(_EXCLUDE), params)
    session.execute(text(_NEWEST), params)
    session.execute(text(_LINES), params)
    session.execute(text(_REISSUE), params)
    session.execute(text(_ADJUST), params)
    session.execute(text(_RECOVER), {**params, "percent": rules.overpayment_deduction_percent})
    if county is not None and county.paid_through >= payroll.month:
        session.execute(text(_CATCH_UP), params)
    else:
        if county is None:
            session.add(PayrollCounty(county_code=county_code, paid_through=payroll.month))
        else:
            session.execute(text(_PIN), params)
            county.paid_through = payroll.month
        session.flush()
        session.execute(text(_IN_STEP), params)
    count, total = session.execute(
        select(
            func.count(PayrollLine.id), func.coalesce(func.sum(PayrollLine.amount_fen), 0)
        ).where(PayrollLine.payroll_id == payroll_id, PayrollLine.county_code == county_code)
    ).one()
    return int(count), int(total)


def build(
    *, factory: sessionmaker[Session], principal: Principal, month: dt.date, scope: str
) -> int:
    """Build (or resume building) the payroll of a month and scope; returns its id."""
    principal.require(Permission.PAYROLL_BUILD)
    _check_scope(principal, scope)
    with unit_of_work(factory) as session:
        payroll = _start(session, principal, first_of_month(month), scope)
        payroll_id, run_id, period = payroll.id, payroll.run_id, _period(payroll)
    assert run_id is not None

    def work(session: Session, chunk: JobChunk) -> tuple[int, int]:
        return build_county(session=session, payroll_id=payroll_id, county_code=chunk.scope)

    summary = jobs.run_chunks(factory=factory, run_id=run_id, job=JOB, period=period, work=work)
    if summary.finished:
        with unit_of_work(factory) as session:
            _finish(session, principal, payroll_id)
    return payroll_id


def _finish(session: Session, principal: Principal, payroll_id: int) -> None:
    payroll = session.get_one(Payroll, payroll_id, with_for_update=True)
    if payroll.status != Status.BUILDING:
        return
    count, total, basic, account = session.execute(
        select(
            func.count(PayrollLine.id),
            func.coalesce(func.sum(PayrollLine.amount_fen), 0),
            func.coalesce(func.sum(PayrollLine.basic_fen), 0),
            func.coalesce(func.sum(PayrollLine.account_fen), 0),
        ).where(PayrollLine.payroll_id == payroll_id)
    ).one()
    payroll.line_count, payroll.total_fen = int(count), int(total)
    payroll.basic_fen, payroll.account_fen = int(basic), int(account)
    payroll.excluded_count = (
        session.scalar(
            select(func.count(PayrollExclusion.id)).where(PayrollExclusion.payroll_id == payroll_id)
        )
        or 0
    )
    payroll.status, payroll.built_at = Status.DRAFT, utcnow()
    if is_postgres(session):
        session.execute(text("ANALYZE payroll_lines"))
    record(
        session=session,
        actor=principal.actor,
        action="payroll.build",
        object_type="payroll",
        object_id=payroll.id,
        detail={"lines": payroll.line_count, "total_fen": payroll.total_fen},
    )
