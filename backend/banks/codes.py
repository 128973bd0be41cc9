"""The bank code table: every bank code the system may meet, with the bank's Chinese name.

Data, not code: the national table is ``data/bank_codes.csv`` (a province loads its own
with ``xnb bank load-codes FILE``), the demo adds its bank from ``data/bank_codes_demo.csv``.
A partner bank registered for the bank API (``pki_bank_partners``) is named by its
registered name, which is more precise (a county's own rural credit union).
"""

from __future__ import annotations

import csv
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.banks.models import BankCode
from backend.errors import InvalidInput, invalid
from backend.pki.models import BankPartner

DATA_DIR = Path(__file__).parent / "data"
NATIONAL = DATA_DIR / "bank_codes.csv"
DEMO = DATA_DIR / "bank_codes_demo.csv"


def _rows(path: Path) -> list[tuple[str, str]]:
    """``(code, name)`` of each line; a file with a bad line is refused whole."""
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or not {"code", "name"} <= set(reader.fieldnames):
            raise invalid("code", f"{path.name}须有code与name两列", "bad_header")
        rows = []
        for line, row in enumerate(reader, start=2):
            code, name = (row["code"] or "").strip(), (row["name"] or "").strip()
            if not code or len(code) > 16 or not name or len(name) > 100:
                raise InvalidInput(
                    detail=f"{path.name}第{line}行：银行代码须为1至16个字符，名称1至100个字符",
                    code="bad_bank_code",
                )
            rows.append((code, name))
    return rows


def load_bank_codes(*, session: Session, path: Path) -> int:
    """Insert or rename the banks of a code table file; returns how many lines it had."""
    rows = _rows(path)
    known = {b.code: b for b in session.scalars(select(BankCode))}
    for code, name in rows:
        if code in known:
            known[code].name = name
        else:
            known[code] = BankCode(code=code, name=name)
            session.add(known[code])
    session.flush()
    return len(rows)


def bank_names(*, session: Session) -> dict[str, str]:
    """Every known bank code → its Chinese name (a registered partner's name first)."""
    names = {code: name for code, name in session.execute(select(BankCode.code, BankCode.name))}
    for code, name in session.execute(select(BankPartner.code, BankPartner.name)):
        names[code] = name
    return names
