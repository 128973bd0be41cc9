"""Withholding (代扣): mandates, batch export per bank and county, return-file import.

Export is one ``INSERT … SELECT`` of every assessed year with own money outstanding,
a mandate for the bank, and no open row in an earlier batch (so failed, partial and
carried years come back in the next batch), then the file is streamed from the rows.

A return file is imported once (by content hash): its rows are bulk-loaded (COPY on
PostgreSQL), its totals checked against its header (any mismatch rejects the whole
file and keeps nothing but the rejection), then it is applied in chunks of lines, one
transaction each, resumable after a crash: every row is resolved exactly once, either
applied to its batch row (success, failed, partial, unknown, carried) or put on the
exceptions list with the reason; debited money goes through the one payment path. A
chunk's rows are matched to the batch and judged once, into a temporary table that the
chunk's few statements then read.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session, sessionmaker

from backend.audit.service import Actor, record
from backend.banks.formats import (
    BankFileError,
    BankFileFormat,
    BatchHeader,
    BatchLine,
    ReturnHeader,
    ReturnLine,
    get_format,
)
from backend.banks.models import (
    BankBatch,
    BankBatchRow,
    BankReturnFile,
    BankReturnRow,
    WithholdingMandate,
)
from backend.contributions.payments import apply_payments, drop_temporary_table
from backend.db import is_postgres, unit_of_work, utcnow
from backend.errors import Conflict, NotFound
from backend.ledger.jobs import RunSummary, run_chunks, start_or_resume
from backend.ledger.models import JobRun

KIND = "withholding"
JOB = "bank_return"
OPEN_STATES = ("pending", "unknown")
_LOAD_BATCH = 5000


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
    (batch_id, county_code, ref_id, person_id, id_number, name, amount_fen, doc_no, state,
     debited_fen)
SELECT :batch_id, a.county_code, a.id, p.id, p.id_number, p.name, a.own_due_fen - a.paid_fen,
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


@dataclass
class ImportResult:
    """What a return-file import came to (the same answer however often it is imported)."""

    file_id: int
    status: str
    reason: str | None = None
    already_imported: bool = False
    rows: int = 0
    total_fen: int = 0
    debited_fen: int = 0
    by_outcome: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    exceptions: int = 0

    @property
    def accepted(self) -> bool:
        """True unless the file was rejected whole."""
        return self.status != "rejected"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class ReturnFileRejected(Exception):
    """A return file refused whole, with the reason and the batch it named (if known)."""

    def __init__(self, reason: str, batch_id: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.batch_id = batch_id


_COLUMNS = (
    "return_file_id",
    "line_no",
    "person_code",
    "name",
    "id_number",
    "amount_fen",
    "doc_no",
    "outcome",
    "debited_fen",
    "reason",
)


def _load_rows(session: Session, file_id: int, rows: Iterator[ReturnLine]) -> tuple[int, int, int]:
    """Bulk-load the rows; returns (count, Σ amount, Σ debited) as read."""
    count = total = debited = 0

    def tuples() -> Iterator[tuple[Any, ...]]:
        nonlocal count, total, debited
        for r in rows:
            count += 1
            total += r.amount_fen
            debited += r.debited_fen
            yield (
                file_id,
                r.line_no,
                r.person_code[:32],
                r.name[:50],
                r.id_number[:18],
                r.amount_fen,
                r.doc_no[:48],
                r.outcome.value,
                r.debited_fen,
                r.reason[:200] or None,
            )

    if is_postgres(session):
        raw: Any = session.connection().connection.driver_connection
        with (
            raw.cursor() as cur,
            cur.copy(f"COPY bank_return_rows ({', '.join(_COLUMNS)}) FROM STDIN") as copy,
        ):
            for row in tuples():
                copy.write_row(row)
    else:
        batch: list[dict[str, Any]] = []
        for row in tuples():
            batch.append(dict(zip(_COLUMNS, row, strict=True)))
            if len(batch) >= _LOAD_BATCH:
                session.execute(insert(BankReturnRow), batch)
                batch = []
        if batch:
            session.execute(insert(BankReturnRow), batch)
    return count, total, debited


def _line_ranges(session: Session, file_id: int, chunk_rows: int) -> list[str]:
    last = (
        session.scalar(
            select(func.max(BankReturnRow.line_no)).where(BankReturnRow.return_file_id == file_id)
        )
        or 0
    )
    return [
        f"{start}-{min(start + chunk_rows - 1, last)}" for start in range(2, last + 1, chunk_rows)
    ]


def load_return_file(
    session: Session, *, path: Path, sha: str, fmt: BankFileFormat, kind: str, batch_label: str
) -> tuple[BankReturnFile, BankBatch, ReturnHeader]:
    """Read a return file of a ``kind`` batch into its rows, its header totals checked.

    Shared by every return import (withholding, pay-out); raises ``ReturnFileRejected``.
    """
    with path.open(encoding=fmt.encoding, newline="") as fh:
        try:
            header, rows = fmt.read_return(iter(fh))
        except BankFileError as exc:
            raise ReturnFileRejected(str(exc)) from exc
        batch = session.scalar(select(BankBatch).where(BankBatch.batch_no == header.batch_no))
        if batch is None or batch.kind != kind:
            raise ReturnFileRejected(f"{batch_label}{header.batch_no}不存在")
        file = BankReturnFile(
            sha256=sha,
            file_name=path.name[:200],
            batch_id=batch.id,
            status="applying",
            value_date=header.value_date,
        )
        session.add(file)
        session.flush()
        try:
            count, total, debited = _load_rows(session, file.id, rows)
        except BankFileError as exc:
            raise ReturnFileRejected(str(exc), batch.id) from exc
    if (count, total, debited) != (header.count, header.total_fen, header.debited_fen):
        raise ReturnFileRejected(
            f"文件头（{header.count}笔，金额{header.total_fen}分，实扣{header.debited_fen}分）"
            f"与明细（{count}笔，金额{total}分，实扣{debited}分）不符",
            batch.id,
        )
    file.row_count, file.total_fen, file.debited_fen = count, total, debited
    return file, batch, header


def record_rejected_file(
    factory: sessionmaker[Session],
    *,
    path: Path,
    sha: str,
    actor: Actor,
    rejected: ReturnFileRejected,
    action: str,
) -> ImportResult:
    """Keep a refused file (so a second try of the same bytes is answered at once) and audit it."""
    with unit_of_work(factory) as session:
        file = BankReturnFile(
            sha256=sha,
            file_name=path.name[:200],
            batch_id=rejected.batch_id,
            status="rejected",
            reason=rejected.reason[:300],
            finished_at=utcnow(),
        )
        session.add(file)
        session.flush()
        record(
            session=session,
            actor=actor,
            action=action,
            object_type="bank_return_file",
            object_id=file.id,
            result="rejected",
            detail={"reason": rejected.reason, "sha256": sha},
        )
        return summarise(session=session, file_id=file.id)


def _accept(
    session: Session, path: Path, sha: str, fmt: BankFileFormat, actor: Actor, chunk_rows: int
) -> int:
    """Load and check a new file in one transaction; returns its id or raises the refusal."""
    file, _batch, header = load_return_file(
        session, path=path, sha=sha, fmt=fmt, kind=KIND, batch_label="批次"
    )
    if is_postgres(session):
        # Fresh statistics, or the planner treats the just-loaded rows as an empty table.
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
        action="bank.return.accept",
        object_type="bank_return_file",
        object_id=file.id,
        detail={"batch_no": header.batch_no, "rows": file.row_count, "sha256": sha},
    )
    return file.id


# Why a return row cannot be applied (NULL: it can), judged in this order.
_REASON = """
    CASE
        WHEN EXISTS (SELECT 1 FROM bank_return_rows d
                     WHERE d.return_file_id = r.return_file_id AND d.doc_no = r.doc_no
                       AND d.line_no < r.line_no)
            THEN '文件内单据号重复'
        WHEN b.id IS NULL THEN '单据号不属于该批次'
        WHEN b.id_number <> r.id_number OR b.amount_fen <> r.amount_fen
            THEN '身份证号或金额与批次不符'
        WHEN (r.outcome = 'success' AND r.debited_fen <> r.amount_fen)
          OR (r.outcome = 'partial' AND (r.debited_fen <= 0
                                         OR r.debited_fen >= r.amount_fen))
          OR (r.outcome IN ('failed', 'unknown', 'carried') AND r.debited_fen <> 0)
            THEN '处理结果与实扣金额矛盾'
        WHEN b.state NOT IN ('pending', 'unknown') THEN '该笔已有最终结果'
    END
"""

# The pay-out return import (``payroll/returns.py``) applies its chunks with these three
# statements, in this order: rows with a reason put on the exceptions list, the others'
# batch rows moved to their outcome, then marked applied.
_EXCEPTIONS = f"""
UPDATE bank_return_rows
SET resolution = 'exception', exception_reason = x.reason
FROM (
    SELECT r.id AS id,
        {_REASON} AS reason
    FROM bank_return_rows r
    LEFT JOIN bank_batch_rows b ON b.doc_no = r.doc_no AND b.batch_id = :batch_id
    WHERE r.return_file_id = :return_file AND r.line_no BETWEEN :line_from AND :line_to
      AND r.resolution IS NULL
) x
WHERE bank_return_rows.id = x.id AND x.reason IS NOT NULL
"""

_APPLY_TO_BATCH = """
UPDATE bank_batch_rows
SET state = r.outcome, debited_fen = r.debited_fen, reason = r.reason,
    return_file_id = r.return_file_id
FROM bank_return_rows r
WHERE r.return_file_id = :return_file AND r.line_no BETWEEN :line_from AND :line_to
  AND r.resolution IS NULL AND r.doc_no = bank_batch_rows.doc_no
  AND bank_batch_rows.batch_id = :batch_id
"""

_MARK_APPLIED = """
UPDATE bank_return_rows SET resolution = 'applied'
WHERE return_file_id = :return_file AND line_no BETWEEN :line_from AND :line_to
  AND resolution IS NULL
"""

# Each chunk's rows are resolved once into a temporary table: the batch row each one
# answers and, for the rows that cannot be applied, the reason. The updates of the return
# rows and the batch rows and the payment source all read it (by primary key) instead of
# re-joining the return rows to the batch for every statement.
_RETURN_CHUNK = """
CREATE TEMPORARY TABLE tmp_return_chunk (
    return_row_id BIGINT PRIMARY KEY, batch_row_id BIGINT, assessment_id BIGINT,
    outcome VARCHAR(16), debited_fen BIGINT, reason VARCHAR(200),
    exception_reason VARCHAR(200)
)
"""

_RESOLVE = f"""
INSERT INTO tmp_return_chunk
SELECT r.id, b.id, b.ref_id, r.outcome, r.debited_fen, r.reason,
    {_REASON}
FROM bank_return_rows r
LEFT JOIN bank_batch_rows b ON b.doc_no = r.doc_no AND b.batch_id = :batch_id
WHERE r.return_file_id = :return_file AND r.line_no BETWEEN :line_from AND :line_to
  AND r.resolution IS NULL
"""

# Every row of the chunk gets its resolution in one pass: applied, or an exception.
_RESOLVE_RETURN_ROWS = """
UPDATE bank_return_rows
SET resolution = CASE WHEN c.exception_reason IS NULL THEN 'applied' ELSE 'exception' END,
    exception_reason = c.exception_reason
FROM tmp_return_chunk c
WHERE bank_return_rows.id = c.return_row_id
"""

_CHUNK_TO_BATCH = """
UPDATE bank_batch_rows
SET state = c.outcome, debited_fen = c.debited_fen, reason = c.reason,
    return_file_id = :return_file
FROM tmp_return_chunk c
WHERE bank_batch_rows.id = c.batch_row_id AND c.exception_reason IS NULL
"""

_APPLIED_ROWS = "SELECT COUNT(*) FROM tmp_return_chunk WHERE exception_reason IS NULL"

_DEBITED = """
SELECT c.assessment_id AS assessment_id, c.debited_fen AS amount_fen,
       'bank_row' AS ref_type, c.batch_row_id AS ref_id
FROM tmp_return_chunk c
WHERE c.exception_reason IS NULL AND c.debited_fen > 0
"""


def _apply_chunk(session: Session, file_id: int, scope: str, actor: Actor) -> tuple[int, int]:
    file = session.get(BankReturnFile, file_id)
    assert file is not None and file.batch_id is not None and file.value_date is not None
    batch = session.get(BankBatch, file.batch_id)
    assert batch is not None
    line_from, line_to = (int(x) for x in scope.split("-"))
    params = {
        "return_file": file_id,
        "batch_id": batch.id,
        "line_from": line_from,
        "line_to": line_to,
    }
    if is_postgres(session):
        # These are index-driven passes over one chunk: compiling them (JIT) took up to
        # 0.8 s of a 1.3 s statement at 50,000 rows and saved nothing; this chunk only.
        session.execute(text("SET LOCAL jit = off"))
    drop_temporary_table(session=session, table="tmp_return_chunk")
    session.execute(text(_RETURN_CHUNK))
    session.execute(text(_RESOLVE), params)
    if is_postgres(session):
        session.execute(text("ANALYZE tmp_return_chunk"))
    session.execute(text(_RESOLVE_RETURN_ROWS))
    session.execute(text(_CHUNK_TO_BATCH), {"return_file": file_id})
    rows = int(session.execute(text(_APPLIED_ROWS)).scalar_one())
    result = apply_payments(
        session=session,
        source_sql=_DEBITED,
        params={},
        on=file.value_date,
        county_code=batch.county_code,
        event="contribution.withholding",
        ref_type="bank_return_file",
        ref_id=file_id,
        memo=f"代扣回盘 {batch.batch_no} 第{scope}行",
    )
    drop_temporary_table(session=session, table="tmp_return_chunk")
    record(
        session=session,
        actor=actor,
        action="bank.return.apply",
        object_type="bank_return_file",
        object_id=file_id,
        detail={"lines": scope, "applied_rows": rows, "own_fen": result.own_fen},
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
    """Import a return file: once, whole or not at all, resumable; see the module notes."""
    fmt = get_format(format_code)
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
                known_id = _accept(session, path, sha, fmt, actor, chunk_rows)
        except ReturnFileRejected as rejected:
            return record_rejected_file(
                factory,
                path=path,
                sha=sha,
                actor=actor,
                rejected=rejected,
                action="bank.return.reject",
            )
    file_id = known_id
    with unit_of_work(factory) as session:
        loaded = session.get(BankReturnFile, file_id)
        assert loaded is not None and loaded.run_id is not None
        run_id = loaded.run_id
    run_chunks(
        factory=factory,
        run_id=run_id,
        job=JOB,
        period=str(file_id),
        work=lambda s, chunk: _apply_chunk(s, file_id, chunk.scope, actor),
        progress=progress,
    )
    with unit_of_work(factory) as session:
        done = session.get(BankReturnFile, file_id)
        run = session.get(JobRun, run_id)
        assert done is not None and run is not None
        if run.status == "done" and done.status == "applying":
            done.status, done.finished_at = "applied", utcnow()
        return summarise(session=session, file_id=file_id)


def summarise(*, session: Session, file_id: int) -> ImportResult:
    """The outcome of a return file: rows by outcome, exceptions."""
    file = session.get(BankReturnFile, file_id)
    if file is None:
        raise NotFound(detail=f"回盘文件{file_id}不存在", code="return_file_not_found")
    result = ImportResult(
        file_id=file.id,
        status=file.status,
        reason=file.reason,
        rows=file.row_count,
        total_fen=file.total_fen,
        debited_fen=file.debited_fen,
    )
    for outcome, count, amount, debited in session.execute(
        select(
            BankReturnRow.outcome,
            func.count(),
            func.sum(BankReturnRow.amount_fen),
            func.sum(BankReturnRow.debited_fen),
        )
        .where(BankReturnRow.return_file_id == file_id, BankReturnRow.resolution == "applied")
        .group_by(BankReturnRow.outcome)
    ):
        result.by_outcome[outcome] = (int(count), int(amount), int(debited))
    result.exceptions = (
        session.scalar(
            select(func.count()).where(
                BankReturnRow.return_file_id == file_id, BankReturnRow.resolution == "exception"
            )
        )
        or 0
    )
    return result


def exceptions(*, session: Session, file_id: int) -> list[BankReturnRow]:
    """The rows of a file that could not be applied, with the reason."""
    return list(
        session.scalars(
            select(BankReturnRow)
            .where(BankReturnRow.return_file_id == file_id, BankReturnRow.resolution == "exception")
            .order_by(BankReturnRow.line_no)
        )
    )


def write_return_file(
    *,
    path: Path,
    batch_no: str,
    value_date: dt.date,
    rows: list[ReturnLine],
    format_code: str = "pipe",
    header_total_fen: int | None = None,
) -> Path:
    """Write a return file as a bank would (demo bank, tests, bench)."""
    from backend.banks.formats import ReturnHeader

    fmt = get_format(format_code)
    header = ReturnHeader(
        batch_no=batch_no,
        count=len(rows),
        total_fen=sum(r.amount_fen for r in rows) if header_total_fen is None else header_total_fen,
        debited_fen=sum(r.debited_fen for r in rows),
        value_date=value_date,
    )
    with path.open("w", encoding=fmt.encoding, newline="") as fh:
        for line in fmt.return_lines(header, rows):
            fh.write(line + "\r\n")
    return path


def batch_rows(*, session: Session, batch_id: int) -> list[BankBatchRow]:
    """The rows of a batch in file order."""
    return list(
        session.scalars(
            select(BankBatchRow).where(BankBatchRow.batch_id == batch_id).order_by(BankBatchRow.id)
        )
    )
