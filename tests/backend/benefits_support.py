"""Helpers of the pension tests: residents with settled years and a posted account balance."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from backend.accounts import posting
from backend.accounts import service as accounts
from backend.accounts.models import Source
from backend.contributions.models import Assessment
from backend.db import unit_of_work
from backend.policy import service as policy
from tests.backend.money_world import VILLAGE, add_resident, load_basics
from tests.conftest import World

BIRTH = dt.date(1966, 5, 10)  # 60 on 2026-05-10: first month paid 2026-06
APPLIED_ON = dt.date(2026, 5, 20)
START = dt.date(2026, 6, 1)
EARLY_BIRTH = dt.date(1960, 3, 1)  # 60 in 2020: paid from 2020-04, certified until 2021-03-15
EARLY_APPLIED_ON = dt.date(2020, 3, 15)
BANK = {"bank_code": "RCC", "bank_account": "6230000012345678"}


def add_candidate(
    session: Session,
    *,
    sequence: int,
    years: int = 15,
    own_fen: int = 1_000_000,
    subsidy_fen: int = 390_000,
    birth: dt.date = BIRTH,
    village: str = VILLAGE,
    name: str = "乌云",
) -> int:
    """An enrolled resident with ``years`` settled years and the given balance, posted."""
    person = add_resident(session, sequence=sequence, birth=birth, village=village, name=name)
    version_id = policy.version_on(
        session=session, region_code=village, on=dt.date(2015, 12, 31)
    ).id
    for year in range(2010, 2010 + years):
        session.add(
            Assessment(
                person_id=person.id,
                county_code=village[:6],
                region_code=village,
                year=year,
                grade_fen=10000,
                own_due_fen=10000,
                policy_version_id=version_id,
                paid_fen=10000,
                settled=True,
            )
        )
    on = dt.date(2024, 12, 31)
    account = accounts.open_account(
        session=session, person_id=person.id, county_code=village[:6], on=dt.date(2010, 1, 1)
    )
    entry = posting.open_posting(
        session=session, county_code=village[:6], event="test_balance", posted_on=on
    )
    accounts.append(
        session=session,
        account=account,
        on=on,
        amounts=[(Source.OWN, own_fen), (Source.GOVERNMENT_SUBSIDY, subsidy_fen)],
        policy_version_id=version_id,
        ref_type="test",
        ref_id=person.id,
        journal_entry_id=entry.id,
    )
    posting.close_posting(session=session, entry=entry)
    session.flush()
    return person.id


def award(world: World, person_id: int, applied_on: dt.date = APPLIED_ON) -> dict[str, Any]:
    """Apply (clerk_xzg) and approve (reviewer_xzg); the pension as the API shows it."""
    r = world.client.post(
        "/api/v1/benefits/applications",
        json={"person_id": person_id, "applied_on": applied_on.isoformat(), **BANK},
        headers=world.headers("clerk_xzg"),
    )
    assert r.status_code == 201, r.text
    r = world.client.post(
        f"/api/v1/benefits/applications/{r.json()['id']}/approve",
        json={},
        headers=world.headers("reviewer_xzg"),
    )
    assert r.status_code == 200, r.text
    r = world.client.get(
        f"/api/v1/benefits/pensions/{person_id}", headers=world.headers("reviewer_xzg")
    )
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


def three_pensioners(world: World, session_factory) -> list[int]:
    """Three pensioners paid from 2026-06; the third has almost nothing in the account."""
    with unit_of_work(session_factory) as s:
        load_basics(s, regions=False)
        ids = [
            add_candidate(s, sequence=61),
            add_candidate(s, sequence=63, name="萨仁"),
            add_candidate(s, sequence=65, name="阿拉坦", own_fen=5000, subsidy_fen=0),
        ]
    for person_id in ids:
        award(world, person_id)
    return ids


def change_payee_account(
    world: World, person_id: int, *, holder: str, bank_code: str, bank_account: str
) -> dict[str, Any]:
    """A clerk of 夏孜盖乡 asks to pay the pension to another account; its reviewer approves."""
    asked = world.client.put(
        f"/api/v1/benefits/pensions/{person_id}/bank",
        json={
            "bank_code": bank_code,
            "bank_account": bank_account,
            "account_holder": holder,
            "reason": "原账户已销户",
        },
        headers=world.headers("clerk_xzg"),
    )
    assert asked.status_code == 202, asked.text
    approved = world.client.post(
        f"/api/v1/benefits/bank-changes/{asked.json()['id']}/approve",
        json={},
        headers=world.headers("reviewer_xzg"),
    )
    assert approved.status_code == 200, approved.text
    result: dict[str, Any] = approved.json()
    return result
