"""Money under real concurrency: eight requests at the same moment against a served app on
PostgreSQL (SQLite admits one writer at a time, so races need PostgreSQL).

Refund approval pays once, counter collections never take more than is due, one
Idempotency-Key has one effect and every answer the same, one fact has one receipt.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from backend.accounts.models import AccountEntry
from backend.app import create_app
from backend.config import Settings
from backend.contributions.models import Assessment, Collection
from backend.db import unit_of_work
from backend.ledger import service as ledger
from backend.ledger.chart import INCOME_BANK, INDIVIDUAL_ACCOUNTS, credit, debit
from backend.ledger.models import JournalEntry
from backend.receipts.models import IssuedReceipt
from tests.backend.money_world import add_resident, load_basics
from tests.conftest import PASSWORD, World
from tests.terminal_agent.support import ServerThread

THIS_YEAR = dt.date.today().year
AT_ONCE = 8
ON_POSTGRES = pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Test settings with the receipt keys in the test's own directory."""
    return Settings(env="test", database_url=database_url, receipt_key_dir=tmp_path / "receipts")


@pytest.fixture
def served(settings: Settings, world: World) -> Iterator[str]:
    """The app served by uvicorn on 127.0.0.1 (a thread pool: requests really overlap)."""
    with ServerThread(create_app(settings)) as server:
        yield server.url


@pytest.fixture
def assessment(world: World, session_factory: sessionmaker[Session]) -> dict[str, int]:
    """This year's contribution of a resident of 夏孜盖乡 assessed at 500 yuan, nothing paid."""
    with unit_of_work(session_factory) as s:
        load_basics(s, regions=False)
        person_id = add_resident(s, sequence=11, birth=dt.date(1990, 3, 1)).id
    r = world.client.post(
        "/api/v1/contributions/assessments",
        json={"person_id": person_id, "year": THIS_YEAR, "grade_fen": 50000},
        headers=world.headers("clerk_xzg"),
    )
    assert r.status_code == 201, r.text
    return {"id": r.json()["id"], "due": r.json()["own_due_fen"]}


def logins(world: World, user: str, count: int = AT_ONCE) -> list[dict[str, str]]:
    """``count`` sessions of one operator (several workstations). Requests of one session
    wait for each other on its row, so each thread gets its own to really overlap."""
    tokens = []
    for _ in range(count):
        r = world.client.post("/api/v1/auth/login", json={"username": user, "password": PASSWORD})
        assert r.status_code == 200, r.text
        tokens.append(r.json()["access_token"])
    return [{"Authorization": f"Bearer {t}", "X-XNB-Device": "test-workstation"} for t in tokens]


def at_once(call: Callable[[int], httpx.Response], count: int = AT_ONCE) -> list[httpx.Response]:
    """``count`` threads make their request at the same moment; their answers."""
    start = threading.Barrier(count)
    answers: list[httpx.Response] = []

    def one(index: int) -> None:
        start.wait(timeout=10)
        answers.append(call(index))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(answers) == count
    return answers


def post(url: str, world: World, user: str, body: object, key: str | None = None) -> httpx.Response:
    return httpx.post(url, json=body, headers=world.headers(user, key=key), timeout=60)


def post_as(
    url: str, session: dict[str, str], body: object, key: str | None = None
) -> httpx.Response:
    headers = {**session, "Idempotency-Key": key or uuid.uuid4().hex}
    return httpx.post(url, json=body, headers=headers, timeout=60)


@ON_POSTGRES
def test_eight_approvals_of_one_refund_pay_it_once(
    served: str, world: World, assessment: dict[str, int], session_factory: sessionmaker[Session]
) -> None:
    paid = post(
        f"{served}/api/v1/contributions/collections",
        world,
        "clerk_xzg",
        {"assessment_id": assessment["id"]},
    )
    assert paid.status_code == 201, paid.text
    refund = post(
        f"{served}/api/v1/contributions/refunds",
        world,
        "clerk_xzg",
        {"assessment_id": assessment["id"], "reason": "employee_overlap"},
    )
    assert refund.status_code == 201, refund.text
    refund_id = refund.json()["id"]
    url = f"{served}/api/v1/contributions/refunds/{refund_id}/approve"
    reviewers = logins(world, "reviewer_xzg")
    answers = at_once(lambda i: post_as(url, reviewers[i], {}))
    assert sorted(a.status_code for a in answers) == [200] + [409] * (AT_ONCE - 1)
    assert {a.json()["code"] for a in answers if a.status_code == 409} == {"refund_decided"}
    with unit_of_work(session_factory) as s:
        postings = s.scalar(
            select(func.count(JournalEntry.id)).where(
                JournalEntry.ref_type == "refund", JournalEntry.ref_id == refund_id
            )
        )
        refunded = s.scalar(
            select(func.sum(AccountEntry.amount_fen)).where(AccountEntry.source == "refund")
        )
        assert (postings, refunded) == (1, -assessment["due"])
        assert s.get(Assessment, assessment["id"]).paid_fen == 0  # type: ignore[union-attr]
        assert ledger.check(session=s).ok


@ON_POSTGRES
def test_collections_at_once_never_take_more_than_is_due(
    served: str, world: World, assessment: dict[str, int], session_factory: sessionmaker[Session]
) -> None:
    url = f"{served}/api/v1/contributions/collections"
    part = 20000  # 500 yuan due: two parts fit, a third does not
    clerks = logins(world, "clerk_xzg")
    answers = at_once(
        lambda i: post_as(url, clerks[i], {"assessment_id": assessment["id"], "amount_fen": part})
    )
    statuses = Counter(a.status_code for a in answers)
    assert statuses[201] == assessment["due"] // part
    assert statuses[201] + statuses[422] + statuses[409] == AT_ONCE
    county = logins(world, "clerk_county")
    whole = at_once(lambda i: post_as(url, county[i], {"assessment_id": assessment["id"]}))
    assert sorted(a.status_code for a in whole) == [201] + [409] * (AT_ONCE - 1)
    with unit_of_work(session_factory) as s:
        taken = s.scalar(
            select(func.sum(Collection.amount_fen)).where(
                Collection.assessment_id == assessment["id"]
            )
        )
        assert taken == assessment["due"]
        found = s.get(Assessment, assessment["id"])
        assert found is not None and found.paid_fen == assessment["due"] and found.settled
        assert ledger.check(session=s).ok


@ON_POSTGRES
def test_one_idempotency_key_sent_eight_times_at_once_has_one_effect(
    served: str, world: World, assessment: dict[str, int], session_factory: sessionmaker[Session]
) -> None:
    key = uuid.uuid4().hex
    body = {"assessment_id": assessment["id"], "amount_fen": 10000}
    url = f"{served}/api/v1/contributions/collections"
    clerks = logins(world, "clerk_xzg")
    answers = at_once(lambda i: post_as(url, clerks[i], body, key=key))
    assert {a.status_code for a in answers} == {201}, [a.text for a in answers]
    assert len({a.text for a in answers}) == 1  # every answer the first one
    with unit_of_work(session_factory) as s:
        count = s.scalar(
            select(func.count(Collection.id)).where(Collection.assessment_id == assessment["id"])
        )
        assert count == 1


@ON_POSTGRES
def test_one_fact_asked_for_eight_times_at_once_has_one_receipt(
    served: str, world: World, assessment: dict[str, int], session_factory: sessionmaker[Session]
) -> None:
    paid = post(
        f"{served}/api/v1/contributions/collections",
        world,
        "clerk_xzg",
        {"assessment_id": assessment["id"]},
    )
    body = {"kind": "contribution", "fact_id": paid.json()["id"]}
    clerks = logins(world, "clerk_xzg")
    answers = at_once(lambda i: post_as(f"{served}/api/v1/receipts", clerks[i], body))
    assert sorted(a.status_code for a in answers) == [200] * (AT_ONCE - 1) + [201], [
        a.text for a in answers
    ]
    assert len({a.json()["token"] for a in answers}) == 1
    with unit_of_work(session_factory) as s:
        assert s.scalar(select(func.count(IssuedReceipt.id))) == 1


def test_a_counter_money_event_cannot_be_posted_twice(
    world: World, session_factory: sessionmaker[Session]
) -> None:
    lines = [debit(INCOME_BANK, 100), credit(INDIVIDUAL_ACCOUNTS, 100)]

    def post_entry(s: Session, ref_type: str) -> None:
        ledger.post(
            session=s,
            county_code="654226",
            event="test",
            lines=lines,
            posted_on=dt.date.today(),
            ref_type=ref_type,
            ref_id=7,
        )

    with unit_of_work(session_factory) as s:
        post_entry(s, "refund")
        # Other references may post several entries (a return file, once per county, …).
        post_entry(s, "bank_return_file")
        post_entry(s, "bank_return_file")
    with pytest.raises(IntegrityError), unit_of_work(session_factory) as s:
        post_entry(s, "refund")
