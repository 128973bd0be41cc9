"""Withholding: batch export, return files with every outcome, duplicates, lying totals."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import func, select

from backend.accounts.models import AccountEntry
from backend.audit.service import Actor
from backend.banks import returns, withholding
from backend.banks.formats import Outcome, ReturnLine
from backend.banks.models import BankBatchRow, BankReturnFile
from backend.contributions.models import Assessment
from backend.db import unit_of_work
from backend.ledger import service as ledger
from tests.backend.money_world import add_resident, load_basics
from tests.conftest import World

YEAR = dt.date.today().year
VALUE_DATE = dt.date(YEAR, 3, 15)
ACTOR = Actor.system("test")


def _assess_all(session, world: World, n: int, grade_fen: int = 30000) -> list[int]:
    from backend.contributions import service as contrib
    from backend.orgs.models import Operator
    from backend.orgs.service import Principal

    op = session.get(Operator, world.operator_ids["clerk_county"])
    principal = Principal.of(op, ACTOR)
    ids = []
    for i in range(n):
        person = add_resident(session, sequence=101 + 2 * i, name=f"居民{i}")
        withholding.add_mandate(
            session=session, person_id=person.id, bank_code="ABC", county_code="654226"
        )
        ids.append(
            contrib.assess(
                session=session,
                principal=principal,
                person_id=person.id,
                year=YEAR,
                grade_fen=grade_fen,
            ).id
        )
    return ids


@pytest.fixture
def batch(world: World, session_factory, tmp_path: Path):
    with unit_of_work(session_factory) as s:
        load_basics(s, regions=False)
        _assess_all(s, world, 6)
    with unit_of_work(session_factory) as s:
        b, path = withholding.export_withholding(
            session=s,
            bank_code="ABC",
            county_code="654226",
            year=YEAR,
            out_dir=tmp_path,
            actor=ACTOR,
            on=dt.date(YEAR, 3, 1),
        )
        rows = withholding.batch_rows(session=s, batch_id=b.id)
        return {"batch_no": b.batch_no, "path": path, "rows": rows, "total": b.total_fen}


def _answer(rows, outcomes) -> list[ReturnLine]:
    lines = []
    for i, (row, (outcome, debited)) in enumerate(zip(rows, outcomes, strict=True)):
        lines.append(
            ReturnLine(
                i + 2,
                str(row.person_id),
                row.name,
                row.id_number,
                row.amount_fen,
                row.doc_no,
                outcome,
                debited,
                {"failed": "账户余额不足", "unknown": "超时"}.get(outcome, ""),
            )
        )
    return lines


MIXED = [
    (Outcome.SUCCESS, 30000),
    (Outcome.FAILED, 0),
    (Outcome.PARTIAL, 12000),
    (Outcome.UNKNOWN, 0),
    (Outcome.CARRIED, 0),
    (Outcome.SUCCESS, 30000),
]


def test_batch_file_has_header_with_count_and_control_sum(batch):
    text = batch["path"].read_text(encoding="gb18030").splitlines()
    header = text[0].split("|")
    assert header[0] == "H" and header[1] == batch["batch_no"]
    assert header[5] == "6" and header[6] == "1800.00"
    first = text[1].split("|")
    assert len(first) == 5 and first[3] == "300.00" and first[4].startswith(batch["batch_no"])


def test_return_file_with_every_outcome(batch, session_factory, tmp_path):
    path = returns.write_return_file(
        path=tmp_path / "r1.txt",
        batch_no=batch["batch_no"],
        value_date=VALUE_DATE,
        rows=_answer(batch["rows"], MIXED),
    )
    result = withholding.import_return(
        factory=session_factory, path=path, actor=ACTOR, chunk_rows=2
    )
    assert result.status == "applied" and result.exceptions == 0
    assert {k: v[0] for k, v in result.by_outcome.items()} == {
        "success": 2,
        "failed": 1,
        "partial": 1,
        "unknown": 1,
        "carried": 1,
    }
    # The amounts of all outcomes add up to the batch total.
    assert sum(v[1] for v in result.by_outcome.values()) == batch["total"]
    with unit_of_work(session_factory) as s:
        states = [
            r.state
            for r in withholding.batch_rows(
                session=s, batch_id=s.scalar(select(BankBatchRow.batch_id))
            )
        ]
        assert states == ["success", "failed", "partial", "unknown", "carried", "success"]
        own = s.scalar(
            select(func.sum(AccountEntry.amount_fen)).where(AccountEntry.source == "own")
        )
        assert own == 72000
        settled = s.scalar(select(func.count()).where(Assessment.settled))
        assert settled == 2
        report = ledger.check(session=s)
        assert report.ok, report.problems


def test_importing_the_same_return_file_twice_changes_nothing(batch, session_factory, tmp_path):
    path = returns.write_return_file(
        path=tmp_path / "r1.txt",
        batch_no=batch["batch_no"],
        value_date=VALUE_DATE,
        rows=_answer(batch["rows"], MIXED),
    )
    first = withholding.import_return(factory=session_factory, path=path, actor=ACTOR)
    with unit_of_work(session_factory) as s:
        before = (
            s.scalar(select(func.count(AccountEntry.id))),
            s.scalar(select(func.sum(AccountEntry.amount_fen))),
        )
    again = withholding.import_return(factory=session_factory, path=path, actor=ACTOR)
    assert again.already_imported and again.by_outcome == first.by_outcome
    with unit_of_work(session_factory) as s:
        after = (
            s.scalar(select(func.count(AccountEntry.id))),
            s.scalar(select(func.sum(AccountEntry.amount_fen))),
        )
    assert before == after


def test_a_second_file_repeating_final_rows_puts_them_on_the_exceptions_list(
    batch, session_factory, tmp_path
):
    rows = _answer(batch["rows"], MIXED)
    withholding.import_return(
        factory=session_factory,
        actor=ACTOR,
        path=returns.write_return_file(
            path=tmp_path / "r1.txt", batch_no=batch["batch_no"], value_date=VALUE_DATE, rows=rows
        ),
    )
    # The status query answers the unknown row, and the bank resends a success by mistake.
    follow_up = [
        dataclasses.replace(rows[3], line_no=2, outcome=Outcome.SUCCESS, debited_fen=30000),
        dataclasses.replace(rows[0], line_no=3),
        ReturnLine(
            4, "0", "无此人", "654226199001010000", 100, "NO-SUCH-DOC", Outcome.SUCCESS, 100, ""
        ),
    ]
    result = withholding.import_return(
        factory=session_factory,
        actor=ACTOR,
        path=returns.write_return_file(
            path=tmp_path / "r2.txt",
            batch_no=batch["batch_no"],
            value_date=VALUE_DATE,
            rows=follow_up,
        ),
    )
    assert result.by_outcome["success"][0] == 1
    assert result.exceptions == 2
    with unit_of_work(session_factory) as s:
        reasons = {
            r.line_no: r.exception_reason
            for r in returns.exceptions(session=s, file_id=result.file_id)
        }
        assert reasons == {3: "该笔已有最终结果", 4: "单据号不属于该批次"}
        assert ledger.check(session=s).ok


def test_file_whose_totals_lie_is_rejected_whole(batch, session_factory, tmp_path):
    path = returns.write_return_file(
        path=tmp_path / "bad.txt",
        batch_no=batch["batch_no"],
        value_date=VALUE_DATE,
        rows=_answer(batch["rows"], MIXED),
        header_total_fen=batch["total"] + 1,
    )
    result = withholding.import_return(factory=session_factory, path=path, actor=ACTOR)
    assert result.status == "rejected" and "不符" in (result.reason or "")
    with unit_of_work(session_factory) as s:
        assert s.scalar(select(func.count(AccountEntry.id))) == 0
        assert {
            r.state
            for r in withholding.batch_rows(
                session=s, batch_id=s.scalar(select(BankBatchRow.batch_id))
            )
        } == {"pending"}
        assert s.scalar(select(BankReturnFile.status)) == "rejected"


def test_failed_partial_and_carried_years_come_back_in_the_next_batch(
    batch, session_factory, tmp_path
):
    withholding.import_return(
        factory=session_factory,
        actor=ACTOR,
        path=returns.write_return_file(
            path=tmp_path / "r1.txt",
            batch_no=batch["batch_no"],
            value_date=VALUE_DATE,
            rows=_answer(batch["rows"], MIXED),
        ),
    )
    with unit_of_work(session_factory) as s:
        nxt, _ = withholding.export_withholding(
            session=s,
            bank_code="ABC",
            county_code="654226",
            year=YEAR,
            out_dir=tmp_path,
            actor=ACTOR,
        )
        amounts = sorted(r.amount_fen for r in withholding.batch_rows(session=s, batch_id=nxt.id))
    # failed 300, partial remainder 180, carried 300; the unknown row stays open.
    assert amounts == [18000, 30000, 30000]


def test_unparseable_row_rejects_the_file(batch, session_factory, tmp_path):
    path = tmp_path / "broken.txt"
    path.write_text(
        f"H|{batch['batch_no']}|1|300.00|300.00|{VALUE_DATE:%Y%m%d}\r\nonly|three|fields\r\n",
        encoding="gb18030",
    )
    result = withholding.import_return(factory=session_factory, path=path, actor=ACTOR)
    assert result.status == "rejected" and "第2行" in (result.reason or "")


def test_a_file_not_in_gb18030_is_rejected_not_a_crash(batch, session_factory, tmp_path):
    path = tmp_path / "utf16.txt"
    header = f"H|{batch['batch_no']}|1|300.00|300.00|{VALUE_DATE:%Y%m%d}\r\n".encode("gb18030")
    path.write_bytes(header + "巴特尔|".encode("utf-16-le") + b"\xff\xff\r\n")
    result = withholding.import_return(factory=session_factory, path=path, actor=ACTOR)
    assert result.status == "rejected"
    assert (result.reason or "").startswith("第2行不是GB18030编码")
    with unit_of_work(session_factory) as s:  # nothing applied
        assert s.scalar(select(func.count(AccountEntry.id))) == 0
        assert {row.state for row in s.scalars(select(BankBatchRow))} == {"pending"}
