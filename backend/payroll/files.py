"""Sending an approved payroll: one pay-out batch per county and bank, in two layouts.

The batches and their rows are the bank module's (``bank_batches`` of kind ``payout``,
one ``bank_batch_rows`` row per payroll line, the line id as ``ref_id``), written by one
``INSERT … SELECT`` per batch. Each batch is written in the pipe layout of DOMAIN.md §7
(``banks.formats``) and as ISO 20022 pain.001.001.03; files are streamed, written under a
temporary name and renamed when complete.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from backend.audit.service import record
from backend.banks.formats import BatchHeader, BatchLine, get_format
from backend.banks.models import BankBatch, BankBatchRow
from backend.db import is_postgres, utcnow
from backend.errors import Conflict
from backend.orgs.permissions import Permission
from backend.orgs.service import Principal
from backend.payroll import pain001
from backend.payroll.build import Status
from backend.payroll.models import Payroll, PayrollLine
from backend.payroll.service import get_payroll

KIND = "payout"

_ROWS = """
INSERT INTO bank_batch_rows (batch_id, county_code, ref_id, person_id, id_number, name,
    amount_fen, doc_no, state, debited_fen)
SELECT :batch_id, l.county_code, l.id, l.person_id, p.id_number, p.name, l.amount_fen,
       'DF' || CAST(l.id AS VARCHAR(20)), 'pending', 0
FROM payroll_lines l
JOIN persons p ON p.id = l.person_id
WHERE l.payroll_id = :payroll_id AND l.county_code = :county AND l.bank_code = :bank
ORDER BY l.id
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
    """Write text pieces under a temporary name, rename into place; returns the SHA-256."""
    partial = path.with_name(path.name + ".part")
    digest = hashlib.sha256()
    with partial.open("w", encoding=encoding, newline="") as fh:
        for piece in pieces:
            fh.write(piece)
            digest.update(piece.encode(encoding))
    partial.replace(path)
    return digest.hexdigest()


def _transfers(session: Session, batch: BankBatch, month: dt.date) -> Iterable[pain001.Transfer]:
    # Plain columns, not entities: a million ORM objects would cost more than the file.
    query = (
        select(
            BankBatchRow.doc_no,
            BankBatchRow.amount_fen,
            BankBatchRow.name,
            PayrollLine.bank_account,
            PayrollLine.month,
            PayrollLine.kind,
        )
        .join(PayrollLine, PayrollLine.id == BankBatchRow.ref_id)
        .where(BankBatchRow.batch_id == batch.id)
        .order_by(BankBatchRow.id)
        .execution_options(yield_per=5000)
    )
    labels = {
        "regular": "养老金",
        "back_pay": "补发养老金",
        "reissue": "重发养老金",
        "adjustment": "调待补差",
    }
    for doc_no, amount, name, account, line_month, kind in session.execute(query):
        yield pain001.Transfer(
            end_to_end_id=doc_no,
            amount_fen=amount,
            creditor_name=name,
            creditor_account=account,
            remittance=f"{line_month:%Y-%m} {labels[kind]}（{month:%Y-%m}发放）",
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
            transfers=_transfers(session, batch, payroll.month),
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
        select(PayrollLine.county_code, PayrollLine.bank_code)
        .where(PayrollLine.payroll_id == payroll.id)
        .distinct()
        .order_by(PayrollLine.county_code, PayrollLine.bank_code)
    ).all()
    sent = [_batch(session, payroll, county, bank, out_dir, on) for county, bank in pairs]
    rows, total = sum(s.row_count for s in sent), sum(s.total_fen for s in sent)
    if (rows, total) != (payroll.line_count, payroll.total_fen):
        raise Conflict(
            detail=f"银行批次合计（{rows}笔，{total}分）与名册（{payroll.line_count}笔，"
            f"{payroll.total_fen}分）不符",
            code="payroll_totals_mismatch",
        )
    session.execute(
        update(PayrollLine)
        .where(PayrollLine.payroll_id == payroll.id)
        .values(state="sent")
        .execution_options(synchronize_session=False)
    )
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
