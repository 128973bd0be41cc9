"""Moving a contributor's enrolment and whole balance to another county or province.

People already receiving a pension do not transfer. Within the province the household
register has already moved (a registry change); the receiving county's staff end the old
enrolment, open one in the new village and move the balance in two journal entries that
meet in the clearing account 2201. Contribution years need no moving: they are the
person's settled assessment years wherever they were paid. Out of the province the
enrolment ends and the balance leaves for the other province's agency through 2201.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.accounts import service as accounts
from backend.accounts.models import Account, Source
from backend.accounts.posting import open_posting
from backend.audit.service import record
from backend.benefits.models import Pension
from backend.benefits.service import account_balance, contribution_years
from backend.errors import Conflict, invalid
from backend.ledger import chart
from backend.ledger.models import JournalLine
from backend.orgs.permissions import Permission
from backend.orgs.service import Principal
from backend.registry.codes import EnrolmentStatus
from backend.registry.models import Enrolment, EnrolmentEvent, Person
from backend.registry.service import get_person
from backend.transfers.models import Transfer


def _post(
    session: Session, county: str, on: dt.date, transfer_id: int, lines: list[chart.Line]
) -> int:
    entry = open_posting(
        session=session,
        county_code=county,
        event="account.transfer",
        posted_on=on,
        ref_type="transfer",
        ref_id=transfer_id,
        memo="个人账户转移",
    )
    session.add_all(
        JournalLine(
            entry_id=entry.id,
            county_code=county,
            account_code=line.account_code,
            debit_fen=line.debit_fen,
            credit_fen=line.credit_fen,
        )
        for line in lines
    )
    return entry.id


def current_enrolment(session: Session, person: Person) -> Enrolment:
    """The contributor's enrolment that a transfer ends; refused for people receiving."""
    if session.scalar(select(Pension.id).where(Pension.person_id == person.id)) is not None:
        raise Conflict(detail="已领取待遇人员不办理转移", code="already_receiving")
    enrolment = session.scalar(
        select(Enrolment).where(
            Enrolment.person_id == person.id,
            Enrolment.status != EnrolmentStatus.TERMINATED.value,
        )
    )
    if enrolment is None:
        raise Conflict(detail="该人员没有有效的参保登记", code="not_enrolled")
    if enrolment.status == EnrolmentStatus.RECEIVING.value:
        raise Conflict(detail="已领取待遇人员不办理转移", code="already_receiving")
    return enrolment


def transfer(
    *,
    session: Session,
    principal: Principal,
    person_id: int,
    on: dt.date,
    to_agency: str | None = None,
) -> Transfer:
    """Transfer a contributor: into the county of their new household register, or out."""
    principal.require(Permission.ENROLMENT_WRITE)
    person = get_person(session=session, principal=principal, person_id=person_id)
    enrolment = current_enrolment(session, person)
    session.refresh(enrolment, with_for_update=True)
    out = to_agency is not None
    if not out and enrolment.county_code == person.county_code:
        raise invalid("person_id", "户籍未迁出原参保县，无需转移", "same_county")
    account_id, balance = account_balance(session=session, person_id=person.id)
    moved = Transfer(
        person_id=person.id,
        kind="out_of_province" if out else "county",
        from_enrolment_id=enrolment.id,
        from_county=enrolment.county_code,
        to_county=None if out else person.county_code,
        to_agency=to_agency,
        transferred_on=on,
        balance_fen=balance,
        contribution_years=contribution_years(session=session, person_id=person.id),
        operator_id=principal.operator_id,
    )
    session.add(moved)
    end_enrolment(
        session=session,
        enrolment=enrolment,
        on=on,
        reason=f"转出至{to_agency}" if out else f"转往{person.county_code}",
        operator_id=principal.operator_id,
    )
    if not out:
        new = Enrolment(
            person_id=person.id,
            region_code=person.hukou_region_code,
            county_code=person.county_code,
            status=EnrolmentStatus.PAYING.value,
            enrolled_on=on,
            created_by=principal.operator_id,
        )
        session.add(new)
        session.flush()
        moved.to_enrolment_id = new.id
    if account_id is not None:
        move_balance(session=session, moved=moved, account_id=account_id)
    record(
        session=session,
        actor=principal.actor,
        action="transfer.out_of_province" if out else "transfer.county",
        object_type="transfer",
        object_id=moved.id,
        detail={"person_id": person.id, "balance_fen": balance, "from": moved.from_county},
    )
    return moved


def end_enrolment(
    *, session: Session, enrolment: Enrolment, on: dt.date, reason: str, operator_id: int | None
) -> None:
    """End an enrolment on ``on`` with its reason (an enrolment event)."""
    enrolment.status, enrolment.ended_on = EnrolmentStatus.TERMINATED.value, on
    session.add(
        EnrolmentEvent(
            enrolment_id=enrolment.id,
            status=EnrolmentStatus.TERMINATED.value,
            effective_date=on,
            reason=reason,
            operator_id=operator_id,
        )
    )
    session.flush()


def move_balance(*, session: Session, moved: Transfer, account_id: int) -> None:
    """Move the whole balance of a transfer, source by source, through clearing account 2201.

    The old county's entry takes every source to zero (Dr 2101 / Cr 2201); a transfer within
    the province credits the same sources in the new county (Dr 2201 / Cr 2101), so the
    split by source (own money, subsidies, interest) travels with the money.
    """
    balances = accounts.balances_by_source(session=session, account_id=account_id)
    balance = sum(balances.values())
    if balance <= 0:
        return
    account = session.get_one(Account, account_id)
    _append_by_source(
        session,
        moved,
        account,
        balances,
        -1,
        [
            chart.debit(chart.INDIVIDUAL_ACCOUNTS, balance),
            chart.credit(chart.TRANSFER_CLEARING, balance),
        ],
    )
    if moved.to_county is None:
        return
    account.county_code = moved.to_county
    _append_by_source(
        session,
        moved,
        account,
        balances,
        1,
        [
            chart.debit(chart.TRANSFER_CLEARING, balance),
            chart.credit(chart.INDIVIDUAL_ACCOUNTS, balance),
        ],
    )


def _append_by_source(
    session: Session,
    moved: Transfer,
    account: Account,
    balances: dict[str, int],
    sign: int,
    lines: list[chart.Line],
) -> None:
    entry_id = _post(session, account.county_code, moved.transferred_on, moved.id, lines)
    accounts.append(
        session=session,
        account=account,
        on=moved.transferred_on,
        amounts=[(Source(source), sign * amount) for source, amount in balances.items()],
        policy_version_id=None,
        ref_type="transfer",
        ref_id=moved.id,
        journal_entry_id=entry_id,
    )
