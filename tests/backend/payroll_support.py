"""Helpers of the payroll tests: operators as principals, the steps of a payroll, returns."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.audit.service import Actor
from backend.banks.formats import BankFileFormat, Outcome, ReturnLine
from backend.banks.models import BankBatchRow
from backend.banks.returns import write_return_file
from backend.db import unit_of_work
from backend.orgs import service as orgs
from backend.orgs.permissions import Role
from backend.orgs.service import Principal
from backend.payroll import build, files, returns
from backend.payroll.files import SentBatch
from tests.conftest import PASSWORD, World


def principal(factory: sessionmaker[Session], username: str) -> Principal:
    """The principal of a test operator, as the command line builds it."""
    with unit_of_work(factory) as session:
        operator = orgs.get_operator_by_username(session=session, username=username)
        return Principal.of(operator, Actor(operator_id=operator.id, username=username))


def build_and_approve(
    world: World, factory: sessionmaker[Session], month: str, scope: str = "654226"
) -> int:
    """Build (clerk_county), review (reviewer_county) and approve (admin_county)."""
    payroll_id = build.build(
        factory=factory,
        principal=principal(factory, "clerk_county"),
        month=build.parse_month(month),
        scope=scope,
    )
    for step, user in (("review", "reviewer_county"), ("approve", "admin_county")):
        r = world.client.post(
            f"/api/v1/payroll/payrolls/{payroll_id}/{step}", headers=world.headers(user)
        )
        assert r.status_code == 200, r.text
    return payroll_id


def send(factory: sessionmaker[Session], payroll_id: int, out_dir: Path) -> list[SentBatch]:
    """Write the bank files of an approved payroll (clerk_county)."""
    with unit_of_work(factory) as session:
        return files.send(
            session=session,
            principal=principal(factory, "clerk_county"),
            payroll_id=payroll_id,
            out_dir=out_dir,
            on=dt.date(2026, 11, 20),
        )


def bank_return(
    factory: sessionmaker[Session],
    batch: SentBatch,
    path: Path,
    outcomes: dict[int, tuple[Outcome, str]] | None = None,
    fmt: BankFileFormat | None = None,
) -> Path:
    """The bank's return file (pipe layout unless ``fmt``): success unless ``outcomes`` says
    otherwise (by person id)."""
    outcomes = outcomes or {}
    with unit_of_work(factory) as session:
        rows = session.scalars(
            select(BankBatchRow)
            .where(BankBatchRow.batch_id == batch.batch_id)
            .order_by(BankBatchRow.id)
        ).all()
        lines = []
        for line_no, row in enumerate(rows, start=2):
            outcome, reason = outcomes.get(row.person_id, (Outcome.SUCCESS, ""))
            paid = row.amount_fen if outcome is Outcome.SUCCESS else 0
            lines.append(
                ReturnLine(
                    line_no,
                    str(row.person_id),
                    row.name,
                    row.id_number,
                    row.amount_fen,
                    row.doc_no,
                    outcome,
                    paid,
                    reason,
                )
            )
    return write_return_file(
        path=path, batch_no=batch.batch_no, value_date=dt.date(2026, 11, 21), rows=lines, fmt=fmt
    )


def add_province_operator(
    world: World, factory: sessionmaker[Session], username: str, role: Role = Role.CLERK
) -> Principal:
    """An operator of the province office (province-wide payrolls and approvals)."""
    with unit_of_work(factory) as session:
        operator = orgs.create_operator(
            session=session,
            principal=None,
            actor=Actor.system(),
            username=username,
            full_name=username,
            role=role,
            office_id=world.offices["province"].id,
            password=PASSWORD,
        )
        world.operator_ids[username] = operator.id
    return principal(factory, username)


def pay_month(world: World, session_factory, month: str, tmp_path: Path) -> None:
    """Build, approve and send a month's payroll, and import a return paying every row."""
    payroll_id = build_and_approve(world, session_factory, month)
    for batch in send(session_factory, payroll_id, tmp_path / month):
        path = bank_return(session_factory, batch, tmp_path / month / "return.txt")
        assert returns.import_return(factory=session_factory, path=path, actor=Actor.system("t"))
