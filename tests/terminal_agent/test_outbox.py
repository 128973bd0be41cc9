"""The outbox on its own: order, answers, databases from other versions, and what it
keeps on disk (no session token; files for the agent's user only)."""

from __future__ import annotations

import json
import sqlite3
import stat
from pathlib import Path
from typing import Any

import pytest

from terminal_agent.outbox import (
    SCHEMA_V1,
    SCHEMA_VERSION,
    BackendAnswer,
    BackendUnreachableError,
    Outbox,
    OutboxCorruptError,
    OutboxSchemaNewerError,
    OutboxUnrecognisedError,
)

#: Version 3, as agents before issue 19 wrote it: the session token in ``authorization``.
SCHEMA_V3 = """
CREATE TABLE operations (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key TEXT NOT NULL UNIQUE,
    operation TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    body TEXT NOT NULL,
    authorization TEXT,
    operator TEXT,
    state TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'rejected')),
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    sent_at TEXT,
    response_status INTEGER,
    response_body TEXT,
    last_error TEXT
);
"""
TOKEN = "Bearer secret-session-token-4d1f"


def on_disk(path: Path) -> bytes:
    """Every byte of the outbox's files (database, WAL, shared memory)."""
    return b"".join(f.read_bytes() for f in path.parent.glob(path.name + "*"))


class ScriptedBackend:
    """Answers from a script, recording every (key, body) it was sent."""

    def __init__(self, *answers: int | None) -> None:
        self.answers = list(answers)
        self.seen: list[tuple[str, Any]] = []

    def send(
        self, method: str, path: str, *, body: Any, idempotency_key: str, authorization: str | None
    ) -> BackendAnswer:
        status = self.answers.pop(0) if self.answers else 201
        if status is None:
            raise BackendUnreachableError("connection refused")
        self.seen.append((idempotency_key, body))
        return BackendAnswer(status, {"n": body["n"]})


def fill(outbox: Outbox, count: int) -> None:
    for n in range(count):
        outbox.add(
            operation="op",
            method="POST",
            path="/api/v1/x",
            body={"n": n},
            idempotency_key=f"key-{n}",
            authorization="Bearer t",
        )


def test_replay_goes_in_order_and_stops_while_the_backend_is_away(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.db")
    fill(outbox, 4)
    backend = ScriptedBackend(201, None)
    assert outbox.replay(backend) == 1
    assert outbox.blocked == "backend_unreachable"
    assert outbox.counts() == {"pending": 3, "sent": 1, "rejected": 0}
    assert outbox.replay(backend) == 3
    assert [key for key, _ in backend.seen] == ["key-0", "key-1", "key-2", "key-3"]
    assert outbox.blocked is None


def test_a_refused_operation_is_kept_and_the_next_goes(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.db")
    fill(outbox, 3)
    assert outbox.replay(ScriptedBackend(201, 422, 201)) == 3
    rejected = outbox.entries(state="rejected")
    assert [(e.idempotency_key, e.response_status) for e in rejected] == [("key-1", 422)]


@pytest.mark.parametrize(
    ("status", "blocked"), [(401, "login_expired"), (503, "backend_status_503")]
)
def test_expired_login_and_server_errors_stop_the_replay(
    tmp_path: Path, status: int, blocked: str
) -> None:
    outbox = Outbox(tmp_path / "o.db")
    fill(outbox, 2)
    assert outbox.replay(ScriptedBackend(status)) == 0
    assert outbox.blocked == blocked
    assert outbox.counts()["pending"] == 2
    assert outbox.entries()[0].attempts == 1


def test_a_version_1_outbox_is_migrated_with_nothing_lost(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        db.executescript(SCHEMA_V1 + "PRAGMA user_version=1;")
        for n in range(5):
            db.execute(
                "INSERT INTO outbox (key, path, payload, sent, created_at) VALUES (?, ?, ?, ?, ?)",
                (f"old-{n}", "/api/v1/x", json.dumps({"n": n}), int(n < 2), "2025-01-01T00:00:00"),
            )
    outbox = Outbox(path)
    assert outbox.counts() == {"pending": 3, "sent": 2, "rejected": 0}
    assert (tmp_path / "old.db.v1.bak").exists()
    backend = ScriptedBackend()
    assert outbox.replay(backend) == 3
    assert backend.seen == [("old-2", {"n": 2}), ("old-3", {"n": 3}), ("old-4", {"n": 4})]
    outbox.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_an_outbox_from_a_newer_agent_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    with sqlite3.connect(path) as db:
        db.executescript("CREATE TABLE future (x); INSERT INTO future VALUES (1);")
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    before = path.read_bytes()
    with pytest.raises(OutboxSchemaNewerError) as caught:
        Outbox(path)
    assert caught.value.code == "outbox_schema_newer"
    assert path.read_bytes() == before


def test_a_foreign_database_and_a_corrupt_file_are_refused(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE persons (id)")
    with pytest.raises(OutboxUnrecognisedError):
        Outbox(foreign)
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(b"SQLite format 3\x00" + b"\xff" * 200)
    with pytest.raises(OutboxCorruptError):
        Outbox(corrupt)


def test_a_version_2_outbox_gains_the_operator_column_and_its_rows_stay_pending(
    tmp_path: Path,
) -> None:
    path = tmp_path / "o.db"
    with sqlite3.connect(path) as db:
        db.executescript(SCHEMA_V3.replace("    operator TEXT,\n", "") + "PRAGMA user_version=2;")
        db.execute(
            "INSERT INTO operations (idempotency_key, operation, method, path, body,"
            " authorization, state, created_at)"
            " VALUES ('k1', 'op', 'POST', '/api/v1/x', '{\"n\": 1}', 'Bearer old', 'pending', 'x')"
        )
    outbox = Outbox(path)
    assert [e.idempotency_key for e in outbox.entries(state="pending")] == ["k1"]
    # Whose session it was is unknown: no operator's new log-in may take it over.
    assert outbox.renew_login(operator="clerk_hbk", authorization="Bearer new") == 0
    outbox.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


class SessionCheckingBackend:
    """Accepts only the session tokens it knows; records (key, token) of what it took."""

    def __init__(self, *valid: str) -> None:
        self.valid = set(valid)
        self.taken: list[tuple[str, str | None]] = []

    def send(
        self, method: str, path: str, *, body: Any, idempotency_key: str, authorization: str | None
    ) -> BackendAnswer:
        if authorization not in self.valid:
            return BackendAnswer(401, {"code": "not_authenticated"})
        self.taken.append((idempotency_key, authorization))
        return BackendAnswer(201, {"n": body["n"]})


def test_a_new_login_gives_only_that_operators_pending_operations_the_new_token(
    tmp_path: Path,
) -> None:
    outbox = Outbox(tmp_path / "o.db")
    for n, operator in enumerate(["a", "b", "a"]):
        outbox.add(
            operation="op",
            method="POST",
            path="/api/v1/x",
            body={"n": n},
            idempotency_key=f"key-{n}",
            authorization=f"Bearer {operator}-old",
            operator=operator,
        )
    backend = SessionCheckingBackend("Bearer a-new")
    assert outbox.replay(backend) == 0
    assert outbox.blocked == "login_expired"
    assert outbox.renew_login(operator="a", authorization="Bearer a-new") == 2
    assert outbox.blocked is None
    # a's first goes; b's session is still expired, so the queue stops there, in order.
    assert outbox.replay(backend) == 1
    assert outbox.blocked == "login_expired"
    assert outbox.renew_login(operator="b", authorization="Bearer b-new") == 1
    backend.valid.add("Bearer b-new")
    assert outbox.replay(backend) == 2
    assert backend.taken == [
        ("key-0", "Bearer a-new"),
        ("key-1", "Bearer b-new"),
        ("key-2", "Bearer a-new"),
    ]


def test_no_session_token_reaches_the_disk_and_a_restart_waits_for_a_new_login(
    tmp_path: Path,
) -> None:
    path = tmp_path / "agent" / "o.db"
    outbox = Outbox(path)
    outbox.add(
        operation="op",
        method="POST",
        path="/api/v1/x",
        body={"n": 1},
        idempotency_key="key-1",
        authorization=TOKEN,
        operator="clerk",
    )
    assert TOKEN.encode() not in on_disk(path)
    outbox.close()

    # The agent restarts: the token is gone with the process; nothing is sent without one.
    restarted = Outbox(path)
    backend = SessionCheckingBackend(TOKEN, "Bearer fresh")
    assert restarted.replay(backend) == 0
    assert restarted.blocked == "login_required" and backend.taken == []
    # Another operator's log-in takes nothing; the clerk's page registering again does.
    assert restarted.renew_login(operator="other", authorization="Bearer other") == 0
    assert restarted.renew_login(operator="clerk", authorization="Bearer fresh") == 1
    assert restarted.blocked is None
    assert restarted.replay(backend) == 1
    assert backend.taken == [("key-1", "Bearer fresh")]
    restarted.close()
    assert b"Bearer fresh" not in on_disk(path)


def test_outbox_files_are_the_agents_users_only(tmp_path: Path) -> None:
    path = tmp_path / "new-dir" / "o.db"
    outbox = Outbox(path)
    fill(outbox, 2)
    files = list(path.parent.glob("o.db*"))
    assert {f.name for f in files} >= {"o.db", "o.db-wal", "o.db-shm"}
    assert {f.name: stat.S_IMODE(f.stat().st_mode) for f in files} == {f.name: 0o600 for f in files}
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    outbox.close()
    # A file left readable by others (an older agent, a copy) is closed down on open.
    path.chmod(0o644)
    Outbox(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_version_3_outbox_keeps_hashes_not_tokens(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    with sqlite3.connect(path) as db:
        db.executescript(SCHEMA_V3 + "PRAGMA user_version=3;")
        for key, operator in (("k1", "clerk"), ("k2", None)):
            db.execute(
                "INSERT INTO operations (idempotency_key, operation, method, path, body,"
                " authorization, operator, state, created_at)"
                " VALUES (?, 'op', 'POST', '/api/v1/x', '{\"n\": 1}', ?, ?, 'pending', 'x')",
                (key, TOKEN, operator),
            )
    assert TOKEN.encode() in on_disk(path)
    outbox = Outbox(path)
    assert TOKEN.encode() not in on_disk(path)
    backend = SessionCheckingBackend(TOKEN)
    assert outbox.replay(backend) == 0 and outbox.blocked == "login_required"
    # The same session registered again (the page after the agent's upgrade) resumes both:
    # the clerk's by operator, the unattributed one by its session's hash.
    assert outbox.renew_login(operator="clerk", authorization=TOKEN) == 2
    assert outbox.replay(backend) == 2
    assert backend.taken == [("k1", TOKEN), ("k2", TOKEN)]
    outbox.close()
    with sqlite3.connect(path) as db:
        columns = {row[1] for row in db.execute("PRAGMA table_info(operations)")}
        assert "authorization" not in columns and "session_hash" in columns
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
