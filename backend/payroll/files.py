"""Sending an approved payroll: one pay-out batch per county and bank, in two layouts.

The batches and their rows are the bank module's (``bank_batches`` of kind ``payout``,
noted in ``payroll_batches``): one ``bank_batch_rows`` row per pensioner paid, the sum of
that pension's lines in the payroll (the pension id as ``ref_id``, document number
``DF<payroll>-<pension>``), written by one ``INSERT … SELECT`` per batch. A pensioner
whose lines come to nothing (a deduction took it all) is not sent: the lines are paid and
posted at once. Each batch is written in the pipe layout of DOMAIN.md §7
(``banks.formats``) and as ISO 20022 pain.001.001.03 whose remittance text names the
months paid; files are streamed, written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from backend.audit.service import record
from backend.banks.formats import BatchHeader, BatchLine, get_format
from backend.banks.models import BankBatch, BankBatchRow
from backend.db import is_postgres, utcnow
from backend.errors import Conflict
from backend.keys import fields as data_keys
from backend.orgs.permissions import Permission
from backend.orgs.service import Principal
from backend.payroll import pain001, posting
from backend.payroll.build import Status
from backend.payroll.models import Payroll, PayrollBatch, PayrollLine
from backend.payroll.service import get_payroll
from backend.policy.rules import fen_to_yuan

KIND = "payout"

# What each pensioner of a county and bank is paid: the net of the pension's lines.
_NET = """
SELECT l.pension_id, l.person_id, l.county_code, SUM(l.amount_fen) AS amount_fen
FROM payroll_lines l
WHERE l.payroll_id = :payroll_id AND l.county_code = :county AND l.bank_code = :bank
GROUP BY l.pension_id, l.person_id, l.county_code
"""

_ROWS = f"""
INSERT INTO bank_batch_rows (batch_id, county_code, ref_id, person_id, id_number,
    id_number_hash, name, amount_fen, doc_no, state, debited_fen)
SELECT :batch_id, n.county_code, n.pension_id, n.person_id, p.id_number, p.id_number_hash,
       p.name, n.amount_fen,
       'DF' || CAST(:payroll_id AS VARCHAR(20)) || '-' || CAST(n.pension_id AS VARCHAR(20)),
       'pending', 0
FROM ({_NET}) n
JOIN persons p ON p.id = n.person_id
WHERE n.amount_fen > 0
ORDER BY n.pension_id
"""

_NET_ALL = """
SELECT l.pension_id, SUM(l.amount_fen) AS amount_fen
FROM payroll_lines l WHERE l.payroll_id = :payroll_id
GROUP BY l.pension_id
"""

# Pensioners of a county whose lines net to nothing: paid at once, without the bank.
_NOTHING_TO_SEND = f"""
INSERT INTO {posting.PAID_TABLE} (line_id)
SELECT l.id FROM payroll_lines l
WHERE l.payroll_id = :payroll_id AND l.county_code = :county
  AND l.pension_id IN (SELECT n.pension_id FROM ({_NET_ALL}) n WHERE n.amount_fen = 0)
"""


@dataclass(frozen=True)
class SentBatch:
    """One batch sent: its number, bank, county, totals and the two files."""

    batch_id: int
    batch_no: str
    bank_code: str
    county_code: str
    row_count: int
    total_fen: int
    pipe_path: Path
    pain001_path: Path


def _write(path: Path, pieces: Iterable[str], encoding: str) -> str:
    """Write text pieces under a temporary name, rename into place; returns the SHA-256.

    Pieces are encoded and hashed a few thousand at a time (once each), not one by one.
    """
    partial = path.with_name(path.name + ".part")
    digest = hashlib.sha256()
    pieces = iter(pieces)
    with partial.open("wb") as fh:
        while block := list(itertools.islice(pieces, 5000)):
            data = "".join(block).encode(encoding)
            fh.write(data)
            digest.update(data)
    partial.replace(path)
    return digest.hexdigest()


_LABELS = {
    "regular": "养老金",
    "back_pay": "补发",
    "reissue": "重发",
    "adjustment": "调待补差",
    "recovery": "扣回多发",
}

# Per batch row, its lines' kinds and months, for the remittance text.
_PARTS = """
SELECT b.id, b.doc_no, b.amount_fen, b.name, l.bank_account, l.kind, l.month, l.amount_fen
FROM bank_batch_rows b
JOIN payroll_lines l ON l.payroll_id = :payroll_id AND l.pension_id = b.ref_id
WHERE b.batch_id = :batch_id
ORDER BY b.id, l.month, l.id
"""


def remittance(payroll_month: dt.date, parts: Sequence[tuple[str, dt.date | str, int]]) -> str:
    """What a payment is for, in words: each kind with its months (and what was kept back)."""
    months: dict[str, list[str]] = {}
    kept = 0
    for kind, month, amount in parts:
        if kind == "recovery":
            kept -= amount
        else:
            months.setdefault(kind, []).append(str(month)[:7])  # a date, or its ISO text
    words = [f"{_LABELS[kind]}{'、'.join(sorted(set(ms)))}" for kind, ms in months.items()]
    if kept:
        words.append(f"{_LABELS['recovery']}{fen_to_yuan(kept)}元")
    return f"{payroll_month:%Y-%m}发放：{'；'.join(words)}"


def _transfers(session: Session, batch: BankBatch, payroll: Payroll) -> Iterator[pain001.Transfer]:
    # Plain rows, not entities: a million ORM objects would cost more than the file.
    rows = session.execute(
        text(_PARTS).execution_options(yield_per=5000),
        {"payroll_id": payroll.id, "batch_id": batch.id},
    )
    for _row_id, group in itertools.groupby(rows, key=lambda r: r[0]):
        parts = list(group)
        _id, doc_no, amount, name, account = parts[0][:5]
        yield pain001.Transfer(
            end_to_end_id=doc_no,
            amount_fen=amount,
            creditor_name=data_keys.decrypt("name", name),  # a raw row: still sealed
            creditor_account=data_keys.decrypt("bank_account", account),
            remittance=remittance(payroll.month, [(k, m, a) for *_, k, m, a in parts]),
        )


def _batch(
    session: Session, payroll: Payroll, county: str, bank: str, out_dir: Path, on: dt.date
) -> SentBatch:
    period = f"{payroll.month:%Y-%m}"
    batch = BankBatch(
        batch_no=f"TMP-{payroll.id}-{county}-{bank}",
        kind=KIND,
        bank_code=bank,
        county_code=county,
        period=period,
        format_code="pipe",
        created_on=on,
    )
    session.add(batch)
    session.flush()
    session.add(PayrollBatch(batch_id=batch.id, payroll_id=payroll.id))
    batch.batch_no = f"DF{county}{bank}{batch.id:08d}"
    session.execute(
        text(_ROWS),
        {"batch_id": batch.id, "payroll_id": payroll.id, "county": county, "bank": bank},
    )
    count, total = session.execute(
        select(
            func.count(BankBatchRow.id), func.coalesce(func.sum(BankBatchRow.amount_fen), 0)
        ).where(BankBatchRow.batch_id == batch.id)
    ).one()
    batch.row_count, batch.total_fen = int(count), int(total)
    fmt = get_format(batch.format_code)
    header = BatchHeader(batch.batch_no, "DF", bank, county, batch.row_count, batch.total_fen, on)
    rows = (
        BatchLine(str(person_id), name, id_number, amount, doc_no)
        for person_id, name, id_number, amount, doc_no in session.execute(
            select(
                BankBatchRow.person_id,
                BankBatchRow.name,
                BankBatchRow.id_number,
                BankBatchRow.amount_fen,
                BankBatchRow.doc_no,
            )
            .where(BankBatchRow.batch_id == batch.id)
            .order_by(BankBatchRow.id)
            .execution_options(yield_per=5000)
        )
    )
    pipe_path = out_dir / f"{batch.batch_no}.txt"
    batch.file_sha256 = _write(
        pipe_path, (line + "\r\n" for line in fmt.batch_lines(header, rows)), fmt.encoding
    )
    pain_path = out_dir / f"{batch.batch_no}.pain001.xml"
    _write(
        pain_path,
        pain001.document(
            message_id=batch.batch_no,
            created_at=utcnow(),
            count=batch.row_count,
            total_fen=batch.total_fen,
            execution_date=on,
            debtor=pain001.Debtor(
                name=f"{county}城乡居民基本养老保险基金支出户",
                account=f"ZC{county}{bank}",
                bank_code=bank,
            ),
            transfers=_transfers(session, batch, payroll),
        ),
        "utf-8",
    )
    return SentBatch(
        batch.id,
        batch.batch_no,
        bank,
        county,
        batch.row_count,
        batch.total_fen,
        pipe_path,
        pain_path,
    )


def _pay_nothing_to_send(session: Session, payroll: Payroll, county: str, on: dt.date) -> None:
    """Pay and post the lines of a county's pensioners who have nothing to receive."""
    posting.start(session)
    found = session.execute(text(_NOTHING_TO_SEND), {"payroll_id": payroll.id, "county": county})
    if getattr(found, "rowcount", 0):
        entry = posting.open_entry(
            session=session,
            county_code=county,
            on=on,
            ref_type="payroll",
            ref_id=payroll.id,
            memo=f"{payroll.month:%Y-%m}发放：扣回多发后无需支付",
        )
        session.execute(
            text(
                "UPDATE payroll_lines SET state = 'paid', journal_entry_id = :je WHERE id IN"
                f" (SELECT line_id FROM {posting.PAID_TABLE})"
            ),
            {"je": entry.id},
        )
        posting.post_paid(session=session, entry=entry, payroll_month=payroll.month, on=on)
    posting.finish(session)


def send(
    *,
    session: Session,
    principal: Principal,
    payroll_id: int,
    out_dir: Path,
    on: dt.date | None = None,
) -> list[SentBatch]:
    """Write the bank files of an approved payroll and mark it sent (once)."""
    principal.require(Permission.PAYROLL_BUILD)
    payroll = get_payroll(session=session, principal=principal, payroll_id=payroll_id)
    session.refresh(payroll, with_for_update=True)
    if payroll.status != Status.APPROVED:
        raise Conflict(
            detail="只有已审批的发放名册才能送银行",
            code="payroll_wrong_status",
            extra={"status": payroll.status},
        )
    on = on or dt.date.today()
    out_dir.mkdir(parents=True, exist_ok=True)
    pairs = session.execute(
        text(
            "SELECT DISTINCT l.county_code, l.bank_code FROM payroll_lines l"
            " WHERE l.payroll_id = :payroll_id AND l.pension_id IN"
            f" (SELECT n.pension_id FROM ({_NET_ALL}) n WHERE n.amount_fen > 0)"
            " ORDER BY l.county_code, l.bank_code"
        ),
        {"payroll_id": payroll.id},
    ).all()
    sent = [_batch(session, payroll, county, bank, out_dir, on) for county, bank in pairs]
    rows, total = sum(s.row_count for s in sent), sum(s.total_fen for s in sent)
    payees = session.scalar(
        text(f"SELECT COUNT(*) FROM ({_NET_ALL}) n WHERE n.amount_fen > 0"),
        {"payroll_id": payroll.id},
    )
    if (rows, total) != (payees, payroll.total_fen):
        raise Conflict(
            detail=f"银行批次合计（{rows}笔，{total}分）与名册（{payees}人，"
            f"{payroll.total_fen}分）不符",
            code="payroll_totals_mismatch",
        )
    counties = session.scalars(
        select(PayrollLine.county_code).where(PayrollLine.payroll_id == payroll.id).distinct()
    )
    for county in sorted(counties):
        _pay_nothing_to_send(session, payroll, county, on)
    if is_postgres(session):
        session.execute(text("ANALYZE bank_batch_rows"))
    payroll.status, payroll.sent_at = Status.SENT, utcnow()
    record(
        session=session,
        actor=principal.actor,
        action="payroll.send",
        object_type="payroll",
        object_id=payroll.id,
        detail={
            "batches": [s.batch_no for s in sent],
            "rows": rows,
            "total_fen": total,
        },
    )
    return sent
