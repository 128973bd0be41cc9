"""Importing a pay-out return file: outcomes onto the payroll lines, payments onto the books.

The bank module's return import (``banks.returns``) does the file: content-hash dedup,
bulk load, per-row checks, chunks, the move of each batch row to its outcome; a file that
does not answer its whole batch is rejected. Per chunk, in the same transaction, each
applied row (one per pensioner) gives its outcome to every line of that pension in the
payroll: paid, failed (re-issued by a later payroll; a failed ``recovery`` line recovers
nothing) or unknown (left open for the next file); the paid lines are posted
(``payroll.posting``: account draws by source, overpayments kept back, one journal entry).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from backend.audit.service import Actor, record
from backend.banks import returns
from backend.banks.formats import BankFileFormat, get_format
from backend.banks.models import BankBatch, BankReturnFile
from backend.banks.returns import ImportResult
from backend.contributions.payments import drop_temporary_table
from backend.db import utcnow
from backend.errors import invalid
from backend.payroll import posting
from backend.payroll.build import Status
from backend.payroll.files import KIND
from backend.payroll.models import Payroll, PayrollBatch, PayrollLine
from backend.payroll.pain002 import Pain002Format

JOB = "payout_return"
RETURNS = returns.ReturnKind(
    batch_kind=KIND,
    job=JOB,
    batch_label="代发批次",
    audit_prefix="payroll.return",
    whole_batch=True,
)

_OUTCOMES_TABLE = "tmp_payout_outcomes"

# Every open line of each pensioner the chunk answers, with its new state.
_OUTCOMES = f"""
INSERT INTO {_OUTCOMES_TABLE} (line_id, state, reason)
SELECT l.id, CASE c.outcome WHEN 'success' THEN 'paid' WHEN 'failed' THEN 'failed'
                            ELSE 'unknown' END, c.reason
FROM {returns.CHUNK_TABLE} c
JOIN payroll_lines l ON l.pension_id = c.ref_id AND l.payroll_id = :payroll_id
WHERE c.exception_reason IS NULL AND l.state IN ('built', 'unknown')
"""

# One update per line: its outcome, and the journal entry of the paid ones.
_LINE_OUTCOMES = f"""
UPDATE payroll_lines
SET state = o.state, reason = o.reason,
    journal_entry_id = CASE WHEN o.state = 'paid' THEN CAST(:je AS BIGINT) END
FROM {_OUTCOMES_TABLE} o
WHERE payroll_lines.id = o.line_id
"""

_PAID = f"""
INSERT INTO {posting.PAID_TABLE} (line_id)
SELECT o.line_id FROM {_OUTCOMES_TABLE} o WHERE o.state = 'paid'
"""


def _apply_chunk(
    session: Session, file: BankReturnFile, batch: BankBatch, lines: str, actor: Actor
) -> tuple[int, int]:
    assert file.value_date is not None
    payroll = session.get_one(Payroll, session.get_one(PayrollBatch, batch.id).payroll_id)
    rows = returns.resolve_chunk(session, file=file, batch=batch, lines=lines)
    drop_temporary_table(session=session, table=_OUTCOMES_TABLE)
    session.execute(
        text(
            f"CREATE TEMPORARY TABLE {_OUTCOMES_TABLE} (line_id BIGINT PRIMARY KEY,"
            " state VARCHAR(16), reason VARCHAR(200))"
        )
    )
    session.execute(text(_OUTCOMES), {"payroll_id": payroll.id})
    posting.start(session)
    paid = 0
    if getattr(session.execute(text(_PAID)), "rowcount", 0):
        entry = posting.open_entry(
            session=session,
            county_code=batch.county_code,
            on=file.value_date,
            ref_type="bank_return_file",
            ref_id=file.id,
            memo=f"代发回盘 {batch.batch_no} 第{lines}行",
        )
        session.execute(text(_LINE_OUTCOMES), {"je": entry.id})
        paid = posting.post_paid(
            session=session, entry=entry, payroll_month=payroll.month, on=file.value_date
        )
    else:
        session.execute(text(_LINE_OUTCOMES), {"je": None})
    posting.finish(session)
    drop_temporary_table(session=session, table=_OUTCOMES_TABLE)
    returns.drop_chunk(session)
    record(
        session=session,
        actor=actor,
        action="payroll.return.apply",
        object_type="bank_return_file",
        object_id=file.id,
        detail={"lines": lines, "applied_rows": rows, "paid_fen": paid},
    )
    return rows, paid


def _reconcile(session: Session, file: BankReturnFile) -> None:
    """Mark the payroll reconciled once every line of it has a final outcome."""
    assert file.batch_id is not None
    link = session.get_one(PayrollBatch, file.batch_id)
    payroll = session.get_one(Payroll, link.payroll_id, with_for_update=True)
    open_lines = session.scalar(
        select(func.count(PayrollLine.id)).where(
            PayrollLine.payroll_id == payroll.id, PayrollLine.state.in_(("built", "unknown"))
        )
    )
    if payroll.status == Status.SENT and not open_lines:
        payroll.status, payroll.reconciled_at = Status.RECONCILED, utcnow()


FORMATS: dict[str, BankFileFormat] = {"pipe": get_format("pipe"), "pain002": Pain002Format()}


def import_return(
    *,
    factory: sessionmaker[Session],
    path: Path,
    actor: Actor,
    format_code: str = "pipe",
    chunk_rows: int = 20_000,
) -> ImportResult:
    """Import a pay-out return file (pipe layout or pain.002) once, whole or not at all,
    resumable after a crash."""
    if format_code not in FORMATS:
        raise invalid("format", f"代发回盘格式应为{'、'.join(FORMATS)}之一：{format_code}")
    return returns.import_file(
        factory=factory,
        path=path,
        actor=actor,
        kind=RETURNS,
        apply=_apply_chunk,
        fmt=FORMATS[format_code],
        chunk_rows=chunk_rows,
        on_applied=_reconcile,
    )
