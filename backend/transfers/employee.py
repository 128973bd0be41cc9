"""衔接 with the employee scheme (2014 rules, DOMAIN.md §5): years, balance in, balance out.

1. The employee agency certifies the years someone paid into the employee scheme; they are
   recorded once per year (``record_employee_years``). A residents' year that overlaps one
   of them is refunded through the contributions refund (reason ``employee_overlap``: the
   own payment goes back to the person and the year's subsidies back to the fund once a
   reviewer approves it); a year refunded has nothing left to refund, so this happens once.
2. With fewer employee years than the policy's minimum (15), the employee balance moves in
   (``transfer_in``: one ``transfer_in`` account entry, Dr 1001 / Cr 2101) and those years
   count as contribution years from then on.
3. With the minimum or more, the whole residents' balance moves to the employee scheme once
   (``transfer_out``: enrolment ended with the reason, entries by source, Dr 2101 / Cr 2201),
   after the overlapping years have been refunded; refused for people receiving a pension
   (someone found receiving both goes through ``double_pension`` instead).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.accounts import service as accounts
from backend.accounts.models import Source
from backend.accounts.posting import close_posting, open_posting
from backend.audit.service import record
from backend.benefits.service import account_balance, contribution_years
from backend.contributions import service as contributions
from backend.contributions.models import Assessment, Refund
from backend.errors import Conflict, FieldError, InvalidInput
from backend.orgs.permissions import Permission
from backend.orgs.service import Principal
from backend.policy import service as policy
from backend.registry.models import Enrolment, Person
from backend.registry.service import get_person
from backend.transfers.models import EmployeeSchemeYear, EmployeeTransferIn, Transfer
from backend.transfers.service import current_enrolment, end_enrolment, move_balance

# The employee scheme began in its present form in 1951 (劳动保险条例); earlier is a typo.
_FIRST_EMPLOYEE_YEAR = 1951
_WORKING_AGE = 16


@dataclass(frozen=True)
class YearsRecorded:
    """The employee years on record for a person, the overlapping ones, refunds requested."""

    person_id: int
    years: list[int]
    overlap_years: list[int]
    refund_ids: list[int]


def _check_years(person: Person, years: list[int], on: dt.date) -> list[int]:
    first = max(_FIRST_EMPLOYEE_YEAR, person.birth_date.year + _WORKING_AGE)
    errors = [
        FieldError(f"years[{i}]", f"年度应在{first}至{on.year}之间", "year_out_of_range")
        for i, year in enumerate(years)
        if not first <= year <= on.year
    ]
    errors += [
        FieldError(f"years[{i}]", f"{year}年重复", "duplicate_year")
        for i, year in enumerate(years)
        if year in years[:i]
    ]
    if not years:
        errors.append(FieldError("years", "至少填写一个职工养老保险缴费年度", "required"))
    if errors:
        raise InvalidInput(detail="职工养老保险缴费年度有误", fields=errors)
    return sorted(years)


def recorded_years(*, session: Session, person_id: int) -> list[EmployeeSchemeYear]:
    """The person's employee-scheme years on record, oldest first."""
    return list(
        session.scalars(
            select(EmployeeSchemeYear)
            .where(EmployeeSchemeYear.person_id == person_id)
            .order_by(EmployeeSchemeYear.year)
        )
    )


def _overlaps(session: Session, person_id: int) -> list[Assessment]:
    """Residents' years that are also employee years, oldest first."""
    return list(
        session.scalars(
            select(Assessment)
            .join(
                EmployeeSchemeYear,
                (EmployeeSchemeYear.person_id == Assessment.person_id)
                & (EmployeeSchemeYear.year == Assessment.year),
            )
            .where(Assessment.person_id == person_id)
            .order_by(Assessment.year)
        )
    )


def _refundable(assessment: Assessment) -> bool:
    return contributions.refund_amount(assessment, contributions.RefundReason.EMPLOYEE_OVERLAP) > 0


def record_employee_years(
    *,
    session: Session,
    principal: Principal,
    person_id: int,
    agency: str,
    years: list[int],
    on: dt.date,
) -> YearsRecorded:
    """Record the employee years an agency certified; ask refunds of the overlapping years.

    Years already on record are left as they are; a refund is asked only for an overlapping
    year that still holds own money and has none pending, so repeating changes nothing.
    """
    principal.require(Permission.ENROLMENT_WRITE)
    person = get_person(session=session, principal=principal, person_id=person_id)
    wanted = _check_years(person, years, on)
    known = {y.year for y in recorded_years(session=session, person_id=person.id)}
    session.add_all(
        EmployeeSchemeYear(
            person_id=person.id,
            year=year,
            agency=agency,
            recorded_on=on,
            operator_id=principal.operator_id,
        )
        for year in wanted
        if year not in known
    )
    session.flush()
    overlaps = _overlaps(session, person.id)
    pending = set(
        session.scalars(
            select(Refund.assessment_id).where(
                Refund.assessment_id.in_([a.id for a in overlaps]), Refund.status == "pending"
            )
        )
    )
    refunds = [
        contributions.request_refund(
            session=session,
            principal=principal,
            assessment_id=assessment.id,
            reason=contributions.RefundReason.EMPLOYEE_OVERLAP,
            note=f"{assessment.year}年同时参加职工养老保险（{agency}）",
        )
        for assessment in overlaps
        if assessment.id not in pending and _refundable(assessment)
    ]
    result = YearsRecorded(
        person_id=person.id,
        years=[y.year for y in recorded_years(session=session, person_id=person.id)],
        overlap_years=[a.year for a in overlaps],
        refund_ids=[r.id for r in refunds],
    )
    record(
        session=session,
        actor=principal.actor,
        action="transfer.employee_years",
        object_type="person",
        object_id=person.id,
        detail={
            "agency": agency,
            "years": wanted,
            "added": [y for y in wanted if y not in known],
            "refund_ids": result.refund_ids,
        },
    )
    return result


def _min_years(session: Session, person: Person, on: dt.date) -> int:
    return policy.rules_on(
        session=session, region_code=person.hukou_region_code, on=on
    ).rules.min_contribution_years


def transfer_in(
    *, session: Session, principal: Principal, person_id: int, balance_fen: int, on: dt.date
) -> EmployeeTransferIn:
    """Move the employee balance in (fewer than the minimum years); its years count from now."""
    principal.require(Permission.ENROLMENT_WRITE)
    person = get_person(session=session, principal=principal, person_id=person_id)
    enrolment = current_enrolment(session, person)
    session.refresh(enrolment, with_for_update=True)
    if session.scalar(
        select(EmployeeTransferIn.id).where(EmployeeTransferIn.person_id == person.id)
    ):
        raise Conflict(detail="职工养老保险个人账户已转入", code="already_transferred_in")
    years = recorded_years(session=session, person_id=person.id)
    if not years:
        raise Conflict(detail="尚未登记职工养老保险缴费年度", code="no_employee_years")
    minimum = _min_years(session, person, on)
    if len(years) >= minimum:
        raise Conflict(
            detail=f"职工养老保险缴费满{minimum}年，应转入职工养老保险",
            code="employee_years_enough",
        )
    moved = EmployeeTransferIn(
        person_id=person.id,
        county_code=enrolment.county_code,
        region_code=enrolment.region_code,
        agency=years[-1].agency,
        transferred_on=on,
        balance_fen=balance_fen,
        employee_years=len(years),
        operator_id=principal.operator_id,
    )
    session.add(moved)
    session.flush()
    for year in years:
        year.transfer_in_id = moved.id
    if balance_fen:
        account = accounts.open_account(
            session=session, person_id=person.id, county_code=enrolment.county_code, on=on
        )
        entry = open_posting(
            session=session,
            county_code=account.county_code,
            event="account.employee_transfer_in",
            posted_on=on,
            ref_type="employee_transfer_in",
            ref_id=moved.id,
            operator_id=principal.operator_id,
            memo=f"职工养老保险个人账户转入（{moved.agency}）",
        )
        accounts.append(
            session=session,
            account=account,
            on=on,
            amounts=[(Source.TRANSFER_IN, balance_fen)],
            policy_version_id=None,
            ref_type="employee_transfer_in",
            ref_id=moved.id,
            journal_entry_id=entry.id,
        )
        close_posting(session=session, entry=entry)
        moved.journal_entry_id = entry.id
    session.flush()
    record(
        session=session,
        actor=principal.actor,
        action="transfer.employee_in",
        object_type="employee_transfer_in",
        object_id=moved.id,
        detail={"person_id": person.id, "balance_fen": balance_fen, "years": len(years)},
    )
    return moved


def send_to_employee_scheme(
    *,
    session: Session,
    person: Person,
    enrolment: Enrolment,
    agency: str,
    on: dt.date,
    operator_id: int | None,
) -> Transfer:
    """End the enrolment and move the whole residents' balance to the employee scheme, once."""
    account_id, balance = account_balance(session=session, person_id=person.id)
    moved = Transfer(
        person_id=person.id,
        kind="employee_scheme",
        from_enrolment_id=enrolment.id,
        from_county=enrolment.county_code,
        to_agency=agency,
        transferred_on=on,
        balance_fen=max(balance, 0),
        contribution_years=contribution_years(session=session, person_id=person.id),
        operator_id=operator_id,
    )
    session.add(moved)
    end_enrolment(
        session=session,
        enrolment=enrolment,
        on=on,
        reason=f"转入职工基本养老保险（{agency}）",
        operator_id=operator_id,
    )
    if account_id is not None:
        move_balance(session=session, moved=moved, account_id=account_id)
    return moved


def transfer_out(
    *, session: Session, principal: Principal, person_id: int, on: dt.date
) -> Transfer:
    """Move the whole residents' balance to the employee scheme (the minimum years or more)."""
    principal.require(Permission.ENROLMENT_WRITE)
    person = get_person(session=session, principal=principal, person_id=person_id)
    enrolment = current_enrolment(session, person)
    session.refresh(enrolment, with_for_update=True)
    years = recorded_years(session=session, person_id=person.id)
    minimum = _min_years(session, person, on)
    if len(years) < minimum:
        raise Conflict(
            detail=f"职工养老保险缴费{len(years)}年，不满{minimum}年，不能转入职工养老保险",
            code="employee_years_short",
        )
    unrefunded = [a.year for a in _overlaps(session, person.id) if _refundable(a)]
    if unrefunded:
        raise Conflict(
            detail=f"重复缴费年度{'、'.join(map(str, unrefunded))}的个人缴费尚未退还",
            code="overlap_not_refunded",
            extra={"years": unrefunded},
        )
    moved = send_to_employee_scheme(
        session=session,
        person=person,
        enrolment=enrolment,
        agency=years[-1].agency,
        on=on,
        operator_id=principal.operator_id,
    )
    record(
        session=session,
        actor=principal.actor,
        action="transfer.employee_out",
        object_type="transfer",
        object_id=moved.id,
        detail={"person_id": person.id, "balance_fen": moved.balance_fen, "years": len(years)},
    )
    return moved
