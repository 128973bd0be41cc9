"""The yearly interest run (结息): exactly once per account and year, set-based, by county.

Per county chunk one ``INSERT … SELECT`` computes every account's interest from its
entries with integer arithmetic that matches ``policy.rules.yearly_interest`` exactly:
weight = 12 × opening + Σ amount × months left (or 12 × opening under the
opening-only convention), interest = ⌊(2 × weight × n + 12d) ÷ 24d⌋ for the rate n/d,
i.e. weight × rate ÷ 12 rounded half up once. Accounts already credited for the year
are skipped by ``NOT EXISTS``, and the unique index on (account, year) for interest
makes a double credit impossible even if two runs raced. Every run re-examines all
accounts, so accounts opened after an earlier run still get their interest. The new
entries are written in account order, so the indexes on account are filled in sequence.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from sqlalchemy import Date, bindparam, func, or_, select, text
from sqlalchemy.orm import Session, sessionmaker

from backend.accounts.models import (
    INTEREST_CREDIT_REF_TYPE,
    INTEREST_CREDIT_WHERE,
    Account,
    AccountEntry,
    Source,
)
from backend.accounts.posting import close_posting, open_posting
from backend.audit.service import Actor, record
from backend.db import UtcDateTime, is_postgres, unit_of_work, utcnow
from backend.ledger.jobs import RunSummary, run_chunks, start_or_resume
from backend.ledger.models import JobChunk
from backend.policy import service as policy
from backend.policy.rules import InterestConvention, rate_fraction

JOB = "interest"
REF_TYPE = INTEREST_CREDIT_REF_TYPE
_WORK_MEM = "256MB"

_INSERT_INTEREST = """
INSERT INTO account_entries
    (account_id, county_code, year, month, entry_date, source, amount_fen,
     policy_version_id, ref_type, ref_id, journal_entry_id, created_at)
SELECT w.account_id, :county, :year, 12, :year_end, 'interest', w.interest,
       :version_id, :ref_type, :chunk_id, :journal_entry_id, :now
FROM (
    SELECT e.account_id AS account_id,
           (2 * CAST(SUM(CASE WHEN e.year < :year THEN 12 * e.amount_fen
                              ELSE {current} END) AS BIGINT) * :numerator + :twelve_den)
           / (2 * :twelve_den) AS interest
    FROM account_entries e
    WHERE e.county_code = :county AND e.year <= :year
    GROUP BY e.account_id
) w
WHERE w.interest > 0
  AND NOT EXISTS (
    SELECT 1 FROM account_entries i
    WHERE i.account_id = w.account_id AND i.year = :year
      AND {credit}
  )
ORDER BY w.account_id
"""
_CURRENT_YEAR_TERM = {
    InterestConvention.MONTHS_REMAINING: "e.amount_fen * (12 - e.month)",
    InterestConvention.OPENING_ONLY: "0",
}


def county_region(county_code: str) -> str:
    """The 12-digit region code of a county."""
    return county_code.ljust(12, "0")


def credit_county(*, session: Session, chunk: JobChunk, year: int, actor: Actor) -> tuple[int, int]:
    """Credit a county's interest for ``year`` and post it to the books: (accounts, fen)."""
    county = chunk.scope
    year_end = dt.date(year, 12, 31)
    resolved = policy.rules_on(session=session, region_code=county_region(county), on=year_end)
    numerator, denominator = rate_fraction(resolved.rules.rate_for(year))
    sql = text(
        _INSERT_INTEREST.format(
            current=_CURRENT_YEAR_TERM[resolved.rules.interest_convention],
            credit=INTEREST_CREDIT_WHERE,
        )
    ).bindparams(bindparam("year_end", type_=Date), bindparam("now", type_=UtcDateTime))
    posting = open_posting(
        session=session,
        county_code=county,
        event="interest",
        posted_on=year_end,
        ref_type=REF_TYPE,
        ref_id=chunk.id,
        memo=f"{year}年度个人账户结息",
    )
    if is_postgres(session):
        # The per-account sums of a county (a million accounts) fit in memory instead of
        # spilling the aggregate to disk in batches; for this transaction only.
        session.execute(text(f"SET LOCAL work_mem = '{_WORK_MEM}'"))
        # Its time is in the inserts and their index and foreign-key checks, which
        # compiling the statement (JIT) does not speed up.
        session.execute(text("SET LOCAL jit = off"))
    session.execute(
        sql,
        {
            "county": county,
            "year": year,
            "year_end": year_end,
            "version_id": resolved.version_id,
            "ref_type": REF_TYPE,
            "chunk_id": chunk.id,
            "journal_entry_id": posting.id,
            "now": utcnow(),
            "numerator": numerator,
            "twelve_den": 12 * denominator,
        },
    )
    count = (
        session.scalar(
            select(func.count(AccountEntry.id)).where(AccountEntry.journal_entry_id == posting.id)
        )
        or 0
    )
    total = close_posting(session=session, entry=posting)
    record(
        session=session,
        actor=actor,
        action="interest.credit",
        object_type="county",
        object_id=county,
        detail={
            "year": year,
            "accounts": int(count),
            "amount_fen": total,
            "policy_version_id": resolved.version_id,
            "chunk_id": chunk.id,
        },
    )
    return int(count), total


def counties_with_accounts(*, session: Session) -> list[str]:
    """Every county that holds accounts."""
    return list(
        session.scalars(select(Account.county_code).distinct().order_by(Account.county_code))
    )


def run_interest(
    *,
    factory: sessionmaker[Session],
    year: int,
    counties: Sequence[str] | None = None,
    actor: Actor | None = None,
    progress: Callable[[str, int, int, RunSummary], None] | None = None,
) -> RunSummary:
    """Start (or resume, or join) the interest run of ``year`` and work it to the end."""
    actor = actor or Actor.system("interest")
    with unit_of_work(factory) as session:
        scopes = list(counties) if counties is not None else counties_with_accounts(session=session)
        # Refuse before any chunk if a county has no rule or rate for the year.
        for county in scopes:
            resolved = policy.rules_on(
                session=session, region_code=county_region(county), on=dt.date(year, 12, 31)
            )
            resolved.rules.rate_for(year)
        run = start_or_resume(session=session, job=JOB, period=str(year), scopes=scopes)
        run_id = run.id
    return run_chunks(
        factory=factory,
        run_id=run_id,
        job=JOB,
        period=str(year),
        work=lambda session, chunk: credit_county(
            session=session, chunk=chunk, year=year, actor=actor
        ),
        progress=progress,
    )


def interest_credited(*, session: Session, year: int, county_code: str | None = None) -> int:
    """Total interest credited for ``year`` by the interest run, net of reversals (draws of
    a pension, transfers and settlements that move interest-source money are not credits)."""
    credits = select(AccountEntry.id).where(
        AccountEntry.source == Source.INTEREST.value,
        AccountEntry.year == year,
        AccountEntry.ref_type == REF_TYPE,
        AccountEntry.reverses_id.is_(None),
    )
    if county_code:
        credits = credits.where(AccountEntry.county_code == county_code)
    query = select(func.coalesce(func.sum(AccountEntry.amount_fen), 0)).where(
        or_(AccountEntry.id.in_(credits), AccountEntry.reverses_id.in_(credits))
    )
    return int(session.scalar(query) or 0)
