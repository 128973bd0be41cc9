"""Bulk import of residents from CSV: service, command line and upload API, on both databases."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from backend.audit.models import AuditRecord
from backend.audit.service import Actor
from backend.db import unit_of_work
from backend.errors import InvalidInput
from backend.orgs import service as orgs
from backend.registry.importer import ImportRejected, import_persons
from backend.registry.models import Household, Person
from national_codes.id_number import make_id_number
from tests.conftest import World

XZG_VILLAGE = "654226200200"  # 夏孜盖村
HBK_VILLAGE = "654226100200"  # 那仁和布克村
HEADER_ZH = [
    "身份证号码",
    "姓名",
    "性别",
    "民族",
    "出生日期",
    "户籍地区划代码",
    "地址",
    "联系电话",
    "户号",
    "与户主关系",
    "在校学生",
    "参加职工养老保险",
    "机关事业单位人员",
]
HEADER_EN = [
    "id_number",
    "name",
    "gender",
    "ethnicity",
    "birth_date",
    "hukou_region_code",
    "address",
    "phone",
    "household_number",
    "relationship_code",
    "is_student",
    "in_employee_scheme",
    "is_civil_servant",
]


def resident(
    seq: int,
    name: str = "巴特尔",
    *,
    village: str = XZG_VILLAGE,
    household: str = "",
    relation: str = "",
    ethnicity: str = "02",
    birth: dt.date = dt.date(1970, 5, 1),
) -> list[str]:
    """One CSV row of a valid resident; ``seq`` makes the ID number (odd: male)."""
    id_number = make_id_number("654226", birth, seq)
    gender = "1" if seq % 2 else "2"
    return [
        id_number,
        name,
        gender,
        ethnicity,
        birth.isoformat(),
        village,
        "夏孜盖村,3组",
        "13899990000",
        household,
        relation,
        "0",
        "否",
        "",
    ]


GOOD_ROWS = [
    resident(11, "巴特尔", household="H6542262002000001", relation="02"),
    resident(12, "其其格", household="H6542262002000001", relation="12"),
    resident(21, "叶尔兰·努尔兰", ethnicity="17", household="H6542262002000002", relation="02"),
    resident(22, "阿依古丽·买买提", ethnicity="05"),
    resident(31, "𠮷祥", ethnicity="01"),
]


def write_csv(
    path: Path, rows: list[list[str]], *, header: list[str] = HEADER_ZH, encoding: str = "utf-8"
) -> Path:
    """Write a CSV file as a township would."""
    with path.open("w", encoding=encoding, newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture
def regions(session_factory: sessionmaker[Session]) -> None:
    """The region tree of the demo county."""
    with unit_of_work(session_factory) as s:
        orgs.load_regions(session=s, path=orgs.DATA_DIR / "regions_654226.csv")


def run_import(factory: sessionmaker[Session], path: Path, **kwargs):
    """Import in one transaction, as the command line does."""
    with unit_of_work(factory) as s:
        return import_persons(session=s, path=path, actor=Actor.system(), **kwargs)


def person_count(factory: sessionmaker[Session]) -> int:
    with factory() as s:
        return s.scalar(select(func.count()).select_from(Person)) or 0


@pytest.mark.parametrize(
    ("encoding", "header"),
    [("utf-8", HEADER_ZH), ("utf-8-sig", HEADER_EN), ("gb18030", HEADER_ZH)],
)
def test_good_file_imports_persons_and_households(
    regions, session_factory, tmp_path, encoding, header
):
    path = write_csv(tmp_path / "good.csv", GOOD_ROWS, header=header, encoding=encoding)
    report = run_import(session_factory, path)
    assert (report.rows_read, report.imported, report.households_created) == (5, 5, 2)
    assert report.encoding == ("GB18030" if encoding == "gb18030" else "UTF-8")
    with session_factory() as s:
        persons = {p.name: p for p in s.scalars(select(Person))}
        assert set(persons) == {r[1] for r in GOOD_ROWS}
        batu, qiqige = persons["巴特尔"], persons["其其格"]
        assert batu.household_id == qiqige.household_id is not None
        assert batu.county_code == "654226" and batu.gender == "1" and qiqige.gender == "2"
        assert persons["𠮷祥"].household_id is None
        assert persons["叶尔兰·努尔兰"].ethnicity == "17"
        household = s.get(Household, batu.household_id)
        assert household is not None and household.region_code == XZG_VILLAGE
        audit = s.scalars(select(AuditRecord).where(AuditRecord.action == "person.import")).one()
        detail = json.loads(audit.detail)
        assert audit.object_id == report.sha256
        assert detail["imported"] == 5 and detail["file_name"] == "good.csv"


def test_bad_rows_are_reported_with_line_column_and_reason_and_nothing_is_imported(
    regions, session_factory, tmp_path
):
    bad_id = resident(41)
    bad_id[0] = bad_id[0][:-1] + ("0" if bad_id[0][-1] != "0" else "1")
    bad_ethnicity = resident(43, ethnicity="77")
    rows = [*GOOD_ROWS, bad_id, bad_ethnicity, ["too", "few"]]
    path = write_csv(tmp_path / "bad.csv", rows)
    with pytest.raises(ImportRejected) as err:
        run_import(session_factory, path)
    report = err.value.report
    assert report.rows_rejected == 3
    found = {(e.line, e.column) for e in report.errors}
    assert found == {(7, "身份证号码"), (8, "民族"), (9, "列数")}
    assert "校验位" in next(e.message for e in report.errors if e.line == 7)
    assert err.value.fields[0].field == "line 7: 身份证号码"
    assert person_count(session_factory) == 0
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Household)) == 0


def test_accept_valid_imports_good_rows_and_writes_the_reject_file(
    regions, session_factory, tmp_path
):
    bad = resident(51, name="巴特尔2")
    rows = [*GOOD_ROWS, bad]
    path = write_csv(tmp_path / "mixed.csv", rows, encoding="gb18030")
    rejects = tmp_path / "rejects.csv"
    report = run_import(session_factory, path, accept_valid=True, reject_path=rejects)
    assert (report.imported, report.rows_rejected) == (5, 1)
    assert report.reject_file == str(rejects)
    with rejects.open(encoding="gb18030", newline="") as fh:
        written = list(csv.reader(fh))
    assert written[0] == [*HEADER_ZH, "行号", "错误"]
    assert written[1][:13] == bad
    assert written[1][13] == "7" and written[1][14].startswith("姓名：")
    assert person_count(session_factory) == 5


def test_reimporting_the_same_file_creates_no_duplicates_and_reports_changed_data(
    regions, session_factory, tmp_path
):
    path = write_csv(tmp_path / "good.csv", GOOD_ROWS)
    run_import(session_factory, path)
    changed = [list(r) for r in GOOD_ROWS]
    changed[0][1] = "巴特尔巴雅尔"
    again = run_import(session_factory, write_csv(tmp_path / "again.csv", changed))
    assert (again.imported, again.already_present, again.households_created) == (0, 5, 0)
    assert again.present_differing == 1
    assert [(d.line, d.fields) for d in again.differing] == [(2, ("name",))]
    assert person_count(session_factory) == 5
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Household)) == 2


def test_duplicate_id_number_within_a_file_names_the_first_line(regions, session_factory, tmp_path):
    rows = [*GOOD_ROWS, GOOD_ROWS[1]]
    path = write_csv(tmp_path / "dup.csv", rows)
    with pytest.raises(ImportRejected) as err:
        run_import(session_factory, path)
    (error,) = err.value.report.errors
    assert (error.line, error.column) == (7, "身份证号码")
    assert "第3行" in error.message
    report = run_import(session_factory, path, accept_valid=True)
    assert (report.imported, report.rows_rejected) == (5, 1)


def test_household_number_in_two_villages_is_rejected(regions, session_factory, tmp_path):
    stray = resident(61, household="H6542262002000001", relation="20", village=HBK_VILLAGE)
    path = write_csv(tmp_path / "hh.csv", [*GOOD_ROWS, stray])
    with pytest.raises(ImportRejected) as err:
        run_import(session_factory, path)
    (error,) = err.value.report.errors
    assert (error.line, error.column) == (7, "户号")
    assert XZG_VILLAGE in error.message


def test_wrong_encoding_file_names_the_line_and_imports_nothing(regions, session_factory, tmp_path):
    path = write_csv(tmp_path / "good.csv", GOOD_ROWS)
    data = path.read_bytes().splitlines(keepends=True)
    data.insert(3, "巴特尔".encode("gb18030") + b",x\r\n")
    path.write_bytes(b"".join(data))
    with pytest.raises(InvalidInput) as err:
        run_import(session_factory, path)
    assert err.value.code == "import_file_unreadable"
    assert err.value.fields[0].field == "line 4"
    assert person_count(session_factory) == 0


def test_command_line_import_prints_errors_and_exits_2(
    regions, session_factory, tmp_path, database_url, monkeypatch
):
    from backend.config import get_settings
    from xnb.cli import app

    monkeypatch.setenv("XNB_DATABASE_URL", database_url)
    get_settings.cache_clear()
    bad = resident(71, name="巴特尔2")
    path = write_csv(tmp_path / "cli.csv", [*GOOD_ROWS, bad])
    runner = CliRunner()
    try:
        result = runner.invoke(app, ["persons", "import", str(path)])
        assert result.exit_code == 2, result.output
        assert "第7行 姓名" in result.output
        result = runner.invoke(app, ["persons", "import", str(path), "--accept-valid"])
        assert result.exit_code == 0, result.output
        assert "新导入 5 人" in result.output
        assert (tmp_path / "cli.csv.rejected.csv").exists()
    finally:
        get_settings.cache_clear()
    assert person_count(session_factory) == 5


def _upload(client: TestClient, world: World, body: bytes, *, user: str = "clerk_xzg", **params):
    return client.post(
        "/api/v1/persons/import",
        content=body,
        params=params,
        headers={**world.headers(user), "Content-Type": "text/csv"},
    )


def test_api_import_happy_path_and_idempotent_repeat(
    world: World, client: TestClient, session_factory, tmp_path
):
    body = write_csv(tmp_path / "api.csv", GOOD_ROWS, encoding="gb18030").read_bytes()
    headers = {**world.headers("clerk_xzg"), "Content-Type": "text/csv; charset=gb18030"}
    r = client.post("/api/v1/persons/import", content=body, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["imported"] == 5 and r.json()["encoding"] == "GB18030"
    again = client.post("/api/v1/persons/import", content=body, headers=headers)
    assert again.status_code == 200
    assert again.json() == r.json()
    assert person_count(session_factory) == 5


def test_api_rejects_villages_outside_the_operators_scope(
    world: World, client: TestClient, session_factory, tmp_path
):
    rows = [*GOOD_ROWS, resident(81, village=HBK_VILLAGE)]
    body = write_csv(tmp_path / "scope.csv", rows).read_bytes()
    r = _upload(client, world, body)
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["code"] == "import_rejected"
    assert [e["field"] for e in problem["errors"]] == ["line 7: 户籍地区划代码"]
    assert person_count(session_factory) == 0
    r = _upload(client, world, body, accept_valid="true")
    assert r.status_code == 200
    assert r.json()["imported"] == 5 and r.json()["rows_rejected"] == 1


def test_api_import_needs_permission_and_idempotency_key(
    world: World, client: TestClient, tmp_path
):
    body = write_csv(tmp_path / "p.csv", GOOD_ROWS).read_bytes()
    assert _upload(client, world, body, user="reviewer_xzg").status_code == 403
    headers = {**world.headers("clerk_xzg"), "Content-Type": "text/csv"}
    del headers["Idempotency-Key"]
    r = client.post("/api/v1/persons/import", content=body, headers=headers)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "Idempotency-Key"


def test_api_import_body_over_the_limit_is_refused_while_streaming(
    world: World, client: TestClient, session_factory
):
    client.app.state.settings.import_max_mib = 1  # type: ignore[attr-defined]

    def body():  # no Content-Length: the cap holds while the body streams in
        yield "身份证号码,姓名,民族,户籍地区划代码\n".encode()
        for _ in range(40):
            yield b"x" * 32 * 1024 + b"\n"

    headers = {**world.headers("clerk_xzg"), "Content-Type": "text/csv"}
    r = client.post("/api/v1/persons/import", content=body(), headers=headers)
    assert r.status_code == 413, r.text
    assert r.json()["code"] == "import_too_large"
    assert r.json()["errors"][0]["field"] == "body"
    assert person_count(session_factory) == 0
