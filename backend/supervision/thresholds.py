"""Supervision thresholds as dated regional data: load from TOML, look up by region and date.

A lookup returns the most specific version (county, then province, then national) whose
``valid_from`` is on or before the date; none is ``NoPolicyVersion``, never a default.
"""

from __future__ import annotations

import datetime as dt
import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.errors import Conflict, NoPolicyVersion, invalid
from backend.supervision.models import ThresholdVersion

DEFAULT_FILE = Path(__file__).resolve().parent / "data" / "thresholds.toml"


@dataclass(frozen=True)
class Thresholds:
    """Every threshold the rules read."""

    death_paid_min_months: int  # rule 1: months paid after the month of death to flag
    dead_open_after_days: int  # rule 2: days dead before an open record is flagged
    back_pay_fen: int  # rule 8: back pay of one pension in one payroll above this
    payee_change_days: int  # rule 6: payee account changed this many days before back pay
    min_contribution_age: int  # rule 5: contributions for years before this age
    certification_max: int  # rule 7: more survival certifications by one operator in a day


FIELDS = tuple(Thresholds.__dataclass_fields__)


@dataclass(frozen=True)
class Resolved:
    """A looked-up version: its id (recorded on each finding) and its thresholds."""

    version_id: int
    thresholds: Thresholds


def _values(raw: Any, where: str) -> dict[str, int]:
    if not isinstance(raw, dict):
        raise invalid(f"{where}.values", "缺少阈值表")
    missing = [f for f in FIELDS if f not in raw]
    unknown = [k for k in raw if k not in FIELDS]
    if missing or unknown:
        raise invalid(f"{where}.values", f"缺少阈值 {missing}，未知阈值 {unknown}")
    values: dict[str, int] = {}
    for name in FIELDS:
        value = raw[name]
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise invalid(f"{where}.values.{name}", "阈值须为非负整数")
        values[name] = value
    return values


def load(*, session: Session, path: Path = DEFAULT_FILE) -> int:
    """Store the file's versions not yet stored; all or nothing. Returns how many were added.

    A version already stored with the same region and date must carry the same values: a
    dated version is never rewritten (a new one is added from a later date).
    """
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    parsed: list[ThresholdVersion] = []
    for index, entry in enumerate(data.get("version", [])):
        where = f"version[{index}]"
        region = str(entry.get("region", ""))
        if region not in ("",) and not (len(region) in (2, 6) and region.isdigit()):
            raise invalid(f"{where}.region", "区划前缀须为空、2位或6位数字")
        valid_from = entry.get("valid_from")
        if not isinstance(valid_from, dt.date):
            raise invalid(f"{where}.valid_from", "须为日期")
        parsed.append(
            ThresholdVersion(
                region_prefix=region,
                valid_from=valid_from,
                name=str(entry.get("name", "")),
                source=str(entry.get("source", "")),
                values_json=json.dumps(_values(entry.get("values"), where), sort_keys=True),
            )
        )
    added = 0
    for version in parsed:
        stored = session.scalar(
            select(ThresholdVersion).where(
                ThresholdVersion.region_prefix == version.region_prefix,
                ThresholdVersion.valid_from == version.valid_from,
            )
        )
        if stored is None:
            session.add(version)
            added += 1
        elif stored.values_json != version.values_json:
            raise Conflict(
                detail=f"区划 {version.region_prefix or '全国'} 自 {version.valid_from} 的阈值"
                "已存在且不同；请以新的生效日期新增版本",
                code="threshold_version_differs",
            )
    session.flush()
    return added


def thresholds_on(*, session: Session, region_code: str, on: dt.date) -> Resolved:
    """The thresholds in force at ``region_code`` on ``on``."""
    for prefix in (region_code[:6], region_code[:2], ""):
        version = session.scalar(
            select(ThresholdVersion)
            .where(ThresholdVersion.region_prefix == prefix, ThresholdVersion.valid_from <= on)
            .order_by(ThresholdVersion.valid_from.desc())
            .limit(1)
        )
        if version is not None:
            return Resolved(version.id, Thresholds(**json.loads(version.values_json)))
    raise NoPolicyVersion(
        detail=f"{on} 在区划 {region_code} 没有生效的监管阈值（请先 xnb supervision thresholds）",
        extra={"region_code": region_code, "date": on.isoformat()},
    )
