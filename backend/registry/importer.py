"""Bulk import of residents from CSV files, and the set-based loader beneath it.

The file is streamed: each row is validated by ``validate_person`` (the one
validation path) and good rows go straight into a temporary staging table
(PostgreSQL ``COPY``, SQLite ``executemany``); bad rows go to the reject file as
they are met. Checks that need the whole file (an ID number twice, one household
number in two villages) and the final writes are single SQL statements over the
staging table: households first, then persons joined to their household, both with
``ON CONFLICT DO NOTHING`` so that re-importing a file creates no duplicates.

Everything happens in the caller's transaction; by default a file with any bad
row raises ``ImportRejected`` and so changes nothing.
"""

from __future__ import annotations

import csv
import datetime as dt
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO, cast

from sqlalchemy import CursorResult, bindparam, text
from sqlalchemy.orm import Session

from backend.audit.service import Actor, record
from backend.db import UtcDateTime, is_postgres, utcnow
from backend.errors import FieldError, InvalidInput
from backend.keys import fields as data_keys
from backend.orgs.permissions import Scope
from backend.orgs.service import villages_in
from backend.registry.csvfile import CsvFileError, CsvReader, encoding_label, writer_encoding
from backend.registry.validation import PersonData, validate_person

MAX_SHOWN_ERRORS = 100

# Canonical column -> accepted header names (English, the Chinese township forms, AAC codes).
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "id_number": ("身份证号码", "身份证号", "公民身份号码", "社会保障号码", "aac002"),
    "name": ("姓名", "aac003"),
    "gender": ("性别", "aac004"),
    "ethnicity": ("民族", "aac005"),
    "birth_date": ("出生日期", "aac006"),
    "hukou_region_code": ("户籍地区划代码", "户籍地代码", "区划代码"),
    "address": ("地址", "住址", "家庭住址"),
    "phone": ("联系电话", "电话", "手机号码"),
    "household_number": ("户号",),
    "relationship_code": ("与户主关系", "与户主关系代码"),
    "is_student": ("在校学生",),
    "in_employee_scheme": ("参加职工养老保险",),
    "is_civil_servant": ("机关事业单位人员",),
}
REQUIRED_COLUMNS = ("id_number", "name", "ethnicity", "hukou_region_code")
_HEADER_LOOKUP = {
    alias.lower(): column
    for column, aliases in COLUMN_ALIASES.items()
    for alias in (column, *aliases)
}

STAGE = "xnb_import_stage"
SKIP = "xnb_import_skip"
_STAGE_COLUMNS = (
    "line",
    "id_number",
    "id_number_hash",
    "name",
    "name_hash",
    "gender",
    "ethnicity",
    "birth_date",
    "hukou_region_code",
    "county_code",
    "address",
    "phone",
    "household_number",
    "relationship_code",
    "is_student",
    "in_employee_scheme",
    "is_civil_servant",
    "enrol_status",
    "enrolled_on",
)
_PG_STAGE_DDL = f"""
CREATE TEMP TABLE {STAGE} (
    line integer, id_number bytea, id_number_hash bytea, name bytea, name_hash bytea,
    gender text, ethnicity text, birth_date date,
    hukou_region_code text, county_code text, address bytea, phone bytea,
    household_number text, relationship_code text, is_student boolean,
    in_employee_scheme boolean, is_civil_servant boolean, enrol_status text, enrolled_on date
) ON COMMIT DROP"""
_SQLITE_STAGE_DDL = f"CREATE TEMP TABLE {STAGE} ({', '.join(_STAGE_COLUMNS)})"
# Lines the final step leaves out: rejected by a whole-file check, or already stored.
_SKIP_DDL = f"CREATE TEMP TABLE {SKIP} (line integer PRIMARY KEY, code text, ref text)"


@dataclass(frozen=True)
class RowError:
    """One rejected value: the line it is on, the column (as named in the file), why."""

    line: int
    column: str
    message: str
    code: str = "invalid"

    def as_field_error(self) -> FieldError:
        """The problem+json form: ``field`` is ``line N: column``."""
        return FieldError(f"line {self.line}: {self.column}", self.message, self.code)


@dataclass(frozen=True)
class PresentDiffering:
    """A row whose ID number is already stored with different data (the import skips it)."""

    line: int
    id_number: str
    fields: tuple[str, ...]


@dataclass
class ImportReport:
    """What an import did (or would have done): counts, the first errors, the reject file."""

    file_name: str
    sha256: str = ""
    encoding: str = ""
    accept_valid: bool = False
    rows_read: int = 0
    rows_valid: int = 0
    rows_rejected: int = 0
    error_count: int = 0
    imported: int = 0
    already_present: int = 0
    present_differing: int = 0
    households_created: int = 0
    seconds: float = 0.0
    reject_file: str | None = None
    errors: list[RowError] = field(default_factory=list)
    differing: list[PresentDiffering] = field(default_factory=list)

    def add_error(self, error: RowError) -> None:
        """Count an error; keep it for display while fewer than the display limit are kept."""
        self.error_count += 1
        if len(self.errors) < MAX_SHOWN_ERRORS:
            self.errors.append(error)

    def as_dict(self) -> dict[str, Any]:
        """The JSON form returned by the API and written to the audit log (errors excluded)."""
        body = asdict(self)
        body["errors"] = [asdict(e) for e in self.errors]
        body["differing"] = [asdict(d) for d in self.differing]
        return body

    def counts(self) -> dict[str, Any]:
        """The figures alone (for the audit record)."""
        return {
            k: v for k, v in asdict(self).items() if k not in ("errors", "differing", "seconds")
        }


class ImportRejected(InvalidInput):
    """The file had bad rows and ``accept_valid`` was not given: nothing was imported."""

    def __init__(self, report: ImportReport) -> None:
        super().__init__(
            detail=(
                f"文件中有{report.rows_rejected}行数据有误（共{report.error_count}处），"
                "未导入任何数据"
            ),
            code="import_rejected",
            fields=[e.as_field_error() for e in report.errors],
            extra={"report": report.counts()},
        )
        self.report = report


def map_header(header: list[str]) -> list[str]:
    """Canonical column names for a header row; raises ``CsvFileError`` on line 1 if unusable."""
    columns: list[str] = []
    problems: list[str] = []
    for raw in header:
        name = raw.strip().lstrip("\ufeff")
        column = _HEADER_LOOKUP.get(name.lower())
        if column is None:
            problems.append(f"未知的列“{name}”")
        elif column in columns:
            problems.append(f"列“{name}”重复")
        else:
            columns.append(column)
    missing = [f"{c}（{COLUMN_ALIASES[c][0]}）" for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        problems.append(f"缺少必需的列：{'、'.join(missing)}")
    if problems:
        raise CsvFileError(1, "表头有误：" + "；".join(problems))
    return columns


@dataclass
class LoadCounts:
    """What the set-based step wrote."""

    imported: int = 0
    already_present: int = 0
    households_created: int = 0


class PersonLoader:
    """Stages person rows in the caller's transaction and applies them set-based.

    Used by the CSV import and by the synthetic province, so both load the same way;
    use it as a context manager (``with PersonLoader(session) as loader``).
    """

    def __init__(self, session: Session, *, now: dt.datetime | None = None) -> None:
        self.session = session
        self.now = now or utcnow()
        self.staged = 0
        self._ring = data_keys.ring()
        self._postgres = is_postgres(session)
        self._exits = ExitStack()
        self._pending: list[tuple[Any, ...]] = []
        for table in (STAGE, SKIP):
            session.execute(text(f"DROP TABLE IF EXISTS {table}"))
        session.execute(text(_PG_STAGE_DDL if self._postgres else _SQLITE_STAGE_DDL))
        session.execute(text(_SKIP_DDL + (" ON COMMIT DROP" if self._postgres else "")))
        self._driver = cast(Any, session.connection().connection.driver_connection)
        if self._postgres:
            # One COPY for the whole stream: the server ingests while Python validates.
            cursor = self._exits.enter_context(self._driver.cursor())
            self._copy = self._exits.enter_context(
                cursor.copy(f"COPY {STAGE} ({', '.join(_STAGE_COLUMNS)}) FROM STDIN")
            )

    def add(
        self,
        line: int,
        person: PersonData,
        *,
        enrol_status: str | None = None,
        enrolled_on: dt.date | None = None,
    ) -> None:
        """Stage one validated person (optionally with the enrolment the seed gives it).

        Personal data is encrypted (and the lookup hashes made) here, before it reaches the
        database: the staging table never holds it in clear.
        """
        ring = self._ring
        row = (
            line,
            ring.encrypt("id_number", person.id_number),
            ring.lookup("id_number", person.id_number),
            ring.encrypt("name", person.name),
            ring.lookup("name", person.name),
            person.gender,
            person.ethnicity,
            person.birth_date,
            person.hukou_region_code,
            person.hukou_region_code[:6],
            None if person.address is None else ring.encrypt("address", person.address),
            None if person.phone is None else ring.encrypt("phone", person.phone),
            person.household_number,
            person.relationship_code,
            person.is_student,
            person.in_employee_scheme,
            person.is_civil_servant,
            enrol_status,
            enrolled_on,
        )
        self.staged += 1
        if self._postgres:
            self._copy.write_row(row)
        else:
            self._pending.append(row)
            if len(self._pending) >= 5000:
                self._flush_sqlite()

    def _flush_sqlite(self) -> None:
        marks = ", ".join("?" * len(_STAGE_COLUMNS))
        self._driver.executemany(
            f"INSERT INTO {STAGE} VALUES ({marks})",
            [
                (*r[:7], r[7].isoformat(), *r[8:18], r[18].isoformat() if r[18] else None)
                for r in self._pending
            ],
        )
        self._pending.clear()

    def finish_staging(self) -> None:
        """End the bulk load; the staging table is complete and may be queried."""
        if self._postgres:
            self._exits.close()
        else:
            self._flush_sqlite()
        # No index on the staging table: every later step reads all of it, and with
        # statistics the planner hashes it (building an index cost more than it saved).
        self.session.execute(text(f"ANALYZE {STAGE}"))

    def reject_whole_file_conflicts(self) -> Iterator[tuple[int, str, str]]:
        """Mark rows that conflict with other rows; yield (line, code, ref) in line order.

        ``duplicate_id``: the ID number appeared on an earlier line (ref = that line).
        ``household_region``: the household number belongs to another village (ref).
        """
        s = self.session
        s.execute(
            text(f"""
            INSERT INTO {SKIP} (line, code, ref)
            SELECT s.line, 'duplicate_id', CAST(d.first_line AS text)
            FROM {STAGE} s
            JOIN (SELECT id_number_hash, min(line) AS first_line FROM {STAGE}
                  GROUP BY id_number_hash HAVING count(*) > 1) d
              ON d.id_number_hash = s.id_number_hash AND s.line > d.first_line
            """)
        )
        # A household lives in one village: the stored household's, or else the village
        # of the household's first line in this file.
        s.execute(
            text(f"""
            INSERT INTO {SKIP} (line, code, ref)
            SELECT s.line, 'household_region', COALESCE(h.region_code, f.hukou_region_code)
            FROM {STAGE} s
            JOIN (SELECT household_number, min(line) AS first_line FROM {STAGE}
                  WHERE household_number IS NOT NULL GROUP BY household_number) hf
              ON hf.household_number = s.household_number
            JOIN {STAGE} f ON f.line = hf.first_line
            LEFT JOIN households h ON h.household_number = s.household_number
            WHERE s.hukou_region_code <> COALESCE(h.region_code, f.hukou_region_code)
              AND NOT EXISTS (SELECT 1 FROM {SKIP} k WHERE k.line = s.line)
            """)
        )
        result = s.execute(
            text(f"SELECT line, code, ref FROM {SKIP} ORDER BY line").execution_options(
                yield_per=2000
            )
        )
        for line, code, ref in result:
            yield int(line), str(code), str(ref)

    def count_present(self) -> tuple[int, int]:
        """Mark rows whose ID number is stored already; return (present, present but different).

        One pass: each is marked ``present`` or ``differing`` as it is found.
        """
        s = self.session
        s.execute(
            text(f"""
            INSERT INTO {SKIP} (line, code, ref)
            SELECT s.line, CASE WHEN {self._differs()} THEN 'differing' ELSE 'present' END,
                   CAST(p.id AS text)
            FROM {STAGE} s JOIN persons p ON p.id_number_hash = s.id_number_hash
            WHERE NOT EXISTS (SELECT 1 FROM {SKIP} k WHERE k.line = s.line)
            """)
        )
        self._mark_differing_encrypted()
        counts = {
            code: count
            for code, count in s.execute(
                text(
                    f"SELECT code, count(*) FROM {SKIP} "
                    "WHERE code IN ('present', 'differing') GROUP BY code"
                )
            )
        }
        differing = int(counts.get("differing", 0))
        return int(counts.get("present", 0)) + differing, differing

    def _mark_differing_encrypted(self) -> None:
        """Among rows marked ``present``, mark ``differing`` those whose address or phone differ.

        Those values are encrypted with random nonces, so they are compared in clear here,
        for stored persons only (a re-import; a file of new residents reads nothing).
        """
        s = self.session
        pairs = ", ".join(f"s.{c}, p.{c}" for c, _ in _ENCRYPTED_COMPARED)
        rows = s.execute(
            text(
                f"SELECT s.line, {pairs} FROM {SKIP} k JOIN {STAGE} s ON s.line = k.line "
                "JOIN persons p ON p.id_number_hash = s.id_number_hash "
                "WHERE k.code = 'present'"
            ).execution_options(yield_per=2000)
        )
        lines = [{"line": row[0]} for row in rows if self._encrypted_differences(row[1:])]
        if lines:
            s.execute(text(f"UPDATE {SKIP} SET code = 'differing' WHERE line = :line"), lines)

    def _encrypted_differences(self, values: Any) -> tuple[str, ...]:
        """Names of the encrypted compared columns whose staged and stored values differ."""
        ring = self._ring
        changed = []
        for i, (column, kind) in enumerate(_ENCRYPTED_COMPARED):
            staged, stored = values[2 * i], values[2 * i + 1]
            if (staged is None) != (stored is None) or (
                staged is not None
                and ring.decrypt(kind, bytes(staged)) != ring.decrypt(kind, bytes(stored))
            ):
                changed.append(column)
        return tuple(changed)

    def first_differing(self, limit: int) -> list[PresentDiffering]:
        """The first stored persons whose data in the file differs, with the differing fields."""
        columns = _COMPARED_COLUMNS
        encrypted = [c for c, _ in _ENCRYPTED_COMPARED]
        rows = self.session.execute(
            text(
                "SELECT s.line, s.id_number, "
                + ", ".join(f"s.{c}, p.{c}" for c in (*columns, *encrypted))
                + f" FROM {SKIP} k JOIN {STAGE} s ON s.line = k.line "
                "JOIN persons p ON p.id_number_hash = s.id_number_hash "
                "WHERE k.code = 'differing' ORDER BY k.line LIMIT :limit"
            ),
            {"limit": limit},
        )
        found = []
        for row in rows:
            values = row[2:]
            changed = tuple(
                c.removesuffix("_hash")
                for i, c in enumerate(columns)
                if values[2 * i] != values[2 * i + 1]
            ) + self._encrypted_differences(values[2 * len(columns) :])
            id_number = self._ring.decrypt("id_number", bytes(row[1]))
            found.append(PresentDiffering(int(row[0]), id_number, changed))
        return found

    def _differs(self) -> str:
        op = "IS DISTINCT FROM" if self._postgres else "IS NOT"
        return " OR ".join(f"s.{c} {op} p.{c}" for c in _COMPARED_COLUMNS)

    def apply(self) -> LoadCounts:
        """Create missing households, then insert the persons not skipped, linked to them."""
        s = self.session
        now = bindparam("now", type_=UtcDateTime())
        not_skipped = f"NOT EXISTS (SELECT 1 FROM {SKIP} k WHERE k.line = s.line)"
        # The first member's address (encrypted: PostgreSQL has no min() of bytea).
        first_address = (
            "(array_agg(s.address ORDER BY s.line) FILTER (WHERE s.address IS NOT NULL))[1]"
            if self._postgres
            else "min(s.address)"
        )
        households = _rowcount(
            s.execute(
                text(f"""
            INSERT INTO households (household_number, region_code, county_code, address,
                                    created_at)
            SELECT s.household_number, min(s.hukou_region_code), min(s.county_code),
                   {first_address}, :now
            FROM {STAGE} s
            WHERE s.household_number IS NOT NULL AND {not_skipped}
            GROUP BY s.household_number
            ON CONFLICT (household_number) DO NOTHING
            """).bindparams(now),
                {"now": self.now},
            )
        )
        # Members of one household share the address; any non-empty one will do.
        imported = _rowcount(
            s.execute(
                text(f"""
            INSERT INTO persons (id_number, id_number_hash, name, name_hash, gender, ethnicity,
                birth_date,
                hukou_region_code, county_code, address, phone, is_student,
                in_employee_scheme, is_civil_servant, household_id, relationship_code,
                version, created_at, updated_at)
            SELECT s.id_number, s.id_number_hash, s.name, s.name_hash, s.gender, s.ethnicity,
                s.birth_date,
                s.hukou_region_code, s.county_code, s.address, s.phone, s.is_student,
                s.in_employee_scheme, s.is_civil_servant, h.id, s.relationship_code,
                1, :now, :now
            FROM {STAGE} s LEFT JOIN households h ON h.household_number = s.household_number
            WHERE {not_skipped}
            ON CONFLICT (id_number_hash) DO NOTHING
            """).bindparams(now),
                {"now": self.now},
            )
        )
        present, skipped = s.execute(
            text(
                f"SELECT count(*) FILTER (WHERE code IN ('present', 'differing')), count(*) "
                f"FROM {SKIP}"
            )
        ).one()
        # A concurrent transaction may have stored some of the same people meanwhile.
        present += self.staged - skipped - imported
        return LoadCounts(
            imported=imported, already_present=int(present), households_created=households
        )

    def enrol(self, *, reason: str) -> int:
        """Enrol the staged persons that carry an enrolment status and have no active one."""
        s = self.session
        now = bindparam("now", type_=UtcDateTime())
        created = _rowcount(
            s.execute(
                text(f"""
            INSERT INTO enrolments (person_id, region_code, county_code, status, enrolled_on,
                                    created_at)
            SELECT p.id, p.hukou_region_code, p.county_code, s.enrol_status, s.enrolled_on, :now
            FROM {STAGE} s JOIN persons p ON p.id_number_hash = s.id_number_hash
            WHERE s.enrol_status IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM enrolments e
                              WHERE e.person_id = p.id AND e.status <> 'terminated')
            """).bindparams(now),
                {"now": self.now},
            )
        )
        if created:
            s.execute(
                text("""
                INSERT INTO enrolment_events (enrolment_id, status, effective_date, reason, at)
                SELECT e.id, e.status, e.enrolled_on, :reason, :now
                FROM enrolments e
                WHERE e.created_at = :now
                  AND NOT EXISTS (SELECT 1 FROM enrolment_events v WHERE v.enrolment_id = e.id)
                """).bindparams(now),
                {"now": self.now, "reason": reason},
            )
        return created

    def __enter__(self) -> PersonLoader:
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        # An error while the COPY is open must end it (CopyFail) before anything else
        # is sent on the connection, or the rollback that follows would wait forever.
        self._exits.__exit__(exc_type, exc, tb)
        if exc is None and not self._postgres:
            for table in (STAGE, SKIP):
                self.session.execute(text(f"DROP TABLE IF EXISTS {table}"))


# Compared in SQL (the name by its lookup hash) …
_COMPARED_COLUMNS = (
    "name_hash",
    "gender",
    "ethnicity",
    "birth_date",
    "hukou_region_code",
    "relationship_code",
    "is_student",
    "in_employee_scheme",
    "is_civil_servant",
)
# … and in clear in Python (encrypted, no lookup hash): column, field kind.
_ENCRYPTED_COMPARED = (("address", "address"), ("phone", "phone"))


def _rowcount(result: Any) -> int:
    """Rows written by an INSERT (the result of ``Session.execute`` is a cursor result)."""
    return int(cast(CursorResult[Any], result).rowcount)


class _RejectWriter:
    """Writes rejected rows (original fields + line + errors) as they are met."""

    def __init__(self, path: Path | None, *, header: list[str], encoding: str) -> None:
        self.path = path
        self._fh: TextIO | None = None
        self._writer: Any = None
        self._header = header
        self._encoding = writer_encoding(encoding)

    def write(self, line: int, fields: list[str], errors: list[RowError]) -> None:
        """Append one rejected row."""
        if self.path is None:
            return
        if self._writer is None:
            self._fh = self.path.open("w", encoding=self._encoding, newline="")
            self._writer = csv.writer(self._fh)
            self._writer.writerow([*self._header, "行号", "错误"])
        reasons = "；".join(f"{e.column}：{e.message}" for e in errors)
        self._writer.writerow([*fields, line, reasons])

    def __enter__(self) -> _RejectWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._fh is not None:
            self._fh.close()


def _late_message(code: str, ref: str) -> tuple[str, str]:
    """Column and message of a whole-file conflict found in SQL."""
    if code == "duplicate_id":
        return "id_number", f"身份证号码与第{ref}行重复"
    return "household_number", f"户号已属于村（社区）{ref}，同户成员须在同一村"


def import_persons(
    *,
    session: Session,
    path: Path,
    actor: Actor,
    scope: Scope | None = None,
    accept_valid: bool = False,
    reject_path: Path | None = None,
    encoding: str | None = None,
    file_name: str | None = None,
    chunk_rows: int = 20_000,
    progress: Callable[[int], None] | None = None,
    today: dt.date | None = None,
) -> ImportReport:
    """Import residents from a CSV file; all or nothing unless ``accept_valid``.

    ``scope``: the operator's region scope (only its villages are accepted); None for the
    whole province (command line). Raises ``ImportRejected`` when rows are bad and
    ``accept_valid`` is false, ``InvalidInput`` when the file itself is unreadable.
    """
    started = time.perf_counter()
    report = ImportReport(file_name=file_name or path.name, accept_valid=accept_valid)
    known_villages = set(villages_in(session=session, prefix=scope.prefix if scope else ""))
    try:
        with path.open("rb") as stream:
            reader = CsvReader(stream, encoding=encoding)
            report.encoding = encoding_label(reader.encoding)
            columns = map_header(reader.header)
            labels = dict(
                zip(columns, (h.strip().lstrip("\ufeff") for h in reader.header), strict=True)
            )
            rejects = _RejectWriter(reject_path, header=reader.header, encoding=reader.encoding)
            with PersonLoader(session) as loader, rejects:
                _stream_rows(
                    reader=reader,
                    columns=columns,
                    labels=labels,
                    known_villages=known_villages,
                    loader=loader,
                    rejects=rejects,
                    report=report,
                    chunk_rows=chunk_rows,
                    progress=progress,
                    today=today,
                )
                report.sha256 = reader.sha256
                loader.finish_staging()
                late = _late_errors(loader, labels, report)
                if rejects.path is None:
                    for _ in late:  # counted into the report as they are read
                        pass
                else:
                    _write_late_rejects(path, reader.encoding, late, rejects)
                if report.rows_rejected and not accept_valid:
                    raise ImportRejected(report)
                report.already_present, report.present_differing = loader.count_present()
                if report.present_differing:
                    report.differing = loader.first_differing(MAX_SHOWN_ERRORS)
                counts = loader.apply()
    except CsvFileError as exc:
        raise InvalidInput(
            detail=str(exc),
            code="import_file_unreadable",
            fields=[FieldError(f"line {exc.line}", exc.message, "unreadable")],
        ) from exc
    report.imported = counts.imported
    report.already_present = counts.already_present
    report.households_created = counts.households_created
    report.reject_file = str(reject_path) if reject_path and report.rows_rejected else None
    report.seconds = round(time.perf_counter() - started, 3)
    record(
        session=session,
        actor=actor,
        action="person.import",
        object_type="import",
        object_id=report.sha256,
        detail=report.counts(),
    )
    return report


def _stream_rows(
    *,
    reader: CsvReader,
    columns: list[str],
    labels: dict[str, str],
    known_villages: set[str],
    loader: PersonLoader,
    rejects: _RejectWriter,
    report: ImportReport,
    chunk_rows: int,
    progress: Callable[[int], None] | None,
    today: dt.date | None,
) -> None:
    width = len(columns)
    today = today or dt.date.today()
    for line, fields in reader.records():
        report.rows_read += 1
        if len(fields) != width:
            errors = [RowError(line, "列数", f"本行有{len(fields)}列，表头为{width}列", "columns")]
        else:
            person, field_errors = validate_person(
                dict(zip(columns, fields, strict=True)),
                known_villages=known_villages,
                today=today,
            )
            if person is not None:
                loader.add(line, person)
                report.rows_valid += 1
                errors = []
            else:
                errors = [
                    RowError(line, labels.get(e.field, e.field), e.message, e.code)
                    for e in field_errors
                ]
        if errors:
            report.rows_rejected += 1
            for error in errors:
                report.add_error(error)
            rejects.write(line, fields, errors)
        if progress and report.rows_read % chunk_rows == 0:
            progress(report.rows_read)
    if progress:
        progress(report.rows_read)


def _late_errors(
    loader: PersonLoader, labels: dict[str, str], report: ImportReport
) -> Iterator[RowError]:
    """Errors of the whole-file checks, counted into the report as they are read."""
    for line, code, ref in loader.reject_whole_file_conflicts():
        column, message = _late_message(code, ref)
        error = RowError(line, labels.get(column, column), message, code)
        report.rows_valid -= 1
        report.rows_rejected += 1
        report.add_error(error)
        yield error


def _write_late_rejects(
    path: Path, encoding: str, late: Iterator[RowError], rejects: _RejectWriter
) -> None:
    """Second pass over the file for rows rejected by whole-file checks (both in line order)."""
    pending = next(late, None)
    if pending is None:
        return
    with path.open("rb") as stream:
        for line, fields in CsvReader(stream, encoding=encoding).records():
            if line < pending.line:
                continue
            rejects.write(line, fields, [pending])
            pending = next(late, None)
            if pending is None:
                return
