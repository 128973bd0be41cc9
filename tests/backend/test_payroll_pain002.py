"""A pain.002.001.03 status report as the pay-out return file."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from backend.audit.service import Actor
from backend.banks.formats import BankFileError, Outcome
from backend.db import unit_of_work
from backend.errors import InvalidInput
from backend.ledger import service as ledger
from backend.payroll import returns
from backend.payroll.models import Payroll, PayrollLine
from backend.payroll.pain002 import Pain002Format
from tests.backend.benefits_support import add_candidate, award
from tests.backend.money_world import load_basics
from tests.backend.payroll_support import bank_return, build_and_approve, send
from tests.conftest import World

PAIN002 = Pain002Format()


@pytest.fixture
def pensioners(world: World, session_factory) -> list[int]:
    """Three pensioners of 夏孜盖乡 paid from 2026-06."""
    with unit_of_work(session_factory) as s:
        load_basics(s, regions=False)
        ids = [
            add_candidate(s, sequence=95),
            add_candidate(s, sequence=97, name="乌兰"),
            add_candidate(s, sequence=99, name="阿古拉"),
        ]
    for person_id in ids:
        award(world, person_id)
    return ids


def _states(session_factory, payroll_id: int) -> dict[int, str]:
    with unit_of_work(session_factory) as s:
        return {
            line.person_id: line.state
            for line in s.scalars(select(PayrollLine).where(PayrollLine.payroll_id == payroll_id))
        }


def _import(session_factory, path: Path):
    return returns.import_return(
        factory=session_factory, path=path, actor=Actor.system("t"), format_code="pain002"
    )


def test_status_report_pays_rejects_and_leaves_pending_payments_open(
    world: World, pensioners, session_factory, tmp_path: Path
):
    paid, rejected, pending = pensioners
    june = build_and_approve(world, session_factory, "2026-06")
    [batch] = send(session_factory, june, tmp_path)
    path = bank_return(
        session_factory,
        batch,
        tmp_path / "sts.xml",
        {rejected: (Outcome.FAILED, "账户已销户"), pending: (Outcome.UNKNOWN, "")},
        fmt=PAIN002,
    )
    report = path.read_text(encoding="utf-8")
    assert "<TxSts>RJCT</TxSts>" in report and "<TxSts>PDNG</TxSts>" in report
    result = _import(session_factory, path)
    assert result.accepted and result.exceptions == 0
    assert {k: v[0] for k, v in result.by_outcome.items()} == {
        "success": 1,
        "failed": 1,
        "unknown": 1,
    }
    assert _states(session_factory, june) == {
        paid: "paid",
        rejected: "failed",
        pending: "unknown",
    }
    with unit_of_work(session_factory) as s:
        assert ledger.check(session=s).ok
        assert s.get_one(Payroll, june).status == "sent"
    assert _import(session_factory, path).already_imported

    # The bank's later report settles the pending payment.
    later = bank_return(session_factory, batch, tmp_path / "sts2.xml", fmt=PAIN002)
    result = _import(session_factory, later)
    assert result.exceptions == 2  # the two payments already final
    assert _states(session_factory, june)[pending] == "paid"
    with unit_of_work(session_factory) as s:
        assert s.get_one(Payroll, june).status == "reconciled"


def test_report_whose_control_sum_differs_from_its_payments_is_rejected_whole(
    world: World, pensioners, session_factory, tmp_path: Path
):
    june = build_and_approve(world, session_factory, "2026-06")
    [batch] = send(session_factory, june, tmp_path)
    path = bank_return(session_factory, batch, tmp_path / "sts.xml", fmt=PAIN002)
    path.write_text(
        path.read_text(encoding="utf-8").replace(
            "<OrgnlCtrlSum>924.00</OrgnlCtrlSum>", "<OrgnlCtrlSum>900.00</OrgnlCtrlSum>"
        ),
        encoding="utf-8",
    )
    result = _import(session_factory, path)
    assert not result.accepted and "文件头" in (result.reason or "")
    assert set(_states(session_factory, june).values()) == {"built"}


def test_malformed_report_and_unknown_format_are_refused(tmp_path: Path):
    broken = tmp_path / "broken.xml"
    broken.write_text("<Document><CstmrPmtStsRpt>", encoding="utf-8")
    with broken.open(encoding="utf-8") as fh, pytest.raises(BankFileError):
        PAIN002.read_return(fh)
    with pytest.raises(InvalidInput):
        returns.import_return(
            factory=None,  # type: ignore[arg-type]
            path=broken,
            actor=Actor.system("t"),
            format_code="camt054",
        )


LAUGHS = (
    '<!DOCTYPE Document [<!ENTITY l0 "lol">'
    + "".join(f'<!ENTITY l{n} "{f"&l{n - 1};" * 10}">' for n in range(1, 7))
    + "]>"
)


@pytest.mark.parametrize(
    ("doctype", "entity"),
    [
        # Defined once, used where the batch number goes: the stdlib parser expanded it.
        ('<!DOCTYPE Document [<!ENTITY batch "{batch_no}">]>', "&batch;"),
        # Entity expansion ("billion laughs", a million characters from a few hundred bytes).
        (LAUGHS, "&l6;"),
        # An external entity: a file of the backend's host read into the report.
        ('<!DOCTYPE Document [<!ENTITY secret SYSTEM "file:///etc/hostname">]>', "&secret;"),
    ],
)
def test_a_report_with_a_doctype_or_entities_is_refused_and_nothing_applied(
    world: World, pensioners, session_factory, tmp_path: Path, doctype: str, entity: str
):
    june = build_and_approve(world, session_factory, "2026-06")
    [batch] = send(session_factory, june, tmp_path)
    path = bank_return(session_factory, batch, tmp_path / "sts.xml", fmt=PAIN002)
    text = path.read_text(encoding="utf-8")
    declaration, body = text.split("\n", 1)
    batch_no = f"<OrgnlMsgId>{batch.batch_no}</OrgnlMsgId>"
    assert batch_no in body
    if entity == "&batch;":
        body = body.replace(batch_no, "<OrgnlMsgId>&batch;</OrgnlMsgId>")
    else:
        body = body.replace("</OrgnlMsgId>", f"{entity}</OrgnlMsgId>", 1)
    path.write_text(
        f"{declaration}\n{doctype.format(batch_no=batch.batch_no)}\n{body}", encoding="utf-8"
    )
    result = _import(session_factory, path)
    assert not result.accepted and "文档类型声明" in (result.reason or "")
    assert set(_states(session_factory, june).values()) == {"built"}
