"""Importing a pay-out return file: outcomes onto the payroll lines, payments onto the books.

The bank module's return machinery is reused as it is: content-hash dedup, bulk load of
the rows (COPY on PostgreSQL), the per-row checks and the move of each batch row to its
outcome. What is particular to pay-outs happens here, per chunk of lines and in the same
transaction: payroll lines become paid, failed (re-issued by a later payroll) or unknown
(left open for the next file); every paid line draws its account pension from the
individual account by source, and one journal entry per chunk posts the basic pension
(government funds) and the account pension (individual accounts) as paid out.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from backend.accounts.posting import open_posting
from backend.audit.service import Actor, record
from backend.banks.formats import get_format
from backend.banks.models import BankBatch, BankReturnFile
from backend.banks.withholding import (  # the shared return machinery (see module notes)
    _APPLY_TO_BATCH,
    _EXCEPTIONS,
    _MARK_APPLIED,
    ImportResult,
    ReturnFileRejected,
    _line_ranges,
    _sha256,
    load_return_file,
    record_rejected_file,
    summarise,
)
from backend.db import is_postgres, unit_of_work, utcnow
from backend.ledger import chart
from backend.ledger.jobs import run_chunks, start_or_resume
from backend.ledger.models import JobRun, JournalLine
from backend.payroll.build import Status
from backend.payroll.files import KIND
from backend.payroll.models import Payroll, PayrollLine

JOB = "payout_return"

_CHUNK_LINES = """
SELECT b.ref_id FROM bank_batch_rows b
JOIN bank_return_rows r ON r.doc_no = b.doc_no
WHERE b.batch_id = :batch_id AND r.return_file_id = :return_file
  AND r.line_no BETWEEN :line_from AND :line_to AND r.resolution = 'applied'
"""

_LINE_OUTCOMES = f"""
UPDATE payroll_lines
SET state = (SELECT CASE b.state WHEN 'success' THEN 'paid' WHEN 'failed' THEN 'failed'
                                 ELSE 'unknown' END
             FROM bank_batch_rows b WHERE b.batch_id = :batch_id AND b.ref_id = payroll_lines.id),
    reason = (SELECT b.reason FROM bank_batch_rows b
              WHERE b.batch_id = :batch_id AND b.ref_id = payroll_lines.id)
WHERE id IN ({_CHUNK_LINES}) AND state IN ('sent', 'unknown')
"""

_DRAWS = f"""
INSERT INTO account_entries (account_id, county_code, year, month, entry_date, source,
    amount_fen, policy_version_id, ref_type, ref_id, journal_entry_id, created_at)
SELECT p.account_id, l.county_code, :year, :mon, :on, d.source, -d.monthly_fen,
       l.policy_version_id, 'payroll_line', l.id, :je, :now
FROM payroll_lines l
JOIN pensions p ON p.id = l.pension_id
JOIN pension_draws d ON d.pension_id = p.id
WHERE l.id IN ({_CHUNK_LINES}) AND l.state = 'paid' AND l.journal_entry_id IS NULL
  AND p.account_id IS NOT NULL AND l.account_fen > 0
"""

_MARK_POSTED = f"""
UPDATE payroll_lines SET journal_entry_id = :je
WHERE id IN ({_CHUNK_LINES}) AND state = 'paid' AND journal_entry_id IS NULL
"""


def _post_paid(
    session: Session, batch: BankBatch, file_id: int, on: dt.date, params: dict[str, object]
) -> int:
    """Draw the accounts and post the chunk's paid lines; returns the amount paid (fen)."""
    paid, total = session.execute(
        text(
            "SELECT COUNT(*), COALESCE(SUM(amount_fen), 0)"
            f" FROM payroll_lines WHERE id IN ({_CHUNK_LINES})"
            " AND state = 'paid' AND journal_entry_id IS NULL"
        ),
        params,
    ).one()
    if not paid:
        return 0
    entry = open_posting(
        session=session,
        county_code=batch.county_code,
        event="pension.payout",
        posted_on=on,
        ref_type="bank_return_file",
        ref_id=file_id,
        memo=f"代发回盘 {batch.batch_no}",
    )
    session.execute(
        text(_DRAWS),
        {**params, "year": on.year, "mon": on.month, "on": on, "je": entry.id, "now": utcnow()},
    )
    drawn = -int(
        session.scalar(
            text(
                "SELECT COALESCE(SUM(amount_fen), 0) FROM account_entries"
                " WHERE journal_entry_id = :je"
            ),
            {"je": entry.id},
        )
        or 0
    )
    # What the account did not cover (no account, or a draw below the account pension) is
    # paid by government funds with the basic pension.
    government = int(total) - drawn
    lines = [
        chart.debit(chart.BASIC_PENSION_EXPENSE, government),
        chart.credit(chart.GOVERNMENT_BASIC_PENSION, government),
        chart.debit(chart.INDIVIDUAL_ACCOUNTS, drawn),
        chart.credit(chart.INCOME_BANK, drawn),
    ]
    session.add_all(
        JournalLine(
            entry_id=entry.id,
            county_code=batch.county_code,
            account_code=line.account_code,
            debit_fen=line.debit_fen,
            credit_fen=line.credit_fen,
        )
        for line in lines
        if line.debit_fen or line.credit_fen
    )
    session.execute(text(_MARK_POSTED), {**params, "je": entry.id})
    session.flush()
    return int(total)


def _apply_chunk(session: Session, file_id: int, scope: str, actor: Actor) -> tuple[int, int]:
    file = session.get_one(BankReturnFile, file_id)
    assert file.batch_id is not None and file.value_date is not None
    batch = session.get_one(BankBatch, file.batch_id)
    line_from, line_to = (int(x) for x in scope.split("-"))
    params: dict[str, object] = {
        "return_file": file_id,
        "batch_id": batch.id,
        "line_from": line_from,
        "line_to": line_to,
    }
    session.execute(text(_EXCEPTIONS), params)
    session.execute(text(_APPLY_TO_BATCH), params)
    applied = session.execute(text(_MARK_APPLIED), params)
    session.execute(text(_LINE_OUTCOMES), params)
    paid = _post_paid(session, batch, file_id, file.value_date, params)
    rows = int(getattr(applied, "rowcount", 0) or 0)
    record(
        session=session,
        actor=actor,
        action="payroll.return.apply",
        object_type="bank_return_file",
        object_id=file_id,
        detail={"lines": scope, "applied_rows": rows, "paid_fen": paid},
    )
    return rows, paid


def _accept(session: Session, path: Path, sha: str, actor: Actor, chunk_rows: int) -> int:
    """Load and check a new file in one transaction; returns its id or raises the refusal."""
    file, batch, header = load_return_file(
        session, path=path, sha=sha, fmt=get_format("pipe"), kind=KIND, batch_label="代发批次"
    )
    count, total = file.row_count, file.total_fen
    if (count, total) != (batch.row_count, batch.total_fen):
        raise ReturnFileRejected(
            f"回盘（{count}笔，{total}分）与代发批次（{batch.row_count}笔，{batch.total_fen}分）不符",
            batch.id,
        )
    if is_postgres(session):
        session.execute(text("ANALYZE bank_return_rows"))
    run = start_or_resume(
        session=session,
        job=JOB,
        period=str(file.id),
        scopes=_line_ranges(session, file.id, chunk_rows),
    )
    file.run_id = run.id
    record(
        session=session,
        actor=actor,
        action="payroll.return.accept",
        object_type="bank_return_file",
        object_id=file.id,
        detail={"batch_no": header.batch_no, "rows": count, "sha256": sha},
    )
    return file.id


def _reconcile(session: Session, batch_id: int) -> None:
    """Mark the payroll reconciled once every line of it has a final outcome."""
    payroll_id = session.scalar(
        text(
            "SELECT l.payroll_id FROM bank_batch_rows b JOIN payroll_lines l ON l.id = b.ref_id"
            " WHERE b.batch_id = :b LIMIT 1"
        ),
        {"b": batch_id},
    )
    if payroll_id is None:
        return
    payroll = session.get_one(Payroll, payroll_id, with_for_update=True)
    open_lines = session.scalar(
        select(func.count(PayrollLine.id)).where(
            PayrollLine.payroll_id == payroll_id, PayrollLine.state.in_(("sent", "unknown"))
        )
    )
    if payroll.status == Status.SENT and not open_lines:
        payroll.status, payroll.reconciled_at = Status.RECONCILED, utcnow()


def import_return(
    *, factory: sessionmaker[Session], path: Path, actor: Actor, chunk_rows: int = 20_000
) -> ImportResult:
    """Import a pay-out return file once, whole or not at all, resumable after a crash."""
    sha = _sha256(path)
    with unit_of_work(factory) as session:
        known = session.scalar(select(BankReturnFile).where(BankReturnFile.sha256 == sha))
        known_id, known_status = (known.id, known.status) if known else (None, None)
    if known_id is not None and known_status != "applying":
        with unit_of_work(factory) as session:
            result = summarise(session=session, file_id=known_id)
        result.already_imported = True
        return result
    if known_id is None:
        try:
            with unit_of_work(factory) as session:
                known_id = _accept(session, path, sha, actor, chunk_rows)
        except ReturnFileRejected as rejected:
            return record_rejected_file(
                factory,
                path=path,
                sha=sha,
                actor=actor,
                rejected=rejected,
                action="payroll.return.reject",
            )
    file_id = known_id
    with unit_of_work(factory) as session:
        run_id = session.get_one(BankReturnFile, file_id).run_id
    assert run_id is not None
    run_chunks(
        factory=factory,
        run_id=run_id,
        job=JOB,
        period=str(file_id),
        work=lambda s, chunk: _apply_chunk(s, file_id, chunk.scope, actor),
    )
    with unit_of_work(factory) as session:
        done = session.get_one(BankReturnFile, file_id)
        run = session.get_one(JobRun, run_id)
        if run.status == "done" and done.status == "applying":
            done.status, done.finished_at = "applied", utcnow()
            assert done.batch_id is not None
            _reconcile(session, done.batch_id)
        return summarise(session=session, file_id=file_id)
