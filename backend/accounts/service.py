"""Opening accounts, appending entries, reversing them, balances and the yearly statement."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.accounts.models import Account, AccountEntry, Source
from backend.errors import NotFound
from backend.orgs.service import Principal
from backend.registry.models import Person
from backend.registry.service import get_person


def open_account(*, session: Session, person_id: int, county_code: str, on: dt.date) -> Account:
    """The person's account, opened on first use."""
    account = session.scalar(select(Account).where(Account.person_id == person_id))
    if account is None:
        account = Account(person_id=person_id, county_code=county_code, opened_on=on)
        session.add(account)
        session.flush()
    return account


def append(
    *,
    session: Session,
    account: Account,
    on: dt.date,
    amounts: Iterable[tuple[Source, int]],
    policy_version_id: int | None,
    ref_type: str,
    ref_id: int,
    journal_entry_id: int | None = None,
) -> list[AccountEntry]:
    """Append one entry per non-zero (source, amount), all dated ``on``."""
    entries = [
        AccountEntry(
            account_id=account.id,
            county_code=account.county_code,
            year=on.year,
            month=on.month,
            entry_date=on,
            source=source.value,
            amount_fen=amount,
            policy_version_id=policy_version_id,
            ref_type=ref_type,
            ref_id=ref_id,
            journal_entry_id=journal_entry_id,
        )
        for source, amount in amounts
        if amount
    ]
    session.add_all(entries)
    session.flush()
    return entries


def reverse_entries(
    *,
    session: Session,
    ref_type: str,
    ref_id: int,
    on: dt.date,
    new_ref_type: str,
    new_ref_id: int,
) -> list[AccountEntry]:
    """Append the negation of every entry a business object made (once each)."""
    originals: Sequence[AccountEntry] = session.scalars(
        select(AccountEntry)
        .where(
            AccountEntry.ref_type == ref_type,
            AccountEntry.ref_id == ref_id,
            AccountEntry.reverses_id.is_(None),
        )
        .order_by(AccountEntry.id)
    ).all()
    reversals = [
        AccountEntry(
            account_id=e.account_id,
            county_code=e.county_code,
            year=on.year,
            month=on.month,
            entry_date=on,
            source=e.source,
            amount_fen=-e.amount_fen,
            policy_version_id=e.policy_version_id,
            ref_type=new_ref_type,
            ref_id=new_ref_id,
            reverses_id=e.id,
        )
        for e in originals
    ]
    session.add_all(reversals)
    session.flush()
    return reversals


def balances_by_source(
    *, session: Session, account_id: int, before: dt.date | None = None
) -> dict[str, int]:
    """Balance per source of all entries (dated before ``before`` when given)."""
    query = (
        select(AccountEntry.source, func.sum(AccountEntry.amount_fen))
        .where(AccountEntry.account_id == account_id)
        .group_by(AccountEntry.source)
    )
    if before is not None:
        query = query.where(AccountEntry.entry_date < before)
    return {source: int(total) for source, total in session.execute(query) if total}


@dataclass(frozen=True)
class StatementLine:
    """One entry of the statement year."""

    entry_date: dt.date
    source: str
    amount_fen: int
    policy_version_id: int | None
    reverses_id: int | None
    #: The business the entry came from (``payroll``, ``transfer``, ``job_chunk`` …).
    ref_type: str | None


@dataclass(frozen=True)
class Statement:
    """对账单: the account's year from opening to closing balance."""

    person_id: int
    id_number: str
    name: str
    year: int
    opening_fen: int
    opening_by_source: dict[str, int]
    lines: list[StatementLine]
    credits_by_source: dict[str, int]
    interest_fen: int
    closing_fen: int
    closing_by_source: dict[str, int]


def statement(*, session: Session, principal: Principal, person_id: int, year: int) -> Statement:
    """The statement data of a person and year (scope-checked)."""
    person = get_person(session=session, principal=principal, person_id=person_id)
    return build_statement(session=session, person=person, year=year)


def build_statement(*, session: Session, person: Person, year: int) -> Statement:
    """The statement of an already scope-checked (or console) person and year."""
    account = session.scalar(select(Account).where(Account.person_id == person.id))
    if account is None:
        raise NotFound(detail=f"人员{person.id}尚无个人账户", code="account_not_found")
    start, end = dt.date(year, 1, 1), dt.date(year + 1, 1, 1)
    opening = balances_by_source(session=session, account_id=account.id, before=start)
    closing = balances_by_source(session=session, account_id=account.id, before=end)
    entries = session.scalars(
        select(AccountEntry)
        .where(
            AccountEntry.account_id == account.id,
            AccountEntry.entry_date >= start,
            AccountEntry.entry_date < end,
        )
        .order_by(AccountEntry.entry_date, AccountEntry.id)
    ).all()
    credits: dict[str, int] = {}
    for e in entries:
        credits[e.source] = credits.get(e.source, 0) + e.amount_fen
    return Statement(
        person_id=person.id,
        id_number=person.id_number,
        name=person.name,
        year=year,
        opening_fen=sum(opening.values()),
        opening_by_source=opening,
        lines=[
            StatementLine(
                e.entry_date,
                e.source,
                e.amount_fen,
                e.policy_version_id,
                e.reverses_id,
                e.ref_type,
            )
            for e in entries
        ],
        credits_by_source=credits,
        interest_fen=credits.get(Source.INTEREST.value, 0),
        closing_fen=sum(closing.values()),
        closing_by_source=closing,
    )
