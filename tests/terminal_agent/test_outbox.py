"""The outbox on its own: order, answers, and databases from other versions."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from terminal_agent.outbox import (
    _SCHEMA,
    SCHEMA_V1,
    SCHEMA_VERSION,
    BackendAnswer,
    BackendUnreachableError,
    Outbox,
    OutboxCorruptError,
    OutboxSchemaNewerError,
    OutboxUnrecognisedError,
)


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
        db.executescript(_SCHEMA.replace("    operator TEXT,\n", "") + "PRAGMA user_version=2;")
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
