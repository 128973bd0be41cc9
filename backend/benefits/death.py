"""Deaths: reported at a counter or matched from a death list, then confirmed by a checker.

A report suspends the pension at once and works out what was paid for months after the
death. Confirmation (another operator) ends the pension after the month of death and
closes the account in one journal entry: the basic pension paid after death is recovered
from the balance first and the rest is owed by the heirs (the account pension drawn after
death counts as paid to the heirs early); what remains goes to the heirs under the
inheritance rule in force on the day of death (2009: the government-subsidy part stays in
the fund; 2014: everything), with the funeral grant where the policy has one.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend import errors
from backend.accounts import service as accounts
from backend.accounts.models import Account, AccountEntry, Source
from backend.accounts.posting import open_posting
from backend.audit.service import Actor, record
from backend.benefits import overpayments, pensioner_lists
from backend.benefits.formula import add_months, first_of_month, split_by_source
from backend.benefits.models import DeathCase, Pension
from backend.benefits.service import PensionStatus, computation_for
from backend.db import utcnow
from backend.errors import Conflict, PermissionDenied, invalid
from backend.ledger import chart
from backend.ledger.models import JournalLine
from backend.orgs.permissions import Permission
from backend.orgs.service import Principal, get_in_scope
from backend.payroll.models import PayrollLine
from backend.policy import service as policy
from backend.policy.rules import InheritanceRule
from backend.registry import matching
from backend.registry.codes import EnrolmentStatus
from backend.registry.models import Enrolment, EnrolmentEvent, Person
from backend.registry.service import get_person
from backend.transfers.models import PersonList

SOURCES = ("counter", "public_security", "civil_affairs", "cremation")
SOURCE_LABELS = {
    "counter": "柜面报告",
    "public_security": "公安户籍注销",
    "civil_affairs": "民政死亡登记",
    "cremation": "殡葬火化信息",
}
OPEN = ("death_reported", "death_match")


def paid_after_death(*, session: Session, pension_id: int, died_on: dt.date) -> tuple[int, int]:
    """(all, basic part) paid for months after the month of death, in fen."""
    total, basic = session.execute(
        select(
            func.coalesce(func.sum(PayrollLine.amount_fen), 0),
            func.coalesce(func.sum(PayrollLine.amount_fen - PayrollLine.account_fen), 0),
        ).where(
            PayrollLine.pension_id == pension_id,
            PayrollLine.month > first_of_month(died_on),
            PayrollLine.state == "paid",
            # What was kept back to recover an earlier overpayment is no payment.
            PayrollLine.kind != "recovery",
        )
    ).one()
    return int(total), int(basic)


def _open_case(
    session: Session,
    person: Person,
    died_on: dt.date,
    source: str,
    actor: Actor,
    maker_id: int | None = None,
    list_sha256: str | None = None,
    evidence: dict[str, str] | None = None,
) -> DeathCase:
    if session.scalar(
        select(DeathCase.id).where(DeathCase.person_id == person.id, DeathCase.status != "rejected")
    ):
        raise Conflict(detail=f"{person.name}已有死亡登记", code="death_already_recorded")
    pension = session.scalar(select(Pension).where(Pension.person_id == person.id))
    case = DeathCase(
        person_id=person.id,
        pension_id=pension.id if pension else None,
        county_code=person.county_code,
        region_code=person.hukou_region_code,
        died_on=died_on,
        source=source,
        list_sha256=list_sha256,
        status="pending",
        maker_id=maker_id,
    )
    if evidence:
        case.evidence_kind = evidence["kind"]
        case.evidence_number = evidence["number"]
        case.evidence_reported_by = evidence["reported_by"]
        case.evidence_relationship = evidence["relationship"]
    if pension is not None and pension.status != PensionStatus.TERMINATED:
        pension.status = PensionStatus.SUSPENDED
        pension.status_code = "death_reported" if source == "counter" else "death_match"
        pension.status_reason = f"死亡待核实（{died_on}，来源：{SOURCE_LABELS[source]}）"
        pension.status_since = add_months(first_of_month(died_on), 1)
        pension.updated_at = utcnow()
        case.overpaid_fen = paid_after_death(
            session=session, pension_id=pension.id, died_on=died_on
        )[0]
    session.add(case)
    session.flush()
    record(
        session=session,
        actor=actor,
        action="death.report",
        object_type="death_case",
        object_id=case.id,
        detail={
            "person_id": person.id,
            "died_on": died_on.isoformat(),
            "source": source,
            **({"evidence": evidence} if evidence else {}),
        },
    )
    return case


def report_death(
    *,
    session: Session,
    principal: Principal,
    person_id: int,
    died_on: dt.date,
    evidence: dict[str, str] | None = None,
) -> DeathCase:
    """A counter report of a death (the maker); the pension is suspended at once.

    ``evidence`` (kind and number of the document, who reported it and how related) is
    kept on the case for the checker's inbox and in the report's audit record.
    """
    principal.require(Permission.BENEFIT_APPLY)
    person = get_person(session=session, principal=principal, person_id=person_id)
    if died_on > dt.date.today() or died_on < person.birth_date:
        raise invalid("died_on", "死亡日期不合理", "bad_date")
    return _open_case(
        session,
        person,
        died_on,
        "counter",
        principal.actor,
        maker_id=principal.operator_id,
        evidence=evidence,
    )


DEATH_LIST = matching.ListLayout(
    label="死亡名单",
    date_headers=("死亡日期",),
    parse_date=matching.iso_date_not_later_than_today,
)


def import_death_list(
    *, session: Session, path: Path, source: str, actor: Actor, accept_valid: bool = False
) -> matching.ListResult:
    """Match a death list (CSV: 身份证号,姓名,死亡日期) against pensioners; once per file.

    The rows are staged in bulk and matched in one join; a bad row rejects the whole file
    (field by field) unless ``accept_valid``.
    """
    if source not in SOURCES[1:]:
        raise invalid("source", f"死亡数据来源应为{'、'.join(SOURCES[1:])}")
    has_case = (
        select(DeathCase.id)
        .where(DeathCase.person_id == Person.id, DeathCase.status != "rejected")
        .exists()
    )

    def open_case(listed: PersonList, pension: Pension, died_on: dt.date) -> None:
        person = session.get_one(Person, pension.person_id)
        _open_case(session, person, died_on, source, actor, list_sha256=listed.sha256)

    return pensioner_lists.import_pensioner_list(
        session=session,
        path=path,
        layout=DEATH_LIST,
        kind="death",
        source=source,
        has_case=has_case,
        open_case=open_case,
        actor=actor,
        accept_valid=accept_valid,
    )


def get_case(*, session: Session, principal: Principal, case_id: int) -> DeathCase:
    """A death case in the operator's scope."""
    return get_in_scope(
        session=session,
        principal=principal,
        model=DeathCase,
        object_id=case_id,
        region_of=lambda found: found.region_code,
        detail=f"死亡登记{case_id}不存在",
        code="death_case_not_found",
    )


def list_cases(
    *, session: Session, principal: Principal, status: str | None = None
) -> list[DeathCase]:
    """Death cases in the operator's scope, oldest first."""
    principal.require(Permission.BENEFIT_READ)
    query = select(DeathCase).where(DeathCase.region_code.startswith(principal.scope.prefix))
    if status:
        query = query.where(DeathCase.status == status)
    return list(session.scalars(query.order_by(DeathCase.id)))


def decide_death(
    *,
    session: Session,
    principal: Principal,
    case_id: int,
    accept: bool,
    heir_name: str | None = None,
    heir_id_number: str | None = None,
    reason: str | None = None,
) -> DeathCase:
    """A checker (not the maker) confirms a death — pension ended, account closed — or
    rejects it, saying why (``reason``, required to reject)."""
    principal.require(Permission.BENEFIT_APPROVE)
    rejection_reason = None if accept else errors.rejection_reason(reason)
    case = get_case(session=session, principal=principal, case_id=case_id)
    session.refresh(case, with_for_update=True)
    if case.status != "pending":
        raise Conflict(detail="该死亡登记已处理", code="death_case_decided")
    if case.maker_id == principal.operator_id:
        raise PermissionDenied(detail="登记人不能审核自己登记的死亡", code="maker_is_checker")
    case.checker_id, case.decided_at = principal.operator_id, utcnow()
    pension = session.get(Pension, case.pension_id) if case.pension_id else None
    if not accept:
        case.status, case.rejection_reason = "rejected", rejection_reason
        if pension is not None and pension.status_code in OPEN:
            # Back to paying; the months held back come as back pay in the next payroll.
            pension.status, pension.status_code, pension.status_reason = "receiving", None, None
            pension.status_since = first_of_month(dt.date.today())
    else:
        _refuse_while_at_the_bank(session, pension)
        case.status = "confirmed"
        case.heir_name, case.heir_id_number = heir_name, heir_id_number
        _end_enrolment(session, case, principal)
        if pension is not None:
            pension.status, pension.status_code = PensionStatus.TERMINATED, "death"
            pension.status_reason = f"死亡（{case.died_on}）"
            pension.end_month = first_of_month(case.died_on)
        _settle(session, case, pension, principal.actor)
    if pension is not None:
        pension.updated_at = utcnow()
    session.flush()
    record(
        session=session,
        actor=principal.actor,
        action="death.confirm" if accept else "death.reject",
        object_type="death_case",
        object_id=case.id,
        detail={
            "maker_id": case.maker_id,
            "overpaid_fen": case.overpaid_fen,
            "recovered_fen": case.recovered_fen,
            "receivable_fen": case.receivable_fen,
            "inherited_fen": case.inherited_fen,
            "retained_fen": case.retained_fen,
            "funeral_grant_fen": case.funeral_grant_fen,
            "reason": rejection_reason,
        },
    )
    return case


def _refuse_while_at_the_bank(session: Session, pension: Pension | None) -> None:
    """Settling needs every payment of the pension answered by the bank.

    A payment still open (in a payroll not yet answered, or answered ``unknown``) may yet
    be paid: for a month before the death it must draw the account the heirs are about to
    receive, for a month after it it is an overpayment to recover. Either way the
    settlement would be wrong, so the checker confirms once the bank has answered.
    """
    if pension is None:
        return
    open_payrolls = sorted(
        set(
            session.scalars(
                select(PayrollLine.payroll_id).where(
                    PayrollLine.pension_id == pension.id,
                    PayrollLine.state.in_(("built", "unknown")),
                )
            )
        )
    )
    if open_payrolls:
        raise Conflict(
            detail="该人员尚有待遇在发放中（名册"
            + "、".join(str(p) for p in open_payrolls)
            + "），银行回盘后再核实死亡并结算",
            code="payment_at_bank",
            extra={"payroll_ids": open_payrolls},
        )


def _end_enrolment(session: Session, case: DeathCase, principal: Principal) -> None:
    enrolment = session.scalar(
        select(Enrolment).where(
            Enrolment.person_id == case.person_id,
            Enrolment.status != EnrolmentStatus.TERMINATED.value,
        )
    )
    if enrolment is None:
        return
    enrolment.status, enrolment.ended_on = EnrolmentStatus.TERMINATED.value, case.died_on
    session.add(
        EnrolmentEvent(
            enrolment_id=enrolment.id,
            status=EnrolmentStatus.TERMINATED.value,
            effective_date=case.died_on,
            reason="死亡",
            operator_id=principal.operator_id,
        )
    )


def _settle(session: Session, case: DeathCase, pension: Pension | None, actor: Actor) -> None:
    """Recover, book the receivable, pay the heirs and the funeral grant: one journal entry."""
    resolved = policy.rules_on(session=session, region_code=case.region_code, on=case.died_on)
    case.policy_version_id = resolved.version_id
    overpaid, basic_overpaid = (0, 0)
    if pension is not None:
        overpaid, basic_overpaid = paid_after_death(
            session=session, pension_id=pension.id, died_on=case.died_on
        )
    case.overpaid_fen = overpaid
    account = session.scalar(select(Account).where(Account.person_id == case.person_id))
    balances = (
        accounts.balances_by_source(session=session, account_id=account.id) if account else {}
    )
    total = sum(balances.values())
    case.recovered_fen = min(basic_overpaid, max(total, 0))
    case.receivable_fen = basic_overpaid - case.recovered_fen
    recovered = split_by_source(case.recovered_fen, balances)
    left = {s: balances[s] - recovered.get(s, 0) for s in balances}
    retained_sources = (
        {Source.GOVERNMENT_SUBSIDY.value}
        if resolved.rules.inheritance is InheritanceRule.EXCLUDE_GOVERNMENT_SUBSIDY
        else set()
    )
    case.retained_fen = sum(v for s, v in left.items() if s in retained_sources and v > 0)
    case.inherited_fen = sum(left.values()) - case.retained_fen
    if pension is not None and resolved.rules.funeral_grant_months:
        month = computation_for(
            session=session, pension_id=pension.id, month=first_of_month(case.died_on)
        )
        case.funeral_grant_fen = resolved.rules.funeral_grant_months * (
            month.minimum_fen + month.topup_fen
        )
    lines = [
        chart.debit(chart.INDIVIDUAL_ACCOUNTS, case.recovered_fen),
        chart.debit(chart.OVERPAYMENT_RECEIVABLE, case.receivable_fen),
        chart.credit(chart.BASIC_PENSION_EXPENSE, basic_overpaid),
        chart.debit(chart.INDIVIDUAL_ACCOUNTS, case.inherited_fen),
        chart.credit(chart.INCOME_BANK, case.inherited_fen),
        chart.debit(chart.INDIVIDUAL_ACCOUNTS, case.retained_fen),
        chart.credit(chart.RETAINED_SUBSIDY, case.retained_fen),
        chart.debit(chart.FUNERAL_GRANT_EXPENSE, case.funeral_grant_fen),
        chart.credit(chart.GOVERNMENT_BASIC_PENSION, case.funeral_grant_fen),
    ]
    lines = [line for line in lines if line.debit_fen > 0 or line.credit_fen > 0]
    if not lines:
        return
    on = dt.date.today()
    entry = open_posting(
        session=session,
        county_code=case.county_code,
        event="pension.death",
        posted_on=on,
        ref_type="death_case",
        ref_id=case.id,
        operator_id=case.checker_id,
        memo=f"死亡结算（{case.died_on}）",
    )
    case.journal_entry_id = entry.id
    if case.receivable_fen:
        overpayments.open_overpayment(
            session=session,
            finding=overpayments.Finding(
                person_id=case.person_id,
                pension_id=case.pension_id,
                county_code=case.county_code,
                region_code=case.region_code,
                cause=overpayments.Cause.DEATH,
                ref_type="death_case",
                ref_id=case.id,
                amount_fen=case.receivable_fen,
                debtor="heirs",
                method=overpayments.Method.INSTALMENTS,
                reason=f"死亡（{case.died_on}）后多发的基础养老金，余额不足部分由继承人退还",
            ),
            actor=actor,
            on=on,
            journal_entry_id=entry.id,
        )
    if account is not None:
        session.add_all(
            AccountEntry(
                account_id=account.id,
                county_code=account.county_code,
                year=on.year,
                month=on.month,
                entry_date=on,
                source=source,
                amount_fen=-amount,
                policy_version_id=resolved.version_id,
                ref_type="death_case",
                ref_id=case.id,
                journal_entry_id=entry.id,
            )
            for source, amount in balances.items()
            if amount
        )
    session.add_all(
        JournalLine(
            entry_id=entry.id,
            county_code=case.county_code,
            account_code=line.account_code,
            debit_fen=line.debit_fen,
            credit_fen=line.credit_fen,
        )
        for line in lines
    )
    session.flush()
