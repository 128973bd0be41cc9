"""The yearly interest run: exactly once, new accounts included, compounding, crash-safe."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from backend.accounts import service as accounts
from backend.accounts.interest import interest_credited, run_interest
from backend.accounts.models import AccountEntry, Source
from backend.accounts.posting import close_posting, open_posting
from backend.audit.service import Actor
from backend.db import unit_of_work
from backend.ledger import service as ledger
from backend.ledger.jobs import CRASH_EXIT_CODE
from backend.policy import service as policy
from backend.policy.rules import InterestConvention, interest_from_weight, interest_weight
from tests.backend.money_world import EMIN_VILLAGE, add_resident, load_basics

RATE = Decimal("0.015")  # national and demo rate for 2015–2025


def credit(session, person, on: dt.date, amount_fen: int, source: Source = Source.OWN) -> None:
    """Money into an account, posted to the books like any business step."""
    account = accounts.open_account(
        session=session, person_id=person.id, county_code=person.county_code, on=on
    )
    entry = open_posting(
        session=session, county_code=person.county_code, event="test", posted_on=on
    )
    accounts.append(
        session=session,
        account=account,
        on=on,
        amounts=[(source, amount_fen)],
        policy_version_id=None,
        ref_type="test",
        ref_id=0,
        journal_entry_id=entry.id,
    )
    close_posting(session=session, entry=entry)


@pytest.fixture
def history(session_factory):
    """Two counties; accounts with entries in several months of 2020 and 2021."""
    with unit_of_work(session_factory) as s:
        load_basics(s)
        a = add_resident(s, sequence=1)
        b = add_resident(s, sequence=3, name="乌兰")
        c = add_resident(s, sequence=5, village=EMIN_VILLAGE, name="古丽")
        credit(s, a, dt.date(2020, 3, 10), 30000)
        credit(s, a, dt.date(2020, 12, 1), 10000)
        credit(s, a, dt.date(2020, 3, 10), 4000, Source.GOVERNMENT_SUBSIDY)
        credit(s, b, dt.date(2020, 7, 31), 50000)
        credit(s, c, dt.date(2020, 1, 5), 123457)
        return {"a": a.id, "b": b.id, "c": c.id}


def _expected_2020() -> int:
    conv = InterestConvention.MONTHS_REMAINING
    a = interest_from_weight(interest_weight(0, [(3, 30000), (12, 10000), (3, 4000)], conv), RATE)
    b = interest_from_weight(interest_weight(0, [(7, 50000)], conv), RATE)
    c = interest_from_weight(interest_weight(0, [(1, 123457)], conv), RATE)
    return a + b + c


def test_interest_matches_the_hand_computed_convention(history, session_factory):
    # a: (300×9 + 100×0 + 40×9)×1.5 %/12 = 3.825 yuan → 383 fen (rounded once, on the total)
    summary = run_interest(factory=session_factory, year=2020)
    assert summary.finished and summary.chunks_total == 2
    with unit_of_work(session_factory) as s:
        by_person = {}
        for account_id, amount in s.execute(
            select(AccountEntry.account_id, AccountEntry.amount_fen).where(
                AccountEntry.source == "interest"
            )
        ):
            by_person[account_id] = amount
        assert sorted(by_person.values()) == sorted(
            [383, 313, 1698]
        )  # c: 1234.57 × 11/12 × 1.5 % = 16.975…
        assert interest_credited(session=s, year=2020) == _expected_2020() == summary.amount_fen
        assert ledger.check(session=s).ok


def test_second_interest_run_in_same_year_changes_nothing(history, session_factory):
    run_interest(factory=session_factory, year=2020)
    again = run_interest(factory=session_factory, year=2020)
    assert again.rows == 0 and again.amount_fen == 0
    with unit_of_work(session_factory) as s:
        assert s.scalar(select(func.count()).where(AccountEntry.source == "interest")) == 3
        assert ledger.check(session=s).ok


def test_account_opened_after_a_run_gets_its_interest_on_the_next_run(history, session_factory):
    run_interest(factory=session_factory, year=2020)
    with unit_of_work(session_factory) as s:
        late = add_resident(s, sequence=7, name="新开户")
        credit(s, late, dt.date(2020, 6, 30), 20000)
    summary = run_interest(factory=session_factory, year=2020)
    assert (summary.rows, summary.amount_fen) == (1, 150)  # 200 × 6/12 × 1.5 %


def test_previous_interest_compounds(history, session_factory):
    run_interest(factory=session_factory, year=2020)
    run_interest(factory=session_factory, year=2021)
    with unit_of_work(session_factory) as s:
        for person_id in history.values():
            account = s.scalar(
                select(AccountEntry.account_id)
                .join_from(
                    AccountEntry, accounts.Account, AccountEntry.account_id == accounts.Account.id
                )
                .where(accounts.Account.person_id == person_id)
                .limit(1)
            )
            opening = s.scalar(
                select(func.sum(AccountEntry.amount_fen)).where(
                    AccountEntry.account_id == account, AccountEntry.year <= 2020
                )
            )
            interest_2021 = s.scalar(
                select(AccountEntry.amount_fen).where(
                    AccountEntry.account_id == account,
                    AccountEntry.year == 2021,
                    AccountEntry.source == "interest",
                )
            )
            assert interest_2021 == interest_from_weight(12 * opening, RATE)


def test_alternative_convention_ignores_current_year_entries(history, session_factory):
    with unit_of_work(session_factory) as s:
        policy.create_version(
            session=s,
            version_in=policy.VersionIn(
                region_prefix="654221",
                valid_from=dt.date(2020, 1, 1),
                name="额敏县（测试）",
                source="测试",
                inherit=True,
                rules={"interest_convention": "opening_only"},
            ),
            actor=Actor.system(),
            maker_id=None,
            active=True,
        )
    run_interest(factory=session_factory, year=2020)
    with unit_of_work(session_factory) as s:
        assert interest_credited(session=s, year=2020, county_code="654221") == 0
        assert interest_credited(session=s, year=2020, county_code="654226") == 383 + 313


def test_year_without_a_rate_is_refused_before_anything_runs(history, session_factory):
    from backend.errors import InvalidInput

    with pytest.raises(InvalidInput) as exc:
        run_interest(factory=session_factory, year=2026)
    assert exc.value.code == "interest_rate_missing"


def _run_in_subprocess(database_url: str, year: int, env_extra: dict[str, str]) -> int:
    code = (
        "import sys\n"
        "from backend.db import make_engine, make_session_factory\n"
        "from backend.accounts.interest import run_interest\n"
        f"run_interest(factory=make_session_factory(make_engine({database_url!r})), year={year})\n"
    )
    env = {**os.environ, **env_extra}
    return subprocess.run([sys.executable, "-c", code], env=env, timeout=120).returncode


@pytest.mark.parametrize("hook", ["XNB_CRASH_AFTER_CHUNKS", "XNB_CRASH_IN_CHUNK"])
def test_crash_between_or_inside_chunks_resumes_to_the_same_totals(
    history, session_factory, database_url, hook
):
    assert _run_in_subprocess(database_url, 2020, {hook: "1"}) == CRASH_EXIT_CODE
    with unit_of_work(session_factory) as s:
        partial = interest_credited(session=s, year=2020)
        counties = (
            s.execute(
                select(AccountEntry.county_code).where(AccountEntry.source == "interest").distinct()
            )
            .scalars()
            .all()
        )
        assert ledger.check(session=s).ok
    if hook == "XNB_CRASH_IN_CHUNK":
        assert partial == 0  # the chunk's transaction never committed
    else:
        assert len(counties) == 1  # exactly the first county's chunk
    assert _run_in_subprocess(database_url, 2020, {}) == 0
    with unit_of_work(session_factory) as s:
        assert interest_credited(session=s, year=2020) == _expected_2020()
        assert s.scalar(select(func.count()).where(AccountEntry.source == "interest")) == 3
        assert ledger.check(session=s).ok
