"""Death lists staged in bulk and matched in one join: field-level checks, all or nothing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select

from backend.audit.service import Actor
from backend.benefits import death
from backend.benefits.models import DeathCase, Pension
from backend.db import unit_of_work
from backend.errors import InvalidInput
from backend.registry import matching
from backend.registry.models import Person
from tests.backend.benefits_support import three_pensioners
from tests.backend.money_world import id_number
from tests.conftest import World


@pytest.fixture
def pensioners(world: World, session_factory) -> list[int]:
    return three_pensioners(world, session_factory)


def _numbers(session_factory, person_ids: list[int]) -> list[str]:
    with unit_of_work(session_factory) as s:
        return [s.get_one(Person, pid).id_number for pid in person_ids]


def _import(session_factory, path: Path, accept_valid: bool = False) -> matching.ListResult:
    with unit_of_work(session_factory) as s:
        return death.import_death_list(
            session=s,
            path=path,
            source="civil_affairs",
            actor=Actor.system("t"),
            accept_valid=accept_valid,
        )


def _statuses(session_factory) -> list[str]:
    with unit_of_work(session_factory) as s:
        return list(s.scalars(select(Pension.status).order_by(Pension.id)))


def test_a_long_list_is_matched_in_one_pass(world: World, pensioners, session_factory, tmp_path):
    dead, _, also_dead = _numbers(session_factory, pensioners)
    strangers = [
        id_number("650102", dt.date(1940, 1, 1) + dt.timedelta(days=n // 900), n % 900)
        for n in range(2500)
    ]
    rows = [f"{n},某人,2026-06-01" for n in strangers]
    rows[1200:1200] = [f"{dead},乌云,2026-06-10"]
    rows.append(f"{also_dead},阿拉坦,20260612")
    path = tmp_path / "deaths.csv"
    # The civil-affairs office writes GB18030; the reader finds out by itself.
    path.write_bytes(("身份证号,姓名,死亡日期,备注\n" + "\n".join(rows) + "\n").encode("gb18030"))
    result = _import(session_factory, path)
    assert (result.rows, result.matched, result.opened) == (2502, 2, 2)
    assert _statuses(session_factory) == ["suspended", "receiving", "suspended"]
    assert _import(session_factory, path).already_imported


def test_bad_rows_reject_the_whole_list_with_line_and_column(
    world: World, pensioners, session_factory, tmp_path
):
    dead, alive, _ = _numbers(session_factory, pensioners)
    path = tmp_path / "deaths.csv"
    path.write_text(
        "身份证号,姓名,死亡日期\n"
        f"{dead},乌云,2026-06-10\n"
        f"{alive},,2026-02-30\n"
        f"{dead},乌云,2026-06-11\n"
        f"{dead[:17]}Y,某人,2999-01-01\n",
        encoding="utf-8",
    )
    with pytest.raises(InvalidInput) as caught:
        _import(session_factory, path)
    assert caught.value.code == "list_rejected"
    assert {(e.field, e.code) for e in caught.value.fields} == {
        ("line 3: 姓名", "bad_name"),
        ("line 3: 死亡日期", "bad_date"),
        ("line 4: 身份证号", "duplicate_id_number"),
        ("line 5: 身份证号", "bad_id_number"),
        ("line 5: 死亡日期", "bad_date"),
    }
    assert _statuses(session_factory) == ["receiving"] * 3
    with unit_of_work(session_factory) as s:
        assert s.scalar(select(DeathCase.id)) is None

    result = _import(session_factory, path, accept_valid=True)
    assert (result.rows, result.rejected_rows, result.matched, result.opened) == (4, 3, 1, 1)
    assert _statuses(session_factory) == ["suspended", "receiving", "receiving"]


def test_a_list_without_its_columns_is_refused(world: World, pensioners, session_factory, tmp_path):
    path = tmp_path / "deaths.csv"
    path.write_text("身份证号,姓名\n654226196605100011,乌云\n", encoding="utf-8")
    with pytest.raises(InvalidInput) as caught:
        _import(session_factory, path)
    [error] = caught.value.fields
    assert error.field == "line 1: 文件" and "死亡日期" in error.message


def test_the_same_list_twice_changes_nothing_even_without_matches(
    world: World, pensioners, session_factory, tmp_path
):
    path = tmp_path / "deaths.csv"
    stranger = id_number("650102", dt.date(1940, 1, 1), 5)
    path.write_text(f"身份证号,姓名,死亡日期\n{stranger},某人,2026-06-01\n", encoding="utf-8")
    assert _import(session_factory, path).matched == 0
    assert _import(session_factory, path).already_imported
