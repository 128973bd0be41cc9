"""Region tree, offices and operator accounts, all scoped to the acting operator."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.audit.service import Actor, record
from backend.auth.service import hash_password, revoke_all_sessions
from backend.db import utcnow
from backend.errors import Conflict, NotFound, PermissionDenied, invalid
from backend.orgs.models import Office, Operator, Region
from backend.orgs.permissions import (
    MANAGEABLE_ROLES,
    PERMISSION_LABELS,
    ROLE_PERMISSIONS,
    THREE_ADMINISTRATORS,
    Permission,
    Role,
    Scope,
    level_of,
    parent_of,
)

T = TypeVar("T")

DATA_DIR = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True)
class Principal:
    """The operator acting in a request: identity, role and region scope."""

    operator_id: int
    username: str
    role: Role
    scope: Scope
    actor: Actor

    @classmethod
    def of(cls, operator: Operator, actor: Actor) -> Principal:
        """Build from a loaded operator and the request's actor details."""
        return cls(
            operator_id=operator.id,
            username=operator.username,
            role=Role(operator.role),
            scope=Scope.of_region(operator.office.region_code),
            actor=actor,
        )

    def can(self, permission: Permission) -> bool:
        """True when the role grants ``permission``."""
        return permission in ROLE_PERMISSIONS[self.role]

    def require(self, permission: Permission) -> None:
        """Raise ``PermissionDenied`` unless the role grants ``permission``."""
        if not self.can(permission):
            raise PermissionDenied(
                detail=f"本岗位无“{PERMISSION_LABELS[permission]}”权限（{permission.value}）",
                extra={"permission": permission.value},
            )


def get_in_scope(
    *,
    session: Session,
    principal: Principal,
    model: type[T],
    object_id: int,
    region_of: Callable[[T], str],
    detail: str,
    code: str,
) -> T:
    """One object by id inside the principal's scope (``region_of`` gives its region code).

    Outside the scope it looks exactly like a missing one: ``NotFound`` with ``code``, and
    the refusal is audited (a missing object's is not).
    """
    found = session.get(model, object_id)
    if found is None or not principal.scope.covers(region_of(found)):
        raise NotFound(detail=detail, code=code, audit_refusal=found is not None)
    return found


# ---- regions ---------------------------------------------------------------------------


def _read_region_rows(path: Path) -> Iterator[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        yield from csv.DictReader(line for line in fh if not line.startswith("#"))


def load_regions(*, session: Session, path: Path) -> int:
    """Insert or update the region tree from a CSV data file; parents before children."""
    rows = sorted(_read_region_rows(path), key=lambda r: (level_of(r["code"]), r["code"]))
    known = set(session.scalars(select(Region.code)).all())
    for row in rows:
        code = row["code"].strip()
        parent = parent_of(code)
        if parent is not None and parent not in known:
            raise invalid("code", f"区划{code}的上级{parent}不存在")
        existing = session.get(Region, code)
        illustrative = row.get("illustrative", "0").strip() == "1"
        if existing is None:
            session.add(
                Region(
                    code=code,
                    name=row["name"].strip(),
                    level=level_of(code),
                    parent_code=parent,
                    illustrative=illustrative,
                )
            )
        else:
            existing.name = row["name"].strip()
            existing.illustrative = illustrative
        known.add(code)
    session.flush()
    return len(rows)


def get_region(*, session: Session, code: str) -> Region:
    """One region by code, or ``NotFound``."""
    region = session.get(Region, code)
    if region is None:
        raise NotFound(detail=f"区划代码{code}不存在", code="region_not_found")
    return region


def list_regions(
    *, session: Session, principal: Principal, parent_code: str | None = None
) -> list[Region]:
    """Regions visible to the operator: children of ``parent_code``, or the scope's root."""
    query = select(Region).order_by(Region.code)
    if parent_code:
        query = query.where(Region.parent_code == parent_code)
    else:
        root = principal.scope.prefix.ljust(12, "0")
        query = query.where(Region.code == root)
    return [r for r in session.scalars(query) if _visible_region(principal.scope, r.code)]


def _visible_region(scope: Scope, code: str) -> bool:
    # Ancestors of the scope's root are shown (names only), so the path can be displayed.
    return scope.covers(code) or scope.prefix.ljust(12, "0").startswith(code.rstrip("0"))


def villages_in(*, session: Session, prefix: str) -> list[str]:
    """Codes of all village-level regions under a prefix."""
    return list(
        session.scalars(
            select(Region.code)
            .where(Region.level == 5, Region.code.startswith(prefix))
            .order_by(Region.code)
        )
    )


# ---- offices -----------------------------------------------------------------------------


def create_office(
    *, session: Session, code: str, name: str, region_code: str, actor: Actor
) -> Office:
    """Attach a new office to a node of the tree."""
    get_region(session=session, code=region_code)
    if session.scalar(select(Office).where(Office.code == code)):
        raise Conflict(detail=f"经办机构编号{code}已存在", code="office_exists")
    office = Office(code=code, name=name, region_code=region_code)
    session.add(office)
    session.flush()
    record(
        session=session,
        actor=actor,
        action="office.create",
        object_type="office",
        object_id=office.id,
        detail={"code": code, "region_code": region_code},
    )
    return office


def list_offices(*, session: Session, principal: Principal) -> list[Office]:
    """Offices inside the operator's scope."""
    return list(
        session.scalars(
            select(Office)
            .where(Office.region_code.startswith(principal.scope.prefix))
            .order_by(Office.region_code, Office.code)
        )
    )


def get_office(*, session: Session, principal: Principal | None, office_id: int) -> Office:
    """One office; out of scope looks exactly like not found."""
    office = session.get(Office, office_id)
    if office is None or (principal and not principal.scope.covers(office.region_code)):
        raise NotFound(
            detail=f"经办机构{office_id}不存在",
            code="office_not_found",
            audit_refusal=office is not None,
        )
    return office


def get_office_by_code(*, session: Session, code: str) -> Office:
    """One office by its code (command line)."""
    office = session.scalar(select(Office).where(Office.code == code))
    if office is None:
        raise NotFound(detail=f"经办机构{code}不存在", code="office_not_found")
    return office


# ---- operators ---------------------------------------------------------------------------


def _check_can_manage(principal: Principal | None, role: Role, office: Office) -> None:
    if principal is None:  # command line on the server: the key ceremony of accounts
        return
    principal.require(Permission.OPERATOR_MANAGE)
    if role not in MANAGEABLE_ROLES.get(principal.role, frozenset()):
        raise PermissionDenied(detail=f"无权设置角色{role.value}", code="role_not_manageable")
    if not principal.scope.covers(office.region_code):
        raise NotFound(detail="经办机构不存在", code="office_not_found", audit_refusal=True)


def create_operator(
    *,
    session: Session,
    principal: Principal | None,
    actor: Actor,
    username: str,
    full_name: str,
    role: Role,
    office_id: int,
    password: str,
) -> Operator:
    """Create an operator account in an office the acting administrator may manage."""
    office = get_office(session=session, principal=None, office_id=office_id)
    _check_can_manage(principal, role, office)
    if session.scalar(select(Operator).where(Operator.username == username)):
        raise Conflict(
            detail=f"用户名{username}已存在", code="username_taken", extra={"field": "username"}
        )
    operator = Operator(
        username=username,
        full_name=full_name,
        role=role.value,
        office_id=office.id,
        password_hash=hash_password(password),
        password_changed_at=utcnow(),
    )
    operator.office = office
    session.add(operator)
    session.flush()
    record(
        session=session,
        actor=actor,
        action="operator.create",
        object_type="operator",
        object_id=operator.id,
        detail={"username": username, "role": role.value, "office": office.code},
    )
    return operator


def get_operator(*, session: Session, principal: Principal, operator_id: int) -> Operator:
    """One operator of the scope; out of scope is ``NotFound``."""
    operator = session.get(Operator, operator_id)
    if operator is None or not principal.scope.covers(operator.office.region_code):
        raise NotFound(
            detail=f"操作员{operator_id}不存在",
            code="operator_not_found",
            audit_refusal=operator is not None,
        )
    return operator


def get_operator_by_username(*, session: Session, username: str) -> Operator:
    """One operator by user name (command line)."""
    operator = session.scalar(select(Operator).where(Operator.username == username))
    if operator is None:
        raise NotFound(detail=f"操作员{username}不存在", code="operator_not_found")
    return operator


def list_operators(
    *, session: Session, principal: Principal, offset: int = 0, limit: int = 50
) -> tuple[int, list[Operator]]:
    """Operators whose office lies in the scope."""
    query = (
        select(Operator)
        .join(Office, Operator.office_id == Office.id)
        .where(Office.region_code.startswith(principal.scope.prefix))
    )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = session.scalars(query.order_by(Operator.username).offset(offset).limit(limit)).all()
    return total, list(page)


def update_operator(
    *,
    session: Session,
    principal: Principal | None,
    actor: Actor,
    operator: Operator,
    role: Role | None = None,
    is_active: bool | None = None,
    password: str | None = None,
) -> Operator:
    """Change role, activation or password; deactivation and password change end sessions."""
    new_role = role or Role(operator.role)
    _check_can_manage(principal, new_role, operator.office)
    if principal is not None:
        _check_can_manage(principal, Role(operator.role), operator.office)
        if principal.operator_id == operator.id:
            raise PermissionDenied(detail="不能修改自己的账户", code="self_change")
    changes: dict[str, object] = {}
    if role is not None and role.value != operator.role:
        changes["role"] = [operator.role, role.value]
        operator.role = role.value
    if is_active is not None and is_active != operator.is_active:
        changes["is_active"] = is_active
        operator.is_active = is_active
        if not is_active:
            revoke_all_sessions(session=session, operator_id=operator.id)
    if password is not None:
        operator.password_hash = hash_password(password)
        operator.password_changed_at = utcnow()
        changes["password"] = "changed"
        revoke_all_sessions(session=session, operator_id=operator.id)
    record(
        session=session,
        actor=actor,
        action="operator.update",
        object_type="operator",
        object_id=operator.id,
        detail=changes,
    )
    return operator


def unlock_operator(
    *, session: Session, principal: Principal | None, actor: Actor, operator: Operator
) -> Operator:
    """Lift a lockout (security administrator; an administrator's only on the console)."""
    if principal is not None:
        principal.require(Permission.OPERATOR_UNLOCK)
        if Role(operator.role) in THREE_ADMINISTRATORS:
            raise PermissionDenied(
                detail="系统、安全、审计管理员的账户只能在服务器上由两人共同操作",
                code="role_not_manageable",
            )
    operator.locked_until = None
    operator.failed_logins = 0
    record(
        session=session,
        actor=actor,
        action="operator.unlock",
        object_type="operator",
        object_id=operator.id,
    )
    return operator


def regions_exist(*, session: Session, codes: Iterable[str]) -> set[str]:
    """Which of ``codes`` are known regions."""
    wanted = set(codes)
    if not wanted:
        return set()
    return set(session.scalars(select(Region.code).where(Region.code.in_(wanted))))
