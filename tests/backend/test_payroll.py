"""A month's payroll end to end: build, review, approve, bank files, return file, books."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
import sepaxml
import xmlschema
from sqlalchemy import func, select

from backend.accounts.models import AccountEntry
from backend.audit.service import Actor
from backend.banks.formats import Outcome
from backend.db import unit_of_work
from backend.errors import Conflict
from backend.ledger import service as ledger
from backend.payroll import build, returns
from backend.payroll.models import Payroll, PayrollLine
from tests.backend.benefits_support import add_candidate, award, change_payee_account
from tests.backend.money_world import load_basics
from tests.backend.payroll_support import (
    add_province_operator,
    bank_return,
    build_and_approve,
    principal,
    send,
)
from tests.conftest import World

PAIN001_XSD = Path(os.path.dirname(sepaxml.__file__)) / "schemas" / "pain.001.001.03.xsd"


@pytest.fixture
def pensioners(world: World, session_factory):
    """Two pensioners of 夏孜盖乡 paid from 2026-06 (308.00 yuan a month each)."""
    with unit_of_work(session_factory) as s:
        load_basics(s, regions=False)
        ids = [add_candidate(s, sequence=41), add_candidate(s, sequence=43, name="娜仁")]
    for person_id in ids:
        award(world, person_id)
    return ids


def _lines(session_factory, payroll_id: int) -> list[PayrollLine]:
    with unit_of_work(session_factory) as s:
        found = s.scalars(
            select(PayrollLine).where(PayrollLine.payroll_id == payroll_id).order_by(PayrollLine.id)
        ).all()
        s.expunge_all()
        return list(found)


def _books_ok(session_factory) -> None:
    with unit_of_work(session_factory) as s:
        report = ledger.check(session=s)
        assert report.ok, report.problems


def test_payroll_is_built_once_and_approved_by_a_third_person(
    world: World, pensioners, session_factory
):
    clerk = principal(session_factory, "clerk_county")
    payroll_id = build.build(
        factory=session_factory, principal=clerk, month=dt.date(2026, 6, 1), scope="654226"
    )
    with unit_of_work(session_factory) as s:
        payroll = s.get_one(Payroll, payroll_id)
        assert (payroll.status, payroll.line_count, payroll.total_fen) == ("draft", 2, 61600)
        assert (payroll.basic_fen, payroll.account_fen) == (41600, 20000)
    assert [line.kind for line in _lines(session_factory, payroll_id)] == ["regular", "regular"]
    province = add_province_operator(world, session_factory, "clerk_province")
    for who, scope in ((clerk, "654226"), (province, "65")):
        with pytest.raises(Conflict) as err:
            build.build(
                factory=session_factory, principal=who, month=dt.date(2026, 6, 1), scope=scope
            )
        assert err.value.code == "payroll_exists"

    url = f"/api/v1/payroll/payrolls/{payroll_id}"

    def step(name: str, user: str):
        return world.client.post(f"{url}/{name}", headers=world.headers(user))

    assert step("approve", "admin_county").json()["code"] == "payroll_wrong_status"
    assert step("review", "clerk_county").status_code == 403
    assert step("review", "reviewer_county").json()["status"] == "reviewed"
    r = world.client.post(f"{url}/approve", headers=world.headers("admin_county"))
    assert r.json()["status"] == "approved"
    assert r.json()["approved_by"] == world.operator_ids["admin_county"]
    again = world.client.post(f"{url}/approve", headers=world.headers("admin_county"))
    assert again.status_code == 409
    out_of_scope = world.client.get(url, headers=world.headers("admin_emin"))
    assert out_of_scope.status_code == 404


def test_bank_files_match_the_payroll_and_pain001_is_valid(
    world: World, pensioners, session_factory, tmp_path: Path
):
    payroll_id = build_and_approve(world, session_factory, "2026-06")
    [batch] = send(session_factory, payroll_id, tmp_path)
    assert (batch.row_count, batch.total_fen, batch.bank_code) == (2, 61600, "RCC")
    pipe = batch.pipe_path.read_text(encoding="gb18030").splitlines()
    assert pipe[0].startswith(f"H|{batch.batch_no}|DF|RCC|654226|2|616.00|")
    assert len(pipe) == 3 and pipe[1].endswith("|308.00|" + pipe[1].split("|")[-1])
    xmlschema.XMLSchema(str(PAIN001_XSD)).validate(str(batch.pain001_path))
    document = batch.pain001_path.read_text(encoding="utf-8")
    assert "<NbOfTxs>2</NbOfTxs><CtrlSum>616.00</CtrlSum>" in document
    assert "<Othr><Id>6230000012345678</Id></Othr>" in document
    with unit_of_work(session_factory) as s:
        assert s.get_one(Payroll, payroll_id).status == "sent"
    with pytest.raises(Conflict):
        send(session_factory, payroll_id, tmp_path)


def test_return_file_pays_posts_and_failures_are_reissued_to_the_corrected_account(
    world: World, pensioners, session_factory, tmp_path: Path
):
    payroll_id = build_and_approve(world, session_factory, "2026-06")
    [batch] = send(session_factory, payroll_id, tmp_path)
    paid_person, failed_person = pensioners
    path = bank_return(
        session_factory,
        batch,
        tmp_path / "return.txt",
        {failed_person: (Outcome.FAILED, "账户已销户")},
    )
    result = returns.import_return(factory=session_factory, path=path, actor=Actor.system("t"))
    assert result.accepted and result.by_outcome["success"][0] == 1
    states = {line.person_id: line.state for line in _lines(session_factory, payroll_id)}
    assert states == {paid_person: "paid", failed_person: "failed"}
    with unit_of_work(session_factory) as s:
        assert s.get_one(Payroll, payroll_id).status == "reconciled"
        draws = dict(
            s.execute(
                select(AccountEntry.source, func.sum(AccountEntry.amount_fen))
                .where(AccountEntry.ref_type == "payroll_line")
                .group_by(AccountEntry.source)
            ).all()
        )
        assert draws == {"own": -7194, "government_subsidy": -2806}
        entries = s.scalar(select(func.count(AccountEntry.id)))
    _books_ok(session_factory)

    again = returns.import_return(factory=session_factory, path=path, actor=Actor.system("t"))
    assert again.already_imported
    with unit_of_work(session_factory) as s:
        assert s.scalar(select(func.count(AccountEntry.id))) == entries

    change_payee_account(
        world, failed_person, holder="娜仁", bank_code="ABC", bank_account="6228480000000009"
    )
    july = build_and_approve(world, session_factory, "2026-07")
    kinds = sorted(
        (line.person_id == failed_person, line.kind, line.month.isoformat(), line.bank_code)
        for line in _lines(session_factory, july)
    )
    assert kinds == [
        (False, "regular", "2026-07-01", "RCC"),
        (True, "regular", "2026-07-01", "ABC"),
        (True, "reissue", "2026-06-01", "ABC"),
    ]


def test_return_file_whose_totals_differ_from_the_batch_is_rejected_whole(
    world: World, pensioners, session_factory, tmp_path: Path
):
    payroll_id = build_and_approve(world, session_factory, "2026-06")
    [batch] = send(session_factory, payroll_id, tmp_path)
    path = bank_return(session_factory, batch, tmp_path / "return.txt")
    lines = path.read_text(encoding="gb18030").splitlines()
    path.write_text("\r\n".join(lines[:2]) + "\r\n", encoding="gb18030")
    header = lines[0].split("|")
    header[2], header[3], header[4] = "1", "308.00", "308.00"
    path.write_text("|".join(header) + "\r\n" + lines[1] + "\r\n", encoding="gb18030")
    result = returns.import_return(factory=session_factory, path=path, actor=Actor.system("t"))
    assert not result.accepted
    assert "与代发批次" in (result.reason or "")
    states = {line.state for line in _lines(session_factory, payroll_id)}
    assert states == {"built"}
