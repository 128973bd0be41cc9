"""The 12333 web query's sign-in: ID number + name + a one-time code to the phone on record.

``send_code`` and ``verify_code`` give the same outcome for an unknown person (or a wrong
name, or no phone on record) as for a known one, so the pages can say the same thing;
the audit records name the real reason. Wrong codes of a person's recent codes together
lock the web query: ``login_max_failures`` in ``lockout_minutes``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from backend.audit.service import Actor, record
from backend.config import Settings
from backend.db import utcnow
from backend.keys.fields import lookup
from backend.query.models import QueryCode, QueryWebSession
from backend.query.sender import CodeSender
from backend.query.service import record_refusal
from backend.registry.models import Person

CODE_MINUTES = 5
CODE_TRIES = 3
SESSION_MINUTES = 15


def _person(session: Session, id_number: str, name: str) -> Person | None:
    return session.scalar(
        select(Person).where(
            Person.id_number_hash == lookup("id_number", id_number.strip().upper()),
            Person.name_hash == lookup("name", name.strip()),
        )
    )


def _code_hash(person_id: int, code: str) -> str:
    return lookup("query_code", f"{person_id}:{code}").hex()


def _recent_failures(session: Session, settings: Settings, person_id: int) -> int:
    since = utcnow() - dt.timedelta(minutes=settings.lockout_minutes)
    total = session.scalar(
        select(func.sum(QueryCode.failures)).where(
            QueryCode.person_id == person_id, QueryCode.created_at >= since
        )
    )
    return int(total or 0)


def send_code(
    *,
    session: Session,
    settings: Settings,
    sender: CodeSender,
    id_number: str,
    name: str,
    request_key: str,
    actor: Actor,
) -> None:
    """Send a new code when the person exists, has a phone and is not locked; else nothing.

    A form posted again with the same ``request_key`` sends nothing more.
    """
    if session.scalar(select(QueryCode.id).where(QueryCode.request_key == request_key)):
        return
    person = _person(session, id_number, name)
    reason = None
    if person is None:
        reason = "unknown_person"
    elif not person.phone:
        reason = "no_phone"
    elif _recent_failures(session, settings, person.id) >= settings.login_max_failures:
        reason = "locked"
    if reason is not None or person is None or person.phone is None:
        record_refusal(
            session=session,
            actor=actor,
            action="query.code_send",
            person=person,
            detail={"reason": reason},
        )
        return
    code = f"{secrets.randbelow(10**6):06d}"
    now = utcnow()
    session.add(
        QueryCode(
            person_id=person.id,
            code_hash=_code_hash(person.id, code),
            request_key=request_key,
            created_at=now,
            expires_at=now + dt.timedelta(minutes=CODE_MINUTES),
            failures=0,
        )
    )
    sender.send(
        phone=person.phone,
        text=f"【12333】您的查询验证码是{code}，{CODE_MINUTES}分钟内有效。如非本人操作，请忽略。",
    )
    record(
        session=session,
        actor=actor,
        action="query.code_send",
        object_type="person",
        object_id=person.id,
    )


def verify_code(
    *,
    session: Session,
    settings: Settings,
    id_number: str,
    name: str,
    code: str,
    actor: Actor,
) -> str | None:
    """A new web session's cookie token when the code is right, unused, fresh and not locked."""
    person = _person(session, id_number, name)
    now = utcnow()
    reason = None
    latest = None
    if person is None:
        reason = "unknown_person"
    elif _recent_failures(session, settings, person.id) >= settings.login_max_failures:
        reason = "locked"
    else:
        latest = session.scalar(
            select(QueryCode)
            .where(QueryCode.person_id == person.id, QueryCode.used_at.is_(None))
            .order_by(QueryCode.id.desc())
            .limit(1)
        )
        if latest is None or latest.expires_at <= now or latest.failures >= CODE_TRIES:
            reason = "no_valid_code"
        elif not secrets.compare_digest(latest.code_hash, _code_hash(person.id, code.strip())):
            reason = "bad_code"
            session.execute(
                update(QueryCode)
                .where(QueryCode.id == latest.id)
                .values(failures=QueryCode.failures + 1)
                .execution_options(synchronize_session=False)
            )
    if reason is not None or person is None or latest is None:
        record_refusal(
            session=session,
            actor=actor,
            action="query.web_login",
            person=person,
            detail={"reason": reason},
        )
        return None
    latest.used_at = now
    token = secrets.token_urlsafe(32)
    session.add(
        QueryWebSession(
            token_hash=hashlib.sha256(token.encode()).hexdigest(),
            person_id=person.id,
            created_at=now,
            expires_at=now + dt.timedelta(minutes=SESSION_MINUTES),
        )
    )
    record(
        session=session,
        actor=actor,
        action="query.web_login",
        object_type="person",
        object_id=person.id,
    )
    return token


def session_person(*, session: Session, token: str | None) -> Person | None:
    """The resident of a live web session, or None."""
    if not token:
        return None
    row = session.scalar(
        select(QueryWebSession).where(
            QueryWebSession.token_hash == hashlib.sha256(token.encode()).hexdigest()
        )
    )
    if row is None or row.ended_at is not None or row.expires_at <= utcnow():
        return None
    return session.get(Person, row.person_id)


def end_session(*, session: Session, token: str | None) -> None:
    """Sign out: the session ends now."""
    if token:
        session.execute(
            update(QueryWebSession)
            .where(QueryWebSession.token_hash == hashlib.sha256(token.encode()).hexdigest())
            .values(ended_at=utcnow())
        )
