"""Contributions collected by the tax bureau: a file of results, imported like a return file.

Layout (pipe, GB18030): ``H|税务机关|县|笔数|金额|日期`` then
``身份证号|姓名|年度|金额|完税凭证号`` per row. The file is imported once (content hash),
rejected whole if the header's count or sum disagrees with the rows, and applied in one
transaction: rows matching an assessed year go through the one payment path, the rest
(unknown person or year, a tax receipt seen before, bad amount) go to the exceptions list.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session

from backend.audit.service import Actor, record
from backend.contributions.models import TaxResultFile, TaxResultRow
from backend.contributions.payments import apply_payments
from backend.keys.fields import lookup
from backend.policy.rules import yuan_to_fen

ENCODING = "gb18030"


class _Rejected(Exception):
    pass


@dataclass(frozen=True)
class TaxImportResult:
    """What a tax-bureau file came to."""

    file_id: int
    status: str
    reason: str | None
    rows: int
    applied_rows: int
    exception_rows: int
    applied_fen: int
    already_imported: bool = False


def _parse(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    rows: list[dict[str, Any]] = []
    with path.open(encoding=ENCODING, newline="") as fh:
        first = fh.readline().rstrip("\r\n").split("|")
        if len(first) != 6 or first[0] != "H":
            raise _Rejected("第1行不是文件头（H|税务机关|县|笔数|金额|日期）")
        try:
            header = {
                "county": first[2],
                "count": int(first[3]),
                "total": yuan_to_fen(first[4]),
                "date": dt.datetime.strptime(first[5], "%Y%m%d").date(),
            }
        except ValueError as exc:
            raise _Rejected(f"文件头格式错误：{exc}") from exc
        for line_no, raw in enumerate(fh, start=2):
            line = raw.rstrip("\r\n")
            if not line:
                continue
            fields = line.split("|")
            if len(fields) != 5:
                raise _Rejected(f"第{line_no}行应有5个字段，实有{len(fields)}个")
            try:
                rows.append(
                    {
                        "line_no": line_no,
                        "id_number": fields[0][:18],
                        "id_number_hash": lookup("id_number", fields[0][:18]),
                        "name": fields[1][:50],
                        "year": int(fields[2]),
                        "amount_fen": yuan_to_fen(fields[3]),
                        "tax_receipt_no": fields[4][:40],
                    }
                )
            except ValueError as exc:
                raise _Rejected(f"第{line_no}行格式错误：{exc}") from exc
    if (len(rows), sum(r["amount_fen"] for r in rows)) != (header["count"], header["total"]):
        raise _Rejected(
            f"文件头（{header['count']}笔，{header['total']}分）与明细"
            f"（{len(rows)}笔，{sum(r['amount_fen'] for r in rows)}分）不符"
        )
    return header, rows


_MATCH = """
UPDATE tax_result_rows SET assessment_id = (
    SELECT a.id FROM contribution_assessments a JOIN persons p ON p.id = a.person_id
    WHERE p.id_number_hash = tax_result_rows.id_number_hash AND a.year = tax_result_rows.year
) WHERE file_id = :file_id
"""

_EXCEPTIONS = """
UPDATE tax_result_rows SET resolution = 'exception', exception_reason = x.reason
FROM (
    SELECT r.id AS id,
        CASE
            WHEN r.amount_fen <= 0 THEN '金额无效'
            WHEN r.assessment_id IS NULL THEN '未找到该人员该年度的核定'
            WHEN EXISTS (SELECT 1 FROM tax_result_rows d WHERE d.file_id = r.file_id
                         AND d.tax_receipt_no = r.tax_receipt_no AND d.line_no < r.line_no)
                THEN '文件内完税凭证号重复'
            WHEN EXISTS (SELECT 1 FROM tax_result_rows d WHERE d.file_id <> r.file_id
                         AND d.tax_receipt_no = r.tax_receipt_no AND d.resolution = 'applied')
                THEN '完税凭证号已导入过'
        END AS reason
    FROM tax_result_rows r WHERE r.file_id = :file_id
) x
WHERE tax_result_rows.id = x.id AND x.reason IS NOT NULL
"""

_SOURCE = """
SELECT assessment_id AS assessment_id, amount_fen AS amount_fen,
       'tax_row' AS ref_type, id AS ref_id
FROM tax_result_rows WHERE file_id = :file_id AND resolution = 'applied'
"""


def import_tax_file(*, session: Session, path: Path, actor: Actor) -> TaxImportResult:
    """Import a tax-bureau result file of one county (the caller commits; rejections recorded)."""
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    known = session.scalar(select(TaxResultFile).where(TaxResultFile.sha256 == sha))
    if known is not None:
        return _result(session, known, already=True)
    try:
        header, rows = _parse(path)
    except _Rejected as exc:
        file = TaxResultFile(
            sha256=sha, file_name=path.name[:200], status="rejected", reason=str(exc)[:300]
        )
        session.add(file)
        session.flush()
        record(
            session=session,
            actor=actor,
            action="tax.file.reject",
            object_type="tax_file",
            object_id=file.id,
            result="rejected",
            detail={"reason": str(exc)},
        )
        return _result(session, file)
    file = TaxResultFile(
        sha256=sha,
        file_name=path.name[:200],
        county_code=header["county"],
        status="applied",
        row_count=len(rows),
        total_fen=header["total"],
    )
    session.add(file)
    session.flush()
    for start in range(0, len(rows), 5000):
        session.execute(
            insert(TaxResultRow), [{**r, "file_id": file.id} for r in rows[start : start + 5000]]
        )
    params = {"file_id": file.id}
    session.execute(text(_MATCH), params)
    session.execute(text(_EXCEPTIONS), params)
    session.execute(
        text(
            "UPDATE tax_result_rows SET resolution = 'applied' "
            "WHERE file_id = :file_id AND resolution IS NULL"
        ),
        params,
    )
    applied = apply_payments(
        session=session,
        source_sql=_SOURCE,
        params=params,
        on=header["date"],
        county_code=header["county"],
        event="contribution.tax",
        ref_type="tax_file",
        ref_id=file.id,
        memo=f"税务征收结果 {path.name}",
    )
    file.applied_rows = applied.rows
    file.exception_rows = (
        session.scalar(
            select(func.count()).where(
                TaxResultRow.file_id == file.id, TaxResultRow.resolution == "exception"
            )
        )
        or 0
    )
    record(
        session=session,
        actor=actor,
        action="tax.file.import",
        object_type="tax_file",
        object_id=file.id,
        detail={"rows": len(rows), "applied": applied.rows, "own_fen": applied.own_fen},
    )
    return _result(session, file, applied_fen=applied.own_fen)


def _result(
    session: Session, file: TaxResultFile, *, already: bool = False, applied_fen: int | None = None
) -> TaxImportResult:
    if applied_fen is None:
        applied_fen = int(
            session.scalar(
                select(func.coalesce(func.sum(TaxResultRow.amount_fen), 0)).where(
                    TaxResultRow.file_id == file.id, TaxResultRow.resolution == "applied"
                )
            )
            or 0
        )
    return TaxImportResult(
        file_id=file.id,
        status=file.status,
        reason=file.reason,
        rows=file.row_count,
        applied_rows=file.applied_rows,
        exception_rows=file.exception_rows,
        applied_fen=applied_fen,
        already_imported=already,
    )
