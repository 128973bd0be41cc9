"""Personal data at rest, in the access log and in the audit of reads (issue 19, 11–12)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from pathlib import Path

import httpx
import pytest
import uvicorn
from sqlalchemy import Engine, LargeBinary, func, select, text, type_coerce
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from backend.accounts.service import open_account
from backend.app import create_app
from backend.audit.models import AuditRecord
from backend.audit.service import Actor
from backend.config import Settings
from backend.db import Base, unit_of_work
from backend.keys import fields
from backend.keys import service as keys_service
from backend.registry.models import Person
from tests.backend.benefits_support import BANK, three_pensioners
from tests.backend.payroll_support import pay_month
from tests.backend.registry_support import (
    HBK_VILLAGE,
    XZG_VILLAGE,
    create_person,
    new_id_number,
    person_body,
)
from tests.conftest import World

NAME = "乌日娜其其格"
NEW_NAME = "乌日娜其其格玛"
PHONE = "13912345678"
ADDRESS = "那仁和布克村隐私巷7号"
ACCESS_LOG_PORT = 18411


def _clear_values(id_numbers: list[str]) -> list[bytes]:
    values = [NAME, NEW_NAME, PHONE, ADDRESS, *id_numbers]
    return [v.encode() for v in values]


def _raw_rows(engine: Engine) -> list[bytes]:
    """Every row of every table as the database stores it (PostgreSQL: the row as text)."""
    rows: list[bytes] = []
    with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            for (row,) in conn.execute(text(f"SELECT CAST(t AS text) FROM {table.name} t")):
                rows.append(row.encode())
    return rows


def _sqlite_files(database_url: str) -> list[bytes]:
    path = Path(make_url(database_url).database or "")
    return [p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists()]


def test_the_database_holds_no_clear_id_number_name_phone_or_address(
    world: World, engine: Engine, database_url: str
):
    registered = create_person(world, name=NAME, phone=PHONE, address=ADDRESS)
    changed = world.client.patch(
        f"/api/v1/persons/{registered['id']}",
        json={"name": NEW_NAME},
        headers=world.headers("clerk_hbk"),
    )
    assert changed.status_code == 202, changed.text
    imported_id = new_id_number()
    csv = (
        "身份证号码,姓名,民族,户籍地区划代码,地址,联系电话\n"
        f"{imported_id},{NAME},01,{HBK_VILLAGE},{ADDRESS},{PHONE}\n"
    )
    r = world.client.post(
        "/api/v1/persons/import",
        content=csv.encode(),
        headers={**world.headers("clerk_hbk"), "Content-Type": "text/csv; charset=utf-8"},
    )
    assert r.status_code == 200 and r.json()["imported"] == 1, r.text
    # The application still reads them in clear.
    detail = world.client.get(
        f"/api/v1/persons/{registered['id']}", headers=world.headers("clerk_hbk")
    ).json()
    assert (detail["name"], detail["phone"], detail["address"]) == (NAME, PHONE, ADDRESS)
    assert detail["changes"][0]["new_value"] == NEW_NAME

    if engine.dialect.name == "postgresql":
        stored = _raw_rows(engine)
        assert any(b"\\x" in row for row in stored)  # bytea shows as hex text
    else:
        engine.dispose()  # checkpoint nothing away: read the file and its WAL as they are
        stored = _sqlite_files(database_url)
    for value in _clear_values([registered["id_number"], imported_id]):
        assert not any(value in blob for blob in stored), value.decode()


def test_bank_accounts_and_bank_file_rows_hold_no_clear_account_id_number_or_name(
    world: World, engine: Engine, database_url: str, session_factory, tmp_path: Path
):
    ids = three_pensioners(world, session_factory)
    pay_month(world, session_factory, "2026-06", tmp_path)  # payroll lines, batch, return
    with session_factory() as session:
        people = [session.get_one(Person, i) for i in ids]
        clear = [BANK["bank_account"].encode()]
        clear += [p.id_number.encode() for p in people] + [p.name.encode() for p in people]
    # The files for the bank carry the clear values, decrypted as the rows stream out.
    (order,) = (tmp_path / "2026-06").glob("*.pain001.xml")
    assert BANK["bank_account"] in order.read_text() and people[0].name in order.read_text()
    pipe = [f for f in (tmp_path / "2026-06").glob("*.txt") if f.name != "return.txt"]
    assert any(people[0].id_number.encode() in f.read_bytes() for f in pipe)
    if engine.dialect.name == "postgresql":
        stored = _raw_rows(engine)
    else:
        engine.dispose()
        stored = _sqlite_files(database_url)
    for value in clear:
        assert not any(value in blob for blob in stored), value.decode()


def test_a_stored_value_is_bound_to_its_kind_and_its_key_version():
    ring = fields.DataKeyRing.create(None, passphrase="a-test-passphrase", scrypt_n=2**10)
    sealed = ring.encrypt("id_number", "654226197001010595")
    assert fields.version_of(sealed) == 1
    assert ring.decrypt("id_number", sealed) == "654226197001010595"
    with pytest.raises(fields.VaultError):
        ring.decrypt("name", sealed)  # moved into a column of another kind
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(fields.VaultError):
        ring.decrypt("id_number", tampered)
    assert ring.lookup("id_number", "654226197001010595") == ring.lookup(
        "id_number", "654226197001010595"
    )
    assert ring.lookup("id_number", "x") != ring.lookup("name", "x")


def test_an_encrypted_column_cannot_be_compared_in_sql():
    with pytest.raises(TypeError, match="lookup hash"):
        select(Person.id).where(Person.id_number == "654226197001010595")


def test_rotation_then_rewrap_re_encrypts_every_value_and_reads_stay_the_same(
    world: World, session_factory: sessionmaker[Session], settings: Settings
):
    people = [create_person(world, name=NAME, phone=PHONE) for _ in range(3)]
    with unit_of_work(session_factory) as session:
        version = keys_service.rotate_data_key(
            session=session, settings=settings, actor=Actor.system("test")
        )
    assert fields.ring().active_version == version
    counts = keys_service.rewrap_personal_data(
        factory=session_factory, actor=Actor.system("test"), chunk_rows=2
    )
    persons = next(c for c in counts if c.table == "persons")
    assert persons.rows_read == 3 and persons.values_rewrapped >= 3 * 4  # id, name, address, phone
    with session_factory() as session:
        blobs = session.execute(
            select(
                type_coerce(Person.id_number, LargeBinary), type_coerce(Person.name, LargeBinary)
            )
        ).all()
        assert {fields.version_of(b) for row in blobs for b in row} == {version}
        assert (
            session.scalar(select(func.count()).where(AuditRecord.action == "keys.data_rewrap"))
            == 1
        )
    again = keys_service.rewrap_personal_data(factory=session_factory, actor=Actor.system("test"))
    assert sum(c.values_rewrapped for c in again) == 0  # resumable: nothing left to do
    for person in people:
        r = world.client.get(f"/api/v1/persons/{person['id']}", headers=world.headers("clerk_hbk"))
        assert (r.json()["id_number"], r.json()["name"]) == (person["id_number"], NAME)
    found = world.client.post(
        "/api/v1/persons/search",
        json={"id_number": people[0]["id_number"]},
        headers=world.headers("clerk_hbk"),
    )
    assert [p["id"] for p in found.json()["items"]] == [people[0]["id"]]


# ---- who read whose data ---------------------------------------------------------------------


def _reads(session_factory: sessionmaker[Session], action: str) -> list[AuditRecord]:
    with session_factory() as session:
        return list(
            session.scalars(
                select(AuditRecord).where(AuditRecord.action == action).order_by(AuditRecord.id)
            )
        )


def test_every_opening_of_a_person_and_every_id_number_look_up_is_audited(
    world: World, session_factory: sessionmaker[Session]
):
    person = create_person(world, name=NAME)
    for _ in range(2):
        r = world.client.get(f"/api/v1/persons/{person['id']}", headers=world.headers("clerk_hbk"))
        assert r.status_code == 200
    world.client.post(
        "/api/v1/persons/search",
        json={"id_number": person["id_number"]},
        headers=world.headers("clerk_county"),
    )
    world.client.post(
        "/api/v1/persons/search", json={"name": NAME}, headers=world.headers("clerk_hbk")
    )
    reads = _reads(session_factory, "person.read")
    assert [(r.username, r.object_id, json.loads(r.detail)["via"]) for r in reads] == [
        ("clerk_hbk", str(person["id"]), "detail"),
        ("clerk_hbk", str(person["id"]), "detail"),
        ("clerk_county", str(person["id"]), "id_number"),
    ]
    masked = json.loads(reads[2].detail)["id_number"]
    assert masked == person["id_number"][:6] + "********" + person["id_number"][-4:]
    (search,) = _reads(session_factory, "person.search")
    assert json.loads(search.detail) == {
        "criteria": {"name": "乌*****", "name_match": "exact"},
        "found": 1,
    }


def test_a_household_opened_and_a_statement_read_are_audited_per_person(
    world: World, session_factory: sessionmaker[Session]
):
    head = create_person(world, household_number="HBK-PRIV-1", relationship_code="01")
    child = create_person(world, household_number="HBK-PRIV-1", relationship_code="20")
    with unit_of_work(session_factory) as session:
        open_account(
            session=session, person_id=child["id"], county_code="654226", on=dt.date(2024, 1, 1)
        )
    r = world.client.get(
        f"/api/v1/households/{head['household_id']}", headers=world.headers("clerk_hbk")
    )
    assert r.status_code == 200, r.text
    r = world.client.get(
        f"/api/v1/persons/{child['id']}/statement",
        params={"year": 2024},
        headers=world.headers("clerk_hbk"),
    )
    assert r.status_code == 200, r.text
    reads = [
        (r.object_id, json.loads(r.detail)["via"]) for r in _reads(session_factory, "person.read")
    ]
    assert reads == [
        (str(head["id"]), "household"),
        (str(child["id"]), "household"),
        (str(child["id"]), "statement"),
    ]


def test_a_person_registered_outside_the_scope_is_said_to_exist_but_not_where(world: World):
    xzg = create_person(world, "clerk_xzg", hukou_region_code=XZG_VILLAGE)
    r = world.client.post(
        "/api/v1/persons",
        json=person_body(id_number=xzg["id_number"]),
        headers=world.headers("clerk_hbk"),
    )
    assert r.status_code == 409 and r.json()["code"] == "person_exists"
    assert r.json().get("region_code") is None
    assert "夏孜盖" not in r.json()["detail"] and XZG_VILLAGE not in r.text
    inside = world.client.post(
        "/api/v1/persons",
        json=person_body(id_number=xzg["id_number"]),
        headers=world.headers("clerk_county"),
    )
    assert inside.status_code == 409 and inside.json()["region_code"] == XZG_VILLAGE


# ---- the access log ----------------------------------------------------------------------------


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_the_access_log_holds_no_full_id_number_or_receipt_token(settings: Settings, engine):
    app = create_app(settings)
    config = uvicorn.Config(app, host="127.0.0.1", port=ACCESS_LOG_PORT, log_level="info")
    server = uvicorn.Server(config)
    captured = _Lines()
    logging.getLogger("uvicorn.access").addHandler(captured)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.started
        id_number = "654226197001010595"
        token = "xnb1.eyJraW5kIjoiY29udHJpYnV0aW9uIn0.c2lnbmF0dXJl"
        base = f"http://127.0.0.1:{ACCESS_LOG_PORT}"
        httpx.get(f"{base}/api/v1/persons", params={"id_number": id_number})
        httpx.get(f"{base}/api/v1/persons/{id_number}")
        httpx.get(f"{base}/public/receipts/verify", params={"token": token})
        deadline = time.monotonic() + 5
        while len(captured.lines) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        logging.getLogger("uvicorn.access").removeHandler(captured)
    assert len(captured.lines) >= 3, captured.lines
    log = "\n".join(captured.lines)
    assert id_number not in log and token not in log and "eyJraW5k" not in log
    assert "654226********0595" in log
