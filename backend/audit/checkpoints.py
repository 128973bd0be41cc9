"""Signed checkpoints of the audit chains, kept outside the database.

The hash chain shows an edited or deleted record, but whoever can write the database can
also delete the newest records *and* move the chain's head back: the chain then ends where
its head says and looks whole. A checkpoint anchors the chains outside the database: the
record count and newest hash of every chain at a moment, signed with the backend's
Ed25519 checkpoint key, appended as one JSON line to a file the database cannot reach
(``audit_checkpoint_path``; make it append-only: ``chattr +a``, or a log host).
``xnb audit verify`` checks every chain against the newest checkpoint: a chain with fewer
records than the checkpoint counted, or whose record at that count has another hash, was
truncated or rewritten.

The running backend writes one every ``audit_checkpoint_every_records`` new records or
``audit_checkpoint_every_minutes`` minutes (if anything was added), and when it stops
(:class:`Checkpointer`); ``xnb audit checkpoint`` writes one by hand.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import fcntl
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from backend.config import Settings
from backend.db import unit_of_work, utcnow

log = logging.getLogger("xnb.audit")
FORMAT = "xnb-audit-checkpoint/1"
# How often the running backend looks whether a checkpoint is due.
POLL_SECONDS = 30.0

# One statement, so heads and counts come from one snapshot.
_MARKS = text(
    """
SELECT h.chain, h.hash, (SELECT count(*) FROM audit_records r WHERE r.chain = h.chain)
FROM audit_chain_heads h
"""
)


class CheckpointError(Exception):
    """The checkpoint file or key cannot be trusted (unreadable, bad signature)."""


@dataclass(frozen=True)
class ChainMark:
    """One chain at a checkpoint: how many records it had and the newest one's hash."""

    count: int
    hash: str


@dataclass(frozen=True)
class Checkpoint:
    """Every chain's mark at one moment."""

    at: dt.datetime
    chains: dict[str, ChainMark]

    def payload(self) -> bytes:
        """The exact bytes signed."""
        return json.dumps(
            {
                "format": FORMAT,
                "at": self.at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
                "chains": {c: [m.count, m.hash] for c, m in sorted(self.chains.items())},
            },
            sort_keys=True,
            separators=(",", ":"),
        ).encode()

    @property
    def total(self) -> int:
        """Records in every chain together."""
        return sum(m.count for m in self.chains.values())


def current_marks(session: Session) -> dict[str, ChainMark]:
    """Every chain's count and head as committed now."""
    return {chain: ChainMark(int(count), head) for chain, head, count in session.execute(_MARKS)}


def _public_path(key_path: Path) -> Path:
    return key_path.with_name(key_path.name + ".pub")


def _signing_key(settings: Settings) -> Ed25519PrivateKey:
    """The checkpoint key: made on first use (file 0600, encrypted under its passphrase),
    with its public half beside it for verifiers."""
    path = settings.audit_checkpoint_key_path
    passphrase = settings.audit_checkpoint_passphrase.get_secret_value().encode()
    if path.exists():
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), passphrase)
        except (ValueError, TypeError) as exc:
            raise CheckpointError(f"审计检查点密钥{path}无法打开（口令错误或文件损坏）") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise CheckpointError(f"{path}不是 Ed25519 密钥")
        return key
    key = Ed25519PrivateKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase),
    )
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as fh:
        fh.write(encrypted)
    _public_path(path).write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    log.warning("made the audit checkpoint key %s (back it up with its passphrase)", path)
    return key


def _public_key(settings: Settings) -> Ed25519PublicKey:
    path = _public_path(settings.audit_checkpoint_key_path)
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"审计检查点公钥{path}无法读取") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise CheckpointError(f"{path}不是 Ed25519 公钥")
    return key


def write_checkpoint(
    *, settings: Settings, marks: dict[str, ChainMark], now: dt.datetime | None = None
) -> Checkpoint:
    """Sign the marks and append them as one line to the checkpoint file."""
    path = settings.audit_checkpoint_path
    if path is None:
        raise CheckpointError("未配置审计检查点文件（XNB_AUDIT_CHECKPOINT_PATH）")
    checkpoint = Checkpoint(at=now or utcnow(), chains=marks)
    signature = _signing_key(settings).sign(checkpoint.payload())
    line = json.dumps(
        {
            "checkpoint": json.loads(checkpoint.payload()),
            "signature": base64.b64encode(signature).decode(),
        },
        separators=(",", ":"),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(descriptor, "a", encoding="utf-8") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)  # several backend processes append to one file
        fh.write(line + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    return checkpoint


def _parse(line: str, number: int, public_key: Ed25519PublicKey) -> Checkpoint:
    try:
        document = json.loads(line)
        body: dict[str, Any] = document["checkpoint"]
        signature = base64.b64decode(document["signature"], validate=True)
        checkpoint = Checkpoint(
            at=dt.datetime.fromisoformat(body["at"]),
            chains={c: ChainMark(int(n), str(h)) for c, (n, h) in body["chains"].items()},
        )
        if body.get("format") != FORMAT:
            raise ValueError(body.get("format"))
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"审计检查点文件第{number}行格式错误") from exc
    try:
        public_key.verify(signature, checkpoint.payload())
    except InvalidSignature as exc:
        raise CheckpointError(f"审计检查点文件第{number}行的签名不符：检查点被改动") from exc
    return checkpoint


def latest_checkpoint(settings: Settings) -> Checkpoint | None:
    """The newest checkpoint, every line's signature checked; None when there is none yet."""
    path = settings.audit_checkpoint_path
    if path is None or not path.exists():
        return None
    public_key = _public_key(settings)
    latest = None
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if line.strip():
                latest = _parse(line, number, public_key)
    return latest


def is_due(
    *, last: Checkpoint | None, marks: dict[str, ChainMark], settings: Settings, now: dt.datetime
) -> bool:
    """A checkpoint is due after ``every_records`` new records, or ``every_minutes`` after
    the last one if any record was added since."""
    if last is not None and last.chains == marks:
        return False
    if last is None:
        return bool(marks)
    added = sum(m.count for m in marks.values()) - last.total
    elapsed = now - last.at
    return added >= settings.audit_checkpoint_every_records or elapsed >= dt.timedelta(
        minutes=settings.audit_checkpoint_every_minutes
    )


class Checkpointer:
    """The running backend's checkpoint writer: looks every 30 s, writes when due, and once
    more when the backend stops."""

    def __init__(self, settings: Settings, session_factory: sessionmaker[Session]) -> None:
        self._settings = settings
        self._factory = session_factory
        self._last: Checkpoint | None = None
        self._task: asyncio.Task[None] | None = None

    def _tick(self, *, final: bool = False) -> None:
        with unit_of_work(self._factory) as session:
            marks = current_marks(session)
        now = utcnow()
        due = is_due(last=self._last, marks=marks, settings=self._settings, now=now)
        if due or (final and marks and (self._last is None or self._last.chains != marks)):
            self._last = write_checkpoint(settings=self._settings, marks=marks, now=now)

    async def _run(self) -> None:
        while True:
            try:
                await run_in_threadpool(self._tick)
            except Exception:  # a failed checkpoint must not stop the backend; logged loudly
                log.exception("could not write the audit checkpoint")
            await asyncio.sleep(POLL_SECONDS)

    def start(self) -> None:
        """Start looking (the newest checkpoint in the file is the last one written)."""
        self._last = latest_checkpoint(self._settings)
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop looking and write the final checkpoint."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await run_in_threadpool(self._tick, final=True)
