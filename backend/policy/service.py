"""Loading, proposing, approving and looking up policy versions.

A lookup takes a date and a region and returns the most specific version covering
the date (county, then province, then national). A version covers from
``valid_from`` to ``valid_to`` (inclusive) or, without one, until the next version of
the same region begins. No covering version is ``NoPolicyVersion``, never a default.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.audit.service import Actor, record
from backend.db import utcnow
from backend.errors import Conflict, NoPolicyVersion, NotFound, PermissionDenied, invalid
from backend.orgs.permissions import Permission
from backend.orgs.service import Principal
from backend.policy.models import PolicyVersion
from backend.policy.rules import PolicyRules, merge_rules, rules_from_dict

DATA_DIR = Path(__file__).resolve().parent / "data"
DEFAULT_FILES = ("national_2009.toml", "national_2014.toml", "hoboksar_654226.toml")


class Status:
    """Version states."""

    PENDING = "pending"
    ACTIVE = "active"
    REJECTED = "rejected"


@dataclass(frozen=True)
class VersionIn:
    """A version as proposed: where, from when, and its rules (yuan/percent form)."""

    region_prefix: str
    valid_from: dt.date
    name: str
    source: str
    rules: Mapping[str, Any]
    valid_to: dt.date | None = None
    inherit: bool = False


@dataclass(frozen=True)
class Resolved:
    """A looked-up version: its id (recorded with every amount it produces) and its rules."""

    version_id: int
    region_prefix: str
    rules: PolicyRules


def _prefixes(region_code: str) -> list[str]:
    """Most specific first: county, province, national."""
    return [region_code[:6], region_code[:2], ""]


def _canonical(rules: Mapping[str, Any]) -> str:
    return json.dumps(rules, sort_keys=True, ensure_ascii=False, default=str)


def _covering(session: Session, prefix: str, on: dt.date) -> PolicyVersion | None:
    latest = session.scalar(
        select(PolicyVersion)
        .where(
            PolicyVersion.region_prefix == prefix,
            PolicyVersion.status == Status.ACTIVE,
            PolicyVersion.valid_from <= on,
        )
        .order_by(PolicyVersion.valid_from.desc(), PolicyVersion.id.desc())
        .limit(1)
    )
    if latest is None or (latest.valid_to is not None and latest.valid_to < on):
        return None
    return latest


def version_on(*, session: Session, region_code: str, on: dt.date) -> PolicyVersion:
    """The version in force at ``region_code`` on ``on`` (``NoPolicyVersion`` if none)."""
    for prefix in _prefixes(region_code):
        version = _covering(session, prefix, on)
        if version is not None:
            return version
    raise NoPolicyVersion(
        detail=f"{on} 在区划 {region_code} 没有生效的政策版本",
        extra={"region_code": region_code, "date": on.isoformat()},
    )


def rules_on(*, session: Session, region_code: str, on: dt.date) -> Resolved:
    """The rules in force at a region on a date, with the id of the version giving them."""
    version = version_on(session=session, region_code=region_code, on=on)
    return Resolved(version.id, version.region_prefix, parse(version))


def parse(version: PolicyVersion) -> PolicyRules:
    """The typed rules of a stored version."""
    return rules_from_dict(json.loads(version.rules_json))


def _materialise(session: Session, version_in: VersionIn) -> dict[str, Any]:
    """Merge an inheriting version over its parent's rules and check the result is complete."""
    rules = dict(version_in.rules)
    if version_in.inherit:
        parents = [
            p
            for p in _prefixes(version_in.region_prefix.ljust(6, "0"))
            if len(p) < len(version_in.region_prefix)
        ]
        parent = next(
            (v for p in parents if (v := _covering(session, p, version_in.valid_from))), None
        )
        if parent is None:
            raise NoPolicyVersion(detail=f"继承的上级政策在 {version_in.valid_from} 不存在")
        rules = merge_rules(json.loads(parent.rules_json), rules)
    rules_from_dict(rules)
    return rules


def _check_region(prefix: str) -> None:
    if len(prefix) not in (0, 2, 6) or not (prefix == "" or prefix.isdigit()):
        raise invalid("region_prefix", "政策区划须为空（全国）、2位省级或6位县级代码")


def create_version(
    *, session: Session, version_in: VersionIn, actor: Actor, maker_id: int | None, active: bool
) -> tuple[PolicyVersion, bool]:
    """Store a version (pending, or active for the console bootstrap); (version, created)."""
    _check_region(version_in.region_prefix)
    if version_in.valid_to is not None and version_in.valid_to < version_in.valid_from:
        raise invalid("valid_to", "失效日期不能早于生效日期")
    rules = _materialise(session, version_in)
    canonical = _canonical(rules)
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    same_start = session.scalars(
        select(PolicyVersion).where(
            PolicyVersion.region_prefix == version_in.region_prefix,
            PolicyVersion.valid_from == version_in.valid_from,
            PolicyVersion.status != Status.REJECTED,
        )
    ).all()
    for existing in same_start:
        if existing.rules_sha256 == digest and existing.valid_to == version_in.valid_to:
            return existing, False
        if existing.status == Status.ACTIVE:
            raise Conflict(
                detail=f"区划“{version_in.region_prefix or '全国'}”自{version_in.valid_from}"
                "已有不同的生效版本；请以新的生效日期发布新版本",
                code="policy_version_exists",
            )
    version = PolicyVersion(
        region_prefix=version_in.region_prefix,
        valid_from=version_in.valid_from,
        valid_to=version_in.valid_to,
        name=version_in.name,
        source=version_in.source,
        rules_json=canonical,
        rules_sha256=digest,
        status=Status.ACTIVE if active else Status.PENDING,
        maker_id=maker_id,
        decided_at=utcnow() if active else None,
    )
    session.add(version)
    session.flush()
    record(
        session=session,
        actor=actor,
        action="policy.activate" if active else "policy.propose",
        object_type="policy_version",
        object_id=version.id,
        detail={
            "region_prefix": version.region_prefix,
            "valid_from": version.valid_from.isoformat(),
            "sha256": digest,
        },
    )
    return version, True


def read_file(path: Path) -> list[VersionIn]:
    """The versions of a TOML policy file, in file order."""
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise invalid("file", f"政策文件格式错误：{exc}") from exc
    versions = []
    for i, raw in enumerate(data.get("version", [])):
        try:
            versions.append(
                VersionIn(
                    region_prefix=str(raw.get("region", "")),
                    valid_from=raw["valid_from"],
                    valid_to=raw.get("valid_to"),
                    name=raw["name"],
                    source=raw.get("source", ""),
                    rules=raw["rules"],
                    inherit=bool(raw.get("inherit", False)),
                )
            )
        except KeyError as exc:
            raise invalid(f"version[{i}].{exc.args[0]}", "缺少必填项", "required") from exc
    if not versions:
        raise invalid("file", "政策文件中没有 [[version]]")
    return versions


def load_file(
    *, session: Session, path: Path, actor: Actor, maker_id: int | None, active: bool
) -> list[tuple[PolicyVersion, bool]]:
    """Store every version of a file (unchanged ones are skipped: loading twice is harmless)."""
    return [
        create_version(session=session, version_in=v, actor=actor, maker_id=maker_id, active=active)
        for v in read_file(path)
    ]


def load_defaults(*, session: Session, actor: Actor) -> int:
    """Activate the shipped national 2009/2014 defaults and the demo county override."""
    created = 0
    for name in DEFAULT_FILES:
        results = load_file(
            session=session, path=DATA_DIR / name, actor=actor, maker_id=None, active=True
        )
        created += sum(1 for _, new in results if new)
    return created


def _in_scope(principal: Principal, prefix: str) -> bool:
    # A province administrator (scope "65") may propose for "65" and its counties only.
    return prefix.startswith(principal.scope.prefix) and len(prefix) >= len(principal.scope.prefix)


def propose(*, session: Session, principal: Principal, version_in: VersionIn) -> PolicyVersion:
    """A policy administrator proposes a version; it applies only once another approves it."""
    principal.require(Permission.POLICY_MANAGE)
    if not _in_scope(principal, version_in.region_prefix):
        raise PermissionDenied(detail="只能为本辖区提出政策版本", code="policy_out_of_scope")
    version, _ = create_version(
        session=session,
        version_in=version_in,
        actor=principal.actor,
        maker_id=principal.operator_id,
        active=False,
    )
    return version


def get_version(*, session: Session, version_id: int) -> PolicyVersion:
    """One version (policy is public to every operator), or ``NotFound``."""
    version = session.get(PolicyVersion, version_id)
    if version is None:
        raise NotFound(detail=f"政策版本{version_id}不存在", code="policy_version_not_found")
    return version


def decide(
    *,
    session: Session,
    version_id: int,
    checker_id: int,
    actor: Actor,
    approve: bool,
    checker_scope: str | None = None,
) -> PolicyVersion:
    """Approve (activate) or reject a pending version; the checker may not be its maker."""
    version = get_version(session=session, version_id=version_id)
    if checker_scope is not None and not version.region_prefix.startswith(checker_scope):
        raise NotFound(
            detail=f"政策版本{version_id}不存在",
            code="policy_version_not_found",
            audit_refusal=True,
        )
    if version.status != Status.PENDING:
        raise Conflict(detail="该政策版本不在待审核状态", code="policy_not_pending")
    if version.maker_id == checker_id:
        raise PermissionDenied(detail="提出人不能审核自己的政策版本", code="maker_is_checker")
    if approve:
        clash = session.scalar(
            select(PolicyVersion).where(
                PolicyVersion.region_prefix == version.region_prefix,
                PolicyVersion.valid_from == version.valid_from,
                PolicyVersion.status == Status.ACTIVE,
            )
        )
        if clash is not None:
            raise Conflict(detail="同一区划同一生效日期已有生效版本", code="policy_version_exists")
    version.status = Status.ACTIVE if approve else Status.REJECTED
    version.checker_id = checker_id
    version.decided_at = utcnow()
    record(
        session=session,
        actor=actor,
        action="policy.approve" if approve else "policy.reject",
        object_type="policy_version",
        object_id=version.id,
        detail={"maker_id": version.maker_id},
    )
    return version


def approve(
    *, session: Session, principal: Principal, version_id: int, accept: bool = True
) -> PolicyVersion:
    """A second policy administrator approves or rejects a proposed version."""
    principal.require(Permission.POLICY_MANAGE)
    return decide(
        session=session,
        version_id=version_id,
        checker_id=principal.operator_id,
        actor=principal.actor,
        approve=accept,
        checker_scope=principal.scope.prefix,
    )


def list_versions(*, session: Session, status: str | None = None) -> list[PolicyVersion]:
    """Every version, by region and start date."""
    query = select(PolicyVersion).order_by(PolicyVersion.region_prefix, PolicyVersion.valid_from)
    if status:
        query = query.where(PolicyVersion.status == status)
    return list(session.scalars(query))
