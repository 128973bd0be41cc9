"""A resident's access to the 12333 phone query: the query password and its lockout."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base, IdType, UtcDateTime, id_column, utcnow


class QueryPassword(Base):
    """The query password (查询密码) set at the counter: only its Argon2id hash is kept.

    Failed tries are counted here; at the limit the password is locked for a while, and
    while locked even the right password is refused (with the same answer as a wrong one).
    """

    __tablename__ = "query_passwords"

    id: Mapped[int] = id_column()
    person_id: Mapped[int] = mapped_column(IdType, ForeignKey("persons.id"), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    set_by: Mapped[int] = mapped_column(IdType, ForeignKey("operators.id"))
    set_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class QueryCode(Base):
    """A one-time code sent to the phone on record for the 12333 web query.

    Only a keyed hash of the code is kept. A code is good for ``expires_at``, once, and a
    few tries; wrong tries of all a person's recent codes together lock the web query.
    """

    __tablename__ = "query_codes"

    id: Mapped[int] = id_column()
    person_id: Mapped[int] = mapped_column(IdType, ForeignKey("persons.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    # The sign-in form's one-time key: posting the same form twice sends one code.
    request_key: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    failures: Mapped[int] = mapped_column(Integer, default=0)


class QueryWebSession(Base):
    """A resident's signed-in 12333 web session: only the SHA-256 of its cookie is kept."""

    __tablename__ = "query_web_sessions"

    id: Mapped[int] = id_column()
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    person_id: Mapped[int] = mapped_column(IdType, ForeignKey("persons.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
