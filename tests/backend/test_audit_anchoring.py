"""The audit chains anchored outside the database: signed checkpoints catch a truncation
that also moved the chain's head back; the application's PostgreSQL role can add audit
records but not change or delete them."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, delete, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from backend.app import create_app
from backend.audit import checkpoints
from backend.audit import service as audit
from backend.audit.models import AuditChainHead, AuditRecord
from backend.audit.service import Actor
from backend.config import Settings, get_settings
from backend.db import unit_of_work, utcnow
from tests.conftest import PASSWORD, World


def _write(factory: sessionmaker[Session], n: int) -> None:
    with unit_of_work(factory) as s:
        for i in range(n):
            audit.record(session=s, actor=Actor.system("t"), action="test.event", object_id=i)


def _truncate_and_move_the_head_back(factory: sessionmaker[Session], drop: int) -> None:
    """What someone with write access to the database does to hide the newest records."""
    with unit_of_work(factory) as s:
        records = s.scalars(select(AuditRecord).order_by(AuditRecord.id)).all()
        keep, gone = records[:-drop], records[-drop:]
        s.execute(delete(AuditRecord).where(AuditRecord.id.in_([r.id for r in gone])))
        s.execute(
            update(AuditChainHead)
            .where(AuditChainHead.chain == "main")
            .values(hash=keep[-1].hash, prev_hash=keep[-2].hash)
        )


@pytest.fixture
def anchored(settings: Settings, tmp_path: Path) -> Settings:
    """Settings with a checkpoint file and key of this test's own."""
    return settings.model_copy(
        update={
            "audit_checkpoint_path": tmp_path / "audit" / "checkpoints.jsonl",
            "audit_checkpoint_key_path": tmp_path / "keys" / "audit-checkpoint.key",
        }
    )


def _xnb(anchored: Settings, monkeypatch: pytest.MonkeyPatch, *args: str):
    from xnb.cli import app

    monkeypatch.setenv("XNB_DATABASE_URL", anchored.database_url)
    monkeypatch.setenv("XNB_AUDIT_CHECKPOINT_PATH", str(anchored.audit_checkpoint_path))
    monkeypatch.setenv("XNB_AUDIT_CHECKPOINT_KEY_PATH", str(anchored.audit_checkpoint_key_path))
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(app, list(args))
    finally:
        get_settings.cache_clear()


def test_truncation_that_moves_the_head_back_is_named_against_the_signed_checkpoint(
    session_factory: sessionmaker[Session],
    anchored: Settings,
    monkeypatch: pytest.MonkeyPatch,
    world: World,
):
    _write(session_factory, 8)
    written = _xnb(anchored, monkeypatch, "audit", "checkpoint")
    assert written.exit_code == 0, written.output
    assert _xnb(anchored, monkeypatch, "audit", "verify").exit_code == 0
    _truncate_and_move_the_head_back(session_factory, drop=3)
    # The chain alone looks whole: that is the hole the checkpoint closes.
    with unit_of_work(session_factory) as s:
        assert audit.verify(session=s)[1] == []
    result = _xnb(anchored, monkeypatch, "audit", "verify")
    assert result.exit_code == 1
    assert "truncated" in result.output and "main" in result.output
    # The audit administrator's API says the same.
    with TestClient(create_app(anchored)) as client:
        r = client.get("/api/v1/audit/verify", headers=_headers(client, "auditor"))
    report = r.json()
    assert report["intact"] is False
    assert [f["kind"] for f in report["faults"]] == ["truncated"]
    assert report["checkpoint_records"] >= 8


def _headers(client: TestClient, username: str) -> dict[str, str]:
    r = client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_an_edited_checkpoint_line_is_refused(
    session_factory: sessionmaker[Session], anchored: Settings, monkeypatch: pytest.MonkeyPatch
):
    _write(session_factory, 3)
    assert _xnb(anchored, monkeypatch, "audit", "checkpoint").exit_code == 0
    path = anchored.audit_checkpoint_path
    assert path is not None
    path.write_text(path.read_text().replace('"main":[3,', '"main":[2,'))
    result = _xnb(anchored, monkeypatch, "audit", "verify")
    assert result.exit_code == 1 and "签名不符" in result.output


def test_the_running_backend_writes_a_checkpoint_when_due_and_when_it_stops(
    world: World, anchored: Settings, session_factory: sessionmaker[Session]
):
    every_three = anchored.model_copy(update={"audit_checkpoint_every_records": 3})
    now = utcnow()
    with unit_of_work(session_factory) as s:
        marks = checkpoints.current_marks(s)
    last = checkpoints.Checkpoint(at=now, chains=marks)
    assert not checkpoints.is_due(last=last, marks=marks, settings=every_three, now=now)
    _write(session_factory, 2)
    with unit_of_work(session_factory) as s:
        two_more = checkpoints.current_marks(s)
    assert not checkpoints.is_due(last=last, marks=two_more, settings=every_three, now=now)
    later = now + dt.timedelta(minutes=every_three.audit_checkpoint_every_minutes)
    assert checkpoints.is_due(last=last, marks=two_more, settings=every_three, now=later)
    _write(session_factory, 1)
    with unit_of_work(session_factory) as s:
        three_more = checkpoints.current_marks(s)
    assert checkpoints.is_due(last=last, marks=three_more, settings=every_three, now=now)
    with TestClient(create_app(every_three)) as client:  # started: the first is written
        _headers(client, "clerk_hbk")
    final = checkpoints.latest_checkpoint(every_three)
    assert final is not None
    with unit_of_work(session_factory) as s:
        assert final.chains == checkpoints.current_marks(s)  # written as the backend stopped
        count, faults = audit.verify(session=s, checkpoint=final)
    assert faults == [] and count == final.total


# ---- the application's database role (PostgreSQL) -----------------------------------------


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_the_application_role_appends_audit_records_but_cannot_change_or_delete_them(
    world: World,
    database_url: str,
    anchored: Settings,
    monkeypatch: pytest.MonkeyPatch,
    session_factory: sessionmaker[Session],
):
    role = f"xnb_app_{uuid.uuid4().hex[:8]}"
    owner = create_engine(database_url, isolation_level="AUTOCOMMIT")
    with owner.connect() as c:
        c.execute(text(f"CREATE ROLE {role} LOGIN PASSWORD 'app-role-passw0rd'"))
    app_url = (
        make_url(database_url)
        .set(username=role, password="app-role-passw0rd")
        .render_as_string(hide_password=False)
    )
    app_engine = create_engine(app_url)
    try:
        granted = _xnb(anchored, monkeypatch, "db", "grant-app-role", role)
        assert granted.exit_code == 0, granted.output
        # The backend works as that role: a log-in writes a session, an audit record and
        # moves the chain's head.
        with TestClient(create_app(anchored.model_copy(update={"database_url": app_url}))) as c:
            r = c.post("/api/v1/auth/login", json={"username": "clerk_hbk", "password": PASSWORD})
            assert r.status_code == 200, r.text
            wrong = c.post("/api/v1/auth/login", json={"username": "clerk_hbk", "password": "x"})
            assert wrong.status_code == 401
        with app_engine.connect() as c:
            assert c.execute(text("SELECT count(*) FROM audit_records")).scalar_one() >= 2
        for statement in (
            "UPDATE audit_records SET result = 'ok'",
            "DELETE FROM audit_records",
            "TRUNCATE audit_records",
            "DELETE FROM audit_chain_heads",
            "UPDATE audit_chain_heads SET chain = 'other'",
            "DROP TABLE audit_records",
        ):
            with app_engine.connect() as c, pytest.raises(ProgrammingError) as refused:
                c.execute(text(statement))
            assert "permission denied" in str(refused.value) or "must be owner" in str(
                refused.value
            ), statement
        with unit_of_work(session_factory) as s:
            count, faults = audit.verify(session=s)
        assert faults == [] and count >= 2
    finally:
        app_engine.dispose()
        with owner.connect() as c:
            c.execute(text(f"DROP OWNED BY {role}"))
            c.execute(text(f"DROP ROLE {role}"))
        owner.dispose()
