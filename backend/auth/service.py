"""Passwords (Argon2id), log-in with lockout, and bearer-token sessions.

Log-in is built as a list of factors: the password, then the certificate (the
operator's key signs a single-use challenge, ``backend.pki.login``). A session
proven with a certificate is bound to it and to the connection's client
certificate.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass, field

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import case, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from backend.audit.service import Actor, record
from backend.auth.models import OperatorSession
from backend.config import Settings
from backend.db import utcnow
from backend.errors import AuthenticationFailed, DomainError, invalid
from backend.orgs.models import Operator
from backend.pki.login import verify_proof

_hasher = PasswordHasher()  # Argon2id, memory-hard, library defaults (64 MiB, t=3)
# A hash of a random password, verified against when the user does not exist so that
# unknown and known user names take the same time.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))

MIN_PASSWORD_LENGTH = 10


def hash_password(password: str) -> str:
    """Argon2id hash of a password that meets the policy."""
    check_password_policy(password)
    return _hasher.hash(password)


def hash_secret(secret: str) -> str:
    """Argon2id hash of a secret whose policy the caller checked (a resident's query password)."""
    return _hasher.hash(secret)


def verify_secret(stored_hash: str | None, secret: str) -> bool:
    """Whether ``secret`` matches ``stored_hash``; without a hash, the same work, then False.

    Verifying against a dummy hash when there is none makes an unknown holder and a wrong
    secret take the same time.
    """
    ok = _verify_password(stored_hash or _DUMMY_HASH, secret)
    return ok and stored_hash is not None


def check_password_policy(password: str) -> None:
    """At least 10 characters from at least three of: lower, upper, digit, symbol."""
    classes = sum(
        [
            any(c.islower() for c in password),
            any(c.isupper() for c in password),
            any(c.isdigit() for c in password),
            any(not c.isalnum() for c in password),
        ]
    )
    if len(password) < MIN_PASSWORD_LENGTH or classes < 3:
        raise invalid(
            "password",
            "密码至少10位，且须包含大写字母、小写字母、数字、符号中的三类",
            "weak_password",
        )


def _verify_password(stored_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def token_hash(token: str) -> str:
    """What is stored of a bearer token."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class CertificateProof:
    """The certificate factor as sent by the client."""

    challenge_id: int
    signature_b64: str
    certificate_pem: str


@dataclass
class LoginOutcome:
    """The result of a log-in attempt; failures are returned so the caller can persist them."""

    operator: Operator | None = None
    token: str | None = None
    expires_at: dt.datetime | None = None
    factors: list[str] = field(default_factory=list)
    error: DomainError | None = None


def login(
    *,
    session: Session,
    settings: Settings,
    username: str,
    password: str,
    actor: Actor,
    certificate_proof: CertificateProof | None = None,
    device_fingerprint: str | None = None,
) -> LoginOutcome:
    """Check the password and certificate factors, lock after too many failures, open a session.

    An unknown, inactive or locked account and a wrong password or certificate factor all
    get the same answer after the same work (a password hash is verified every time), so
    the answer tells nothing about the account; the audit record names the reason. The
    caller must commit even when ``error`` is set: the failure count and the audit record
    of the refusal are part of the outcome.
    """
    now = utcnow()
    operator = session.scalar(select(Operator).where(Operator.username == username))
    who = Actor(
        operator_id=operator.id if operator else None,
        username=username,
        device=actor.device,
        address=actor.address,
    )
    password_ok = _verify_password(operator.password_hash if operator else _DUMMY_HASH, password)
    if operator is None:
        return _refuse(session, who, None, {"reason": "unknown_user"})
    if not operator.is_active:
        return _refuse(session, who, operator, {"reason": "inactive"})
    if operator.locked_until and operator.locked_until > now:
        return _refuse(
            session,
            who,
            operator,
            {"reason": "locked", "locked_until": operator.locked_until.isoformat()},
        )
    if not password_ok:
        return _refuse(
            session, who, operator, _count_failure(session, settings, operator, "bad_password")
        )
    certificate_factor = _certificate_factor(
        session=session,
        settings=settings,
        operator=operator,
        proof=certificate_proof,
        device_fingerprint=device_fingerprint,
    )
    if isinstance(certificate_factor, DomainError):
        detail = _count_failure(session, settings, operator, certificate_factor.code)
        return _refuse(session, who, operator, detail, error=certificate_factor)
    factors = ["password"]
    if certificate_factor is not None:
        factors.append("certificate")
    operator.failed_logins = 0
    operator.locked_until = None
    token = secrets.token_urlsafe(32)
    expires_at = now + dt.timedelta(minutes=settings.session_idle_minutes)
    session.add(
        OperatorSession(
            token_hash=token_hash(token),
            operator_id=operator.id,
            factors="+".join(factors),
            certificate_id=certificate_factor,
            device_fingerprint=device_fingerprint,
            device=actor.device,
            address=actor.address,
            created_at=now,
            last_seen_at=now,
            expires_at=min(expires_at, now + dt.timedelta(hours=settings.session_max_hours)),
        )
    )
    record(
        session=session,
        actor=who,
        action="auth.login",
        object_type="operator",
        object_id=operator.id,
        detail={"factors": factors, "certificate_id": certificate_factor},
    )
    return LoginOutcome(operator=operator, token=token, expires_at=expires_at, factors=factors)


def _count_failure(
    session: Session, settings: Settings, operator: Operator, reason: str
) -> dict[str, object]:
    """Count one failed factor of an operator's log-in and lock at the limit."""
    detail = count_failure(
        session,
        settings,
        failures=Operator.failed_logins,
        locked_until=Operator.locked_until,
        row_id=operator.id,
    )
    session.expire(operator, ["failed_logins", "locked_until"])
    return {"reason": reason, **detail}


def count_failure(
    session: Session,
    settings: Settings,
    *,
    failures: InstrumentedAttribute[int],
    locked_until: InstrumentedAttribute[dt.datetime | None],
    row_id: int,
) -> dict[str, object]:
    """Count one failed try of a secret and lock at ``login_max_failures``, in one statement.

    The increment happens in the database under the row's lock, so concurrent failures
    are all counted and exactly one of them starts the lockout (``lockout_minutes``); the
    count starts afresh with the lock. ``failures`` and ``locked_until`` are the columns of
    the row (``id`` ``row_id``) that holds the secret; the caller expires them if loaded.
    """
    model = failures.class_
    reaches_limit = failures + 1 >= settings.login_max_failures
    until = utcnow() + dt.timedelta(minutes=settings.lockout_minutes)
    count, locked = session.execute(
        update(model)
        .where(model.id == row_id)
        .values(
            {
                failures: case((reaches_limit, 0), else_=failures + 1),
                locked_until: case((reaches_limit, until), else_=locked_until),
            }
        )
        .returning(failures, locked_until)
        .execution_options(synchronize_session=False)
    ).one()
    if count == 0 and locked is not None:
        return {"failures": settings.login_max_failures, "locked_until": locked.isoformat()}
    return {"failures": count}


def _refuse(
    session: Session,
    who: Actor,
    operator: Operator | None,
    detail: dict[str, object],
    *,
    error: DomainError | None = None,
) -> LoginOutcome:
    """Audit a refused log-in with its real reason; answer with ``error`` or the generic one.

    Only a refusal of the certificate factor, which comes after a correct password, says
    what was wrong with the certificate.
    """
    record(
        session=session,
        actor=who,
        action="auth.login",
        object_type="operator" if operator else None,
        object_id=operator.id if operator else None,
        result="denied",
        detail=detail,
    )
    return LoginOutcome(error=error or AuthenticationFailed(detail="用户名或密码错误"))


def _certificate_factor(
    *,
    session: Session,
    settings: Settings,
    operator: Operator,
    proof: CertificateProof | None,
    device_fingerprint: str | None,
) -> int | DomainError | None:
    """The proven certificate's id, the refusal, or None when no proof was sent nor needed."""
    if proof is None:
        if settings.login_requires_certificate:
            return AuthenticationFailed(
                detail="须同时出示操作员证书（签名登录挑战）", code="certificate_required"
            )
        return None
    try:
        certificate = verify_proof(
            session=session,
            operator=operator,
            challenge_id=proof.challenge_id,
            signature_b64=proof.signature_b64,
            certificate_pem=proof.certificate_pem,
            device_fingerprint=device_fingerprint,
        )
    except DomainError as error:
        return error
    return certificate.id


def authenticate(
    *, session: Session, settings: Settings, token: str, device_fingerprint: str | None = None
) -> tuple[Operator, OperatorSession]:
    """Resolve a bearer token to its operator; slide the idle expiry within the absolute cap.

    A session opened over a client certificate is good only over that certificate.
    """
    now = utcnow()
    op_session = session.scalar(
        select(OperatorSession).where(OperatorSession.token_hash == token_hash(token))
    )
    if op_session is None or op_session.revoked_at is not None or op_session.expires_at <= now:
        raise AuthenticationFailed(detail="会话无效或已过期，请重新登录", code="session_expired")
    if op_session.device_fingerprint is not None and (
        op_session.device_fingerprint != device_fingerprint
    ):
        raise AuthenticationFailed(
            detail="会话令牌只能在登录时所用的终端上使用", code="session_device_mismatch"
        )
    operator = session.get(Operator, op_session.operator_id)
    if operator is None or not operator.is_active:
        raise AuthenticationFailed(detail="账户已停用", code="operator_inactive")
    hard_limit = op_session.created_at + dt.timedelta(hours=settings.session_max_hours)
    op_session.last_seen_at = now
    op_session.expires_at = min(
        now + dt.timedelta(minutes=settings.session_idle_minutes), hard_limit
    )
    return operator, op_session


def logout(*, session: Session, op_session: OperatorSession, actor: Actor) -> None:
    """End a session now."""
    op_session.revoked_at = utcnow()
    record(
        session=session,
        actor=actor,
        action="auth.logout",
        object_type="operator",
        object_id=op_session.operator_id,
    )


def revoke_all_sessions(*, session: Session, operator_id: int) -> None:
    """End every open session of an operator (deactivation, password change)."""
    session.execute(
        update(OperatorSession)
        .where(OperatorSession.operator_id == operator_id, OperatorSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
