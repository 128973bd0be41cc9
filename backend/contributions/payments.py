"""Applying received own money to assessments, set-based: one path for every channel.

Counter cash, bank withholding results, tax-bureau results, reversals and refunds all
arrive here as a SQL source of rows ``(assessment_id, amount_fen, ref_type, ref_id)``
(negative amounts for reversals and refunds). In a few statements that work on SQLite
and PostgreSQL alike, the money is credited to the individual accounts, the
assessments' running totals move, years whose own part is now paid in full get their
subsidies credited (settled), years that fell short again have them reversed, and the
whole step is posted to the fund's books as one journal entry.

The source is evaluated once into a temporary table, the assessments it touches into a
second one (with their settled flag before and after); from these, one ``UPDATE`` moves
``paid_fen`` and ``settled`` and one ``INSERT … SELECT`` writes every account entry.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Date, bindparam, text
from sqlalchemy.orm import Session

from backend.accounts.models import Source
from backend.accounts.posting import close_posting, open_posting
from backend.db import UtcDateTime, is_postgres, utcnow

_ENTRY_COLUMNS = """(account_id, county_code, year, month, entry_date, source, amount_fen,
     policy_version_id, ref_type, ref_id, journal_entry_id, created_at, reverses_id)"""

# The channel's source is a join (return rows to batch rows, tax rows to assessments, …);
# it is evaluated once into this table with everything the later statements need, instead
# of once per statement. LEFT JOIN accounts: money moves paid_fen even without an account.
_PAYMENT_ROWS = """
CREATE TEMPORARY TABLE tmp_payment_rows (
    assessment_id BIGINT, amount_fen BIGINT, ref_type VARCHAR(24), ref_id BIGINT,
    account_id BIGINT, county_code VARCHAR(6), policy_version_id BIGINT
)
"""
_FILL_PAYMENT_ROWS = """
INSERT INTO tmp_payment_rows
SELECT p.assessment_id, p.amount_fen, p.ref_type, p.ref_id, acc.id, acc.county_code,
       a.policy_version_id
FROM ({src}) p
JOIN contribution_assessments a ON a.id = p.assessment_id
LEFT JOIN accounts acc ON acc.person_id = a.person_id
"""

# One row per assessment touched: the money it receives, whether it was settled and whether
# it will be once the money is in. On PostgreSQL the assessments are locked while read, so
# the flags hold until commit and one UPDATE can then move paid_fen and settled together
# (a second UPDATE of a row this transaction wrote re-runs its foreign-key checks).
_PAYMENT_TOTALS = """
CREATE TEMPORARY TABLE tmp_payment_totals (
    assessment_id BIGINT PRIMARY KEY, total_fen BIGINT, was_settled BOOLEAN,
    now_settled BOOLEAN, account_id BIGINT, county_code VARCHAR(6), policy_version_id BIGINT,
    government_subsidy_fen BIGINT, hardship_paid_fen BIGINT, collective_fen BIGINT,
    donation_fen BIGINT
)
"""
_FILL_PAYMENT_TOTALS = """
INSERT INTO tmp_payment_totals
SELECT a.id, t.total, a.settled, a.paid_fen + t.total >= a.own_due_fen, acc.id,
       acc.county_code, a.policy_version_id, a.government_subsidy_fen, a.hardship_paid_fen,
       a.collective_fen, a.donation_fen
FROM (SELECT assessment_id, SUM(amount_fen) AS total FROM tmp_payment_rows
      GROUP BY assessment_id) t
JOIN contribution_assessments a ON a.id = t.assessment_id
LEFT JOIN accounts acc ON acc.person_id = a.person_id
{lock}
"""

_PAID_AND_SETTLED = """
UPDATE contribution_assessments
SET paid_fen = contribution_assessments.paid_fen + t.total_fen, settled = t.now_settled
FROM tmp_payment_totals t
WHERE contribution_assessments.id = t.assessment_id
"""

_SUBSIDY_SOURCES = " UNION ALL ".join(
    f"SELECT '{s.value}' AS source"
    for s in (Source.GOVERNMENT_SUBSIDY, Source.GOVERNMENT_PAID, Source.COLLECTIVE, Source.DONATION)
)

# Every account entry of the step in one statement, in the order own money, reversals of
# the settlements of years that fell short again, settlements of years now fully paid.
_ENTRIES = f"""
INSERT INTO account_entries {_ENTRY_COLUMNS}
SELECT p.account_id, p.county_code, :year, :month, :on, :source, p.amount_fen,
       p.policy_version_id, p.ref_type, p.ref_id, :je, :now, CAST(NULL AS BIGINT)
FROM tmp_payment_rows p
WHERE p.amount_fen <> 0 AND p.account_id IS NOT NULL
UNION ALL
SELECT e.account_id, e.county_code, :year, :month, :on, e.source, -e.amount_fen,
       e.policy_version_id, 'settlement_reversal', e.ref_id, :je, :now, e.id
FROM tmp_payment_totals t
JOIN account_entries e ON e.ref_type = 'settlement' AND e.ref_id = t.assessment_id
WHERE t.was_settled AND NOT t.now_settled
  AND e.reverses_id IS NULL
  AND NOT EXISTS (SELECT 1 FROM account_entries r WHERE r.reverses_id = e.id)
UNION ALL
SELECT x.account_id, x.county_code, :year, :month, :on, x.source, x.amount_fen,
       x.policy_version_id, 'settlement', x.assessment_id, :je, :now, CAST(NULL AS BIGINT)
FROM (
    SELECT t.account_id AS account_id, t.county_code AS county_code, s.source AS source,
           t.policy_version_id AS policy_version_id, t.assessment_id AS assessment_id,
           CASE s.source
               WHEN 'government_subsidy' THEN t.government_subsidy_fen
               WHEN 'government_paid' THEN t.hardship_paid_fen
               WHEN 'collective' THEN t.collective_fen
               ELSE t.donation_fen
           END AS amount_fen
    FROM tmp_payment_totals t
    CROSS JOIN ({_SUBSIDY_SOURCES}) s
    WHERE t.now_settled AND NOT t.was_settled AND t.account_id IS NOT NULL
) x
WHERE x.amount_fen > 0
"""

_OWN_TOTALS = """
SELECT COUNT(*), COALESCE(SUM(amount_fen), 0) FROM tmp_payment_rows
WHERE amount_fen <> 0 AND account_id IS NOT NULL
"""

# Statistics for the planner once a temporary table is big enough for plans to matter.
_ANALYZE_FROM_ROWS = 1000


# Dates and timestamps go through their column types (SQLite stores them as text).
_TYPED: dict[str, Any] = {"on": Date(), "now": UtcDateTime()}


@dataclass(frozen=True)
class Applied:
    """What one application of payments did."""

    rows: int
    own_fen: int  # own money applied (negative for reversals and refunds)
    booked_fen: int  # net credited to individual accounts, subsidies included
    journal_entry_id: int | None


def drop_temporary_table(*, session: Session, table: str) -> None:
    """Drop this connection's temporary table ``table`` if there is one (never a real one)."""
    schema = "pg_temp" if is_postgres(session) else "temp"
    session.execute(text(f"DROP TABLE IF EXISTS {schema}.{table}"))


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

    postgres = is_postgres(session)

    def run(template: str, lock: str = "") -> int:
        statement = template.format(src=source_sql, lock=lock)
        typed = [
            bindparam(name, type_=kind) for name, kind in _TYPED.items() if f":{name}" in statement
        ]
        used = {k: v for k, v in values.items() if f":{k}" in statement}
        result: Any = session.execute(text(statement).bindparams(*typed), used)
        return int(result.rowcount or 0)

    def materialise(table: str, create: str, fill: str, lock: str = "") -> None:
        drop_temporary_table(session=session, table=table)
        session.execute(text(create))
        if run(fill, lock) >= _ANALYZE_FROM_ROWS and postgres:
            session.execute(text(f"ANALYZE {table}"))

    materialise("tmp_payment_rows", _PAYMENT_ROWS, _FILL_PAYMENT_ROWS)
    materialise(
        "tmp_payment_totals",
        _PAYMENT_TOTALS,
        _FILL_PAYMENT_TOTALS,
        lock="FOR UPDATE OF a" if postgres else "",
    )
    rows, own = session.execute(text(_OWN_TOTALS)).one()
    run(_PAID_AND_SETTLED)
    run(_ENTRIES)
    drop_temporary_table(session=session, table="tmp_payment_totals")
    drop_temporary_table(session=session, table="tmp_payment_rows")
    session.expire_all()
    journal_id = posting.id
    booked = close_posting(session=session, entry=posting)
    return Applied(
        rows=int(rows),
        own_fen=int(own),
        booked_fen=booked,
        journal_entry_id=journal_id if booked or rows else None,
    )
