"""Overpayments owed by heirs: opened with the death settlement, repaid at the counter."""

from __future__ import annotations

from pathlib import Path

import pytest

from backend.db import unit_of_work
from backend.ledger import service as ledger
from tests.backend.benefits_support import three_pensioners
from tests.backend.payroll_support import pay_month
from tests.conftest import World


@pytest.fixture
def pensioners(world: World, session_factory) -> list[int]:
    return three_pensioners(world, session_factory)


def _books(session_factory) -> dict[tuple[str, str], int]:
    with unit_of_work(session_factory) as s:
        report = ledger.check(session=s)
        assert report.ok, report.problems
        return ledger.balances(session=s)


def test_heirs_repay_the_receivable_in_instalments_once_per_key(
    world: World, pensioners, session_factory, tmp_path: Path
):
    poor = pensioners[2]
    pay_month(world, session_factory, "2026-06", tmp_path)
    pay_month(world, session_factory, "2026-07", tmp_path)
    r = world.client.post(
        "/api/v1/benefits/deaths",
        json={"person_id": poor, "died_on": "2026-06-20"},
        headers=world.headers("clerk_xzg"),
    )
    case_id = r.json()["id"]
    r = world.client.post(
        f"/api/v1/benefits/deaths/{case_id}/confirm", json={}, headers=world.headers("reviewer_xzg")
    )
    receivable = r.json()["receivable_fen"]
    assert receivable > 0
    found = world.client.get(
        f"/api/v1/benefits/overpayments?person_id={poor}", headers=world.headers("clerk_xzg")
    ).json()
    assert len(found) == 1
    owed = found[0]
    assert (owed["cause"], owed["debtor"], owed["method"], owed["status"]) == (
        "death",
        "heirs",
        "instalments",
        "open",
    )
    assert (owed["amount_fen"], owed["recovered_fen"]) == (receivable, 0)
    before = _books(session_factory)

    url = f"/api/v1/benefits/overpayments/{owed['id']}/repayments"
    headers = world.headers("clerk_xzg", key="repay-1")
    first = world.client.post(url, json={"amount_fen": 1000, "receipt_no": "R1"}, headers=headers)
    assert first.status_code == 201, first.text
    again = world.client.post(url, json={"amount_fen": 1000, "receipt_no": "R1"}, headers=headers)
    assert again.json() == first.json()  # the same key: recorded once

    too_much = world.client.post(
        url,
        json={"amount_fen": receivable, "receipt_no": "R2"},
        headers=world.headers("clerk_xzg"),
    )
    assert too_much.status_code == 409
    assert too_much.json()["code"] == "recovery_exceeds_outstanding"
    bad = world.client.post(
        url, json={"amount_fen": -5, "receipt_no": "R2"}, headers=world.headers("clerk_xzg")
    )
    assert bad.status_code == 422

    rest = world.client.post(
        url,
        json={"amount_fen": receivable - 1000, "receipt_no": "R3"},
        headers=world.headers("clerk_xzg"),
    )
    assert rest.status_code == 201, rest.text
    settled = world.client.get(
        f"/api/v1/benefits/overpayments/{owed['id']}", headers=world.headers("clerk_xzg")
    ).json()
    assert (settled["recovered_fen"], settled["status"]) == (receivable, "settled")
    closed = world.client.post(
        url, json={"amount_fen": 1, "receipt_no": "R4"}, headers=world.headers("clerk_xzg")
    )
    assert closed.status_code == 409 and closed.json()["code"] == "overpayment_closed"

    after = _books(session_factory)
    county = "654226"
    assert after[(county, "1201")] - before[(county, "1201")] == -receivable
    assert after[(county, "1001")] - before[(county, "1001")] == receivable


def test_overpayments_outside_the_scope_are_not_found(
    world: World, pensioners, session_factory, tmp_path: Path
):
    r = world.client.get("/api/v1/benefits/overpayments/999999", headers=world.headers("clerk_xzg"))
    assert r.status_code == 404
    assert r.json()["code"] == "overpayment_not_found"
