"""Assessment (核定), counter collection and its reversal, make-up years and refunds.

Every change goes through ``payments.apply_payments`` (the one money path), is
audited, and is scope-checked: an assessment outside the operator's region looks
exactly like a missing one.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend import errors
from backend.accounts import service as accounts
from backend.accounts.models import Source
from backend.audit.service import record
from backend.contributions import day_close
from backend.contributions.models import Assessment, Collection, Refund
from backend.contributions.payments import Applied, apply_payments
from backend.db import utcnow
from backend.errors import Conflict, NotFound, PermissionDenied, invalid
from backend.orgs.permissions import Permission
from backend.orgs.service import Principal, get_in_scope
from backend.policy import service as policy
from backend.policy.rules import PolicyRules
from backend.policy.rules import assess as compute
from backend.registry.codes import EnrolmentStatus
from backend.registry.models import Enrolment, Person
from backend.registry.service import get_person


class RefundReason:
    """Why money goes back to a resident."""

    DUPLICATE = "duplicate"  # paid twice for the same year: the excess goes back
    EMPLOYEE_OVERLAP = "employee_overlap"  # year also covered by the employee scheme


REFUND_REASONS = (RefundReason.DUPLICATE, RefundReason.EMPLOYEE_OVERLAP)


def rule_date(year: int) -> dt.date:
    """The day whose policy version governs a contribution year: the year's last day."""
    return dt.date(year, 12, 31)


def _years_of_age(birth: dt.date, on: dt.date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def _check_make_up(
    session: Session, person: Person, year: int, today: dt.date, rules: PolicyRules
) -> None:
    rule = rules.make_up
    if not rule.allowed:
        raise invalid("year", f"{year}年度的政策不允许补缴", "make_up_not_allowed")
    years_left = rules.pension_age - _years_of_age(person.birth_date, today)
    if years_left >= rule.years_to_pension_below:
        raise invalid(
            "year",
            f"距领取年龄还有{years_left}年，不少于{rule.years_to_pension_below}年，不能补缴",
            "make_up_not_allowed",
        )
    if year < person.birth_date.year + 16:
        raise invalid("year", "不能补缴未满16周岁的年度", "make_up_not_allowed")
    years = (
        session.scalar(select(func.count(Assessment.id)).where(Assessment.person_id == person.id))
        or 0
    )
    if years + 1 > rule.max_total_years:
        raise invalid(
            "year",
            f"已有{years}个缴费年度，补缴后不能超过{rule.max_total_years}年",
            "make_up_limit",
        )


@dataclass(frozen=True)
class YearTerms:
    """What governs assessing one person's year: the rules in force, and whether the year
    is a make-up (补缴) one. Checked: paying enrolment, not future, not assessed, make-up rule."""

    person: Person
    rules: PolicyRules
    version_id: int
    make_up: bool


def year_terms(
    *, session: Session, principal: Principal, person_id: int, year: int, today: dt.date
) -> YearTerms:
    """The terms of a person's year, or the reason it cannot be assessed (field ``year``)."""
    person = get_person(session=session, principal=principal, person_id=person_id)
    enrolled = session.scalar(
        select(Enrolment).where(
            Enrolment.person_id == person.id, Enrolment.status == EnrolmentStatus.PAYING.value
        )
    )
    if enrolled is None:
        raise Conflict(detail="该人员不在参保缴费状态，不能核定", code="not_paying")
    if year > today.year:
        raise invalid("year", "不能核定未来年度", "future_year")
    if session.scalar(
        select(Assessment.id).where(Assessment.person_id == person.id, Assessment.year == year)
    ):
        raise Conflict(detail=f"{year}年度已核定", code="already_assessed")
    resolved = policy.rules_on(
        session=session, region_code=person.hukou_region_code, on=rule_date(year)
    )
    make_up = year < today.year
    if make_up:
        _check_make_up(session, person, year, today, resolved.rules)
    return YearTerms(person, resolved.rules, resolved.version_id, make_up)


def assess(
    *,
    session: Session,
    principal: Principal,
    person_id: int,
    year: int,
    grade_fen: int,
    hardship_group: str | None = None,
    collective_fen: int = 0,
    donation_fen: int = 0,
    today: dt.date | None = None,
) -> Assessment:
    """Assess a person's year: grade, subsidies, hardship payer and the amount due."""
    principal.require(Permission.CONTRIBUTION_COLLECT)
    today = today or dt.date.today()
    terms = year_terms(
        session=session, principal=principal, person_id=person_id, year=year, today=today
    )
    person, make_up = terms.person, terms.make_up
    amounts = compute(
        terms.rules,
        grade_fen=grade_fen,
        hardship_group=hardship_group,
        collective_fen=collective_fen,
        donation_fen=donation_fen,
        make_up=make_up,
    )
    assessment = Assessment(
        person_id=person.id,
        county_code=person.county_code,
        region_code=person.hukou_region_code,
        year=year,
        grade_fen=amounts.grade_fen,
        own_due_fen=amounts.own_due_fen,
        hardship_group=hardship_group,
        hardship_paid_fen=amounts.hardship_paid_fen,
        government_subsidy_fen=amounts.government_subsidy_fen,
        collective_fen=amounts.collective_fen,
        donation_fen=amounts.donation_fen,
        is_make_up=make_up,
        policy_version_id=terms.version_id,
        paid_fen=0,
        settled=False,
        created_by=principal.operator_id,
    )
    session.add(assessment)
    session.flush()
    accounts.open_account(
        session=session, person_id=person.id, county_code=person.county_code, on=today
    )
    if amounts.own_due_fen == 0:
        # The government pays the whole grade: the year settles at once.
        _apply(
            session,
            assessment,
            0,
            "assessment",
            assessment.id,
            today,
            "contribution.assess",
            principal.operator_id,
        )
    record(
        session=session,
        actor=principal.actor,
        action="contribution.assess",
        object_type="assessment",
        object_id=assessment.id,
        detail={
            "person_id": person.id,
            "year": year,
            "grade_fen": grade_fen,
            "own_due_fen": amounts.own_due_fen,
            "hardship_group": hardship_group,
            "make_up": make_up,
            "policy_version_id": terms.version_id,
        },
    )
    return assessment


def _apply(
    session: Session,
    assessment: Assessment,
    amount_fen: int,
    ref_type: str,
    ref_id: int,
    on: dt.date,
    event: str,
    operator_id: int | None,
    source: Source = Source.OWN,
) -> Applied:
    return apply_payments(
        session=session,
        source_sql=(
            "SELECT :assessment_id AS assessment_id, :amount AS amount_fen, "
            ":row_ref_type AS ref_type, :row_ref_id AS ref_id"
        ),
        params={
            "assessment_id": assessment.id,
            "amount": amount_fen,
            "row_ref_type": ref_type,
            "row_ref_id": ref_id,
        },
        on=on,
        county_code=assessment.county_code,
        event=event,
        source=source,
        ref_type=ref_type,
        ref_id=ref_id,
        operator_id=operator_id,
    )


def get_assessment(*, session: Session, principal: Principal, assessment_id: int) -> Assessment:
    """One assessment inside the operator's scope, or ``NotFound``."""
    principal.require(Permission.CONTRIBUTION_READ)
    return get_in_scope(
        session=session,
        principal=principal,
        model=Assessment,
        object_id=assessment_id,
        region_of=lambda found: found.region_code,
        detail=f"核定记录{assessment_id}不存在",
        code="assessment_not_found",
    )


def list_assessments(*, session: Session, principal: Principal, person_id: int) -> list[Assessment]:
    """A person's assessed years, oldest first."""
    principal.require(Permission.CONTRIBUTION_READ)
    person = get_person(session=session, principal=principal, person_id=person_id)
    return list(
        session.scalars(
            select(Assessment).where(Assessment.person_id == person.id).order_by(Assessment.year)
        )
    )


def list_refunds(
    *, session: Session, principal: Principal, person_id: int
) -> list[tuple[Refund, int]]:
    """A person's refund requests with the year each is for, newest first (with the
    reviewer's reason where one was rejected)."""
    principal.require(Permission.CONTRIBUTION_READ)
    person = get_person(session=session, principal=principal, person_id=person_id)
    rows = session.execute(
        select(Refund, Assessment.year)
        .join(Assessment, Assessment.id == Refund.assessment_id)
        .where(Assessment.person_id == person.id)
        .order_by(Refund.id.desc())
    ).all()
    return [(refund, year) for refund, year in rows]


def _locked(assessment: Assessment, session: Session) -> Assessment:
    """The assessment re-read under a row lock (PostgreSQL; SQLite has one writer)."""
    session.refresh(assessment, with_for_update=True)
    return assessment


def _receipt_no(county_code: str, collection_id: int) -> str:
    return f"SJ{county_code}{collection_id:010d}"


def collect(
    *,
    session: Session,
    principal: Principal,
    assessment_id: int,
    amount_fen: int | None = None,
    on: dt.date | None = None,
) -> Collection:
    """Take cash at the counter for an assessed year and issue a receipt number.

    The assessment is locked before what is outstanding is read: two counters taking
    cash for one year at once are served one after the other, never both in full.
    """
    principal.require(Permission.CONTRIBUTION_COLLECT)
    assessment = _locked(
        get_assessment(session=session, principal=principal, assessment_id=assessment_id),
        session,
    )
    on = on or dt.date.today()
    day_close.ensure_open(session=session, principal=principal, on=on)
    outstanding = assessment.own_due_fen - assessment.paid_fen
    if outstanding <= 0:
        raise Conflict(detail=f"{assessment.year}年度个人缴费已足额", code="already_paid")
    amount = outstanding if amount_fen is None else amount_fen
    if amount <= 0 or amount > outstanding:
        raise invalid("amount_fen", f"收款金额须在0.01元至应缴余额{outstanding / 100:.2f}元之间")
    collection = Collection(
        assessment_id=assessment.id,
        county_code=assessment.county_code,
        amount_fen=amount,
        receipt_no=f"TMP{uuid.uuid4().hex[:24]}",
        collected_on=on,
        operator_id=principal.operator_id,
    )
    session.add(collection)
    session.flush()
    collection.receipt_no = _receipt_no(assessment.county_code, collection.id)
    _apply(
        session,
        assessment,
        amount,
        "collection",
        collection.id,
        on,
        "contribution.collect",
        principal.operator_id,
    )
    record(
        session=session,
        actor=principal.actor,
        action="contribution.collect",
        object_type="collection",
        object_id=collection.id,
        detail={
            "assessment_id": assessment.id,
            "amount_fen": amount,
            "receipt_no": collection.receipt_no,
        },
    )
    return collection


def get_collection(*, session: Session, principal: Principal, collection_id: int) -> Collection:
    """One counter collection inside the operator's scope, or ``NotFound``."""
    collection = session.get(Collection, collection_id)
    if collection is None:
        raise NotFound(detail=f"收款记录{collection_id}不存在", code="collection_not_found")
    try:
        get_assessment(session=session, principal=principal, assessment_id=collection.assessment_id)
    except NotFound as exc:
        raise NotFound(
            detail=f"收款记录{collection_id}不存在",
            code="collection_not_found",
            audit_refusal=True,
        ) from exc
    return collection


def is_reversed(*, session: Session, collection_id: int) -> bool:
    """Whether a collection has been reversed."""
    reversal = session.scalar(select(Collection.id).where(Collection.reverses_id == collection_id))
    return reversal is not None


def reverse_collection(
    *,
    session: Session,
    principal: Principal,
    collection_id: int,
    reason: str,
    on: dt.date | None = None,
) -> Collection:
    """A reviewer reverses a mistaken collection with a negative one (never an edit)."""
    principal.require(Permission.CONTRIBUTION_REVERSE)
    original = get_collection(session=session, principal=principal, collection_id=collection_id)
    session.refresh(original, with_for_update=True)
    if original.reverses_id is not None:
        raise Conflict(detail="冲正记录不能再冲正", code="reversal_of_reversal")
    if is_reversed(session=session, collection_id=original.id):
        raise Conflict(detail=f"收款{original.receipt_no}已冲正", code="already_reversed")
    if original.operator_id == principal.operator_id:
        raise PermissionDenied(detail="收款人不能冲正自己的收款", code="maker_is_checker")
    if not reason.strip():
        raise invalid("reason", "冲正须说明原因", "required")
    on = on or dt.date.today()
    day_close.ensure_open(session=session, principal=principal, on=on)
    assessment = session.get(Assessment, original.assessment_id)
    assert assessment is not None  # foreign key
    reversal = Collection(
        assessment_id=original.assessment_id,
        county_code=original.county_code,
        amount_fen=-original.amount_fen,
        receipt_no=f"TMP{uuid.uuid4().hex[:24]}",
        collected_on=on,
        operator_id=principal.operator_id,
        reverses_id=original.id,
        reason=reason.strip(),
    )
    session.add(reversal)
    session.flush()
    reversal.receipt_no = f"CZ{original.county_code}{reversal.id:010d}"
    _apply(
        session,
        assessment,
        -original.amount_fen,
        "collection",
        reversal.id,
        on,
        "contribution.reverse",
        principal.operator_id,
    )
    record(
        session=session,
        actor=principal.actor,
        action="contribution.reverse",
        object_type="collection",
        object_id=original.id,
        detail={"reversal_id": reversal.id, "amount_fen": original.amount_fen, "reason": reason},
    )
    return reversal


def refund_amount(assessment: Assessment, reason: str) -> int:
    """Own money to return: the excess over the due amount, or all of it for an overlap year."""
    if reason == RefundReason.DUPLICATE:
        return max(assessment.paid_fen - assessment.own_due_fen, 0)
    if reason == RefundReason.EMPLOYEE_OVERLAP:
        return max(assessment.paid_fen, 0)
    raise invalid("reason", f"退费原因须为{'、'.join(REFUND_REASONS)}之一")


def request_refund(
    *,
    session: Session,
    principal: Principal,
    assessment_id: int,
    reason: str,
    note: str | None = None,
) -> Refund:
    """A clerk asks for a refund; nothing moves until a reviewer approves it."""
    principal.require(Permission.REFUND_REQUEST)
    assessment = get_assessment(session=session, principal=principal, assessment_id=assessment_id)
    amount = refund_amount(assessment, reason)
    if amount <= 0:
        raise Conflict(detail="该年度没有可退的个人缴费", code="nothing_to_refund")
    if session.scalar(
        select(Refund.id).where(Refund.assessment_id == assessment.id, Refund.status == "pending")
    ):
        raise Conflict(detail="该年度已有待审核的退费申请", code="refund_pending")
    refund = Refund(
        assessment_id=assessment.id,
        county_code=assessment.county_code,
        reason=reason,
        note=note,
        amount_fen=amount,
        status="pending",
        maker_id=principal.operator_id,
    )
    try:
        with session.begin_nested():
            session.add(refund)
    except IntegrityError as exc:  # a concurrent request for the same year came first
        raise Conflict(detail="该年度已有待审核的退费申请", code="refund_pending") from exc
    record(
        session=session,
        actor=principal.actor,
        action="refund.request",
        object_type="refund",
        object_id=refund.id,
        detail={"assessment_id": assessment.id, "reason": reason, "amount_fen": amount},
    )
    return refund


def decide_refund(
    *,
    session: Session,
    principal: Principal,
    refund_id: int,
    approve: bool,
    reason: str | None = None,
    on: dt.date | None = None,
) -> Refund:
    """A reviewer (not the maker) approves — the money goes back — or rejects a refund,
    saying why (``reason``, required to reject)."""
    principal.require(Permission.REFUND_APPROVE)
    rejection_reason = None if approve else errors.rejection_reason(reason)
    refund = session.get(Refund, refund_id)
    if refund is None:
        raise NotFound(detail=f"退费申请{refund_id}不存在", code="refund_not_found")
    assessment = get_assessment(
        session=session, principal=principal, assessment_id=refund.assessment_id
    )
    if refund.maker_id == principal.operator_id:
        raise PermissionDenied(detail="申请人不能审核自己的退费", code="maker_is_checker")
    # The decision is taken by one conditional UPDATE: of two reviewers deciding at once,
    # the second waits for the first and then finds the request no longer pending.
    decided_at = utcnow()
    taken = session.execute(
        update(Refund)
        .where(Refund.id == refund.id, Refund.status == "pending")
        .values(
            status="approved" if approve else "rejected",
            checker_id=principal.operator_id,
            rejection_reason=rejection_reason,
            decided_at=decided_at,
        )
        .returning(Refund.id)
    ).scalar()
    if taken is None:
        raise Conflict(detail="该退费申请已处理", code="refund_decided")
    session.refresh(refund)
    on = on or dt.date.today()
    if approve:
        _locked(assessment, session)
        # The amount is recomputed: money may have moved since the request.
        amount = refund_amount(assessment, refund.reason)
        if amount != refund.amount_fen:
            raise Conflict(detail="申请后缴费情况已变化，请重新申请", code="refund_stale")
        _apply(
            session,
            assessment,
            -amount,
            "refund",
            refund.id,
            on,
            "contribution.refund",
            principal.operator_id,
            source=Source.REFUND,
        )
    record(
        session=session,
        actor=principal.actor,
        action="refund.approve" if approve else "refund.reject",
        object_type="refund",
        object_id=refund.id,
        detail={
            "amount_fen": refund.amount_fen,
            "maker_id": refund.maker_id,
            "reason": rejection_reason,
        },
    )
    return refund


def pending_refunds(*, session: Session, principal: Principal) -> list[tuple[Refund, int, int]]:
    """Refund requests waiting for a reviewer in the operator's scope, with the person and
    year they are for, oldest first."""
    principal.require(Permission.REFUND_APPROVE)
    rows = session.execute(
        select(Refund, Assessment.person_id, Assessment.year)
        .join(Assessment, Assessment.id == Refund.assessment_id)
        .where(
            Refund.status == "pending",
            Assessment.region_code.startswith(principal.scope.prefix),
        )
        .order_by(Refund.id)
    ).all()
    return [(refund, person_id, year) for refund, person_id, year in rows]
