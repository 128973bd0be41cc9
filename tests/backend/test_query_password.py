"""12333 query passwords: set at the counter (scoped, idempotent, audited, Argon2id), and the
phone's identification with the same answer for every refusal and a lockout."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.audit.models import AuditRecord
from backend.audit.service import Actor
from backend.config import Settings
from backend.db import unit_of_work
from backend.idempotency import IdempotencyRecord
from backend.query import service
from backend.query.models import QueryPassword
from tests.backend.money_world import OTHER_TOWNSHIP_VILLAGE, add_resident, id_number, load_basics
from tests.conftest import World

CALLER = Actor(username="12333", device="ivr", address="13800000000")


def _resident(factory: sessionmaker[Session]) -> tuple[int, str]:
    with unit_of_work(factory) as s:
        load_basics(s, regions=False)
        person = add_resident(s, sequence=31, village=OTHER_TOWNSHIP_VILLAGE)
        return person.id, person.id_number


def _put(
    world: World, person_id: int, password: str, user: str = "clerk_hbk", key: str | None = None
):
    return world.client.put(
        f"/api/v1/persons/{person_id}/query-password",
        json={"password": password},
        headers=world.headers(user, key=key),
    )


def _identify(factory, settings, id_no: str, password: str):
    with unit_of_work(factory) as s:
        return service.identify(
            session=s, settings=settings, id_number=id_no, password=password, actor=CALLER
        )


def test_counter_sets_a_query_password_stored_only_as_argon2_and_audited(
    world: World, session_factory: sessionmaker[Session], settings: Settings
):
    person_id, id_no = _resident(session_factory)
    r = world.client.get(
        f"/api/v1/persons/{person_id}/query-password", headers=world.headers("clerk_hbk")
    )
    assert r.json()["is_set"] is False
    key = "qp-1"
    first = _put(world, person_id, "258036", key=key)
    assert first.status_code == 200, first.text
    assert first.json()["is_set"] is True
    again = _put(world, person_id, "258036", key=key)
    assert again.json() == first.json()
    other = _put(world, person_id, "369147", key=key)
    assert other.status_code == 409 and other.json()["code"] == "idempotency_key_reused"
    with session_factory() as s:
        row = s.scalar(select(QueryPassword).where(QueryPassword.person_id == person_id))
        assert row is not None and row.password_hash.startswith("$argon2id$")
        assert "258036" not in row.password_hash
        stored = s.scalars(select(IdempotencyRecord)).all()
        assert stored and all(
            "258036" not in r.request_fingerprint + r.response_json for r in stored
        )
        audit = s.scalars(
            select(AuditRecord).where(AuditRecord.action == "query.password_set")
        ).all()
        assert [a.object_id for a in audit] == [str(person_id)]
    assert _identify(session_factory, settings, id_no, "258036") is not None


def test_weak_or_malformed_passwords_are_refused_with_a_field_error(
    world: World, session_factory: sessionmaker[Session]
):
    person_id, id_no = _resident(session_factory)
    for password, code in [
        ("12345", "query_password_format"),
        ("12a456", "query_password_format"),
        ("111111", "query_password_weak"),
        ("123456", "query_password_weak"),
        ("987654", "query_password_weak"),
        (id_no[8:14], "query_password_weak"),  # the birth date
    ]:
        r = _put(world, person_id, password)
        assert r.status_code == 422, (password, r.text)
        assert r.json()["errors"][0]["field"] == "password"
        assert r.json()["errors"][0]["code"] == code
    with session_factory() as s:
        assert s.scalar(select(QueryPassword)) is None


def test_another_township_cannot_set_it_and_a_reader_cannot_write(
    world: World, session_factory: sessionmaker[Session]
):
    person_id, _ = _resident(session_factory)
    assert _put(world, person_id, "258036", user="clerk_xzg").status_code == 404
    assert _put(world, person_id, "258036", user="auditor").status_code == 403


def test_unknown_person_no_password_and_wrong_password_get_the_same_none(
    world: World, session_factory: sessionmaker[Session], settings: Settings
):
    person_id, id_no = _resident(session_factory)
    unknown = id_number("654226", dt.date(1970, 1, 1), 999)
    assert _identify(session_factory, settings, id_no, "258036") is None  # none set yet
    assert _put(world, person_id, "258036").status_code == 200
    assert _identify(session_factory, settings, unknown, "258036") is None
    assert _identify(session_factory, settings, id_no, "258037") is None
    with session_factory() as s:
        reasons = [
            json.loads(a.detail)["reason"]
            for a in s.scalars(
                select(AuditRecord)
                .where(AuditRecord.action == "query.identify")
                .order_by(AuditRecord.id)
            )
        ]
    assert reasons == ["no_password", "unknown_person", "bad_password"]


def test_repeated_wrong_passwords_lock_it_until_reset_at_the_counter(
    world: World, session_factory: sessionmaker[Session], settings: Settings
):
    person_id, id_no = _resident(session_factory)
    assert _put(world, person_id, "258036").status_code == 200
    for _ in range(settings.login_max_failures):
        assert _identify(session_factory, settings, id_no, "000001") is None
    # Locked: even the right password is refused, with the same answer.
    assert _identify(session_factory, settings, id_no, "258036") is None
    status = world.client.get(
        f"/api/v1/persons/{person_id}/query-password", headers=world.headers("clerk_hbk")
    ).json()
    assert status["locked"] is True and status["locked_until"]
    # Setting it again at the counter lifts the lock.
    assert _put(world, person_id, "470369").status_code == 200
    facts = _identify(session_factory, settings, id_no, "470369")
    assert facts is not None and facts.person_id == person_id
