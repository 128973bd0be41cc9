"""Report forms: make (compute and store with provenance), sign off (freeze), verify, export.

A report's figures are computed once, when it is made, and stored; reading, signing and
exporting never recompute them, so a signed report never changes when later
corrections arrive (the next period's report shows them). ``verify`` recomputes under
the stored definitions and lists every figure that now differs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from backend.audit.service import record
from backend.db import utcnow
from backend.errors import Conflict, FieldError, InvalidInput, NotFound, PermissionDenied
from backend.orgs.models import Region
from backend.orgs.permissions import Permission, Role, Scope
from backend.orgs.service import Principal
from backend.policy import service as policy
from backend.statistics.indicators import QUERY_VERSION, Figures, Period, compute
from backend.statistics.models import StatisticsReport

FORMS = {"monthly": "城乡居民基本养老保险月报", "annual": "城乡居民基本养老保险年报"}
SIGNING_ROLES = frozenset({Role.COUNTY_ADMIN, Role.PROVINCE_ADMIN})
PREFIX_LENGTHS = (2, 4, 6, 9, 12)


@dataclass(frozen=True)
class Difference:
    """A stored figure that a recomputation no longer gives."""

    region: str
    indicator: str
    stored: int
    now: int


def _canonical(figures: Figures) -> str:
    return json.dumps(figures, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def scoped_region(*, session: Session, principal: Principal, region_code: str | None) -> str:
    """The region asked for (default: the operator's own), 404 unless known and in scope."""
    code = region_code or principal.scope.prefix.ljust(12, "0")
    if session.get(Region, code) is None or not principal.scope.covers(code):
        raise NotFound(detail=f"区划{code}不存在或不在本机构范围内", code="region_not_found")
    return code


def figures_for(*, session: Session, region_code: str, period: Period) -> tuple[Figures, int]:
    """The figures of a region (its total row) and of each region one level below it."""
    root = Scope.of_region(region_code).prefix
    row_length = min((n for n in PREFIX_LENGTHS if n > len(root)), default=len(root))
    figures: Figures = {}
    for length in PREFIX_LENGTHS:
        if len(root) <= length <= row_length:
            figures.update(compute(session=session, prefix=root, key_length=length, period=period))
    return figures, row_length


def figures_with_data(
    *, session: Session, region_code: str, period: Period, today: dt.date
) -> tuple[Figures, int]:
    """``figures_for``, or ``period_without_data`` (404) when the period has no data there:
    it has not begun, or the region's total shows nothing of the scheme."""
    if period.start > today:
        raise NotFound(detail=f"统计期{period}尚未开始，没有数据", code="period_without_data")
    figures, row_length = figures_for(session=session, region_code=region_code, period=period)
    total = figures.get(Scope.of_region(region_code).prefix, {})
    # The population alone is not data of the scheme: nobody enrolled, paid or drew.
    if not any(value for name, value in total.items() if name != "eligible"):
        raise NotFound(detail=f"统计期{period}在该区划没有任何数据", code="period_without_data")
    return figures, row_length


def _policy_versions(session: Session, figures: Figures, period: Period) -> list[int]:
    versions = set()
    for prefix in figures:
        code = prefix.ljust(12, "0")
        version = policy.version_on(session=session, region_code=code, on=period.end)
        versions.add(version.id)
    return sorted(versions)


def make(
    *,
    session: Session,
    principal: Principal,
    region_code: str,
    period_text: str,
    form: str = "monthly",
    now: dt.datetime | None = None,
) -> StatisticsReport:
    """Compute and store a report form of ``region_code`` for a period (a draft)."""
    principal.require(Permission.REPORT_MAKE)
    if form not in FORMS:
        raise InvalidInput(
            detail="报表种类应为月报或年报",
            fields=[FieldError("form", "应为monthly（月报）或annual（年报）")],
        )
    period = Period.parse(period_text)
    if (form == "monthly") != (period.month is not None):
        raise InvalidInput(
            detail="月报的统计期为YYYY-MM，年报为YYYY",
            code="invalid_period",
            fields=[FieldError("period", "月报填YYYY-MM，年报填YYYY")],
        )
    scoped_region(session=session, principal=principal, region_code=region_code)
    now = now or utcnow()
    figures, row_length = figures_with_data(
        session=session, region_code=region_code, period=period, today=now.date()
    )
    text = _canonical(figures)
    report = StatisticsReport(
        form=form,
        period=str(period),
        region_code=region_code,
        row_length=row_length,
        status="draft",
        data_cutoff=now,
        query_version=QUERY_VERSION,
        policy_versions=json.dumps(_policy_versions(session, figures, period)),
        figures=text,
        figures_sha256=hashlib.sha256(text.encode()).hexdigest(),
        maker_id=principal.operator_id,
    )
    session.add(report)
    session.flush()
    record(
        session=session,
        actor=principal.actor,
        action="statistics.report.make",
        object_type="statistics_report",
        object_id=report.id,
        detail={"period": report.period, "region_code": region_code, "form": form},
    )
    return report


def get(*, session: Session, principal: Principal, report_id: int) -> StatisticsReport:
    """A report inside the operator's scope (404 otherwise)."""
    principal.require(Permission.STATS_READ)
    report = session.get(StatisticsReport, report_id)
    if report is None or not principal.scope.covers(report.region_code):
        raise NotFound(detail=f"统计报表{report_id}不存在", code="report_not_found")
    return report


def sign(*, session: Session, principal: Principal, report_id: int) -> StatisticsReport:
    """Sign a draft off as a county or province administrator other than its maker."""
    principal.require(Permission.REPORT_SIGN)
    report = get(session=session, principal=principal, report_id=report_id)
    if principal.role not in SIGNING_ROLES:
        raise PermissionDenied(detail="统计报表须由县级或省级管理员签发", code="signer_role")
    if report.maker_id == principal.operator_id:
        raise Conflict(detail="编制人不能签发自己编制的报表", code="same_operator")
    signed_at = utcnow()
    done = session.execute(
        update(StatisticsReport)
        .where(StatisticsReport.id == report.id, StatisticsReport.status == "draft")
        .values(status="signed", checker_id=principal.operator_id, signed_at=signed_at)
        .returning(StatisticsReport.id)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    if done is None:
        raise Conflict(detail="报表已签发，不能再次签发", code="report_signed")
    session.refresh(report)
    record(
        session=session,
        actor=principal.actor,
        action="statistics.report.sign",
        object_type="statistics_report",
        object_id=report.id,
        detail={"figures_sha256": report.figures_sha256},
    )
    return report


def stored_figures(report: StatisticsReport) -> Figures:
    """The figures as stored when the report was made."""
    figures: Figures = json.loads(report.figures)
    return figures


def verify(*, session: Session, report: StatisticsReport) -> list[Difference]:
    """Recompute the report and list every figure that differs from the stored one."""
    now, _ = figures_for(
        session=session, region_code=report.region_code, period=Period.parse(report.period)
    )
    stored = stored_figures(report)
    differences = []
    for region in sorted(set(stored) | set(now)):
        old, new = stored.get(region, {}), now.get(region, {})
        for indicator in sorted(set(old) | set(new)):
            if old.get(indicator, 0) != new.get(indicator, 0):
                differences.append(
                    Difference(region, indicator, old.get(indicator, 0), new.get(indicator, 0))
                )
    return differences


def region_names(*, session: Session, report: StatisticsReport) -> dict[str, str]:
    """Names of the report's row regions, by row prefix."""
    codes = {prefix.ljust(12, "0"): prefix for prefix in stored_figures(report)}
    rows = session.execute(select(Region.code, Region.name).where(Region.code.in_(codes)))
    return {codes[code]: name for code, name in rows}


def list_reports(*, session: Session, principal: Principal) -> list[StatisticsReport]:
    """The reports of the operator's scope, newest first."""
    principal.require(Permission.STATS_READ)
    query = (
        select(StatisticsReport)
        .where(StatisticsReport.region_code.startswith(principal.scope.prefix))
        .order_by(StatisticsReport.id.desc())
    )
    return list(session.scalars(query))
