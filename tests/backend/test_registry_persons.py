"""Registering, reading and searching residents; bad input is a clear field error."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from backend.audit.models import AuditRecord
from backend.registry.models import Household, Person
from backend.registry.views import router
from national_codes.id_number import make_id_number
from tests.backend.registry_support import (
    HBK_VILLAGE,
    HBK_VILLAGE_2,
    create_person,
    person_body,
)
from tests.conftest import World


def test_every_registry_route_is_documented_in_chinese():
    for route in router.routes:
        assert any("\u4e00" <= ch <= "\u9fff" for ch in route.summary or ""), route.path
        assert route.description, route.path


def _persons(session_factory: sessionmaker[Session]) -> int:
    with session_factory() as s:
        return s.scalar(select(func.count()).select_from(Person)) or 0


def _post(world: World, body: object, username: str = "clerk_hbk", key: str | None = None):
    return world.client.post("/api/v1/persons", json=body, headers=world.headers(username, key=key))


def test_a_registered_person_has_gender_and_birth_date_from_the_id_number(world: World):
    id_number = make_id_number("654226", dt.date(1985, 7, 9), 222)
    person = create_person(world, id_number=id_number)
    assert person["gender"] == "2"
    assert person["birth_date"] == "1985-07-09"
    assert person["county_code"] == "654226"
    detail = world.client.get(
        f"/api/v1/persons/{person['id']}", headers=world.headers("clerk_hbk")
    ).json()
    assert detail["household"] is None
    assert detail["enrolments"] == [] and detail["changes"] == []


def test_rare_characters_outside_the_bmp_survive_the_round_trip(world: World):
    person = create_person(world, name="𠀀𪚥·䶮")
    r = world.client.get(f"/api/v1/persons/{person['id']}", headers=world.headers("clerk_hbk"))
    assert r.json()["name"] == "𠀀𪚥·䶮"
    found = world.client.post(
        "/api/v1/persons/search",
        json={"name": "𠀀", "name_match": "prefix"},
        headers=world.headers("clerk_hbk"),
    ).json()
    assert [p["id"] for p in found["items"]] == [person["id"]]


@pytest.mark.parametrize(
    ("override", "field", "code"),
    [
        ({"id_number": "654226197005011019"}, "id_number", "invalid_id_number"),
        ({"id_number": "654226197002301012"}, "id_number", "invalid_id_number"),
        ({"id_number": "12345"}, "id_number", "invalid_id_number"),
        ({"gender": "2"}, "gender", "gender_mismatch"),
        ({"birth_date": "1970-02-30"}, "birth_date", "invalid_date"),
        ({"birth_date": "1971-05-01"}, "birth_date", "birth_date_mismatch"),
        ({"hukou_region_code": "654226100299"}, "hukou_region_code", "unknown_region"),
        ({"hukou_region_code": "654226100000"}, "hukou_region_code", "unknown_region"),
        ({"hukou_region_code": "65422610020X"}, "hukou_region_code", "invalid_region_code"),
        ({"ethnicity": "99"}, "ethnicity", "invalid_ethnicity"),
        ({"name": "张" * 51}, "name", "invalid_name"),
        ({"name": "张" * 101}, "name", "string_too_long"),
        ({"address": "村" * 201}, "address", "too_long"),
        ({"phone": "call me"}, "phone", "invalid_phone"),
        ({"relationship_code": "02"}, "household_number", "required"),
        ({"household_number": "HBK-1"}, "relationship_code", "required"),
        ({"is_student": "perhaps"}, "is_student", "bool_parsing"),
        ({"favourite_colour": "red"}, "favourite_colour", "extra_forbidden"),
    ],
)
def test_bad_input_is_422_naming_the_field_and_nothing_is_written(
    world: World, session_factory: sessionmaker[Session], override, field, code
):
    r = _post(world, person_body(**override))
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert (field, code) in {(e["field"], e["code"]) for e in r.json()["errors"]}
    assert _persons(session_factory) == 0


def test_malformed_json_is_a_problem_response(world: World):
    headers = world.headers("clerk_hbk") | {"Content-Type": "application/json"}
    r = world.client.post("/api/v1/persons", content=b'{"id_number": ', headers=headers)
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["errors"][0]["code"] == "malformed_json"


def test_a_registered_id_number_is_409_naming_where_it_is_registered(world: World):
    body = person_body()
    assert _post(world, body).status_code == 201
    r = _post(world, body | {"hukou_region_code": HBK_VILLAGE_2}, username="clerk_county")
    assert r.status_code == 409
    assert r.json()["code"] == "person_exists"
    assert "那仁和布克村（654226100200）" in r.json()["detail"]


def test_retrying_a_registration_with_the_same_key_returns_the_first_answer(
    world: World, session_factory: sessionmaker[Session]
):
    body = person_body()
    first = _post(world, body, key="register-1")
    again = _post(world, body, key="register-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert _persons(session_factory) == 1
    other = _post(world, person_body(), key="register-1")
    assert other.status_code == 409
    assert other.json()["code"] == "idempotency_key_reused"


def test_registration_is_audited_without_personal_data(
    world: World, session_factory: sessionmaker[Session]
):
    person = create_person(world)
    with session_factory() as s:
        rec = s.scalars(select(AuditRecord).where(AuditRecord.action == "person.create")).one()
    assert rec.object_id == str(person["id"])
    assert person["id_number"] not in rec.detail and "巴特尔" not in rec.detail


def test_reviewers_and_auditors_may_not_register(world: World):
    assert _post(world, person_body(), username="reviewer_hbk").status_code == 403
    assert _post(world, person_body(), username="auditor").status_code == 403


def test_a_household_number_creates_the_household_and_makes_the_person_a_member(
    world: World, session_factory: sessionmaker[Session]
):
    head = create_person(world, household_number="HBK-100", relationship_code="02")
    child = create_person(world, household_number="HBK-100", relationship_code="20")
    assert head["household_id"] == child["household_id"] is not None
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Household)) == 1
    r = _post(
        world,
        person_body(
            household_number="HBK-100", relationship_code="20", hukou_region_code=HBK_VILLAGE_2
        ),
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "household_number"


# ---- search ------------------------------------------------------------------------------


@pytest.fixture
def residents(world: World) -> dict[str, dict]:
    return {
        "batu": create_person(world, name="巴图"),
        "bater": create_person(world, name="巴特尔"),
        "wang": create_person(world, name="王巴特", hukou_region_code=HBK_VILLAGE_2),
        "ayi": create_person(world, name="阿依古丽·买买提", hukou_region_code=HBK_VILLAGE_2),
    }


def _search(world: World, **body: object) -> dict:
    r = world.client.post("/api/v1/persons/search", json=body, headers=world.headers("clerk_hbk"))
    assert r.status_code == 200, r.text
    return r.json()


def _list(world: World, **params: object) -> dict:
    r = world.client.get("/api/v1/persons", params=params, headers=world.headers("clerk_hbk"))
    assert r.status_code == 200, r.text
    return r.json()


def _ids(page: dict) -> list[int]:
    return [p["id"] for p in page["items"]]


def test_search_by_name_prefix_or_contains(world: World, residents: dict[str, dict]):
    assert _ids(_search(world, name="巴", name_match="prefix")) == [
        residents["batu"]["id"],
        residents["bater"]["id"],
    ]
    assert _ids(_search(world, name="巴特尔")) == [residents["bater"]["id"]]
    assert _search(world, name="巴特")["total"] == 0  # exact by default
    assert _ids(_search(world, name="巴特", name_match="contains")) == [
        residents["bater"]["id"],
        residents["wang"]["id"],
    ]


def test_search_treats_wildcards_in_names_literally(world: World, residents: dict[str, dict]):
    assert _search(world, name="%", name_match="contains")["total"] == 0
    assert _search(world, name="_", name_match="prefix")["total"] == 0


def test_search_by_id_number_and_by_village(world: World, residents: dict[str, dict]):
    ayi = residents["ayi"]
    found = _search(world, id_number=ayi["id_number"])
    assert _ids(found) == [ayi["id"]]
    assert (
        found["items"][0]["id_number_masked"]
        == ayi["id_number"][:6] + "********" + (ayi["id_number"][-4:])
    )
    assert "id_number" not in found["items"][0]
    assert _ids(_list(world, region=HBK_VILLAGE_2)) == [residents["wang"]["id"], ayi["id"]]
    assert _list(world, region="654226100")["total"] == 4


def test_the_list_refuses_search_keys_in_the_query_string(world: World):
    for key in ("id_number", "name"):
        r = world.client.get(
            "/api/v1/persons", params={key: "x"}, headers=world.headers("clerk_hbk")
        )
        assert r.status_code == 422 and r.json()["errors"][0]["code"] == "use_search"


def test_search_by_name_narrowed_by_region_and_birth_year(world: World, residents: dict[str, dict]):
    wang = residents["wang"]
    year = int(wang["birth_date"][:4])
    assert _ids(_search(world, name="王巴特", region=HBK_VILLAGE_2, birth_year=year)) == [
        wang["id"]
    ]
    assert _search(world, name="王巴特", birth_year=year + 1)["total"] == 0
    assert _search(world, name="王巴特", region=HBK_VILLAGE)["total"] == 0


def test_partial_name_search_over_a_too_broad_set_asks_to_narrow(
    world: World, residents: dict[str, dict], monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr("backend.registry.service.persons.NAME_SCAN_LIMIT", 3)
    r = world.client.post(
        "/api/v1/persons/search",
        json={"name": "巴", "name_match": "contains"},
        headers=world.headers("clerk_hbk"),
    )
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0] == {
        "field": "name",
        "message": r.json()["errors"][0]["message"],
        "code": "search_too_broad",
    }
    narrowed = _search(world, name="巴", name_match="contains", region=HBK_VILLAGE_2)
    assert _ids(narrowed) == [residents["wang"]["id"]]


def test_search_by_household_number(world: World):
    head = create_person(world, household_number="HBK-7", relationship_code="01")
    create_person(world, name="旁人")
    found = _search(world, household_number="HBK-7")
    assert _ids(found) == [head["id"]]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"id_number": "654226197001010595", "name": "巴图"},
        {"name": "巴图", "limit": 0},
        {"name": "巴图", "region": "65x"},
    ],
)
def test_a_search_needs_exactly_one_key_and_sane_paging(world: World, body: dict):
    r = world.client.post("/api/v1/persons/search", json=body, headers=world.headers("clerk_hbk"))
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] in ("id_number", "limit", "region")


def test_search_pages(world: World, residents: dict[str, dict]):
    page = _list(world, offset=1, limit=2)
    assert page["total"] == 4 and page["offset"] == 1 and page["limit"] == 2
    assert _ids(page) == [residents["bater"]["id"], residents["wang"]["id"]]


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 501}, {"offset": -1}, {"region": "65x"}, {"status": "dead"}],
)
def test_bad_search_parameters_are_field_errors(world: World, params: dict):
    r = world.client.get("/api/v1/persons", params=params, headers=world.headers("clerk_hbk"))
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == next(iter(params))


def test_an_unknown_person_is_404(world: World):
    r = world.client.get("/api/v1/persons/999999", headers=world.headers("clerk_hbk"))
    assert r.status_code == 404
    assert r.json()["code"] == "person_not_found"
