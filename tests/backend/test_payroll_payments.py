"""One bank payment per pensioner and payroll; overpayments kept back from later pensions."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from backend.audit.service import Actor
from backend.banks.formats import Outcome
from backend.banks.models import BankBatchRow
from backend.benefits import overpayments
from backend.benefits.models import Overpayment, OverpaymentRecovery, Pension
from backend.db import unit_of_work
from backend.ledger import service as ledger
from backend.ledger.jobs import CRASH_AFTER_ENV, CRASH_EXIT_CODE, CRASH_IN_ENV
from backend.payroll import returns
from backend.payroll.files import remittance
from backend.payroll.models import PayrollLine
from backend.policy import service as policy
from tests.backend.benefits_support import add_candidate, award
from tests.backend.money_world import load_basics
from tests.backend.payroll_support import bank_return, build_and_approve, send
from tests.conftest import World

COUNTY = "654226"


@pytest.fixture
def pensioners(world: World, session_factory) -> list[int]:
    """Two pensioners of 夏孜盖乡 paid from 2026-06 (308.00 yuan a month each)."""
    with unit_of_work(session_factory) as s:
        load_basics(s, regions=False)
        ids = [add_candidate(s, sequence=81), add_candidate(s, sequence=83, name="其其格")]
    for person_id in ids:
        award(world, person_id)
    return ids


def _lines(session_factory, payroll_id: int) -> list[tuple[int, str, str, int, str]]:
    with unit_of_work(session_factory) as s:
        return sorted(
            (line.person_id, line.kind, line.month.isoformat(), line.amount_fen, line.state)
            for line in s.scalars(select(PayrollLine).where(PayrollLine.payroll_id == payroll_id))
        )


def _books(session_factory) -> dict[tuple[str, str], int]:
    with unit_of_work(session_factory) as s:
        report = ledger.check(session=s)
        assert report.ok, report.problems
        return ledger.balances(session=s)


def _import(session_factory, batch, path: Path, outcomes=None) -> None:
    result = returns.import_return(
        factory=session_factory,
        path=bank_return(session_factory, batch, path, outcomes),
        actor=Actor.system("t"),
    )
    assert result.accepted and result.exceptions == 0, result


def _owe(session_factory, person_id: int, amount_fen: int, ref_id: int = 1) -> int:
    """An overpayment the pensioner owes, recovered by deduction from later pensions."""
    with unit_of_work(session_factory) as s:
        pension = s.scalar(select(Pension).where(Pension.person_id == person_id))
        assert pension is not None
        found = overpayments.open_overpayment(
            session=s,
            finding=overpayments.Finding(
                person_id=person_id,
                pension_id=pension.id,
                county_code=COUNTY,
                region_code=pension.region_code,
                cause=overpayments.Cause.OTHER,
                ref_type="test",
                ref_id=ref_id,
                amount_fen=amount_fen,
                debtor="pensioner",
                method=overpayments.Method.DEDUCTION,
                reason="测试：多发待遇",
            ),
            actor=Actor.system("t"),
            on=dt.date(2026, 5, 31),
        )
        return found.id


def _overpayment(session_factory, overpayment_id: int) -> tuple[int, str, list[int]]:
    with unit_of_work(session_factory) as s:
        found = s.get_one(Overpayment, overpayment_id)
        kept = list(
            s.scalars(
                select(OverpaymentRecovery.amount_fen)
                .where(OverpaymentRecovery.overpayment_id == overpayment_id)
                .order_by(OverpaymentRecovery.id)
            )
        )
        return found.recovered_fen, found.status, kept


def test_one_payment_per_pensioner_sums_the_months_and_its_outcome_reaches_every_line(
    world: World, pensioners, session_factory, tmp_path: Path
):
    late, other = pensioners
    # No June payroll: July pays June as back pay and July, in one bank payment.
    july = build_and_approve(world, session_factory, "2026-07")
    [batch] = send(session_factory, july, tmp_path)
    assert (batch.row_count, batch.total_fen) == (2, 4 * 30800)
    with unit_of_work(session_factory) as s:
        rows = s.scalars(select(BankBatchRow).where(BankBatchRow.batch_id == batch.batch_id))
        by_person = {r.person_id: (r.amount_fen, r.doc_no, r.ref_id) for r in rows}
        pension_id = s.scalar(select(Pension.id).where(Pension.person_id == late))
    assert by_person[late] == (61600, f"DF{july}-{pension_id}", pension_id)
    document = batch.pain001_path.read_text(encoding="utf-8")
    assert "<Ustrd>2026-07发放：补发2026-06；养老金2026-07</Ustrd>" in document

    _import(session_factory, batch, tmp_path / "r.txt", {late: (Outcome.FAILED, "账户冻结")})
    assert _lines(session_factory, july) == [
        (late, "back_pay", "2026-06-01", 30800, "failed"),
        (late, "regular", "2026-07-01", 30800, "failed"),
        (other, "back_pay", "2026-06-01", 30800, "paid"),
        (other, "regular", "2026-07-01", 30800, "paid"),
    ]
    _books(session_factory)
    august = build_and_approve(world, session_factory, "2026-08")
    [batch] = send(session_factory, august, tmp_path / "aug")
    assert batch.row_count == 2 and batch.total_fen == 4 * 30800
    document = batch.pain001_path.read_text(encoding="utf-8")
    assert "<Ustrd>2026-08发放：重发2026-06、2026-07；养老金2026-08</Ustrd>" in document


def test_remittance_names_each_kind_with_its_months_and_what_was_kept_back():
    parts = [
        ("back_pay", dt.date(2026, 5, 1), 30800),
        ("back_pay", dt.date(2026, 6, 1), 30800),
        ("regular", dt.date(2026, 7, 1), 30800),
        ("recovery", dt.date(2026, 7, 1), -15000),
    ]
    assert (
        remittance(dt.date(2026, 7, 1), parts)
        == "2026-07发放：补发2026-05、2026-06；养老金2026-07；扣回多发150.00元"
    )


def test_overpayment_is_kept_back_within_the_policy_share_until_settled(
    world: World, pensioners, session_factory, tmp_path: Path
):
    debtor, _other = pensioners
    owed = _owe(session_factory, debtor, 20000)
    before = _books(session_factory)
    june = build_and_approve(world, session_factory, "2026-06")
    # 50 % of 308.00 at most: 154.00 kept back this month.
    assert (debtor, "recovery", "2026-06-01", -15400, "built") in _lines(session_factory, june)
    [batch] = send(session_factory, june, tmp_path)
    assert batch.total_fen == 30800 + 30800 - 15400
    document = batch.pain001_path.read_text(encoding="utf-8")
    assert "养老金2026-06；扣回多发154.00元" in document
    _import(session_factory, batch, tmp_path / "r.txt")
    assert _overpayment(session_factory, owed) == (15400, "open", [15400])
    after = _books(session_factory)
    assert after[(COUNTY, "1201")] - before[(COUNTY, "1201")] == -15400
    assert after[(COUNTY, "5201")] - before[(COUNTY, "5201")] == 2 * 30800 - 2 * 10000

    july = build_and_approve(world, session_factory, "2026-07")
    assert (debtor, "recovery", "2026-07-01", -4600, "built") in _lines(session_factory, july)
    [batch] = send(session_factory, july, tmp_path / "jul")
    _import(session_factory, batch, tmp_path / "jul" / "r.txt")
    assert _overpayment(session_factory, owed) == (20000, "settled", [15400, 4600])
    august = build_and_approve(world, session_factory, "2026-08")
    assert {kind for _, kind, *_ in _lines(session_factory, august)} == {"regular"}
    _books(session_factory)


def test_a_failed_payment_recovers_nothing_and_the_next_payroll_finds_the_debt_again(
    world: World, pensioners, session_factory, tmp_path: Path
):
    debtor, _other = pensioners
    owed = _owe(session_factory, debtor, 20000)
    june = build_and_approve(world, session_factory, "2026-06")
    [batch] = send(session_factory, june, tmp_path)
    _import(session_factory, batch, tmp_path / "r.txt", {debtor: (Outcome.FAILED, "账户冻结")})
    assert (debtor, "recovery", "2026-06-01", -15400, "failed") in _lines(session_factory, june)
    assert _overpayment(session_factory, owed) == (0, "open", [])
    _books(session_factory)

    july = build_and_approve(world, session_factory, "2026-07")
    mine = [line for line in _lines(session_factory, july) if line[0] == debtor]
    # June re-issued (not its recovery line); the whole debt fits in half of 616.00.
    assert mine == [
        (debtor, "recovery", "2026-07-01", -20000, "built"),
        (debtor, "regular", "2026-07-01", 30800, "built"),
        (debtor, "reissue", "2026-06-01", 30800, "built"),
    ]
    [batch] = send(session_factory, july, tmp_path / "jul")
    _import(session_factory, batch, tmp_path / "jul" / "r.txt")
    assert _overpayment(session_factory, owed) == (20000, "settled", [20000])
    _books(session_factory)


def test_a_payment_kept_back_whole_is_not_sent_and_is_posted_at_once(
    world: World, pensioners, session_factory, tmp_path: Path
):
    debtor, _other = pensioners
    with unit_of_work(session_factory) as s:
        policy.create_version(
            session=s,
            version_in=policy.VersionIn(
                region_prefix=COUNTY,
                valid_from=dt.date(2026, 6, 1),
                name="和布克赛尔县多发待遇全额抵扣（测试）",
                source="测试",
                rules={
                    "basic_pension_topup_yuan": 35,
                    "long_contribution_bonus": {
                        "per_year_yuan": 2,
                        "threshold_years": 15,
                        "beyond_per_year_yuan": 3,
                    },
                    "overpayment_deduction_percent": 100,
                },
                inherit=True,
            ),
            actor=Actor.system("t"),
            maker_id=None,
            active=True,
        )
    owed = _owe(session_factory, debtor, 40000)
    before = _books(session_factory)
    june = build_and_approve(world, session_factory, "2026-06")
    [batch] = send(session_factory, june, tmp_path)
    assert (batch.row_count, batch.total_fen) == (1, 30800)
    with unit_of_work(session_factory) as s:
        assert (
            s.scalar(select(func.count(BankBatchRow.id)).where(BankBatchRow.person_id == debtor))
            == 0
        )
    assert [line for line in _lines(session_factory, june) if line[0] == debtor] == [
        (debtor, "recovery", "2026-06-01", -30800, "paid"),
        (debtor, "regular", "2026-06-01", 30800, "paid"),
    ]
    assert _overpayment(session_factory, owed) == (30800, "open", [30800])
    after = _books(session_factory)
    assert after[(COUNTY, "1201")] - before[(COUNTY, "1201")] == -30800
    _import(session_factory, batch, tmp_path / "r.txt")
    _books(session_factory)


def test_a_return_paying_nobody_marks_every_line_failed_and_posts_nothing(
    world: World, pensioners, session_factory, tmp_path: Path
):
    june = build_and_approve(world, session_factory, "2026-06")
    [batch] = send(session_factory, june, tmp_path)
    before = _books(session_factory)
    failed = {person_id: (Outcome.FAILED, "账户已销户") for person_id in pensioners}
    _import(session_factory, batch, tmp_path / "r.txt", failed)
    assert {state for *_, state in _lines(session_factory, june)} == {"failed"}
    assert _books(session_factory) == before


def test_a_counter_repayment_cannot_take_what_a_payment_at_the_bank_keeps_back(
    world: World, pensioners, session_factory, tmp_path: Path
):
    debtor, _other = pensioners
    owed = _owe(session_factory, debtor, 20000)
    june = build_and_approve(world, session_factory, "2026-06")
    [batch] = send(session_factory, june, tmp_path)  # keeps back 154.00, not yet answered
    url = f"/api/v1/benefits/overpayments/{owed}/repayments"
    too_much = world.client.post(
        url, json={"amount_fen": 20000, "receipt_no": "R1"}, headers=world.headers("clerk_xzg")
    )
    assert too_much.status_code == 409, too_much.text
    assert too_much.json()["code"] == "recovery_exceeds_outstanding"
    assert too_much.json()["being_kept_fen"] == 15400
    rest = world.client.post(
        url, json={"amount_fen": 4600, "receipt_no": "R2"}, headers=world.headers("clerk_xzg")
    )
    assert rest.status_code == 201, rest.text
    _import(session_factory, batch, tmp_path / "r.txt")  # the bank's answer still imports
    assert _overpayment(session_factory, owed) == (20000, "settled", [4600, 15400])
    _books(session_factory)


def test_the_pension_shows_the_month_it_is_paid_through_in_step_with_the_county(
    world: World, pensioners, session_factory, tmp_path: Path
):
    debtor, _other = pensioners
    shown = world.client.get(
        f"/api/v1/benefits/pensions/{debtor}", headers=world.headers("clerk_xzg")
    ).json()
    assert shown["paid_through"] is None
    build_and_approve(world, session_factory, "2026-06")
    build_and_approve(world, session_factory, "2026-07")
    shown = world.client.get(
        f"/api/v1/benefits/pensions/{debtor}", headers=world.headers("clerk_xzg")
    ).json()
    assert shown["paid_through"] == "2026-07-01"


def _import_in_subprocess(database_url: str, path: Path, crash: dict[str, str]) -> int:
    code = (
        "from pathlib import Path\n"
        "from backend.audit.service import Actor\n"
        "from backend.db import make_engine, make_session_factory\n"
        "from backend.payroll import returns\n"
        f"f = make_session_factory(make_engine({database_url!r}))\n"
        f"returns.import_return(factory=f, path=Path({str(path)!r}), actor=Actor.system('t'),"
        " chunk_rows=1)\n"
    )
    env = {**os.environ, **crash}
    return subprocess.run([sys.executable, "-c", code], env=env, timeout=120).returncode


@pytest.mark.parametrize("crash", [CRASH_AFTER_ENV, CRASH_IN_ENV])
def test_a_return_import_killed_between_or_inside_chunks_resumes_to_the_same_books(
    world: World, pensioners, session_factory, database_url, tmp_path: Path, crash: str
):
    debtor, other = pensioners
    _owe(session_factory, debtor, 20000)
    june = build_and_approve(world, session_factory, "2026-06")
    [batch] = send(session_factory, june, tmp_path)
    path = bank_return(
        session_factory, batch, tmp_path / "r.txt", {other: (Outcome.FAILED, "户名不符")}
    )
    before = _books(session_factory)
    assert _import_in_subprocess(database_url, path, {crash: "1"}) == CRASH_EXIT_CODE
    assert _import_in_subprocess(database_url, path, {}) == 0
    result = returns.import_return(factory=session_factory, path=path, actor=Actor.system("t"))
    assert result.already_imported
    after = _books(session_factory)
    # Exactly once: the debtor's 308.00 paid less 154.00 kept back; the other's failed.
    assert after[(COUNTY, "1201")] - before[(COUNTY, "1201")] == -15400
    assert after[(COUNTY, "5201")] - before[(COUNTY, "5201")] == 30800 - 10000
    assert sorted(
        (person, kind, state) for person, kind, _, _, state in _lines(session_factory, june)
    ) == [
        (debtor, "recovery", "paid"),
        (debtor, "regular", "paid"),
        (other, "regular", "failed"),
    ]
