"""The hash-chained audit log: every change and refusal recorded, tampering detected."""

from __future__ import annotations

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from backend.audit import service as audit
from backend.audit.models import AuditRecord
from backend.audit.service import GENESIS_HASH, Actor
from backend.db import unit_of_work
from tests.conftest import World


def _write(factory: sessionmaker[Session], n: int, chain: str = "main") -> None:
    with unit_of_work(factory) as s:
        for i in range(n):
            audit.record(
                session=s, actor=Actor.system("t"), action="test.event", object_id=i, chain=chain
            )


def _interleave(factory: sessionmaker[Session], chains: list[str], rounds: int) -> None:
    for _ in range(rounds):
        for chain in chains:
            _write(factory, 1, chain)


def _ids(session: Session, chain: str) -> list[int]:
    return list(
        session.scalars(
            select(AuditRecord.id).where(AuditRecord.chain == chain).order_by(AuditRecord.id)
        )
    )


def test_intact_chain_verifies(session_factory: sessionmaker[Session]):
    _write(session_factory, 5)
    with unit_of_work(session_factory) as s:
        count, faults = audit.verify(session=s)
    assert count == 5 and faults == []


def test_edited_record_is_named(session_factory: sessionmaker[Session]):
    _write(session_factory, 5)
    with unit_of_work(session_factory) as s:
        third = s.scalars(select(AuditRecord).order_by(AuditRecord.id)).all()[2]
        s.execute(update(AuditRecord).where(AuditRecord.id == third.id).values(username="mallory"))
    with unit_of_work(session_factory) as s:
        _, faults = audit.verify(session=s)
    assert [(f.record_id, f.kind) for f in faults] == [(third.id, "edited")]


def test_deleted_record_is_detected_at_its_successor(session_factory: sessionmaker[Session]):
    _write(session_factory, 5)
    with unit_of_work(session_factory) as s:
        ids = s.scalars(select(AuditRecord.id).order_by(AuditRecord.id)).all()
        s.execute(delete(AuditRecord).where(AuditRecord.id == ids[1]))
    with unit_of_work(session_factory) as s:
        _, faults = audit.verify(session=s)
    assert [(f.record_id, f.kind) for f in faults] == [(ids[2], "deleted_before")]


def test_deleting_the_first_record_is_detected(session_factory: sessionmaker[Session]):
    _write(session_factory, 3)
    with unit_of_work(session_factory) as s:
        first = s.scalars(select(AuditRecord.id).order_by(AuditRecord.id)).first()
        s.execute(delete(AuditRecord).where(AuditRecord.id == first))
    with unit_of_work(session_factory) as s:
        _, faults = audit.verify(session=s)
    assert faults and faults[0].kind == "bad_genesis"


def test_chains_are_linked_independently(session_factory: sessionmaker[Session]):
    _interleave(session_factory, ["main", "bank:ABC-XJ", "bank:ICBC-XJ"], rounds=3)
    with unit_of_work(session_factory) as s:
        for chain in ("main", "bank:ABC-XJ", "bank:ICBC-XJ"):
            records = s.scalars(
                select(AuditRecord).where(AuditRecord.chain == chain).order_by(AuditRecord.id)
            ).all()
            links = [r.prev_hash for r in records]
            assert links == [GENESIS_HASH] + [r.hash for r in records[:-1]]
        count, faults = audit.verify(session=s)
    assert count == 9 and faults == []


def test_deletion_within_one_chain_is_named_there_and_other_chains_stay_intact(
    session_factory: sessionmaker[Session],
):
    _interleave(session_factory, ["main", "bank:ABC-XJ"], rounds=4)
    with unit_of_work(session_factory) as s:
        bank_ids = _ids(s, "bank:ABC-XJ")
        s.execute(delete(AuditRecord).where(AuditRecord.id == bank_ids[1]))
    with unit_of_work(session_factory) as s:
        count, faults = audit.verify(session=s)
    assert count == 7
    assert [(f.chain, f.record_id, f.kind) for f in faults] == [
        ("bank:ABC-XJ", bank_ids[2], "deleted_before")
    ]


def test_a_record_moved_to_another_chain_is_detected(session_factory: sessionmaker[Session]):
    _interleave(session_factory, ["main", "bank:ABC-XJ"], rounds=3)
    with unit_of_work(session_factory) as s:
        moved = _ids(s, "main")[1]
        s.execute(update(AuditRecord).where(AuditRecord.id == moved).values(chain="bank:ABC-XJ"))
    with unit_of_work(session_factory) as s:
        _, faults = audit.verify(session=s)
    assert ("bank:ABC-XJ", moved, "edited") in [(f.chain, f.record_id, f.kind) for f in faults]
    assert ("main", "deleted_before") in [(f.chain, f.kind) for f in faults]


def test_deleting_the_last_records_of_a_chain_is_detected_at_its_head(
    session_factory: sessionmaker[Session],
):
    _interleave(session_factory, ["main", "bank:ABC-XJ"], rounds=3)
    with unit_of_work(session_factory) as s:
        bank_ids = _ids(s, "bank:ABC-XJ")
        s.execute(delete(AuditRecord).where(AuditRecord.id.in_(bank_ids[1:])))
    with unit_of_work(session_factory) as s:
        count, faults = audit.verify(session=s)
    assert count == 4
    assert [(f.chain, f.record_id, f.kind) for f in faults] == [
        ("bank:ABC-XJ", bank_ids[0], "deleted_after")
    ]


def test_cli_verify_names_the_edited_record(session_factory, database_url, monkeypatch):
    from backend.config import get_settings
    from xnb.cli import app

    _write(session_factory, 4)
    monkeypatch.setenv("XNB_DATABASE_URL", database_url)
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        ok = runner.invoke(app, ["audit", "verify"])
        assert ok.exit_code == 0 and "已校验 4 条" in ok.output
        with unit_of_work(session_factory) as s:
            victim = s.scalars(select(AuditRecord).order_by(AuditRecord.id)).all()[1]
            s.execute(
                update(AuditRecord)
                .where(AuditRecord.id == victim.id)
                .values(detail='{"forged":true}')
            )
        bad = runner.invoke(app, ["audit", "verify"])
        assert bad.exit_code == 1
        assert f"链 main 记录 {victim.id}: edited" in bad.output
    finally:
        get_settings.cache_clear()


def test_login_change_and_refusal_are_audited_with_who_and_where(world: World):
    client = world.client
    client.post("/api/v1/operators/999999/unlock", headers=world.headers("secadmin"))
    client.get(
        f"/api/v1/operators/{world.operator_ids['clerk_emin']}",
        headers=world.headers("admin_county"),
    )
    records = client.get("/api/v1/audit?limit=500", headers=world.headers("auditor")).json()
    actions = [(r["action"], r["result"], r["username"]) for r in records["items"]]
    assert ("auth.login", "ok", "admin_county") in actions
    assert ("operator.create", "ok", "system") in actions
    refused = [
        r
        for r in records["items"]
        if r["action"] == "access.refused" and r["username"] == "admin_county"
    ]
    assert refused and refused[0]["device"] == "test-workstation"
    assert refused[0]["address"]
    assert (
        client.get("/api/v1/audit/verify", headers=world.headers("auditor")).json()["intact"]
        is True
    )


def test_failed_login_is_audited(world: World):
    world.client.post("/api/v1/auth/login", json={"username": "clerk_hbk", "password": "x"})
    records = world.client.get(
        "/api/v1/audit?action=auth.login", headers=world.headers("auditor")
    ).json()["items"]
    assert any(r["result"] == "denied" and r["username"] == "clerk_hbk" for r in records)
