"""Reading the audit log (audit administrators only)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from backend.audit import service
from backend.audit.checkpoints import CheckpointError, latest_checkpoint
from backend.deps import AppSettings, DbSession, Requires
from backend.orgs.permissions import Permission
from backend.orgs.service import Principal
from backend.schemas import Out, Page

router = APIRouter(prefix="/audit", tags=["audit"])
AuditReader = Annotated[Principal, Depends(Requires(Permission.AUDIT_READ))]


class AuditRecordOut(Out):
    id: int
    chain: str
    at: dt.datetime
    operator_id: int | None
    username: str | None
    device: str | None
    address: str | None
    action: str
    object_type: str | None
    object_id: str | None
    result: str
    detail: str
    hash: str


class ChainReport(Out):
    checked: int
    intact: bool
    faults: list[dict[str, object]]
    # The newest signed checkpoint the chains were checked against (none configured or
    # written yet: null).
    checkpoint_at: dt.datetime | None = None
    checkpoint_records: int | None = None


@router.get("", response_model=Page[AuditRecordOut], summary="查询审计日志")
def search(
    session: DbSession,
    principal: AuditReader,
    action: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    operator_id: int | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Page[AuditRecordOut]:
    """Filter the log, newest first."""
    total, items = service.search(
        session=session,
        action=action,
        object_type=object_type,
        object_id=object_id,
        operator_id=operator_id,
        since=since,
        until=until,
        offset=offset,
        limit=limit,
    )
    return Page(
        total=total,
        offset=offset,
        limit=limit,
        items=[AuditRecordOut.model_validate(r) for r in items],
    )


@router.get("/verify", response_model=ChainReport, summary="校验审计日志的各条哈希链")
def verify(session: DbSession, settings: AppSettings, principal: AuditReader) -> ChainReport:
    """Walk every chain and name every edited, deleted or truncated record (against the
    newest signed checkpoint); an untrustworthy checkpoint file is a fault of its own."""
    faults_out: list[dict[str, object]] = []
    try:
        checkpoint = latest_checkpoint(settings)
    except CheckpointError as error:
        checkpoint = None
        faults_out.append(
            {
                "chain": None,
                "record_id": None,
                "kind": "checkpoint_untrusted",
                "message": str(error),
            }
        )
    count, faults = service.verify(session=session, checkpoint=checkpoint)
    faults_out += [
        {"chain": f.chain, "record_id": f.record_id, "kind": f.kind, "message": f.message}
        for f in faults
    ]
    return ChainReport(
        checked=count,
        intact=not faults_out,
        faults=faults_out,
        checkpoint_at=checkpoint.at if checkpoint else None,
        checkpoint_records=checkpoint.total if checkpoint else None,
    )
