"""The demo's payrolls and a death (DOMAIN.md §5, §7): June paid, a death found, July built.

June's payroll is built by a clerk, reviewed by a reviewer and approved by an
administrator, sent to the demo bank as a pipe file and a pain.001 under ``var/payroll/``,
and reconciled with the bank's return file in which a few payments failed; importing that
file again changes nothing. A public-security death
list then suspends one pensioner who died in May and works out the June pension paid after
the death. July's payroll re-issues the failed payments and leaves the dead pensioner
out; a reviewer confirms the death and the account is settled in one journal entry.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.audit.service import Actor
from backend.banks import withholding
from backend.banks.formats import Outcome, ReturnLine
from backend.benefits import death
from backend.benefits.models import DeathCase, Pension
from backend.db import unit_of_work
from backend.demo_pensions import Cast, Echo, full_name, left, row, yuan
from backend.payroll import build, files, returns
from backend.payroll import service as payroll_service
from backend.payroll.models import Payroll, PayrollExclusion, PayrollLine
from backend.policy.rules import fen_to_yuan
from backend.registry.models import Person
from national_codes.id_number import make_id_number

FIRST_MONTH = dt.date(2026, 6, 1)
NEXT_MONTH = dt.date(2026, 7, 1)
SENT_ON = dt.date(2026, 6, 20)
VALUE_DATE = dt.date(2026, 6, 22)
DIED_ON = dt.date(2026, 5, 28)  # died in May: the June pension was paid after the death
OTHER_COUNTY = "654221"  # 额敏县: deaths on the list that are not our pensioners
FAILURES = ("账户已销户", "户名与账号不符", "账户冻结")
KIND_LABELS = {
    "regular": "当月",
    "back_pay": "补发",
    "reissue": "重发",
    "adjustment": "调待补差",
    "recovery": "扣回多发",
}


@dataclass(frozen=True)
class Reconciled:
    """What June's return did: the payroll, failed bank rows and lines, who was paid."""

    payroll_id: int
    failed_rows: int
    failed_lines: int
    paid_pensions: list[int]


def _lines_by_kind(session: Session, payroll_id: int, echo: Echo) -> None:
    count: Counter[str] = Counter()
    amount: Counter[str] = Counter()
    for kind, fen in session.execute(
        select(PayrollLine.kind, PayrollLine.amount_fen).where(PayrollLine.payroll_id == payroll_id)
    ):
        count[kind] += 1
        amount[kind] += fen
    for kind in sorted(count, key=lambda k: list(KIND_LABELS).index(k) if k in KIND_LABELS else 9):
        echo(row(f"{KIND_LABELS.get(kind, kind)} {count[kind]} 笔", amount[kind]))


def _header(payroll: Payroll) -> str:
    return (
        f"  {payroll.month:%Y-%m} 发放名册 {payroll.id}"
        f"（{payroll_service.STATUS_LABELS[payroll.status]}）：{payroll.line_count} 笔 "
        f"{fen_to_yuan(payroll.total_fen)} 元（基础养老金 {fen_to_yuan(payroll.basic_fen)}，"
        f"个人账户养老金 {fen_to_yuan(payroll.account_fen)}），未发放 {payroll.excluded_count} 人"
    )


def _bank_answer(
    session: Session, batch_id: int, spare: set[int], rng: random.Random
) -> list[ReturnLine]:
    """The demo bank's answer: a few failures among people not in ``spare``, the rest paid."""
    rows = withholding.batch_rows(session=session, batch_id=batch_id)
    eligible = sorted({r.person_id for r in rows} - spare)
    failing = sorted(
        rng.sample(eligible, k=min(len(FAILURES), len(eligible), max(2, len(eligible) // 8)))
    )
    reasons = dict(zip(failing, FAILURES, strict=False))
    answer = []
    for line_no, bank_row in enumerate(rows, start=2):
        failed = bank_row.person_id in reasons
        answer.append(
            ReturnLine(
                line_no,
                str(bank_row.person_id),
                bank_row.name,
                bank_row.id_number,
                bank_row.amount_fen,
                bank_row.doc_no,
                Outcome.FAILED if failed else Outcome.SUCCESS,
                0 if failed else bank_row.amount_fen,
                reasons.get(bank_row.person_id, ""),
            )
        )
    return answer


def pay_first_month(
    *,
    factory: sessionmaker[Session],
    county: str,
    out_dir: Path,
    spare: set[int],
    rng: random.Random,
    echo: Echo,
) -> Reconciled:
    """June: build, review and approve (three operators), send, reconcile a return with failures.

    People in ``spare`` (by person id) are paid by the bank, so the story can follow them.
    """
    with unit_of_work(factory) as session:
        cast = Cast.load(session)
        names = [full_name(session, p) for p in (cast.clerk, cast.reviewer, cast.approver)]
    payroll_id = build.build(factory=factory, principal=cast.clerk, month=FIRST_MONTH, scope=county)
    with unit_of_work(factory) as session:
        payroll_service.review(session=session, principal=cast.reviewer, payroll_id=payroll_id)
        payroll_service.approve(session=session, principal=cast.approver, payroll_id=payroll_id)
        echo(_header(session.get_one(Payroll, payroll_id)))
        echo(f"    生成 {names[0]}，复核 {names[1]}，审批 {names[2]}（三人分别经办）")
        _lines_by_kind(session, payroll_id, echo)
        sent = files.send(
            session=session,
            principal=cast.clerk,
            payroll_id=payroll_id,
            out_dir=out_dir,
            on=SENT_ON,
        )
    failed_rows = 0
    for batch in sent:
        echo(f"  代发批次 {batch.batch_no}：{batch.row_count} 笔 {fen_to_yuan(batch.total_fen)} 元")
        echo(f"    → {batch.pipe_path}")
        echo(f"    → {batch.pain001_path}")
        with unit_of_work(factory) as session:
            answer = _bank_answer(session, batch.batch_id, spare, rng)
        path = withholding.write_return_file(
            path=out_dir / f"{batch.batch_no}.return.txt",
            batch_no=batch.batch_no,
            value_date=VALUE_DATE,
            rows=answer,
        )
        in_file = [r for r in answer if r.outcome is Outcome.FAILED]
        actor = Actor.system("demo-bank")
        result = returns.import_return(factory=factory, path=path, actor=actor)
        paid = result.by_outcome.get(Outcome.SUCCESS.value, (0, 0, 0))
        failed = result.by_outcome.get(Outcome.FAILED.value, (0, 0, 0))
        failed_rows += failed[0]
        echo(f"  银行回盘 {path}：{result.rows} 笔，其中失败 {len(in_file)} 笔")
        echo(row(f"成功 {paid[0]} 笔", paid[1]))
        echo(row(f"失败 {failed[0]} 笔", failed[1]))
        for r in in_file:
            echo(f"      {left(r.name, 18)}{yuan(r.amount_fen)}  {r.reason}")
        again = returns.import_return(factory=factory, path=path, actor=actor)
        echo(
            "    再次导入同一回盘："
            + ("已导入过，未作任何变更" if again.already_imported else "又被处理了一次（异常）")
        )
    with unit_of_work(factory) as session:
        payroll = session.get_one(Payroll, payroll_id)
        states = session.execute(
            select(PayrollLine.state, PayrollLine.amount_fen, PayrollLine.pension_id).where(
                PayrollLine.payroll_id == payroll_id
            )
        ).all()
        failed_lines = [fen for state, fen, _ in states if state == "failed"]
        echo(
            f"  名册 {payroll_id} 状态：{payroll_service.STATUS_LABELS[payroll.status]}；"
            f"失败 {failed_rows} 笔（名册明细 {len(failed_lines)} 行，"
            f"{fen_to_yuan(sum(failed_lines))} 元）将在下月名册重发"
        )
        paid_pensions = sorted({pid for state, _, pid in states if state == "paid"})
    return Reconciled(payroll_id, failed_rows, len(failed_lines), paid_pensions)


def death_list(
    *, factory: sessionmaker[Session], pension_id: int, out_dir: Path, echo: Echo
) -> int:
    """A public-security death list naming one pensioner (died in May); the case id."""
    with unit_of_work(factory) as session:
        pension = session.get_one(Pension, pension_id)
        person = session.get_one(Person, pension.person_id)
        rows = [
            (person.id_number, person.name, DIED_ON),
            (
                make_id_number(OTHER_COUNTY, dt.date(1941, 3, 2), 31),
                "吉格米德",
                dt.date(2026, 6, 3),
            ),
            (
                make_id_number(OTHER_COUNTY, dt.date(1950, 11, 9), 42),
                "古丽娜尔",
                dt.date(2026, 6, 11),
            ),
        ]
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "public_security-2026-06.csv"
    path.write_text(
        "身份证号,姓名,死亡日期\n" + "".join(f"{i},{n},{d}\n" for i, n, d in rows),
        encoding="utf-8",
    )
    with unit_of_work(factory) as session:
        result = death.import_death_list(
            session=session, path=path, source="public_security", actor=Actor.system("death-list")
        )
        case = session.scalars(select(DeathCase).where(DeathCase.pension_id == pension_id)).one()
        pension = session.get_one(Pension, pension_id)
        echo(
            f"  死亡名单 {path}（公安）：{result.rows} 行，"
            f"匹配领取人员 {result.matched} 人，立案 {result.opened} 件"
        )
        status = "暂停发放" if pension.status == "suspended" else pension.status
        echo(
            f"    {person.name}（{DIED_ON}死亡）：{status}，{pension.status_reason}；"
            f"死亡后已发 {fen_to_yuan(case.overpaid_fen)} 元"
        )
        return case.id


def build_next_month(*, factory: sessionmaker[Session], county: str, echo: Echo) -> int:
    """July, built by the clerk and left as a draft: re-issues and the dead left out."""
    with unit_of_work(factory) as session:
        clerk = Cast.load(session).clerk
    payroll_id = build.build(factory=factory, principal=clerk, month=NEXT_MONTH, scope=county)
    with unit_of_work(factory) as session:
        echo(_header(session.get_one(Payroll, payroll_id)))
        _lines_by_kind(session, payroll_id, echo)
        for reason_code, reason, name in session.execute(
            select(PayrollExclusion.reason_code, PayrollExclusion.reason, Person.name)
            .join(Pension, Pension.id == PayrollExclusion.pension_id)
            .join(Person, Person.id == Pension.person_id)
            .where(PayrollExclusion.payroll_id == payroll_id)
            .order_by(PayrollExclusion.id)
        ):
            echo(f"    未发放：{left(name, 18)}{reason}（{reason_code}）")
    echo(
        f"    名册 {payroll_id} 留作草稿：可由 reviewer_county 复核、admin_county 审批"
        f"（POST /api/v1/payroll/payrolls/{payroll_id}/review、/approve）"
    )
    return payroll_id


def confirm_death(*, factory: sessionmaker[Session], case_id: int, echo: Echo) -> DeathCase:
    """A reviewer confirms the death: pension ended, account settled, heirs and grant paid."""
    with unit_of_work(factory) as session:
        reviewer = Cast.load(session).reviewer
        case = session.get_one(DeathCase, case_id)
        person = session.get_one(Person, case.person_id)
        heir = None
        if person.household_id is not None:
            heir = session.scalar(
                select(Person)
                .where(Person.household_id == person.household_id, Person.id != person.id)
                .order_by(Person.birth_date)
                .limit(1)
            )
        case = death.decide_death(
            session=session,
            principal=reviewer,
            case_id=case_id,
            accept=True,
            heir_name=heir.name if heir else None,
            heir_id_number=heir.id_number if heir else None,
        )
        pension = session.get_one(Pension, case.pension_id)
        echo(
            f"  {full_name(session, reviewer)}核实死亡：{person.name}待遇终止"
            f"（末月 {pension.end_month:%Y-%m}），参保登记终止；"
            f"继承人 {heir.name if heir else '未登记'}"
        )
        basic = case.recovered_fen + case.receivable_fen
        echo(row("死亡后多发待遇", case.overpaid_fen))
        echo(row("  其中基础养老金", basic, "须追回"))
        echo(row("  其中个人账户养老金", case.overpaid_fen - basic, "视为提前支付给继承人"))
        echo(row("从个人账户余额扣回", case.recovered_fen))
        echo(row("继承人应退还", case.receivable_fen))
        echo(row("个人账户余额由继承人继承", case.inherited_fen))
        echo(row("政府补贴部分留存基金", case.retained_fen))
        echo(row("丧葬补助金", case.funeral_grant_fen))
        echo(f"    结算凭证 {case.journal_entry_id}（政策版本 {case.policy_version_id}）")
        session.expunge(case)
        return case
