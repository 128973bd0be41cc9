"""Writing and verifying the hash-chained audit log.

Each record's hash covers its own fields and the previous record's hash, so an
edited record breaks its own hash and a deleted one breaks its successor's link.
On PostgreSQL writers take a transaction-scoped advisory lock so the chain is
extended by one transaction at a time; SQLite serialises writers anyway.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from backend.audit.models import AuditRecord
from backend.db import is_postgres, utcnow

GENESIS_HASH = "0" * 64
_CHAIN_LOCK_KEY = 0x786E6261  # "xnba": one advisory lock for the audit chain


@dataclass(frozen=True)
class Actor:
    """Who acts, and from where: filled from the request (or the CLI)."""

    operator_id: int | None = None
    username: str | None = None
    device: str | None = None
    address: str | None = None

    @classmethod
    def system(cls, name: str = "system") -> Actor:
        """The actor for jobs and command-line work without an operator."""
        return cls(username=name, device="cli")


def _canonical(fields: dict[str, Any]) -> str:
    return json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def compute_hash(record: AuditRecord) -> str:
    """The SHA-256 over the previous hash and every field of ``record``."""
    fields = {
        "at": record.at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
        "operator_id": record.operator_id,
        "username": record.username,
        "device": record.device,
        "address": record.address,
        "action": record.action,
        "object_type": record.object_type,
        "object_id": record.object_id,
        "result": record.result,
        "detail": record.detail,
    }
    return hashlib.sha256((record.prev_hash + _canonical(fields)).encode()).hexdigest()


def record(
    *,
    session: Session,
    actor: Actor,
    action: str,
    object_type: str | None = None,
    object_id: str | int | None = None,
    result: str = "ok",
    detail: dict[str, Any] | None = None,
) -> AuditRecord:
    """Append one record to the chain inside the caller's transaction."""
    if is_postgres(session):
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _CHAIN_LOCK_KEY})
    last_hash = session.scalar(select(AuditRecord.hash).order_by(AuditRecord.id.desc()).limit(1))
    entry = AuditRecord(
        at=utcnow(),
        operator_id=actor.operator_id,
        username=actor.username,
        device=actor.device,
        address=actor.address,
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        result=result,
        detail=_canonical(detail or {}),
        prev_hash=last_hash or GENESIS_HASH,
    )
    entry.hash = compute_hash(entry)
    session.add(entry)
    session.flush()
    return entry


@dataclass(frozen=True)
class ChainFault:
    """A place where the chain does not hold."""

    record_id: int
    kind: str  # "edited" | "deleted_before" | "bad_genesis"
    message: str


def verify(*, session: Session, batch_size: int = 5000) -> tuple[int, list[ChainFault]]:
    """Walk the whole chain in id order; return the count checked and every fault found."""
    faults: list[ChainFault] = []
    expected_prev = GENESIS_HASH
    count = 0
    for rec in _stream(session, batch_size):
        count += 1
        if rec.prev_hash != expected_prev:
            kind = "bad_genesis" if expected_prev == GENESIS_HASH else "deleted_before"
            faults.append(
                ChainFault(
                    rec.id,
                    kind,
                    f"第{rec.id}条记录的前序哈希与上一条记录不符：其前面的记录被删除或篡改",
                )
            )
        if compute_hash(rec) != rec.hash:
            faults.append(
                ChainFault(rec.id, "edited", f"第{rec.id}条记录的内容与其哈希不符：记录被修改")
            )
        expected_prev = rec.hash
    return count, faults


def _stream(session: Session, batch_size: int) -> Iterator[AuditRecord]:
    last_id = 0
    while True:
        batch = session.scalars(
            select(AuditRecord)
            .where(AuditRecord.id > last_id)
            .order_by(AuditRecord.id)
            .limit(batch_size)
        ).all()
        if not batch:
            return
        yield from batch
        last_id = batch[-1].id
        session.expunge_all()


def search(
    *,
    session: Session,
    action: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    operator_id: int | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[int, list[AuditRecord]]:
    """Filter the log; newest first; returns (total, page)."""
    query = select(AuditRecord)
    if action:
        query = query.where(AuditRecord.action == action)
    if object_type:
        query = query.where(AuditRecord.object_type == object_type)
    if object_id:
        query = query.where(AuditRecord.object_id == object_id)
    if operator_id is not None:
        query = query.where(AuditRecord.operator_id == operator_id)
    if since:
        query = query.where(AuditRecord.at >= since)
    if until:
        query = query.where(AuditRecord.at < until)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = session.scalars(query.order_by(AuditRecord.id.desc()).offset(offset).limit(limit)).all()
    return total, list(page)
