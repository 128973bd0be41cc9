"""Matching a list of people from another agency against the registry, set-based.

Death lists (public security, civil affairs, cremation) and the employee-scheme
agency's list of its pensioners have the same shape: an ID number, a name and one
date per row. The file is streamed once; each row is checked field by field and good
rows go straight into a temporary staging table (PostgreSQL ``COPY``, SQLite
``executemany``). A whole-file check (an ID number twice) is one SQL statement over
the staging table, and the match is one join of the staging table with ``persons``
(``listed_persons``), to which the caller adds its own joins (pensions, open cases);
the caller then drops the staging table (``drop_stage``).

By default a file with any bad row raises ``ListRejected`` (every error with its
line, column and reason) and so changes nothing; ``accept_valid`` stages the good
rows and reports the bad ones. The caller keeps the file's SHA-256 (``file_sha256``)
so that the same file twice changes nothing.

It lives in ``registry`` because it is about people in the registry and both the
benefits (deaths) and the transfers (employee pensioners) use it; it imports neither.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Date, Integer, LargeBinary, Select, column, select, table, text
from sqlalchemy.orm import Session

from backend.db import is_postgres
from backend.errors import InvalidInput
from backend.keys import fields as data_keys
from backend.registry.csvfile import CsvFileError, CsvReader
from backend.registry.importer import MAX_SHOWN_ERRORS, RowError
from backend.registry.models import Person
from backend.registry.validation import validate_name
from national_codes.id_number import IdNumberError, parse_id_number

STAGE = "xnb_list_stage"
# The list's ID numbers are staged as their lookup hashes (the join key); names are only
# checked, never stored.
_STAGE_COLUMNS = ("line", "id_number_hash", "listed_on")
_PG_STAGE_DDL = (
    f"CREATE TEMP TABLE {STAGE} (line integer, id_number_hash bytea, listed_on date) ON COMMIT DROP"
)
_SQLITE_STAGE_DDL = f"CREATE TEMP TABLE {STAGE} (line, id_number_hash, listed_on)"
_SQLITE_BATCH = 5000

# The staging table as SQLAlchemy sees it, for the callers' joins.
staged = table(
    STAGE,
    column("line", Integer()),
    column("id_number_hash", LargeBinary()),
    column("listed_on", Date()),
)

DateParser = Callable[[str, dt.date], dt.date]


@dataclass(frozen=True)
class ListLayout:
    """A list's columns: ID number and name, and one date with its header names and parser.

    ``parse_date(raw, birth_date)`` returns the date or raises ``ValueError`` with the
    reason in the staff's language. Other columns of the file are ignored.
    """

    label: str
    date_headers: tuple[str, ...]
    parse_date: DateParser


_ID_HEADERS = ("身份证号", "身份证号码", "公民身份号码", "社会保障号码", "aac002", "id_number")
_NAME_HEADERS = ("姓名", "aac003", "name")


@dataclass
class ListReport:
    """What reading a list found: rows read and staged, and the errors by line and column."""

    rows: int = 0
    staged: int = 0
    error_count: int = 0
    errors: list[RowError] = field(default_factory=list)

    def add_error(self, error: RowError) -> None:
        """Count an error; keep it for display while fewer than the display limit are kept."""
        self.error_count += 1
        if len(self.errors) < MAX_SHOWN_ERRORS:
            self.errors.append(error)


@dataclass(frozen=True)
class ListResult:
    """What importing a list did: rows read and left out, people matched, cases opened."""

    rows: int
    matched: int
    opened: int
    already_imported: bool = False
    rejected_rows: int = 0


class ListRejected(InvalidInput):
    """The list had bad rows and ``accept_valid`` was not given: nothing was applied."""

    def __init__(self, label: str, report: ListReport) -> None:
        super().__init__(
            detail=f"{label}中有{report.error_count}处错误，未导入任何数据",
            code="list_rejected",
            fields=[e.as_field_error() for e in report.errors],
            extra={"rows": report.rows, "error_count": report.error_count},
        )
        self.report = report


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _header_positions(layout: ListLayout, header: list[str]) -> tuple[int, int, int]:
    names = [h.strip().lstrip("\ufeff").lower() for h in header]

    def position(headers: tuple[str, ...]) -> int | None:
        found = [i for i, name in enumerate(names) if name in {h.lower() for h in headers}]
        return found[0] if len(found) == 1 else None

    wanted = (_ID_HEADERS, _NAME_HEADERS, layout.date_headers)
    positions = [position(headers) for headers in wanted]
    missing = [headers[0] for headers, at in zip(wanted, positions, strict=True) if at is None]
    if missing:
        raise CsvFileError(1, f"表头有误：缺少（或重复）列{'、'.join(missing)}")
    return cast(tuple[int, int, int], tuple(positions))


def _rows(
    layout: ListLayout, reader: CsvReader, report: ListReport
) -> Iterator[tuple[int, str, str, dt.date]]:
    """Good rows of the file; bad ones are reported field by field and left out."""
    id_at, name_at, date_at = _header_positions(layout, reader.header)
    date_column = reader.header[date_at].strip()
    for line, fields in reader.records():
        report.rows += 1
        errors: list[RowError] = []
        # A short row reads as empty values in the missing columns.
        values = [f.strip() for f in fields] + [""] * (len(reader.header) - len(fields))
        id_number = birth = None
        try:
            parsed = parse_id_number(values[id_at])
            id_number, birth = parsed.value, parsed.birth_date
        except IdNumberError as exc:
            errors.append(RowError(line, reader.header[id_at].strip(), str(exc), "bad_id_number"))
        name = None
        try:
            name = validate_name(values[name_at])
        except ValueError as exc:
            errors.append(RowError(line, reader.header[name_at].strip(), str(exc), "bad_name"))
        listed_on = None
        if not values[date_at]:
            errors.append(RowError(line, date_column, "不能为空", "required"))
        else:
            try:
                listed_on = layout.parse_date(values[date_at], birth or dt.date.min)
            except ValueError as exc:
                errors.append(RowError(line, date_column, str(exc), "bad_date"))
        for error in errors:
            report.add_error(error)
        if id_number is not None and name is not None and listed_on is not None:
            report.staged += 1
            yield line, id_number, name, listed_on


def _stage(session: Session, rows: Iterator[tuple[int, str, str, dt.date]]) -> None:
    ring = data_keys.ring()
    postgres = is_postgres(session)
    session.execute(text(f"DROP TABLE IF EXISTS {STAGE}"))
    session.execute(text(_PG_STAGE_DDL if postgres else _SQLITE_STAGE_DDL))
    driver: Any = session.connection().connection.driver_connection
    if postgres:
        with ExitStack() as stack:
            cursor = stack.enter_context(driver.cursor())
            copy = stack.enter_context(
                cursor.copy(f"COPY {STAGE} ({', '.join(_STAGE_COLUMNS)}) FROM STDIN")
            )
            for line, id_number, _, listed_on in rows:
                copy.write_row((line, ring.lookup("id_number", id_number), listed_on))
        return
    pending: list[tuple[int, bytes, str]] = []
    for line, id_number, _, listed_on in rows:
        pending.append((line, ring.lookup("id_number", id_number), listed_on.isoformat()))
        if len(pending) >= _SQLITE_BATCH:
            driver.executemany(f"INSERT INTO {STAGE} VALUES (?, ?, ?)", pending)
            pending.clear()
    if pending:
        driver.executemany(f"INSERT INTO {STAGE} VALUES (?, ?, ?)", pending)


def _drop_repeated_id_numbers(session: Session, report: ListReport, accept_valid: bool) -> None:
    """An ID number on two lines: the later lines are errors (one statement finds them all)."""
    repeated = session.execute(
        text(f"""
        SELECT s.line, d.first_line FROM {STAGE} s
        JOIN (SELECT id_number_hash, min(line) AS first_line FROM {STAGE}
              GROUP BY id_number_hash HAVING count(*) > 1) d
          ON d.id_number_hash = s.id_number_hash AND s.line > d.first_line
        ORDER BY s.line
        """)
    ).all()
    for line, first_line in repeated:
        report.add_error(
            RowError(int(line), "身份证号", f"与第{first_line}行重复", "duplicate_id_number")
        )
    if repeated and accept_valid:
        session.execute(
            text(f"""
            DELETE FROM {STAGE} WHERE line IN (
                SELECT s.line FROM {STAGE} s
                JOIN (SELECT id_number_hash, min(line) AS first_line FROM {STAGE}
                      GROUP BY id_number_hash) d
                  ON d.id_number_hash = s.id_number_hash AND s.line > d.first_line)
            """)
        )
        report.staged -= len(repeated)


def stage_list(
    *, session: Session, path: Path, layout: ListLayout, accept_valid: bool = False
) -> ListReport:
    """Read, check and stage a list in the caller's transaction; then join ``staged``.

    Raises ``ListRejected`` when a row is bad (unless ``accept_valid``): nothing applied.
    """
    report = ListReport()
    try:
        with path.open("rb") as stream:
            reader = CsvReader(stream)
            _stage(session, _rows(layout, reader, report))
    except CsvFileError as exc:
        report.add_error(RowError(exc.line, "文件", exc.message, "bad_file"))
        raise ListRejected(layout.label, report) from exc
    _drop_repeated_id_numbers(session, report, accept_valid)
    if report.error_count and not accept_valid:
        raise ListRejected(layout.label, report)
    session.execute(text(f"ANALYZE {STAGE}"))
    return report


def drop_stage(*, session: Session) -> None:
    """Drop the staging table once the caller's join has run (SQLite keeps it otherwise)."""
    session.execute(text(f"DROP TABLE IF EXISTS {STAGE}"))


def listed_persons() -> Select[tuple[int, int, dt.date]]:
    """The one join: (line, person id, listed date) of every staged row naming a person."""
    return select(staged.c.line, Person.id, staged.c.listed_on).join(
        Person, Person.id_number_hash == staged.c.id_number_hash
    )


def iso_date_not_later_than_today(raw: str, birth_date: dt.date) -> dt.date:
    """A day ``YYYY-MM-DD`` (or ``YYYYMMDD``) between the birth date and today."""
    try:
        day = dt.date.fromisoformat(raw if "-" in raw else f"{raw[:4]}-{raw[4:6]}-{raw[6:]}")
    except ValueError as exc:
        raise ValueError(f"日期“{raw}”应为YYYY-MM-DD") from exc
    if day > dt.date.today():
        raise ValueError("日期不能晚于今天")
    if day < birth_date:
        raise ValueError("日期早于身份证号码中的出生日期")
    return day


def month_not_later_than_this_month(raw: str, birth_date: dt.date) -> dt.date:
    """A month ``YYYY-MM`` (or ``YYYYMM``) as its first day, after birth, not after this month."""
    digits = raw.replace("-", "").replace("/", "")
    try:
        if len(digits) != 6 or not digits.isdigit():
            raise ValueError
        month = dt.date(int(digits[:4]), int(digits[4:]), 1)
    except ValueError as exc:
        raise ValueError(f"月份“{raw}”应为YYYY-MM") from exc
    if month > dt.date.today().replace(day=1):
        raise ValueError("月份不能晚于本月")
    if month < birth_date.replace(day=1):
        raise ValueError("月份早于身份证号码中的出生日期")
    return month
