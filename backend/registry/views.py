"""Persons, households, enrolments and personal-data changes under ``/api/v1``.

Each view calls one service function; the service checks the operator's region
scope on every object. State changes need an ``Idempotency-Key``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from backend.deps import DbSession, IdempotencyKey, Requires
from backend.errors import invalid
from backend.idempotency import respond_once
from backend.orgs.permissions import Permission
from backend.orgs.service import Principal
from backend.registry import service
from backend.registry.codes import EnrolmentStatus
from backend.registry.schemas import (
    ChangeDecisionIn,
    EnrolmentIn,
    EnrolmentOut,
    EnrolmentStatusIn,
    HouseholdDetail,
    HouseholdIn,
    HouseholdMemberIn,
    HouseholdOut,
    PersonChangeOut,
    PersonChangeResult,
    PersonDetail,
    PersonIn,
    PersonListItem,
    PersonOut,
    PersonPatch,
    PersonSearchIn,
)
from backend.schemas import Page

router = APIRouter()

PersonReader = Annotated[Principal, Depends(Requires(Permission.PERSON_READ))]
PersonWriter = Annotated[Principal, Depends(Requires(Permission.PERSON_WRITE))]
ChangeApprover = Annotated[Principal, Depends(Requires(Permission.CHANGE_APPROVE))]
EnrolmentWriter = Annotated[Principal, Depends(Requires(Permission.ENROLMENT_WRITE))]
Offset = Annotated[int, Query(ge=0, description="跳过的条数")]
Limit = Annotated[int, Query(ge=1, le=500, description="每页条数")]
RegionPrefix = Annotated[
    str | None, Query(pattern=r"^\d{2,12}$", description="区划代码前缀（如乡镇9位、村12位）")
]


def _flags_as_text(values: dict[str, Any]) -> dict[str, str | None]:
    """The raw form ``validate_person`` reads (as a CSV row would have it)."""
    return {k: ("1" if v else "0") if isinstance(v, bool) else v for k, v in values.items()}


# ---- persons ------------------------------------------------------------------------------


@router.post(
    "/persons",
    response_model=PersonOut,
    status_code=201,
    tags=["persons"],
    summary="登记人员基本信息",
)
def create_person(
    body: PersonIn,
    session: DbSession,
    principal: PersonWriter,
    key: IdempotencyKey,
    request: Request,
) -> JSONResponse:
    """Register a resident; gender and birth date come from the ID number (cross-checked).

    The household-register village must be a known village inside the operator's
    scope. With ``household_number`` the person joins that household (created in
    the same village when new).
    """

    def action() -> tuple[int, object]:
        person = service.create_person(
            session=session, principal=principal, person_in=_flags_as_text(body.model_dump())
        )
        return 201, PersonOut.model_validate(person).model_dump(mode="json")

    return respond_once(
        session=session,
        principal=principal,
        key=key,
        request=request,
        payload=body.model_dump(mode="json"),
        action=action,
    )


def _page(page: service.PersonPage, offset: int, limit: int) -> Page[PersonListItem]:
    return Page(
        total=page.total,
        offset=offset,
        limit=limit,
        items=[
            PersonListItem.from_person(p, enrolment_status=page.statuses.get(p.id))
            for p in page.items
        ],
    )


@router.get("/persons", response_model=Page[PersonListItem], tags=["persons"], summary="人员列表")
def list_persons(
    request: Request,
    session: DbSession,
    principal: PersonReader,
    region: RegionPrefix = None,
    status: Annotated[
        Literal["paying", "suspended", "receiving", "terminated", "none"] | None,
        Query(description="参保状态；none 表示当前未参保"),
    ] = None,
    offset: Offset = 0,
    limit: Limit = 50,
) -> Page[PersonListItem]:
    """Persons of the operator's scope by village and enrolment status (ID numbers masked).

    Searching by ID number, name or household is ``POST /persons/search``: personal data
    never travels in a query string (access logs keep query strings).
    """
    for moved in ("id_number", "name", "household_number"):
        if moved in request.query_params:  # an old client: say so instead of listing everyone
            raise invalid(
                moved, "按身份证号码、姓名或户号查找请用 POST /persons/search", "use_search"
            )
    search = service.PersonSearch(region=region, status=status, offset=offset, limit=limit)
    page = service.search_persons(session=session, principal=principal, search=search)
    return _page(page, offset, limit)


@router.post(
    "/persons/search",
    response_model=Page[PersonListItem],
    tags=["persons"],
    summary="按身份证号、姓名或户号查找人员",
)
def search_persons(
    body: PersonSearchIn, session: DbSession, principal: PersonReader
) -> Page[PersonListItem]:
    """Exactly one of ``id_number``, ``name``, ``household_number``; results in the scope.

    A name is matched exactly unless ``name_match`` says ``prefix`` or ``contains``; a
    partial name is searched only inside a set narrowed to at most 5000 persons (``region``,
    ``birth_year``), else 422 ``search_too_broad``. Every search is audited.
    """
    if body.search_key() is None:
        raise invalid("id_number", "须且只能填写身份证号码、姓名、户号中的一项", "one_search_key")
    page = service.search_persons(
        session=session,
        principal=principal,
        search=service.PersonSearch(**body.model_dump()),
    )
    return _page(page, body.offset, body.limit)


@router.get(
    "/persons/{person_id}",
    response_model=PersonDetail,
    tags=["persons"],
    summary="查看人员（含户、参保历史与变更历史）",
)
def get_person(person_id: int, session: DbSession, principal: PersonReader) -> PersonDetail:
    """One person of the scope with household, enrolments and their events, and changes.

    Every opening is audited (``person.read``).
    """
    return PersonDetail.model_validate(
        service.read_person(session=session, principal=principal, person_id=person_id, via="detail")
    )


@router.patch(
    "/persons/{person_id}",
    response_model=PersonChangeResult,
    tags=["persons"],
    summary="变更人员信息（身份证号、姓名须复核）",
    responses={202: {"description": "身份证号码或姓名的变更已提交，等待另一名操作员复核"}},
)
def change_person(
    person_id: int,
    body: PersonPatch,
    session: DbSession,
    principal: PersonWriter,
    key: IdempotencyKey,
    request: Request,
) -> JSONResponse:
    """Change personal data; every change is kept in the person's history.

    Ordinary fields change at once (200). A new ID number or name waits for a
    second operator's approval (202, listed under ``pending``); birth date and
    gender follow the ID number. ``version`` guards against overwriting a newer edit.
    """

    def action() -> tuple[int, object]:
        outcome = service.change_person(
            session=session,
            principal=principal,
            person_id=person_id,
            changes=body.model_dump(exclude_unset=True, exclude={"reason", "version"}),
            reason=body.reason,
            expected_version=body.version,
        )
        result = PersonChangeResult(
            person=PersonOut.model_validate(outcome.person),
            applied=[PersonChangeOut.model_validate(c) for c in outcome.applied],
            pending=[PersonChangeOut.model_validate(c) for c in outcome.pending],
        )
        return (202 if outcome.pending else 200), result.model_dump(mode="json")

    return respond_once(
        session=session,
        principal=principal,
        key=key,
        request=request,
        payload=body.model_dump(mode="json", exclude_unset=True),
        action=action,
    )


# ---- personal-data changes (maker-checker) ------------------------------------------------


@router.get(
    "/person-changes",
    response_model=Page[PersonChangeOut],
    tags=["persons"],
    summary="人员信息变更（默认：待复核）",
)
def list_changes(
    session: DbSession,
    principal: PersonReader,
    status: Annotated[
        Literal["pending", "applied", "rejected"], Query(description="变更状态")
    ] = "pending",
    offset: Offset = 0,
    limit: Limit = 50,
) -> Page[PersonChangeOut]:
    """Changes of persons in the scope, oldest first: the reviewers' queue."""
    total, items = service.list_changes(
        session=session, principal=principal, status=status, offset=offset, limit=limit
    )
    return Page(
        total=total,
        offset=offset,
        limit=limit,
        items=[PersonChangeOut.model_validate(c) for c in items],
    )


@router.post(
    "/person-changes/{change_id}/approve",
    response_model=PersonChangeOut,
    tags=["persons"],
    summary="复核通过人员信息变更",
)
def approve_change(
    change_id: int,
    body: ChangeDecisionIn,
    session: DbSession,
    principal: ChangeApprover,
    key: IdempotencyKey,
    request: Request,
) -> JSONResponse:
    """A reviewer other than the maker approves; the change is re-validated and applied."""

    def action() -> tuple[int, object]:
        change = service.approve_change(
            session=session, principal=principal, change_id=change_id, comment=body.reason
        )
        return 200, PersonChangeOut.model_validate(change).model_dump(mode="json")

    return respond_once(
        session=session,
        principal=principal,
        key=key,
        request=request,
        payload=body.model_dump(mode="json"),
        action=action,
    )


@router.post(
    "/person-changes/{change_id}/reject",
    response_model=PersonChangeOut,
    tags=["persons"],
    summary="复核驳回人员信息变更",
)
def reject_change(
    change_id: int,
    body: ChangeDecisionIn,
    session: DbSession,
    principal: ChangeApprover,
    key: IdempotencyKey,
    request: Request,
) -> JSONResponse:
    """A reviewer other than the maker rejects; the person's data stays as it was."""

    def action() -> tuple[int, object]:
        change = service.reject_change(
            session=session, principal=principal, change_id=change_id, comment=body.reason
        )
        return 200, PersonChangeOut.model_validate(change).model_dump(mode="json")

    return respond_once(
        session=session,
        principal=principal,
        key=key,
        request=request,
        payload=body.model_dump(mode="json"),
        action=action,
    )


# ---- enrolment ----------------------------------------------------------------------------


@router.post(
    "/enrolments",
    response_model=EnrolmentOut,
    status_code=201,
    tags=["enrolments"],
    summary="参保登记",
)
def enrol(
    body: EnrolmentIn,
    session: DbSession,
    principal: EnrolmentWriter,
    key: IdempotencyKey,
    request: Request,
) -> JSONResponse:
    """Enrol a person where their household register is.

    An ineligible person gets 422 listing every reason (each names its rule); a
    person already enrolled gets 409 naming the region of that enrolment.
    """

    def action() -> tuple[int, object]:
        enrolment = service.enrol(
            session=session,
            principal=principal,
            person_id=body.person_id,
            enrolled_on=body.enrolled_on,
        )
        return 201, EnrolmentOut.model_validate(enrolment).model_dump(mode="json")

    return respond_once(
        session=session,
        principal=principal,
        key=key,
        request=request,
        payload=body.model_dump(mode="json"),
        action=action,
    )


@router.get(
    "/enrolments",
    response_model=Page[EnrolmentOut],
    tags=["enrolments"],
    summary="查询参保登记（按状态、区划）",
)
def list_enrolments(
    session: DbSession,
    principal: PersonReader,
    status: EnrolmentStatus | None = None,
    region: Annotated[str | None, Query(pattern=r"^\d{2,12}$")] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Page[EnrolmentOut]:
    """Enrolments registered in the operator's scope, filtered by status and region prefix."""
    total, items = service.list_enrolments(
        session=session,
        principal=principal,
        status=status,
        region_prefix=region,
        offset=offset,
        limit=limit,
    )
    return Page(
        total=total,
        offset=offset,
        limit=limit,
        items=[EnrolmentOut.model_validate(e) for e in items],
    )


@router.get(
    "/enrolments/{enrolment_id}",
    response_model=EnrolmentOut,
    tags=["enrolments"],
    summary="查看参保登记及状态历史",
)
def get_enrolment(enrolment_id: int, session: DbSession, principal: PersonReader) -> EnrolmentOut:
    """One enrolment of the scope with its dated status events."""
    return EnrolmentOut.model_validate(
        service.get_enrolment(session=session, principal=principal, enrolment_id=enrolment_id)
    )


@router.post(
    "/enrolments/{enrolment_id}/status",
    response_model=EnrolmentOut,
    tags=["enrolments"],
    summary="变更参保状态（暂停、恢复、领取待遇、终止）",
)
def change_enrolment_status(
    enrolment_id: int,
    body: EnrolmentStatusIn,
    session: DbSession,
    principal: EnrolmentWriter,
    key: IdempotencyKey,
    request: Request,
) -> JSONResponse:
    """Move the enrolment along the transition table; an impossible move is 409."""

    def action() -> tuple[int, object]:
        enrolment = service.change_enrolment_status(
            session=session,
            principal=principal,
            enrolment_id=enrolment_id,
            status=body.status,
            effective_date=body.effective_date,
            reason=body.reason,
        )
        return 200, EnrolmentOut.model_validate(enrolment).model_dump(mode="json")

    return respond_once(
        session=session,
        principal=principal,
        key=key,
        request=request,
        payload=body.model_dump(mode="json"),
        action=action,
    )


# ---- households ---------------------------------------------------------------------------


@router.post(
    "/households",
    response_model=HouseholdDetail,
    status_code=201,
    tags=["households"],
    summary="登记户",
)
def create_household(
    body: HouseholdIn,
    session: DbSession,
    principal: PersonWriter,
    key: IdempotencyKey,
    request: Request,
) -> JSONResponse:
    """Register a household (户) in a village of the operator's scope."""

    def action() -> tuple[int, object]:
        household = service.create_household(
            session=session,
            principal=principal,
            household_number=body.household_number,
            region_code=body.region_code,
            address=body.address,
        )
        return 201, HouseholdDetail.model_validate(household).model_dump(mode="json")

    return respond_once(
        session=session,
        principal=principal,
        key=key,
        request=request,
        payload=body.model_dump(mode="json"),
        action=action,
    )


@router.get(
    "/households", response_model=Page[HouseholdOut], tags=["households"], summary="按村查询户"
)
def list_households(
    session: DbSession,
    principal: PersonReader,
    region: RegionPrefix = None,
    offset: Offset = 0,
    limit: Limit = 50,
) -> Page[HouseholdOut]:
    """Households of the scope, optionally under a village or township prefix."""
    total, items = service.list_households(
        session=session, principal=principal, region=region, offset=offset, limit=limit
    )
    return Page(
        total=total,
        offset=offset,
        limit=limit,
        items=[HouseholdOut.model_validate(h) for h in items],
    )


@router.get(
    "/households/{household_id}",
    response_model=HouseholdDetail,
    tags=["households"],
    summary="查看户及成员",
)
def get_household(
    household_id: int, session: DbSession, principal: PersonReader
) -> HouseholdDetail:
    """One household of the scope with its members and their relationship to the head."""
    return HouseholdDetail.model_validate(
        service.read_household(session=session, principal=principal, household_id=household_id)
    )


@router.post(
    "/households/{household_id}/members",
    response_model=HouseholdDetail,
    tags=["households"],
    summary="户内增加成员",
)
def add_member(
    household_id: int,
    body: HouseholdMemberIn,
    session: DbSession,
    principal: PersonWriter,
    key: IdempotencyKey,
    request: Request,
) -> JSONResponse:
    """Add a person registered in the same village, with the GB/T 4761 relationship."""

    def action() -> tuple[int, object]:
        household = service.add_member(
            session=session,
            principal=principal,
            household_id=household_id,
            person_id=body.person_id,
            relationship_code=body.relationship_code,
        )
        return 200, HouseholdDetail.model_validate(household).model_dump(mode="json")

    return respond_once(
        session=session,
        principal=principal,
        key=key,
        request=request,
        payload=body.model_dump(mode="json"),
        action=action,
    )


@router.delete(
    "/households/{household_id}/members/{person_id}",
    response_model=HouseholdDetail,
    tags=["households"],
    summary="户内移出成员",
)
def remove_member(
    household_id: int,
    person_id: int,
    session: DbSession,
    principal: PersonWriter,
    key: IdempotencyKey,
    request: Request,
) -> JSONResponse:
    """Take a person out of the household; the person stays registered."""

    def action() -> tuple[int, object]:
        household = service.remove_member(
            session=session, principal=principal, household_id=household_id, person_id=person_id
        )
        return 200, HouseholdDetail.model_validate(household).model_dump(mode="json")

    return respond_once(
        session=session,
        principal=principal,
        key=key,
        request=request,
        payload={},
        action=action,
    )
