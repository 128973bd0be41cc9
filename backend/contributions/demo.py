"""The demo's contribution history: several years of grades, subsidies, hardship payers,
counter cash and withholding through a demo bank (with failures and a partial debit),
interest runs, then one resident's statement and the ledger check."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.accounts import service as accounts
from backend.accounts.cli import print_statement
from backend.accounts.interest import run_interest
from backend.audit.service import Actor
from backend.banks import withholding
from backend.banks.formats import Outcome, ReturnLine
from backend.contributions import service as contrib
from backend.db import unit_of_work
from backend.ledger import service as ledger
from backend.ledger.cli import print_check
from backend.orgs.models import Operator
from backend.orgs.service import Principal
from backend.policy import service as policy
from backend.policy.rules import fen_to_yuan
from backend.registry.codes import EnrolmentStatus
from backend.registry.models import Enrolment, Person

DEMO_BANK = "DEMOBANK"
HISTORY_YEARS = (2021, 2022, 2023, 2024, 2025)
MAX_PAYERS = 400  # enough to show everything, quick enough for a demo start
_GRADES_FEN = (10000, 10000, 20000, 30000, 50000, 50000, 100000, 200000, 300000)


def _principal(session: Session, username: str) -> Principal:
    operator = session.scalar(select(Operator).where(Operator.username == username))
    assert operator is not None, f"demo operator {username} missing"
    return Principal.of(operator, Actor(operator_id=operator.id, username=username, device="demo"))


def contribution_history(
    *, factory: sessionmaker[Session], county: str, seed: int, out_dir: Path
) -> Iterator[str]:
    """Build the history year by year; yields progress lines for the terminal."""
    rng = random.Random(seed)
    with unit_of_work(factory) as session:
        policy.load_defaults(session=session, actor=Actor.system("demo"))
        payers = list(
            session.scalars(
                select(Person.id)
                .join(Enrolment, Enrolment.person_id == Person.id)
                .where(
                    Person.county_code == county, Enrolment.status == EnrolmentStatus.PAYING.value
                )
                .order_by(Person.id)
                .limit(MAX_PAYERS)
            )
        )
        banked = set(rng.sample(payers, k=len(payers) * 2 // 5))
        for person_id in banked:
            withholding.add_mandate(
                session=session, person_id=person_id, bank_code=DEMO_BANK, county_code=county
            )
        hardship = set(rng.sample(payers, k=max(1, len(payers) // 30)))
    yield f"  {len(payers)} 名缴费人，其中 {len(banked)} 人银行代扣，{len(hardship)} 人困难群体代缴"
    showcase: int | None = None
    for year in HISTORY_YEARS:
        with unit_of_work(factory) as session:
            clerk = _principal(session, "clerk_county")
            counter: list[int] = []
            for person_id in payers:
                grade = 10000 if person_id in hardship else rng.choice(_GRADES_FEN)
                a = contrib.assess(
                    session=session,
                    principal=clerk,
                    person_id=person_id,
                    year=year,
                    grade_fen=grade,
                    hardship_group="severely_disabled" if person_id in hardship else None,
                    collective_fen=5000 if rng.random() < 0.15 else 0,
                    today=dt.date(year, 2, 20),
                )
                if person_id not in banked and a.own_due_fen:
                    counter.append(a.id)
            for assessment_id in counter:
                if rng.random() < 0.95:  # a few never pay
                    contrib.collect(
                        session=session,
                        principal=clerk,
                        assessment_id=assessment_id,
                        on=dt.date(year, rng.randint(3, 11), rng.randint(1, 28)),
                    )
            batch, _ = withholding.export_withholding(
                session=session,
                bank_code=DEMO_BANK,
                county_code=county,
                year=year,
                out_dir=out_dir,
                actor=Actor.system("demo"),
                on=dt.date(year, 5, 10),
            )
            rows = withholding.batch_rows(session=session, batch_id=batch.id)
            batch_no = batch.batch_no
        answer = []
        for i, row in enumerate(rows):
            roll = rng.random()
            if i == 0:
                outcome, debited, reason = (
                    Outcome.PARTIAL,
                    row.amount_fen // 2,
                    "余额不足，部分扣款",
                )
                showcase = showcase or row.person_id
            elif i == 1:
                outcome, debited, reason = Outcome.UNKNOWN, 0, "银行超时，状态未知"
            elif roll < 0.08:
                outcome, debited, reason = Outcome.FAILED, 0, "账户余额不足"
            elif roll < 0.10:
                outcome, debited, reason = Outcome.CARRIED, 0, "转下批处理"
            else:
                outcome, debited, reason = Outcome.SUCCESS, row.amount_fen, ""
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
                    reason,
                )
            )
        path = withholding.write_return_file(
            path=out_dir / f"{batch_no}.return.txt",
            batch_no=batch_no,
            value_date=dt.date(year, 5, 20),
            rows=answer,
        )
        result = withholding.import_return(factory=factory, path=path, actor=Actor.system("demo"))
        counts = "，".join(f"{k} {v[0]}" for k, v in sorted(result.by_outcome.items()))
        summary = run_interest(factory=factory, year=year)
        yield (
            f"  {year}年：柜台收款 {len(counter)} 笔，代扣批次 {batch_no}（{counts}），"
            f"结息 {summary.rows} 户 {fen_to_yuan(summary.amount_fen)} 元"
        )
    with unit_of_work(factory) as session:
        if showcase is not None:
            person = session.get(Person, showcase)
            assert person is not None
            yield f"  对账单示例：{person.name}（代扣，{HISTORY_YEARS[0]}年部分扣款）"
            print_statement(
                accounts.build_statement(session=session, person=person, year=HISTORY_YEARS[0])
            )
        print_check(ledger.check(session=session))
