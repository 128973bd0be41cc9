"""Applying received own money to assessments, set-based: one path for every channel.

Counter cash, bank withholding results, tax-bureau results, reversals and refunds all
arrive here as a SQL source of rows ``(assessment_id, amount_fen, ref_type, ref_id)``
(negative amounts for reversals and refunds). In a few statements that work on SQLite
and PostgreSQL alike, the money is credited to the individual accounts, the
assessments' running totals move, years whose own part is now paid in full get their
subsidies credited (settled), years that fell short again have them reversed, and the
whole step is posted to the fund's books as one journal entry.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Date, bindparam, text
from sqlalchemy.orm import Session

from backend.accounts.models import Source
from backend.accounts.posting import close_posting, open_posting
from backend.db import UtcDateTime, utcnow

_ENTRY_COLUMNS = """(account_id, county_code, year, month, entry_date, source, amount_fen,
     policy_version_id, ref_type, ref_id, journal_entry_id, created_at"""

_OWN = f"""
INSERT INTO account_entries {_ENTRY_COLUMNS})
SELECT acc.id, acc.county_code, :year, :month, :on, :source, p.amount_fen,
       a.policy_version_id, p.ref_type, p.ref_id, :je, :now
FROM ({{src}}) p
JOIN contribution_assessments a ON a.id = p.assessment_id
JOIN accounts acc ON acc.person_id = a.person_id
WHERE p.amount_fen <> 0
"""

_PAID = """
UPDATE contribution_assessments
SET paid_fen = contribution_assessments.paid_fen + t.total
FROM (SELECT p.assessment_id AS assessment_id, SUM(p.amount_fen) AS total
      FROM ({src}) p GROUP BY p.assessment_id) t
WHERE contribution_assessments.id = t.assessment_id
"""

_SUBSIDY_SOURCES = " UNION ALL ".join(
    f"SELECT '{s.value}' AS source"
    for s in (Source.GOVERNMENT_SUBSIDY, Source.GOVERNMENT_PAID, Source.COLLECTIVE, Source.DONATION)
)

_SETTLE = f"""
INSERT INTO account_entries {_ENTRY_COLUMNS})
SELECT x.account_id, x.county_code, :year, :month, :on, x.source, x.amount_fen,
       x.policy_version_id, 'settlement', x.assessment_id, :je, :now
FROM (
    SELECT acc.id AS account_id, acc.county_code AS county_code, s.source AS source,
           a.policy_version_id AS policy_version_id, a.id AS assessment_id,
           CASE s.source
               WHEN 'government_subsidy' THEN a.government_subsidy_fen
               WHEN 'government_paid' THEN a.hardship_paid_fen
               WHEN 'collective' THEN a.collective_fen
               ELSE a.donation_fen
           END AS amount_fen
    FROM contribution_assessments a
    JOIN accounts acc ON acc.person_id = a.person_id
    CROSS JOIN ({_SUBSIDY_SOURCES}) s
    WHERE a.id IN (SELECT p.assessment_id FROM ({{src}}) p)
      AND a.settled = FALSE AND a.paid_fen >= a.own_due_fen
) x
WHERE x.amount_fen > 0
"""

_MARK_SETTLED = """
UPDATE contribution_assessments SET settled = TRUE
WHERE id IN (SELECT p.assessment_id FROM ({src}) p)
  AND settled = FALSE AND paid_fen >= own_due_fen
"""

_UNSETTLE = f"""
INSERT INTO account_entries {_ENTRY_COLUMNS}, reverses_id)
SELECT e.account_id, e.county_code, :year, :month, :on, e.source, -e.amount_fen,
       e.policy_version_id, 'settlement_reversal', e.ref_id, :je, :now, e.id
FROM account_entries e
JOIN contribution_assessments a ON e.ref_type = 'settlement' AND e.ref_id = a.id
WHERE a.id IN (SELECT p.assessment_id FROM ({{src}}) p)
  AND a.settled = TRUE AND a.paid_fen < a.own_due_fen
  AND e.reverses_id IS NULL
  AND NOT EXISTS (SELECT 1 FROM account_entries r WHERE r.reverses_id = e.id)
"""

_MARK_UNSETTLED = """
UPDATE contribution_assessments SET settled = FALSE
WHERE id IN (SELECT p.assessment_id FROM ({src}) p)
  AND settled = TRUE AND paid_fen < own_due_fen
"""


# Dates and timestamps go through their column types (SQLite stores them as text).
_TYPED: dict[str, Any] = {"on": Date(), "now": UtcDateTime()}


@dataclass(frozen=True)
class Applied:
    """What one application of payments did."""

    rows: int
    own_fen: int  # own money applied (negative for reversals and refunds)
    booked_fen: int  # net credited to individual accounts, subsidies included
    journal_entry_id: int | None


def apply_payments(
    *,
    session: Session,
    source_sql: str,
    params: dict[str, Any],
    on: dt.date,
    county_code: str,
    event: str,
    source: Source = Source.OWN,
    ref_type: str | None = None,
    ref_id: int | None = None,
    operator_id: int | None = None,
    memo: str | None = None,
) -> Applied:
    """Credit the rows of ``source_sql`` and everything that follows from them; one posting."""
    posting = open_posting(
        session=session,
        county_code=county_code,
        event=event,
        posted_on=on,
        ref_type=ref_type,
        ref_id=ref_id,
        operator_id=operator_id,
        memo=memo,
    )
    values = {
        **params,
        "year": on.year,
        "month": on.month,
        "on": on,
        "je": posting.id,
        "now": utcnow(),
        "source": source.value,
    }

    def run(template: str) -> int:
        statement = template.format(src=source_sql)
        typed = [
            bindparam(name, type_=kind) for name, kind in _TYPED.items() if f":{name}" in statement
        ]
        used = {k: v for k, v in values.items() if f":{k}" in statement}
        result: Any = session.execute(text(statement).bindparams(*typed), used)
        return int(result.rowcount or 0)

    rows = run(_OWN)
    own = session.execute(
        text(
            "SELECT COALESCE(SUM(amount_fen), 0) FROM account_entries "
            "WHERE journal_entry_id = :je AND source = :source"
        ),
        {"je": posting.id, "source": source.value},
    ).scalar_one()
    run(_PAID)
    run(_UNSETTLE)
    run(_MARK_UNSETTLED)
    run(_SETTLE)
    run(_MARK_SETTLED)
    session.expire_all()
    journal_id = posting.id
    booked = close_posting(session=session, entry=posting)
    return Applied(
        rows=rows,
        own_fen=int(own),
        booked_fen=booked,
        journal_entry_id=journal_id if booked or rows else None,
    )
