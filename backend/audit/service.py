"""Writing and verifying the hash-chained audit log.

The log is several independent chains (:data:`MAIN_CHAIN` for staff, system and device
actions, ``bank:<code>`` for each partner bank's API calls). Each record's hash covers
its own fields, its chain's name and the previous record's hash in that chain, so an
edited record breaks its own hash and a deleted one breaks its successor's link.

Each chain has a head row (:class:`AuditChainHead`) holding its newest hash. Appending
moves the head and inserts the record in one statement; the head's row lock, held to
commit, lets one transaction at a time extend a chain while different chains do not wait
for each other (one province-wide lock had every bank payout queue behind every counter
action). On PostgreSQL that statement also computes the new hash (``sha256`` of the
previous hash and the canonical fields, exactly as :func:`compute_hash`), so the lock is
held for that statement and the commit only: callers append the audit record as their
last statement. SQLite serialises writers anyway and hashes in Python.
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

from backend.audit.checkpoints import ChainMark, Checkpoint
from backend.audit.models import MAIN_CHAIN, AuditChainHead, AuditRecord
from backend.db import is_postgres, utcnow

GENESIS_HASH = "0" * 64

# One statement: move the chain's head (created on its first record) and insert the
# record linked to the head it replaced. ON CONFLICT DO UPDATE waits for a concurrent
# append's row lock and then works on the newest head, so READ COMMITTED cannot fork a
# chain; that lock is held to commit.
_APPEND_POSTGRES = text(
    """
WITH head AS (
    INSERT INTO audit_chain_heads AS h (chain, prev_hash, hash)
    VALUES (
        :chain,
        CAST(:genesis AS text),
        encode(
            sha256(convert_to(CAST(:genesis AS text) || CAST(:canonical AS text), 'UTF8')),
            'hex'
        )
    )
    ON CONFLICT (chain) DO UPDATE SET
        prev_hash = h.hash,
        hash = encode(sha256(convert_to(h.hash || CAST(:canonical AS text), 'UTF8')), 'hex')
    RETURNING prev_hash, hash
)
INSERT INTO audit_records (
    chain, at, operator_id, username, device, address, action, object_type, object_id,
    result, detail, prev_hash, hash
)
VALUES (
    :chain, :at, :operator_id, :username, :device, :address, :action, :object_type,
    :object_id, :result, :detail, (SELECT prev_hash FROM head), (SELECT hash FROM head)
)
"""
)


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


def _hashed_fields(record: AuditRecord) -> str:
    return _canonical(
        {
            "chain": record.chain,
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
    )


def compute_hash(record: AuditRecord) -> str:
    """The SHA-256 over the previous hash, the chain's name and every field of ``record``."""
    return hashlib.sha256((record.prev_hash + _hashed_fields(record)).encode()).hexdigest()


def record(
    *,
    session: Session,
    actor: Actor,
    action: str,
    object_type: str | None = None,
    object_id: str | int | None = None,
    result: str = "ok",
    detail: dict[str, Any] | None = None,
    chain: str = MAIN_CHAIN,
) -> None:
    """Append one record to ``chain`` inside the caller's transaction."""
    entry = AuditRecord(
        chain=chain,
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
    )
    if is_postgres(session):
        # The caller's pending changes go out now, not while this chain's head is locked.
        session.flush()
        session.execute(
            _APPEND_POSTGRES,
            {
                "chain": chain,
                "genesis": GENESIS_HASH,
                "canonical": _hashed_fields(entry),
                "at": entry.at,
                "operator_id": entry.operator_id,
                "username": entry.username,
                "device": entry.device,
                "address": entry.address,
                "action": entry.action,
                "object_type": entry.object_type,
                "object_id": entry.object_id,
                "result": entry.result,
                "detail": entry.detail,
            },
        )
        return
    head = session.get(AuditChainHead, chain)
    entry.prev_hash = head.hash if head else GENESIS_HASH
    entry.hash = compute_hash(entry)
    if head is None:
        session.add(AuditChainHead(chain=chain, prev_hash=GENESIS_HASH, hash=entry.hash))
    else:
        head.prev_hash, head.hash = head.hash, entry.hash
    session.add(entry)
    session.flush()


@dataclass(frozen=True)
class ChainFault:
    """A place where a chain does not hold."""

    chain: str
    record_id: int
    # "edited" | "deleted_before" | "bad_genesis" | "deleted_after" | "truncated" | "rewritten"
    kind: str
    message: str


def verify(
    *, session: Session, batch_size: int = 5000, checkpoint: Checkpoint | None = None
) -> tuple[int, list[ChainFault]]:
    """Walk every chain in id order and check it ends at its head and holds what the
    signed ``checkpoint`` (kept outside the database) counted; return the records checked
    and every fault found."""
    heads = {h.chain: h.hash for h in session.scalars(select(AuditChainHead))}
    marks = checkpoint.chains if checkpoint else {}
    chains = set(session.scalars(select(AuditRecord.chain).distinct())) | set(heads) | set(marks)
    count = 0
    faults: list[ChainFault] = []
    for chain in sorted(chains):
        checked, last_id, last_hash = _verify_chain(
            session, chain, batch_size, faults, marks.get(chain)
        )
        count += checked
        mark = marks.get(chain)
        if mark is not None and checked < mark.count:
            assert checkpoint is not None
            faults.append(
                ChainFault(
                    chain,
                    last_id,
                    "truncated",
                    f"审计链{chain}只有{checked}条记录，而 {checkpoint.at:%Y-%m-%d %H:%M:%S} UTC "
                    f"的签名检查点记有{mark.count}条：链尾的记录被删除（链头也被改动）",
                )
            )
        if last_hash != heads.get(chain):
            faults.append(
                ChainFault(
                    chain,
                    last_id,
                    "deleted_after",
                    f"审计链{chain}的最后一条记录（第{last_id}条）与链头不符：其后的记录被删除或链头被改动",
                )
            )
    return count, faults


def _verify_chain(
    session: Session,
    chain: str,
    batch_size: int,
    faults: list[ChainFault],
    mark: ChainMark | None,
) -> tuple[int, int, str | None]:
    """Check one chain's links and hashes, and that its record at the checkpoint's count
    is the one checkpointed; return the count, the last record's id and hash."""
    expected_prev = GENESIS_HASH
    count, last_id, last_hash = 0, 0, None
    for rec in _stream(session, chain, batch_size):
        count += 1
        if mark is not None and count == mark.count and rec.hash != mark.hash:
            faults.append(
                ChainFault(
                    chain,
                    rec.id,
                    "rewritten",
                    f"审计链{chain}的第{count}条记录（第{rec.id}条）与签名检查点不符："
                    "检查点之前的记录被删除、改写或重新计算了哈希",
                )
            )
        if rec.prev_hash != expected_prev:
            kind = "bad_genesis" if expected_prev == GENESIS_HASH else "deleted_before"
            faults.append(
                ChainFault(
                    chain,
                    rec.id,
                    kind,
                    f"审计链{chain}中第{rec.id}条记录的前序哈希与上一条记录不符：其前面的记录被删除或篡改",
                )
            )
        if compute_hash(rec) != rec.hash:
            faults.append(
                ChainFault(
                    chain,
                    rec.id,
                    "edited",
                    f"审计链{chain}中第{rec.id}条记录的内容与其哈希不符：记录被修改",
                )
            )
        expected_prev = last_hash = rec.hash
        last_id = rec.id
    return count, last_id, last_hash


def _stream(session: Session, chain: str, batch_size: int) -> Iterator[AuditRecord]:
    last_id = 0
    while True:
        batch = session.scalars(
            select(AuditRecord)
            .where(AuditRecord.chain == chain, AuditRecord.id > last_id)
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
