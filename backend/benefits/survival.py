"""Survival certification, the job suspending overdue pensioners, and resumption.

A pension whose certification has lapsed is suspended from the month after the lapse;
certifying again resumes it, and the next payroll pays every month since ``paid_through``,
so the suspended months come back as back pay without a separate calculation.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Protocol

from sqlalchemy import and_, select, update
from sqlalchemy.orm import Session, sessionmaker

from backend.audit.service import Actor, record
from backend.benefits.formula import first_of_month
from backend.benefits.models import Pension, SurvivalCertification
from backend.benefits.service import PensionStatus
from backend.benefits.survival_rules import (
    Document,
    FaceCheck,
    Method,
    documents_problem,
    next_due,
)
from backend.db import unit_of_work, utcnow
from backend.errors import Conflict, NotFound, invalid
from backend.ledger import jobs
from backend.ledger.models import JobChunk
from backend.orgs.permissions import Permission, Scope
from backend.policy import service as policy

OVERDUE = "overdue_certification"
JOB = "survival_suspend"


class Certifier(Protocol):
    """Who records a certification: an operator (``Principal``) or a kiosk on its own."""

    @property
    def scope(self) -> Scope: ...

    @property
    def actor(self) -> Actor: ...

    @property
    def operator_id(self) -> int | None: ...

    def require(self, permission: Permission) -> None:
        """Raise unless the certifier holds ``permission``."""


def _scoped_pension(session: Session, principal: Certifier, person_id: int) -> Pension:
    pension = session.scalar(select(Pension).where(Pension.person_id == person_id))
    if pension is None or not principal.scope.covers(pension.region_code):
        raise NotFound(
            detail=f"人员{person_id}没有养老金待遇",
            code="pension_not_found",
            audit_refusal=pension is not None,
        )
    return pension


def certify(
    *,
    session: Session,
    principal: Certifier,
    person_id: int,
    method: Method,
    certified_on: dt.date,
    device: str | None = None,
    documents: Sequence[Document] = (),
    face: FaceCheck | None = None,
) -> SurvivalCertification:
    """Record a certification; a pension suspended only for lapsing resumes this month.

    ``documents`` are what was checked (a counter certification names an identity
    document); ``face`` is a kiosk's face comparison, recorded with its device.
    """
    principal.require(Permission.SURVIVAL_CERTIFY)
    if method is Method.KIOSK and principal.operator_id is not None:
        # A kiosk certification is the kiosk's own (kiosk.certify: card, ID card, face by
        # policy); an operator recording one would step around those checks.
        raise invalid("method", "自助终端认证只能由自助终端办理", "kiosk_only")
    problem = documents_problem(method, documents)
    if problem is not None:
        raise invalid("documents_seen", problem, "documents")
    pension = _scoped_pension(session, principal, person_id)
    session.refresh(pension, with_for_update=True)
    if pension.status == PensionStatus.TERMINATED:
        raise Conflict(detail="待遇已终止，不能认证", code="pension_terminated")
    if certified_on > dt.date.today():
        raise invalid("certified_on", "认证日期不能晚于今天", "future_date")
    if principal.operator_id is not None:
        # Said plainly instead of recorded twice (a kiosk's own flow records its refusals).
        earlier = session.scalar(
            select(SurvivalCertification.id).where(
                SurvivalCertification.pension_id == pension.id,
                SurvivalCertification.certified_on == certified_on,
            )
        )
        if earlier is not None:
            raise Conflict(
                detail=f"{certified_on:%Y年%m月%d日}已办理过资格认证，认证有效期至"
                f"{pension.certified_until:%Y年%m月%d日}，无需再次办理",
                code="already_certified",
                extra={
                    "certification_id": earlier,
                    "certified_until": pension.certified_until.isoformat()
                    if pension.certified_until
                    else None,
                },
            )
    resumes = pension.status == PensionStatus.SUSPENDED and pension.status_code == OVERDUE
    certification = SurvivalCertification(
        pension_id=pension.id,
        county_code=pension.county_code,
        certified_on=certified_on,
        method=method.value,
        operator_id=principal.operator_id,
        device=device or principal.actor.device,
        next_due=next_due(
            certified_on,
            policy.rules_on(
                session=session, region_code=pension.region_code, on=certified_on
            ).rules.survival_certification_months,
        ),
        resumed=resumes,
        documents_seen=",".join(documents),
        face_outcome=face.outcome.value if face else None,
        face_score=face.score if face else None,
        face_device=face.device if face else None,
    )
    session.add(certification)
    pension.certified_until = max(pension.certified_until or certified_on, certification.next_due)
    if resumes:
        pension.status = PensionStatus.RECEIVING
        pension.status_code = None
        pension.status_reason = None
        pension.status_since = first_of_month(certified_on)
    pension.updated_at = utcnow()
    session.flush()
    record(
        session=session,
        actor=principal.actor,
        action="survival.certify",
        object_type="pension",
        object_id=pension.id,
        detail={
            "method": method.value,
            "on": certified_on.isoformat(),
            "resumed": resumes,
            "documents": list(documents),
            "face": face.outcome.value if face else None,
            "face_device": face.device if face else None,
        },
    )
    return certification


def suspend_overdue_county(*, session: Session, county_code: str, on: dt.date) -> int:
    """Suspend the county's receiving pensions whose certification lapsed before ``on``."""
    result = session.execute(
        update(Pension)
        .where(
            and_(
                Pension.county_code == county_code,
                Pension.status == PensionStatus.RECEIVING,
                Pension.certified_until < on,
            )
        )
        .values(
            status=PensionStatus.SUSPENDED,
            status_code=OVERDUE,
            status_reason="逾期未进行领取资格认证",
            # Payment stops from the month the lapse is found; the months before were paid.
            status_since=first_of_month(on),
            updated_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def run_suspension(*, factory: sessionmaker[Session], on: dt.date, actor: Actor) -> jobs.RunSummary:
    """The suspension job for a day: one chunk per county, each done once, resumable."""
    with unit_of_work(factory) as session:
        counties = list(
            session.scalars(select(Pension.county_code).distinct().order_by(Pension.county_code))
        )
        run = jobs.start_or_resume(session=session, job=JOB, period=on.isoformat(), scopes=counties)
        run_id = run.id

    def work(session: Session, chunk: JobChunk) -> tuple[int, int]:
        suspended = suspend_overdue_county(session=session, county_code=chunk.scope, on=on)
        record(
            session=session,
            actor=actor,
            action="survival.suspend_overdue",
            object_type="county",
            object_id=chunk.scope,
            detail={"on": on.isoformat(), "suspended": suspended},
        )
        return suspended, 0

    return jobs.run_chunks(
        factory=factory, run_id=run_id, job=JOB, period=on.isoformat(), work=work
    )
