"""Posting individual-account entries to the fund's books.

Each business step opens a journal entry, appends its account entries tagged with it,
and closes it: the lines are derived from the entries' sums by source (each source
has one contra account; the other side is always the control account 2101). So the
control account equals the individual accounts by construction, and the books
balance whatever the batch size.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from backend.accounts.models import AccountEntry, Source
from backend.ledger import chart
from backend.ledger.models import JournalEntry, JournalLine

CONTRA_ACCOUNT: dict[Source, str] = {
    Source.OWN: chart.INCOME_BANK,
    Source.REFUND: chart.INCOME_BANK,
    Source.TRANSFER_IN: chart.INCOME_BANK,
    Source.TRANSFER_OUT: chart.EXPENDITURE_BANK,
    Source.INHERITANCE: chart.EXPENDITURE_BANK,
    Source.GOVERNMENT_SUBSIDY: chart.SUBSIDY_RECEIVABLE,
    Source.GOVERNMENT_PAID: chart.SUBSIDY_RECEIVABLE,
    Source.COLLECTIVE: chart.COLLECTIVE_RECEIVABLE,
    Source.DONATION: chart.COLLECTIVE_RECEIVABLE,
    Source.INTEREST: chart.INTEREST_EXPENSE,
}


def lines_for(amounts_by_source: dict[str, int]) -> list[chart.Line]:
    """Balanced lines for net account movements by source (one line per ledger account)."""
    net: dict[str, int] = {}  # ledger account → debit minus credit
    for source, amount in amounts_by_source.items():
        contra = CONTRA_ACCOUNT[Source(source)]
        net[contra] = net.get(contra, 0) + amount
        net[chart.INDIVIDUAL_ACCOUNTS] = net.get(chart.INDIVIDUAL_ACCOUNTS, 0) - amount
    return [
        chart.debit(code, amount) if amount > 0 else chart.credit(code, -amount)
        for code, amount in sorted(net.items())
        if amount
    ]


def open_posting(
    *,
    session: Session,
    county_code: str,
    event: str,
    posted_on: dt.date,
    ref_type: str | None = None,
    ref_id: int | None = None,
    operator_id: int | None = None,
    memo: str | None = None,
) -> JournalEntry:
    """The journal entry that the account entries about to be written will belong to."""
    entry = JournalEntry(
        county_code=county_code,
        posted_on=posted_on,
        event=event,
        ref_type=ref_type,
        ref_id=ref_id,
        operator_id=operator_id,
        memo=memo,
    )
    session.add(entry)
    session.flush()
    return entry


def close_posting(*, session: Session, entry: JournalEntry) -> int:
    """Write the entry's lines from its account entries; drop it if they net to nothing.

    Returns the net amount credited to individual accounts.
    """
    sums = {
        source: int(total)
        for source, total in session.execute(
            select(AccountEntry.source, func.sum(AccountEntry.amount_fen))
            .where(AccountEntry.journal_entry_id == entry.id)
            .group_by(AccountEntry.source)
        )
    }
    lines = lines_for(sums)
    if not lines:
        # Nothing moved in the books (no entries, or entries netting to zero by source).
        session.execute(
            update(AccountEntry)
            .where(AccountEntry.journal_entry_id == entry.id)
            .values(journal_entry_id=None)
        )
        session.delete(entry)
        session.flush()
        return 0
    errors = chart.balance_errors(lines)
    if errors:  # cannot happen: lines_for balances by construction
        raise AssertionError("；".join(errors))
    session.add_all(
        JournalLine(
            entry_id=entry.id,
            county_code=entry.county_code,
            account_code=line.account_code,
            debit_fen=line.debit_fen,
            credit_fen=line.credit_fen,
        )
        for line in lines
    )
    session.flush()
    return sum(sums.values())
