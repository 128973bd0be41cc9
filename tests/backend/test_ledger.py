"""The fund's books: balance rules, reversals, and invariants under random business sequences."""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from sqlalchemy import func, select

from backend.accounts.interest import run_interest
from backend.accounts.posting import lines_for
from backend.audit.service import Actor
from backend.banks import withholding
from backend.banks.formats import Outcome, ReturnLine
from backend.banks.models import BankBatchRow, BankReturnRow
from backend.contributions import service as contrib
from backend.contributions.models import Assessment, Collection
from backend.db import unit_of_work
from backend.errors import Conflict, InvalidInput
from backend.ledger import chart
from backend.ledger import service as ledger
from backend.orgs.models import Operator
from backend.orgs.service import Principal
from tests.backend.money_world import add_resident, load_basics
from tests.conftest import World

ACTOR = Actor.system("test")
TODAY = dt.date(2025, 6, 1)  # a year with a published interest rate


def test_unbalanced_entry_is_refused_before_writing(session_factory):
    with unit_of_work(session_factory) as s, pytest.raises(InvalidInput) as exc:
        ledger.post(
            session=s,
            county_code="654226",
            event="test",
            posted_on=TODAY,
            lines=[
                chart.debit(chart.INCOME_BANK, 100),
                chart.credit(chart.INDIVIDUAL_ACCOUNTS, 99),
            ],
        )
    assert exc.value.code == "unbalanced_entry"


def test_reversal_mirrors_and_only_once(session_factory):
    with unit_of_work(session_factory) as s:
        entry = ledger.post(
            session=s,
            county_code="654226",
            event="sweep",
            posted_on=TODAY,
            lines=[chart.debit(chart.FISCAL_SPECIAL, 500), chart.credit(chart.INCOME_BANK, 500)],
        )
        ledger.reverse(session=s, entry_id=entry.id, posted_on=TODAY, event="sweep.reverse")
        with pytest.raises(Conflict):
            ledger.reverse(session=s, entry_id=entry.id, posted_on=TODAY, event="again")
        report = ledger.check(session=s)
    assert report.ok, report.problems
    assert report.debit_fen == report.credit_fen == 1000


def test_check_names_a_negative_bank_account(session_factory):
    with unit_of_work(session_factory) as s:
        ledger.post(
            session=s,
            county_code="654226",
            event="sweep",
            posted_on=TODAY,
            lines=[chart.debit(chart.FISCAL_SPECIAL, 500), chart.credit(chart.INCOME_BANK, 500)],
        )
        report = ledger.check(session=s)
    assert not report.ok and "1001" in report.problems[0]


def test_lines_from_sources_balance_and_net_per_account():
    lines = lines_for({"own": 30000, "government_subsidy": 4000, "refund": -10000})
    assert chart.balance_errors(lines) == []
    by_code = {ln.account_code: (ln.debit_fen, ln.credit_fen) for ln in lines}
    assert by_code == {"1001": (20000, 0), "1101": (4000, 0), "2101": (0, 24000)}


def test_random_business_sequences_keep_the_books_balanced(
    world: World, session_factory, tmp_path: Path
):
    with unit_of_work(session_factory) as s:
        load_basics(s, regions=False)
        clerk = Principal.of(s.get(Operator, world.operator_ids["clerk_county"]), ACTOR)
        reviewer = Principal.of(s.get(Operator, world.operator_ids["reviewer_county"]), ACTOR)
    sequence = itertools.count(301, 2)
    files = itertools.count()

    class Books(RuleBasedStateMachine):
        """Collections, reversals, bank batches and return files, interest runs."""

        def __init__(self) -> None:
            super().__init__()
            self.assessments: list[int] = []
            self.collections: list[int] = []
            self.returns: list[Path] = []

        @rule(
            grade=st.sampled_from([10000, 30000, 50000, 300000]),
            hardship=st.sampled_from([None, None, "low_income", "severely_disabled"]),
            mandate=st.booleans(),
        )
        def assess(self, grade: int, hardship: str | None, mandate: bool) -> None:
            with unit_of_work(session_factory) as s:
                person = add_resident(s, sequence=next(sequence) % 1000)
                if mandate:
                    withholding.add_mandate(
                        session=s, person_id=person.id, bank_code="ABC", county_code="654226"
                    )
                a = contrib.assess(
                    session=s,
                    principal=clerk,
                    person_id=person.id,
                    year=TODAY.year,
                    grade_fen=grade,
                    hardship_group=hardship,
                    today=TODAY,
                )
                self.assessments.append(a.id)

        @rule(pick=st.integers(0, 1000), part=st.sampled_from([None, 1, 2500]))
        def collect(self, pick: int, part: int | None) -> None:
            if not self.assessments:
                return
            with unit_of_work(session_factory) as s:
                try:
                    c = contrib.collect(
                        session=s,
                        principal=clerk,
                        on=TODAY,
                        amount_fen=part,
                        assessment_id=self.assessments[pick % len(self.assessments)],
                    )
                except (Conflict, InvalidInput):
                    return
                self.collections.append(c.id)

        @rule(pick=st.integers(0, 1000))
        def reverse(self, pick: int) -> None:
            if not self.collections:
                return
            with unit_of_work(session_factory) as s, contextlib.suppress(Conflict):
                contrib.reverse_collection(
                    session=s,
                    principal=reviewer,
                    reason="错收",
                    on=TODAY,
                    collection_id=self.collections[pick % len(self.collections)],
                )

        @rule(outcomes=st.lists(st.sampled_from(list(Outcome)), min_size=1, max_size=12))
        def bank_round(self, outcomes: list[Outcome]) -> None:
            with unit_of_work(session_factory) as s:
                try:
                    batch, _ = withholding.export_withholding(
                        session=s,
                        bank_code="ABC",
                        county_code="654226",
                        year=TODAY.year,
                        out_dir=tmp_path,
                        actor=ACTOR,
                        on=TODAY,
                    )
                except Conflict:
                    return
                rows = withholding.batch_rows(session=s, batch_id=batch.id)
                answer = []
                for i, (row, outcome) in enumerate(zip(rows, itertools.cycle(outcomes))):
                    debited = {
                        Outcome.SUCCESS: row.amount_fen,
                        Outcome.PARTIAL: row.amount_fen // 2,
                    }.get(outcome, 0)
                    if outcome is Outcome.PARTIAL and not 0 < debited < row.amount_fen:
                        outcome, debited = Outcome.FAILED, 0
                    answer.append(
                        ReturnLine(
                            i + 2,
                            str(row.person_id),
                            row.name,
                            row.id_number,
                            row.amount_fen,
                            row.doc_no,
                            outcome,
                            debited,
                            "",
                        )
                    )
                batch_no = batch.batch_no
            path = withholding.write_return_file(
                path=tmp_path / f"r{next(files)}.txt",
                batch_no=batch_no,
                value_date=TODAY,
                rows=answer,
            )
            withholding.import_return(factory=session_factory, path=path, actor=ACTOR, chunk_rows=3)
            self.returns.append(path)

        @rule(pick=st.integers(0, 1000))
        def reimport(self, pick: int) -> None:
            if self.returns:
                result = withholding.import_return(
                    factory=session_factory,
                    actor=ACTOR,
                    path=self.returns[pick % len(self.returns)],
                )
                assert result.already_imported

        @rule()
        def interest(self) -> None:
            run_interest(factory=session_factory, year=TODAY.year)

        @invariant()
        def books_balance(self) -> None:
            with unit_of_work(session_factory) as s:
                report = ledger.check(session=s)
                assert report.ok, report.problems
                assert s.scalar(select(func.count()).where(BankReturnRow.resolution.is_(None))) == 0
                # paid totals equal the own money the channels brought in
                paid = s.scalar(select(func.coalesce(func.sum(Assessment.paid_fen), 0)))
                counter = s.scalar(select(func.coalesce(func.sum(Collection.amount_fen), 0)))
                bank = s.scalar(select(func.coalesce(func.sum(BankBatchRow.debited_fen), 0)))
                assert paid == counter + bank

    run_state_machine_as_test(
        Books,
        settings=settings(
            max_examples=6,
            stateful_step_count=10,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )


def test_the_books_check_covers_the_callers_counties_only(world: World, session_factory):
    """A township's reviewer checks its county's books and learns nothing of another
    county's; the province checks all (before: every caller saw every county's problems)."""
    books = {
        # A sound entry in the township's own county.
        "654226": [
            chart.debit(chart.SUBSIDY_RECEIVABLE, 100),
            chart.credit(chart.TRANSFER_CLEARING, 100),
        ],
        # Money on the control account with no individual account behind it: a problem.
        "654221": [
            chart.debit(chart.INCOME_BANK, 100),
            chart.credit(chart.INDIVIDUAL_ACCOUNTS, 100),
        ],
    }
    with unit_of_work(session_factory) as s:
        for county, lines in books.items():
            ledger.post(
                session=s,
                county_code=county,
                event="test",
                lines=lines,
                posted_on=dt.date(2026, 1, 5),
            )

    def check(user: str) -> dict:
        r = world.client.get("/api/v1/ledger/check", headers=world.headers(user))
        assert r.status_code == 200, r.text
        return r.json()

    township = check("reviewer_hbk")
    assert (township["ok"], township["entries"], township["debit_fen"]) == (True, 1, 100)
    assert "654221" not in str(township)
    emin = check("admin_emin")
    assert not emin["ok"] and all("654221" in p for p in emin["problems"])
    province = check("admin_province")
    assert province["entries"] == 2 and not province["ok"]
    balances = world.client.get("/api/v1/ledger/balances", headers=world.headers("reviewer_hbk"))
    assert {b["county_code"] for b in balances.json()} == {"654226"}
