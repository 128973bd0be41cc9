"""Withholding (代扣): mandates, batch export per bank and county, return-file import.

Export is one ``INSERT … SELECT`` of every assessed year with own money outstanding,
a mandate for the bank, and no open row in an earlier batch (so failed, partial and
carried years come back in the next batch), then the file is streamed from the rows.

A return file is imported by the shared return machinery (``banks.returns``: once by
content hash, whole or not at all, in resumable chunks); each chunk's debited money goes
through the one payment path.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from backend.audit.service import Actor, record
from backend.banks import returns
from backend.banks.formats import BatchHeader, BatchLine, get_format
from backend.banks.models import BankBatch, BankBatchRow, BankReturnFile, WithholdingMandate
from backend.banks.returns import ImportResult
from backend.banks.returns import write_return_file as write_return_file
from backend.contributions.payments import apply_payments
from backend.db import is_postgres
from backend.errors import Conflict
from backend.ledger.jobs import RunSummary

KIND = "withholding"
JOB = "bank_return"
OPEN_STATES = ("pending", "unknown")


def add_mandate(*, session: Session, person_id: int, bank_code: str, county_code: str) -> None:
    """Record (or move) a resident's withholding mandate to a bank."""
    mandate = session.scalar(
        select(WithholdingMandate).where(WithholdingMandate.person_id == person_id)
    )
    if mandate is None:
        session.add(
            WithholdingMandate(
                person_id=person_id, bank_code=bank_code, county_code=county_code, active=True
            )
        )
    else:
        mandate.bank_code, mandate.active = bank_code, True
    session.flush()


_SELECT_DUE = """
INSERT INTO bank_batch_rows
    (batch_id, county_code, ref_id, person_id, id_number, id_number_hash, name, amount_fen,
     doc_no, state, debited_fen)
SELECT :batch_id, a.county_code, a.id, p.id, p.id_number, p.id_number_hash, p.name,
       a.own_due_fen - a.paid_fen,
       :batch_no || '-' || CAST(a.id AS VARCHAR(20)), 'pending', 0
FROM contribution_assessments a
JOIN withholding_mandates m ON m.person_id = a.person_id AND m.bank_code = :bank AND m.active
JOIN persons p ON p.id = a.person_id
WHERE a.county_code = :county AND a.year = :year AND a.paid_fen < a.own_due_fen
  AND NOT EXISTS (
      SELECT 1 FROM bank_batch_rows o
      WHERE o.ref_id = a.id AND o.state IN ('pending', 'unknown')
        AND o.batch_id IN (SELECT id FROM bank_batches WHERE kind = 'withholding')
  )
"""


def export_withholding(
    *,
    session: Session,
    bank_code: str,
    county_code: str,
    year: int,
    out_dir: Path,
    actor: Actor,
    format_code: str = "pipe",
    on: dt.date | None = None,
) -> tuple[BankBatch, Path]:
    """Create the next withholding batch of a bank and county and write its file."""
    fmt = get_format(format_code)
    on = on or dt.date.today()
    batch = BankBatch(
        batch_no=f"TMP-{os.urandom(8).hex()}",
        kind=KIND,
        bank_code=bank_code,
        county_code=county_code,
        period=str(year),
        format_code=fmt.code,
        created_on=on,
    )
    session.add(batch)
    session.flush()
    batch.batch_no = f"DK{county_code}{bank_code}{batch.id:08d}"
    session.flush()
    session.execute(
        text(_SELECT_DUE),
        {
            "batch_id": batch.id,
            "batch_no": batch.batch_no,
            "bank": bank_code,
            "county": county_code,
            "year": year,
        },
    )
    count, total = session.execute(
        select(
            func.count(BankBatchRow.id), func.coalesce(func.sum(BankBatchRow.amount_fen), 0)
        ).where(BankBatchRow.batch_id == batch.id)
    ).one()
    if not count:
        raise Conflict(
            detail=f"{county_code} {year}年度没有需要{bank_code}代扣的人员",
            code="nothing_to_withhold",
        )
    batch.row_count, batch.total_fen = int(count), int(total)
    if is_postgres(session):
        session.execute(text("ANALYZE bank_batch_rows"))
    header = BatchHeader(
        batch.batch_no, "DK", bank_code, county_code, batch.row_count, batch.total_fen, on
    )
    rows = (
        BatchLine(str(r.person_id), r.name, r.id_number, r.amount_fen, r.doc_no)
        for r in session.scalars(
            select(BankBatchRow)
            .where(BankBatchRow.batch_id == batch.id)
            .order_by(BankBatchRow.id)
            .execution_options(yield_per=5000)
        )
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{batch.batch_no}.txt"
    partial = path.with_suffix(".part")
    digest = hashlib.sha256()
    with partial.open("w", encoding=fmt.encoding, newline="") as fh:
        for line in fmt.batch_lines(header, rows):
            data = line + "\r\n"
            fh.write(data)
            digest.update(data.encode(fmt.encoding))
    # Renamed into place only now; the caller's commit makes the batch real.
    partial.replace(path)
    batch.file_sha256 = digest.hexdigest()
    record(
        session=session,
        actor=actor,
        action="bank.batch.export",
        object_type="bank_batch",
        object_id=batch.id,
        detail={
            "batch_no": batch.batch_no,
            "rows": batch.row_count,
            "total_fen": batch.total_fen,
            "sha256": batch.file_sha256,
        },
    )
    return batch, path


# ---- return files -----------------------------------------------------------------------

RETURNS = returns.ReturnKind(
    batch_kind=KIND, job=JOB, batch_label="批次", audit_prefix="bank.return"
)

# Money debited by the bank, as the one payment path reads it (from the chunk table).
_DEBITED = f"""
SELECT c.ref_id AS assessment_id, c.debited_fen AS amount_fen,
       'bank_row' AS ref_type, c.batch_row_id AS ref_id
FROM {returns.CHUNK_TABLE} c
WHERE c.exception_reason IS NULL AND c.debited_fen > 0
"""


def _apply_chunk(
    session: Session, file: BankReturnFile, batch: BankBatch, lines: str, actor: Actor
) -> tuple[int, int]:
    assert file.value_date is not None
    rows = returns.resolve_chunk(session, file=file, batch=batch, lines=lines)
    result = apply_payments(
        session=session,
        source_sql=_DEBITED,
        params={},
        on=file.value_date,
        county_code=batch.county_code,
        event="contribution.withholding",
        ref_type="bank_return_file",
        ref_id=file.id,
        memo=f"代扣回盘 {batch.batch_no} 第{lines}行",
    )
    returns.drop_chunk(session)
    record(
        session=session,
        actor=actor,
        action="bank.return.apply",
        object_type="bank_return_file",
        object_id=file.id,
        detail={"lines": lines, "applied_rows": rows, "own_fen": result.own_fen},
    )
    return rows, result.own_fen


def import_return(
    *,
    factory: sessionmaker[Session],
    path: Path,
    actor: Actor,
    format_code: str = "pipe",
    chunk_rows: int = 20_000,
    progress: Callable[[str, int, int, RunSummary], None] | None = None,
) -> ImportResult:
    """Import a withholding return file: once, whole or not at all, resumable."""
    return returns.import_file(
        factory=factory,
        path=path,
        actor=actor,
        kind=RETURNS,
        apply=_apply_chunk,
        fmt=get_format(format_code),
        chunk_rows=chunk_rows,
        progress=progress,
    )


def batch_rows(*, session: Session, batch_id: int) -> list[BankBatchRow]:
    """The rows of a batch in file order."""
    return list(
        session.scalars(
            select(BankBatchRow).where(BankBatchRow.batch_id == batch_id).order_by(BankBatchRow.id)
        )
    )
