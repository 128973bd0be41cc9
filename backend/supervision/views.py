"""Fund supervision under ``/api/v1/supervision``: findings and runs, read-only, scoped."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from backend.deps import DbSession, Requires
from backend.orgs.permissions import Permission
from backend.orgs.service import Principal
from backend.supervision import service
from backend.supervision.models import Finding, Run
from backend.supervision.rules import BY_NAME

router = APIRouter(prefix="/supervision", tags=["supervision"])
Reader = Annotated[Principal, Depends(Requires(Permission.SUPERVISION_READ))]


class FindingOut(BaseModel):
    """A finding with its rule, subject, evidence rows and amount at stake (fen)."""

    id: int
    rule: str
    rule_label: str
    rule_version: int
    subject_type: str
    subject_id: int
    county_code: str
    region_code: str
    evidence: dict[str, Any]
    amount_fen: int
    status: str
    first_run_id: int
    last_run_id: int
    raised_at: dt.datetime
    resolved_at: dt.datetime | None

    @classmethod
    def of(cls, finding: Finding) -> FindingOut:
        """The API form of a stored finding."""
        return cls(
            id=finding.id,
            rule=finding.rule,
            rule_label=BY_NAME[finding.rule].label,
            rule_version=finding.rule_version,
            subject_type=finding.subject_type,
            subject_id=finding.subject_id,
            county_code=finding.county_code,
            region_code=finding.region_code,
            evidence=json.loads(finding.evidence_json),
            amount_fen=finding.amount_fen,
            status=finding.status,
            first_run_id=finding.first_run_id,
            last_run_id=finding.last_run_id,
            raised_at=finding.raised_at,
            resolved_at=finding.resolved_at,
        )


class RunOut(BaseModel):
    """A run and its summary per rule (new / still open / resolved, counts and fen)."""

    id: int
    rule: str | None
    region_prefix: str
    as_of: dt.date
    status: str
    summary: dict[str, dict[str, int]]
    started_at: dt.datetime
    finished_at: dt.datetime | None

    @classmethod
    def of(cls, run: Run) -> RunOut:
        """The API form of a stored run."""
        return cls(
            id=run.id,
            rule=run.rule,
            region_prefix=run.region_prefix,
            as_of=run.as_of,
            status=run.status,
            summary=json.loads(run.summary_json),
            started_at=run.started_at,
            finished_at=run.finished_at,
        )


@router.get("/findings", response_model=list[FindingOut], summary="监管疑点列表")
def findings(
    session: DbSession,
    principal: Reader,
    rule: str | None = None,
    region: str | None = None,
    status: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    after_id: Annotated[int, Query(ge=0)] = 0,
) -> list[FindingOut]:
    """Findings in the caller's region, by rule, region and status; paged by ``after_id``."""
    return [
        FindingOut.of(f)
        for f in service.list_findings(
            session=session,
            principal=principal,
            rule=rule,
            region=region,
            status=status,
            limit=limit,
            after_id=after_id,
        )
    ]


@router.get("/findings/{finding_id}", response_model=FindingOut, summary="监管疑点详情")
def finding(finding_id: int, session: DbSession, principal: Reader) -> FindingOut:
    """One finding with its evidence."""
    return FindingOut.of(
        service.get_finding(session=session, principal=principal, finding_id=finding_id)
    )


@router.get("/runs", response_model=list[RunOut], summary="监管规则运行记录")
def runs(session: DbSession, principal: Reader) -> list[RunOut]:
    """The latest runs over the caller's region."""
    return [RunOut.of(r) for r in service.list_runs(session=session, principal=principal)]
