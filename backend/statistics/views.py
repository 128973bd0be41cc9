"""Statistics under ``/api/v1/statistics``: indicators and report forms, scoped to the caller.

Making and signing a report are state changes and take an ``Idempotency-Key``.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from backend.deps import DbSession, IdempotencyKey, Requires
from backend.errors import NotFound
from backend.idempotency import respond_once
from backend.orgs.permissions import Permission, Scope
from backend.orgs.service import Principal
from backend.statistics import forms, reports
from backend.statistics.indicators import Period, by_ethnicity, by_sex_and_age
from backend.statistics.models import StatisticsReport

router = APIRouter(prefix="/statistics", tags=["statistics"])
Reader = Annotated[Principal, Depends(Requires(Permission.STATS_READ))]
Maker = Annotated[Principal, Depends(Requires(Permission.REPORT_MAKE))]
Signer = Annotated[Principal, Depends(Requires(Permission.REPORT_SIGN))]
_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class IndicatorsOut(BaseModel):
    """The indicators of a period: the region's total and one row per region below it."""

    period: str
    region_code: str
    figures: dict[str, dict[str, int]]


class ReportIn(BaseModel):
    """A report form to make: which form, period and region (12-digit code)."""

    form: Literal["monthly", "annual"] = "monthly"
    period: str = Field(min_length=4, max_length=7)
    region_code: str = Field(pattern=r"^\d{12}$")


class ReportOut(BaseModel):
    """A stored report with its provenance and figures."""

    id: int
    form: str
    period: str
    region_code: str
    status: str
    data_cutoff: str
    query_version: str
    policy_versions: list[int]
    figures_sha256: str
    maker_id: int
    checker_id: int | None
    figures: dict[str, dict[str, int]]


class DifferenceOut(BaseModel):
    """A figure that a recomputation no longer gives."""

    region: str
    indicator: str
    stored: int
    now: int


class VerifyOut(BaseModel):
    """The recomputation of a report."""

    report_id: int
    unchanged: bool
    query_version_then: str
    query_version_now: str
    differences: list[DifferenceOut]


def _out(report: StatisticsReport) -> dict[str, Any]:
    return ReportOut(
        id=report.id,
        form=report.form,
        period=report.period,
        region_code=report.region_code,
        status=report.status,
        data_cutoff=report.data_cutoff.isoformat(),
        query_version=report.query_version,
        policy_versions=json.loads(report.policy_versions),
        figures_sha256=report.figures_sha256,
        maker_id=report.maker_id,
        checker_id=report.checker_id,
        figures=reports.stored_figures(report),
    ).model_dump(mode="json")


@router.get("/indicators", response_model=IndicatorsOut, summary="统计指标（按区划）")
def indicators(
    session: DbSession,
    principal: Reader,
    period: Annotated[str, Query(description="YYYY-MM 或 YYYY")],
    region_code: Annotated[str | None, Query(pattern=r"^\d{12}$")] = None,
) -> IndicatorsOut:
    """Every indicator of a period for a region of the caller's scope (default: the scope)."""
    parsed = Period.parse(period)
    code = reports.scoped_region(session=session, principal=principal, region_code=region_code)
    figures, _ = reports.figures_with_data(
        session=session, region_code=code, period=parsed, today=dt.date.today()
    )
    return IndicatorsOut(period=str(parsed), region_code=code, figures=figures)


class GroupsOut(BaseModel):
    """Enrolled residents and pensioners of a region by sex and age band or by ethnicity."""

    period: str
    region_code: str
    grouping: str
    groups: dict[str, dict[str, int]]


_GROUPINGS = {"sex_age": by_sex_and_age, "ethnicity": by_ethnicity}


@router.get("/groups", response_model=GroupsOut, summary="参保与领取人员构成")
def groups(
    session: DbSession,
    principal: Reader,
    period: Annotated[str, Query(description="YYYY-MM 或 YYYY")],
    grouping: Annotated[Literal["sex_age", "ethnicity"], Query()] = "sex_age",
    region_code: Annotated[str | None, Query(pattern=r"^\d{12}$")] = None,
) -> GroupsOut:
    """Enrolled and pensioners at the period's end by sex and age band (``<gender>/<band>``)
    or by ethnicity (GB 3304 code), for a region of the caller's scope."""
    parsed = Period.parse(period)
    code = reports.scoped_region(session=session, principal=principal, region_code=region_code)
    found = _GROUPINGS[grouping](
        session=session, prefix=Scope.of_region(code).prefix, period=parsed
    )
    if not found:
        raise NotFound(detail=f"统计期{parsed}在该区划没有参保人员", code="period_without_data")
    return GroupsOut(period=str(parsed), region_code=code, grouping=grouping, groups=found)


@router.post("/reports", response_model=ReportOut, status_code=201, summary="编制统计报表")
def make_report(
    body: ReportIn, session: DbSession, principal: Maker, key: IdempotencyKey, request: Request
) -> JSONResponse:
    """Compute and store a report form (a draft) with its data cut-off and versions."""

    def action() -> tuple[int, Any]:
        report = reports.make(
            session=session,
            principal=principal,
            region_code=body.region_code,
            period_text=body.period,
            form=body.form,
        )
        return 201, _out(report)

    return respond_once(
        session=session,
        principal=principal,
        key=key,
        request=request,
        payload=body.model_dump(mode="json"),
        action=action,
    )


@router.get("/reports", response_model=list[ReportOut], summary="统计报表列表")
def list_reports(session: DbSession, principal: Reader) -> list[dict[str, Any]]:
    """The reports of the caller's scope, newest first."""
    return [_out(r) for r in reports.list_reports(session=session, principal=principal)]


@router.get("/reports/{report_id}", response_model=ReportOut, summary="查看统计报表")
def get_report(report_id: int, session: DbSession, principal: Reader) -> dict[str, Any]:
    """A stored report as made (a signed one never changes)."""
    return _out(reports.get(session=session, principal=principal, report_id=report_id))


@router.post("/reports/{report_id}/sign", response_model=ReportOut, summary="签发统计报表")
def sign_report(
    report_id: int, session: DbSession, principal: Signer, key: IdempotencyKey, request: Request
) -> JSONResponse:
    """Sign off and freeze a draft (a county or province administrator, not its maker)."""

    def action() -> tuple[int, Any]:
        report = reports.sign(session=session, principal=principal, report_id=report_id)
        return 200, _out(report)

    return respond_once(
        session=session,
        principal=principal,
        key=key,
        request=request,
        payload={"report_id": report_id},
        action=action,
    )


@router.get("/reports/{report_id}/verify", response_model=VerifyOut, summary="复算统计报表")
def verify_report(report_id: int, session: DbSession, principal: Reader) -> VerifyOut:
    """Recompute the report now and list every figure that differs from the stored one."""
    report = reports.get(session=session, principal=principal, report_id=report_id)
    differences = reports.verify(session=session, report=report)
    return VerifyOut(
        report_id=report.id,
        unchanged=not differences,
        query_version_then=report.query_version,
        query_version_now=reports.QUERY_VERSION,
        differences=[DifferenceOut(**vars(d)) for d in differences],
    )


@router.get(
    "/reports/{report_id}/xlsx",
    response_class=Response,
    responses={200: {"content": {_XLSX: {}}}},
    summary="导出统计报表（XLSX）",
)
def report_xlsx(report_id: int, session: DbSession, principal: Reader) -> Response:
    """The report form as an XLSX workbook."""
    report = reports.get(session=session, principal=principal, report_id=report_id)
    names = reports.region_names(session=session, report=report)
    content = forms.xlsx(report, names, reports.FORMS[report.form])
    return Response(
        content,
        media_type=_XLSX,
        headers={
            "Content-Disposition": f"attachment; filename=report-{report.id}.xlsx",
            "Cache-Control": "no-store",
        },
    )
