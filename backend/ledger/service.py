"""Posting balanced journal entries, reversing them, and checking the books' invariants."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from backend.errors import Conflict, InvalidInput, NotFound
from backend.ledger.chart import CHART, INDIVIDUAL_ACCOUNTS, NEVER_NEGATIVE, Line, balance_errors
from backend.ledger.models import JournalEntry, JournalLine


def post(
    *,
    session: Session,
    county_code: str,
    event: str,
    lines: Sequence[Line],
    posted_on: dt.date,
    ref_type: str | None = None,
    ref_id: int | None = None,
    operator_id: int | None = None,
    memo: str | None = None,
    reverses_id: int | None = None,
) -> JournalEntry:
    """Append one balanced entry; an unbalanced one is refused before anything is written."""
    lines = [line for line in lines if line.debit_fen or line.credit_fen]
    errors = balance_errors(lines)
    if errors:
        raise InvalidInput(detail="；".join(errors), code="unbalanced_entry")
    entry = JournalEntry(
        county_code=county_code,
        posted_on=posted_on,
        event=event,
        ref_type=ref_type,
        ref_id=ref_id,
        operator_id=operator_id,
        memo=memo,
        reverses_id=reverses_id,
    )
    session.add(entry)
    session.flush()
    session.add_all(
        JournalLine(
            entry_id=entry.id,
            county_code=county_code,
            account_code=line.account_code,
            debit_fen=line.debit_fen,
            credit_fen=line.credit_fen,
        )
        for line in lines
    )
    session.flush()
    return entry


def entries_for(*, session: Session, ref_type: str, ref_id: int) -> list[JournalEntry]:
    """The entries a business object posted, oldest first."""
    return list(
        session.scalars(
            select(JournalEntry)
            .where(JournalEntry.ref_type == ref_type, JournalEntry.ref_id == ref_id)
            .order_by(JournalEntry.id)
        )
    )


def reverse(
    *,
    session: Session,
    entry_id: int,
    posted_on: dt.date,
    event: str,
    ref_type: str | None = None,
    ref_id: int | None = None,
    operator_id: int | None = None,
) -> JournalEntry:
    """Append the mirror image of an entry; an entry is reversed at most once."""
    original = session.get(JournalEntry, entry_id)
    if original is None:
        raise NotFound(detail=f"记账凭证{entry_id}不存在", code="journal_entry_not_found")
    if original.reverses_id is not None:
        raise Conflict(detail="冲正凭证不能再冲正", code="reversal_of_reversal")
    if session.scalar(select(JournalEntry.id).where(JournalEntry.reverses_id == entry_id)):
        raise Conflict(detail=f"记账凭证{entry_id}已被冲正", code="already_reversed")
    lines = session.scalars(select(JournalLine).where(JournalLine.entry_id == entry_id)).all()
    return post(
        session=session,
        county_code=original.county_code,
        event=event,
        lines=[Line(ln.account_code, ln.debit_fen, ln.credit_fen).reversed() for ln in lines],
        posted_on=posted_on,
        ref_type=ref_type,
        ref_id=ref_id,
        operator_id=operator_id,
        memo=f"冲正凭证{entry_id}",
        reverses_id=entry_id,
    )


def balances(
    *, session: Session, county_code: str | None = None, county_prefix: str = ""
) -> dict[tuple[str, str], int]:
    """(county, account) → balance on the account's normal side, in fen; one county, or
    the counties whose code starts with ``county_prefix``."""
    query = select(
        JournalLine.county_code,
        JournalLine.account_code,
        func.sum(JournalLine.debit_fen),
        func.sum(JournalLine.credit_fen),
    ).group_by(JournalLine.county_code, JournalLine.account_code)
    if county_code:
        query = query.where(JournalLine.county_code == county_code)
    if county_prefix:
        query = query.where(JournalLine.county_code.startswith(county_prefix))
    result = {}
    for county, code, debits, credits in session.execute(query):
        sign = 1 if CHART[code].debit_normal else -1
        result[(county, code)] = sign * (int(debits or 0) - int(credits or 0))
    return result


@dataclass
class CheckReport:
    """The outcome of ``check``: totals and every broken invariant (in words)."""

    entries: int = 0
    debit_fen: int = 0
    credit_fen: int = 0
    individual_total_fen: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every invariant holds."""
        return not self.problems


def check(*, session: Session, county_prefix: str = "") -> CheckReport:
    """Check every invariant of the books against the individual accounts (set-based).

    With ``county_prefix`` only the counties whose code starts with it are checked and
    reported (an operator's scope: a county's staff never learn of another county's books).
    """
    from backend.accounts.models import AccountEntry

    in_lines = JournalLine.county_code.startswith(county_prefix)
    in_entries = JournalEntry.county_code.startswith(county_prefix)
    report = CheckReport()
    report.entries = session.scalar(select(func.count(JournalEntry.id)).where(in_entries)) or 0
    debits, credits = session.execute(
        select(
            func.coalesce(func.sum(JournalLine.debit_fen), 0),
            func.coalesce(func.sum(JournalLine.credit_fen), 0),
        ).where(in_lines)
    ).one()
    report.debit_fen, report.credit_fen = int(debits), int(credits)
    if report.debit_fen != report.credit_fen:
        report.problems.append(f"总账借贷不平：借方{debits}分，贷方{credits}分")

    unbalanced = session.execute(
        select(JournalLine.entry_id)
        .where(in_lines)
        .group_by(JournalLine.entry_id)
        .having(func.sum(JournalLine.debit_fen) != func.sum(JournalLine.credit_fen))
        .limit(20)
    ).scalars()
    report.problems += [f"凭证{entry_id}借贷不平" for entry_id in unbalanced]
    empty = session.scalars(
        select(JournalEntry.id)
        .where(in_entries)
        .where(~select(JournalLine.id).where(JournalLine.entry_id == JournalEntry.id).exists())
        .limit(20)
    )
    report.problems += [f"凭证{entry_id}没有明细行" for entry_id in empty]

    original = aliased(JournalEntry)
    mismatched = session.execute(
        select(JournalEntry.id, original.id)
        .join(original, JournalEntry.reverses_id == original.id)
        .where(in_entries)
        .where(
            select(func.sum(JournalLine.debit_fen))
            .where(JournalLine.entry_id == JournalEntry.id)
            .scalar_subquery()
            != select(func.sum(JournalLine.credit_fen))
            .where(JournalLine.entry_id == original.id)
            .scalar_subquery()
        )
        .limit(20)
    )
    report.problems += [f"冲正凭证{r}与原凭证{o}金额不符" for r, o in mismatched]

    ledger = balances(session=session, county_prefix=county_prefix)
    for (county, code), amount in sorted(ledger.items()):
        if code in NEVER_NEGATIVE and amount < 0:
            report.problems.append(f"县{county}科目{code}{CHART[code].name}余额为负：{amount}分")
    individual = {
        county: int(total)
        for county, total in session.execute(
            select(AccountEntry.county_code, func.sum(AccountEntry.amount_fen))
            .where(AccountEntry.county_code.startswith(county_prefix))
            .group_by(AccountEntry.county_code)
        )
    }
    report.individual_total_fen = sum(individual.values())
    counties = {c for c, code in ledger if code == INDIVIDUAL_ACCOUNTS} | set(individual)
    for county in sorted(counties):
        control = ledger.get((county, INDIVIDUAL_ACCOUNTS), 0)
        detail = individual.get(county, 0)
        if control != detail:
            report.problems.append(
                f"县{county}个人账户控制科目{control}分与个人账户明细合计{detail}分不符"
            )
    negative = session.execute(
        select(AccountEntry.account_id, func.sum(AccountEntry.amount_fen))
        .where(AccountEntry.county_code.startswith(county_prefix))
        .group_by(AccountEntry.account_id)
        .having(func.sum(AccountEntry.amount_fen) < 0)
        .limit(20)
    )
    report.problems += [f"个人账户{a}余额为负：{total}分" for a, total in negative]
    return report
