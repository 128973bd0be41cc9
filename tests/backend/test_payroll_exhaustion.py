"""An account used up: draws stop at each source's real balance, government pays the rest."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import func, select

from backend.accounts import posting as account_posting
from backend.accounts import service as accounts
from backend.accounts.models import Account, AccountEntry, Source
from backend.benefits.models import Pension, PensionDraw
from backend.db import unit_of_work
from backend.ledger import service as ledger
from backend.payroll.posting import month_number
from tests.backend.benefits_support import add_candidate, award
from tests.backend.money_world import load_basics
from tests.backend.payroll_support import pay_month
from tests.conftest import World

COUNTY = "654226"


@pytest.fixture
def pensioners(world: World, session_factory) -> list[int]:
    """Two pensioners from 2026-06 drawing 71.94 (own) + 28.06 (subsidy) a month."""
    with unit_of_work(session_factory) as s:
        load_basics(s, regions=False)
        ids = [add_candidate(s, sequence=91), add_candidate(s, sequence=93, name="斯琴")]
    for person_id in ids:
        award(world, person_id)
    return ids


def _credit(
    session_factory,
    person_id: int,
    amounts: list[tuple[Source, int]],
    on: dt.date = dt.date(2026, 5, 31),
) -> None:
    """Entries on the account after the award (posted), e.g. interest or a correction."""
    with unit_of_work(session_factory) as s:
        account = s.scalar(select(Account).where(Account.person_id == person_id))
        assert account is not None
        entry = account_posting.open_posting(
            session=s, county_code=COUNTY, event="test_balance", posted_on=on
        )
        accounts.append(
            session=s,
            account=account,
            on=on,
            amounts=amounts,
            policy_version_id=None,
            ref_type="test",
            ref_id=person_id,
            journal_entry_id=entry.id,
        )
        account_posting.close_posting(session=s, entry=entry)


def _balances(session_factory, person_id: int) -> dict[str, int]:
    with unit_of_work(session_factory) as s:
        return {
            source: int(total)
            for source, total in s.execute(
                select(AccountEntry.source, func.sum(AccountEntry.amount_fen))
                .join(Account, Account.id == AccountEntry.account_id)
                .where(Account.person_id == person_id)
                .group_by(AccountEntry.source)
            )
        }


def _books(session_factory) -> dict[tuple[str, str], int]:
    with unit_of_work(session_factory) as s:
        report = ledger.check(session=s)
        assert report.ok, report.problems
        return ledger.balances(session=s)


def test_draws_stop_when_the_account_is_used_up_and_interest_lengthens_its_life(
    world: World, pensioners, session_factory, tmp_path: Path
):
    short, full = pensioners
    # Leave 100.00 own and 30.00 subsidy: June draws 71.94 + 28.06, July what is left.
    _credit(session_factory, short, [(Source.OWN, -990000), (Source.GOVERNMENT_SUBSIDY, -387000)])
    months = iter(["2026-06", "2026-07", "2026-08", "2026-09"])

    def pay() -> int:
        """Pay the next month; returns what government funds paid for it (4101 credit)."""
        before = _books(session_factory)
        pay_month(world, session_factory, next(months), tmp_path)
        after = _books(session_factory)
        return after[(COUNTY, "4101")] - before.get((COUNTY, "4101"), 0)

    # Both pensions: 208.00 basic each; the account pension of 100.00 from the account.
    assert pay() == 2 * 20800
    assert _balances(session_factory, short) == {"own": 2806, "government_subsidy": 194}
    # July: the short account gives its last 30.00, government the other 70.00.
    assert pay() == 2 * 20800 + 7000
    assert _balances(session_factory, short) == {"own": 0, "government_subsidy": 0}
    # Interest credited after the award (a late credit of 2025's): August takes it before
    # government funds.
    _credit(session_factory, short, [(Source.INTEREST, 4000)], dt.date(2025, 12, 31))
    assert pay() == 2 * 20800 + 6000
    assert pay() == 2 * 20800 + 10000
    assert _balances(session_factory, short) == {
        "own": 0,
        "government_subsidy": 0,
        "interest": 0,
    }
    full_balances = _balances(session_factory, full)
    assert full_balances == {"own": 1000000 - 4 * 7194, "government_subsidy": 390000 - 4 * 2806}
    with unit_of_work(session_factory) as s:
        # The full account was checked once (June) and proved for 137 months more; the
        # short one is checked every month.
        covered = dict(
            s.execute(
                select(PensionDraw.source, PensionDraw.covered_through)
                .join(Pension, Pension.id == PensionDraw.pension_id)
                .where(Pension.person_id == full)
            ).all()
        )
        june = month_number(dt.date(2026, 6, 1))
        assert covered == {
            "own": june + (1000000 - 7194) // 7194,
            "government_subsidy": june + (390000 - 2806) // 2806,
        }
