"""Production batches: collect applications, export the factory file with its checksum,
import the return file (per-row rejects, all or nothing, idempotent re-import)."""

from __future__ import annotations

import hashlib

from sqlalchemy.orm import Session, sessionmaker

from backend.cards.models import Card
from card_services.applications import card_atr
from tests.backend.card_support import add_card, add_card_centre, add_person
from tests.backend.registry_support import EMIN_VILLAGE
from tests.conftest import World


def _trailer(lines: list[str]) -> str:
    body = "".join(f"{line}\n" for line in lines)
    return body + f"T|{len(lines) - 1}|{hashlib.sha256(body.encode()).hexdigest()}\n"


def return_file(
    batch_number: str, card_ids: list[int], *, serial: int = 500, generation: int = 3
) -> str:
    """A factory return file giving each card a number, identification code and blank ATR."""
    lines = [f"H|{batch_number}|{len(card_ids)}"]
    for n, card_id in enumerate(card_ids, start=serial):
        atr = card_atr(generation, chip_serial=n.to_bytes(8, "big"), blank=True).hex().upper()
        code = "654226" + f"{n:026d}"
        lines.append(f"D|{card_id}|X{n:08d}|{code}|{atr}")
    return _trailer(lines)


def _collect(world: World, session_factory: sessionmaker[Session], count: int = 3):
    add_card_centre(world, session_factory)
    ids = [
        add_card(session_factory, add_person(session_factory), state="applied").id
        for _ in range(count)
    ]
    add_card(session_factory, add_person(session_factory, village=EMIN_VILLAGE), state="applied")
    r = world.client.post(
        "/api/v1/cards/batches",
        json={"region_prefix": "654226"},
        headers=world.headers("card_centre"),
    )
    assert r.status_code == 201, r.text
    return r.json(), ids


def _export(world: World, batch_id: int) -> str:
    r = world.client.post(
        f"/api/v1/cards/batches/{batch_id}/export", headers=world.headers("card_centre")
    )
    assert r.status_code == 200, r.text
    f = world.client.get(
        f"/api/v1/cards/batches/{batch_id}/factory-file", headers=world.headers("card_centre")
    )
    assert f.status_code == 200
    assert f.headers["x-checksum-sha256"] == hashlib.sha256(f.content).hexdigest()
    return f.text


def _import(world: World, batch_id: int, content: str, **extra):
    return world.client.post(
        f"/api/v1/cards/batches/{batch_id}/return",
        json={"content": content, **extra},
        headers=world.headers("card_centre"),
    )


def test_batch_collects_only_its_region_and_exports_a_checksummed_file(
    world: World, session_factory
):
    batch, ids = _collect(world, session_factory)
    assert batch["card_count"] == 3 and batch["state"] == "collected"
    listed = world.client.get(
        f"/api/v1/cards?batch_id={batch['id']}", headers=world.headers("clerk_hbk")
    ).json()
    assert {c["state"] for c in listed["items"]} == {"in_production"}
    text = _export(world, batch["id"])
    lines = text.splitlines()
    assert lines[0].startswith(f"H|{batch['batch_number']}|654226|3|")
    assert [int(line.split("|")[1]) for line in lines[1:-1]] == ids
    body = "".join(f"{line}\n" for line in lines[:-1])
    assert lines[-1] == f"T|3|{hashlib.sha256(body.encode()).hexdigest()}"
    assert _export(world, batch["id"]) == text  # the same bytes on every download
    again = world.client.post(
        "/api/v1/cards/batches",
        json={"region_prefix": "654226"},
        headers=world.headers("card_centre"),
    )
    assert again.status_code == 409 and again.json()["code"] == "no_applications"


def test_return_file_produces_every_card_and_reimport_changes_nothing(
    world: World, session_factory
):
    batch, ids = _collect(world, session_factory)
    _export(world, batch["id"])
    content = return_file(batch["batch_number"], ids)
    r = _import(world, batch["id"], content)
    assert r.status_code == 200, r.text
    assert r.json()["produced"] == 3 and r.json()["rejects"] == [] and not r.json()["repeated"]
    again = _import(world, batch["id"], content)
    assert again.status_code == 200 and again.json()["repeated"] is True
    assert again.json()["produced"] == 3
    with session_factory() as s:
        cards = [s.get(Card, i) for i in ids]
        assert all(c is not None and c.state == "produced" and c.card_number for c in cards)
        assert cards[0] is not None and cards[0].expiry_date and cards[0].atr


def test_bad_rows_reject_the_whole_file_unless_told_otherwise(world: World, session_factory):
    batch, ids = _collect(world, session_factory)
    _export(world, batch["id"])
    good = return_file(batch["batch_number"], ids).splitlines()[:-1]
    rows = [
        good[0],
        good[1],
        good[2].replace("|X", "|x!"),
        "D|999999|X99999999|" + "6" * 32 + "|3B",
    ]
    rows[0] = f"H|{batch['batch_number']}|3"
    bad = _trailer(rows)
    r = _import(world, batch["id"], bad)
    assert r.status_code == 422 and r.json()["code"] == "return_file_rejected"
    assert [(x["line"], x["code"]) for x in r.json()["rejects"]] == [
        (3, "bad_card_number"),
        (4, "unknown_card"),
    ]
    with session_factory() as s:
        assert {s.get(Card, i).state for i in ids} == {"in_production"}  # type: ignore[union-attr]
    partial = _import(world, batch["id"], bad, accept_valid=True)
    assert partial.status_code == 200 and partial.json()["produced"] == 1
    assert len(partial.json()["rejects"]) == 2


def test_tampered_file_and_wrong_chip_are_refused(world: World, session_factory):
    batch, ids = _collect(world, session_factory, count=1)
    _export(world, batch["id"])
    content = return_file(batch["batch_number"], ids)
    tampered = content.replace("X00000500", "X00000501")
    r = _import(world, batch["id"], tampered)
    assert r.status_code == 422 and r.json()["errors"][0]["code"] == "checksum_mismatch"
    gen1 = return_file(batch["batch_number"], ids, generation=1)
    r = _import(world, batch["id"], gen1)
    assert r.json()["rejects"][0]["code"] == "wrong_chip"


def test_duplicate_card_number_is_rejected(world: World, session_factory):
    batch, ids = _collect(world, session_factory, count=1)
    _export(world, batch["id"])
    add_card(session_factory, add_person(session_factory), state="active", card_number="X00000500")
    r = _import(world, batch["id"], return_file(batch["batch_number"], ids))
    assert r.json()["rejects"][0]["code"] == "duplicate"


def test_clerk_cannot_run_production(world: World, session_factory):
    r = world.client.post(
        "/api/v1/cards/batches",
        json={"region_prefix": "654226"},
        headers=world.headers("clerk_hbk"),
    )
    assert r.status_code == 403
