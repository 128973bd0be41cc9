"""Helpers shared by the registry tests: villages of the test world and valid residents."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from national_codes.id_number import make_id_number
from tests.conftest import World

HBK_VILLAGE = "654226100200"  # 那仁和布克村, 和布克赛尔镇
HBK_VILLAGE_2 = "654226100201"  # 查干哈达村, 和布克赛尔镇
XZG_VILLAGE = "654226200200"  # 夏孜盖村, 夏孜盖乡
EMIN_VILLAGE = "654221100200"  # 额敏镇第一村, another county

_counter = itertools.count()


def new_id_number(birth: dt.date | None = None, *, male: bool = True) -> str:
    """A valid ID number not used before in this run (born in 1970 unless ``birth`` is given)."""
    n = next(_counter)
    birth = birth or dt.date(1970, 1, 1) + dt.timedelta(days=n // 499)
    return make_id_number("654226", birth, (n % 499) * 2 + (1 if male else 2))


def person_body(**overrides: Any) -> dict[str, Any]:
    """A valid new-person request body in 和布克赛尔镇."""
    body: dict[str, Any] = {
        "id_number": new_id_number(),
        "name": "巴特尔",
        "ethnicity": "02",
        "hukou_region_code": HBK_VILLAGE,
        "address": "那仁和布克村3组",
        "phone": "13899990000",
    }
    body.update(overrides)
    return body


def create_person(world: World, username: str = "clerk_hbk", **overrides: Any) -> dict[str, Any]:
    """Register a person through the API; fails the test unless it is created."""
    r = world.client.post(
        "/api/v1/persons", json=person_body(**overrides), headers=world.headers(username)
    )
    assert r.status_code == 201, r.text
    return r.json()


def enrol(
    world: World, person_id: int, username: str = "clerk_hbk", **extra: Any
) -> dict[str, Any]:
    """Enrol a person through the API; fails the test unless it succeeds."""
    r = world.client.post(
        "/api/v1/enrolments",
        json={"person_id": person_id, **extra},
        headers=world.headers(username),
    )
    assert r.status_code == 201, r.text
    return r.json()
