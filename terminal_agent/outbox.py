"""The offline outbox: operations written to SQLite before they go out, replayed in order.

Every operation allowed offline is committed here (WAL, ``synchronous=FULL``: on disk
before the call returns) *before* the first attempt to send it, with the idempotency
key it will always be sent with. Replay takes the oldest pending operation, sends it,
and marks it sent only after the backend answered. A crash between the two sends it
again with the same key, and the backend answers with its first result instead of
acting twice: exactly once, as long as the backend honours ``Idempotency-Key``.

Answers decide what happens next:

* 2xx: sent; the next one goes.
* 401: the operator's session has expired; replay stops (order is kept) until the same
  operator logs in again: :meth:`Outbox.renew_login` gives that operator's pending
  operations the new session token, with the same idempotency keys. An operation is
  never re-sent under another operator (nor when the agent never learnt whose it was).
* 408, 429, 5xx, no connection: try again later; replay stops.
* any other 4xx: the backend refuses it for good; it is kept as ``rejected`` with the
  backend's problem document, and the next one goes.

**No session token is ever written to disk.** A row keeps whose operation it is
(``operator``) and a SHA-256 of the session it was submitted under (``session_hash``,
useless to send to the backend); the tokens themselves live in memory only. After an
agent restart the queue waits (``blocked = login_required``) until the operator's page
registers a session again (``POST /v1/session``, which the page does at every log-in
and whenever the agent forgot its session): the operator's operations go under that
session, an operation whose operator was never learnt only under its own session (the
same hash). The file, its WAL and shared-memory files are ``0600`` and a directory the
outbox creates is ``0700``: the queued bodies hold residents' personal data.

Schema versions are kept in ``PRAGMA user_version``. Version 1 (a single ``outbox``
table of path, payload and a sent flag) is migrated in one transaction after a copy
of the file is kept beside it; version 2 gains the ``operator`` column (unknown for its
rows); version 3 kept session tokens, which version 4 replaces by their hashes (dropped
with ``secure_delete`` on, so their bytes do not linger in free pages); a newer version,
or a file that is not an outbox, is refused with a specific error and left untouched.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import shutil
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

log = logging.getLogger(__name__)

SCHEMA_VERSION = 4
_SCHEMA = """
CREATE TABLE operations (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key TEXT NOT NULL UNIQUE,
    operation TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    body TEXT NOT NULL,
    session_hash TEXT,
    operator TEXT,
    state TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'rejected')),
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    sent_at TEXT,
    response_status INTEGER,
    response_body TEXT,
    last_error TEXT
);
CREATE INDEX operations_pending ON operations (state, seq);
"""
#: Version 1, as the first agents wrote it (kept to migrate their files).
SCHEMA_V1 = """
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    path TEXT NOT NULL,
    payload TEXT NOT NULL,
    sent INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);
"""


class OutboxError(Exception):
    """The outbox database cannot be used; ``code`` says why."""

    code: ClassVar[str] = "outbox_error"
    retriable: ClassVar[bool] = False

    def to_dict(self) -> dict[str, object]:
        """What the local API returns."""
        return {"code": self.code, "retriable": self.retriable, "detail": str(self)}


class OutboxSchemaNewerError(OutboxError):
    """The file was written by a newer agent; this one will not touch it."""

    code = "outbox_schema_newer"


class OutboxUnrecognisedError(OutboxError):
    """The file is a SQLite database, but not an outbox of any known version."""

    code = "outbox_unrecognised"


class OutboxCorruptError(OutboxError):
    """The file is not a readable SQLite database."""

    code = "outbox_corrupt"


@dataclass(frozen=True)
class BackendAnswer:
    """The status and body the backend answered with."""

    status: int
    body: Any


class BackendUnreachableError(Exception):
    """The backend could not be reached (connection refused, timeout, TLS failure)."""

    code = "backend_unreachable"
    retriable = True

    def to_dict(self) -> dict[str, object]:
        """What the local API returns."""
        return {"code": self.code, "retriable": True, "detail": str(self)}


class Sender(Protocol):
    """Sends one operation to the backend with its idempotency key."""

    def send(
        self,
        method: str,
        path: str,
        *,
        body: Any,
        idempotency_key: str,
        authorization: str | None,
    ) -> BackendAnswer:
        """Return the backend's answer; raise ``BackendUnreachableError`` when it is away."""
        ...


@dataclass(frozen=True)
class OutboxEntry:
    """One operation in the outbox."""

    seq: int
    idempotency_key: str
    operation: str
    method: str
    path: str
    body: Any
    state: str
    attempts: int
    created_at: str
    sent_at: str | None
    response_status: int | None
    response_body: Any
    last_error: str | None

    def to_dict(self) -> dict[str, Any]:
        """The entry for the local API (without the operator's token)."""
        return {
            "seq": self.seq,
            "idempotency_key": self.idempotency_key,
            "operation": self.operation,
            "state": self.state,
            "attempts": self.attempts,
            "created_at": self.created_at,
            "sent_at": self.sent_at,
            "response_status": self.response_status,
            "response": self.response_body,
            "last_error": self.last_error,
        }


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


_TRANSIENT = {408, 425, 429}


class Outbox:
    """The outbox database of one agent."""

    def __init__(self, path: Path) -> None:
        self.path = path
        _private_file(path)
        self._lock = threading.Lock()
        self._replay_lock = threading.Lock()
        self.blocked: str | None = None
        # Session tokens, in memory only: by the hash of each, and each operator's latest.
        self._tokens: dict[str, str] = {}
        self._latest: dict[str, str] = {}
        self._db = self._open(path)

    @staticmethod
    def _open(path: Path) -> sqlite3.Connection:
        existed = path.stat().st_size > 0
        try:
            db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            version = db.execute("PRAGMA user_version").fetchone()[0]
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        except sqlite3.DatabaseError as exc:
            raise OutboxCorruptError(f"离线队列文件 {path} 已损坏或不是数据库：{exc}") from exc
        if version > SCHEMA_VERSION:
            db.close()
            raise OutboxSchemaNewerError(
                f"离线队列文件 {path} 的版本 {version} 高于本程序支持的 {SCHEMA_VERSION}，"
                "请升级终端代理程序（文件未改动）"
            )
        if version == 0 and existed and tables - {"sqlite_sequence"}:
            db.close()
            raise OutboxUnrecognisedError(f"文件 {path} 不是终端代理的离线队列（文件未改动）")
        if version == 1 and "outbox" not in tables:
            db.close()
            raise OutboxUnrecognisedError(f"离线队列文件 {path} 标为版本1但缺少 outbox 表")
        if version == 1:
            # Keep the old file as it was before anything touches it.
            db.close()
            backup = path.with_name(path.name + ".v1.bak")
            shutil.copy2(path, backup)
            log.warning("migrating outbox %s from version 1 (copy kept at %s)", path, backup)
            db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        # Deleted content (sent bodies, the tokens a version 3 file held) is overwritten.
        db.execute("PRAGMA secure_delete=ON")
        db.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed operation survives a power cut, not only a process crash.
        db.execute("PRAGMA synchronous=FULL")
        if version == 1:
            _migrate_v1(db)
        elif version in (2, 3):
            _forget_tokens(db, add_operator=version == 2)
        elif version == 0:
            db.executescript(f"BEGIN; {_SCHEMA} PRAGMA user_version={SCHEMA_VERSION}; COMMIT;")
        return db

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def add(
        self,
        *,
        operation: str,
        method: str,
        path: str,
        body: Any,
        idempotency_key: str,
        authorization: str | None,
        operator: str | None = None,
    ) -> int:
        """Store an operation durably (its session token in memory only); return its place
        in the queue.

        ``operator`` is whose session ``authorization`` is (None: unknown); only that
        operator's fresh log-in can resume the operation after its session expired.
        """
        session = self._remember(authorization, operator)
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO operations (idempotency_key, operation, method, path, body,"
                " session_hash, operator, state, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?)",
                (
                    idempotency_key,
                    operation,
                    method,
                    path,
                    json.dumps(body, ensure_ascii=False),
                    session,
                    operator,
                    _now(),
                ),
            )
            seq = cursor.lastrowid
        assert seq is not None
        return seq

    def entry(self, seq: int) -> OutboxEntry:
        """One operation by its place in the queue."""
        entries = self._select("WHERE seq = ?", (seq,))
        if not entries:
            raise KeyError(seq)
        return entries[0]

    def entries(self, *, state: str | None = None, limit: int = 1000) -> list[OutboxEntry]:
        """Operations in queue order (of one state when given)."""
        if state is None:
            return self._select("ORDER BY seq LIMIT ?", (limit,))
        return self._select("WHERE state = ? ORDER BY seq LIMIT ?", (state, limit))

    def counts(self) -> dict[str, int]:
        """How many operations are in each state."""
        with self._lock:
            rows = self._db.execute("SELECT state, count(*) FROM operations GROUP BY state")
            counted = dict(rows.fetchall())
        return {state: counted.get(state, 0) for state in ("pending", "sent", "rejected")}

    def _select(self, where: str, params: tuple[Any, ...]) -> list[OutboxEntry]:
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, idempotency_key, operation, method, path, body, state, attempts,"
                " created_at, sent_at, response_status, response_body, last_error"
                f" FROM operations {where}",
                params,
            ).fetchall()
        return [
            OutboxEntry(
                seq=row[0],
                idempotency_key=row[1],
                operation=row[2],
                method=row[3],
                path=row[4],
                body=_loads(row[5]),
                state=row[6],
                attempts=row[7],
                created_at=row[8],
                sent_at=row[9],
                response_status=row[10],
                response_body=_loads(row[11]),
                last_error=row[12],
            )
            for row in rows
        ]

    def _next_pending(self) -> tuple[int, str, str, str, str, str | None, str | None] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT seq, idempotency_key, method, path, body, session_hash, operator"
                " FROM operations WHERE state = 'pending' ORDER BY seq LIMIT 1"
            ).fetchone()
        if row is None:
            return None
        return (row[0], row[1], row[2], row[3], row[4], row[5], row[6])

    def _remember(self, authorization: str | None, operator: str | None) -> str | None:
        """Keep ``authorization`` in memory (the operator's latest); return its hash."""
        if authorization is None:
            return None
        session = _session_hash(authorization)
        with self._lock:
            self._tokens[session] = authorization
            if operator is not None:
                self._latest[operator] = session
        return session

    def _token_for(self, session: str, operator: str | None) -> str | None:
        """The token to send an operation with: its operator's latest session, else its own."""
        with self._lock:
            latest = self._latest.get(operator) if operator is not None else None
            return self._tokens.get(latest or session) or self._tokens.get(session)

    def _forget(self, token: str) -> None:
        """The backend refused ``token``: never send it again."""
        session = _session_hash(token)
        with self._lock:
            self._tokens.pop(session, None)
            for operator in [o for o, s in self._latest.items() if s == session]:
                del self._latest[operator]

    def _finish(self, seq: int, state: str, answer: BackendAnswer) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE operations SET state = ?, sent_at = ?, response_status = ?,"
                " response_body = ?, attempts = attempts + 1, last_error = NULL"
                " WHERE seq = ?",
                (state, _now(), answer.status, json.dumps(answer.body, ensure_ascii=False), seq),
            )

    def _failed_attempt(self, seq: int, error: str) -> None:
        with self._transaction() as db:
            db.execute(
                "UPDATE operations SET attempts = attempts + 1, last_error = ? WHERE seq = ?",
                (error, seq),
            )

    def renew_login(self, *, operator: str, authorization: str) -> int:
        """Give ``operator``'s pending operations (and those submitted under this very
        session) a fresh session token, in memory; lift a log-in block.

        Returns how many operations got it. The idempotency keys stay: an operation the
        backend already took under the old session is answered from its first result.
        """
        session = self._remember(authorization, operator)
        with self._lock:
            renewed = int(
                self._db.execute(
                    "SELECT count(*) FROM operations WHERE state = 'pending'"
                    " AND (operator = ? OR session_hash = ?)",
                    (operator, session),
                ).fetchone()[0]
            )
        if renewed and self.blocked in ("login_expired", "login_required"):
            self.blocked = None
        return renewed

    def replay(self, sender: Sender) -> int:
        """Send pending operations oldest first until none is left or the backend is away.

        Returns how many were sent or rejected in this run.
        """
        done = 0
        with self._replay_lock:
            while (pending := self._next_pending()) is not None:
                seq, key, method, path, body, session, operator = pending
                authorization = None if session is None else self._token_for(session, operator)
                if session is not None and authorization is None:
                    # Its session token is not in memory (the agent restarted): wait for
                    # the operator's page to register a session again.
                    if self.blocked != "login_expired":
                        self.blocked = "login_required"
                    return done
                try:
                    answer = sender.send(
                        method,
                        path,
                        body=json.loads(body),
                        idempotency_key=key,
                        authorization=authorization,
                    )
                except BackendUnreachableError as exc:
                    self._failed_attempt(seq, str(exc))
                    self.blocked = "backend_unreachable"
                    return done
                if answer.status == 401:
                    if authorization is not None:
                        self._forget(authorization)
                    self._failed_attempt(seq, "登录已失效，请操作员重新登录后继续发送")
                    self.blocked = "login_expired"
                    return done
                if answer.status in _TRANSIENT or answer.status >= 500:
                    self._failed_attempt(seq, f"backend answered {answer.status}")
                    self.blocked = f"backend_status_{answer.status}"
                    return done
                state = "sent" if answer.status < 400 else "rejected"
                if state == "rejected":
                    log.warning("outbox %s refused: %s %s", seq, answer.status, answer.body)
                self._finish(seq, state, answer)
                done += 1
            self.blocked = None
        return done


def _session_hash(authorization: str) -> str:
    return hashlib.sha256(authorization.encode()).hexdigest()


def _private_file(path: Path) -> None:
    """Create the outbox file (and its directory) for the agent's user only.

    SQLite gives the WAL and shared-memory files the database file's mode. An existing
    directory is left as it is (it may be shared), with a warning when others may enter.
    """
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True)
    elif path.parent.stat().st_mode & 0o077:
        log.warning("outbox directory %s is open to other users; 0700 is advised", path.parent)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        os.fchmod(descriptor, 0o600)
    finally:
        os.close(descriptor)
    for companion in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if companion.exists():
            companion.chmod(0o600)


def _forget_tokens(db: sqlite3.Connection, *, add_operator: bool) -> None:
    """Version 2 or 3 → 4 in one transaction: each stored session token is replaced by its
    hash (operations still resume under that very session, or their operator's new one)."""
    db.create_function("xnb_session_hash", 1, _session_hash, deterministic=True)
    db.executescript(
        "BEGIN;"
        + (" ALTER TABLE operations ADD COLUMN operator TEXT;" if add_operator else "")
        + " ALTER TABLE operations ADD COLUMN session_hash TEXT;"
        " UPDATE operations SET session_hash = xnb_session_hash(authorization)"
        " WHERE authorization IS NOT NULL;"
        " ALTER TABLE operations DROP COLUMN authorization;"
        f" PRAGMA user_version={SCHEMA_VERSION}; COMMIT;"
    )
    # Write the rewritten pages back into the file now (the tokens' pages are overwritten).
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _migrate_v1(db: sqlite3.Connection) -> None:
    """Version 1 → 4 in one transaction: every row kept, unsent ones still pending."""
    db.executescript(
        f"""
        BEGIN;
        {_SCHEMA}
        INSERT INTO operations (seq, idempotency_key, operation, method, path, body, state,
                                created_at, sent_at)
            SELECT id, key, 'legacy', 'POST', path, payload,
                   CASE WHEN sent THEN 'sent' ELSE 'pending' END, created_at,
                   CASE WHEN sent THEN created_at END
            FROM outbox ORDER BY id;
        DROP TABLE outbox;
        PRAGMA user_version={SCHEMA_VERSION};
        COMMIT;
        """
    )
