"""Households (户) and their members' relationship to the head (GB/T 4761)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from backend.audit.models import AuditRecord
from backend.registry.models import Household
from tests.backend.registry_support import HBK_VILLAGE, HBK_VILLAGE_2, create_person
from tests.conftest import World


def _create(world: World, number: str = "HBK-1", region: str = HBK_VILLAGE, key=None):
    return world.client.post(
        "/api/v1/households",
        json={"household_number": number, "region_code": region, "address": "那仁和布克村1组"},
        headers=world.headers("clerk_hbk", key=key),
    )


def _add(world: World, household_id: int, person_id: int, relation: str, key=None):
    return world.client.post(
        f"/api/v1/households/{household_id}/members",
        json={"person_id": person_id, "relationship_code": relation},
        headers=world.headers("clerk_hbk", key=key),
    )


def test_a_household_lists_its_members_with_their_relationship(
    world: World, session_factory: sessionmaker[Session]
):
    household = _create(world).json()
    head = create_person(world, name="巴特尔")
    wife = create_person(world, name="其其格")
    assert _add(world, household["id"], head["id"], "02").status_code == 200
    r = _add(world, household["id"], wife["id"], "12")
    assert r.status_code == 200
    assert [(m["name"], m["relationship_code"]) for m in r.json()["members"]] == [
        ("巴特尔", "02"),
        ("其其格", "12"),
    ]
    got = world.client.get(
        f"/api/v1/households/{household['id']}", headers=world.headers("clerk_hbk")
    ).json()
    assert len(got["members"]) == 2
    person = world.client.get(
        f"/api/v1/persons/{wife['id']}", headers=world.headers("clerk_hbk")
    ).json()
    assert person["household"]["household_number"] == "HBK-1"
    assert {c["field"] for c in person["changes"]} == {"household", "relationship_code"}
    with session_factory() as s:
        actions = set(s.scalars(select(AuditRecord.action)))
    assert {"household.create", "household.member.add"} <= actions


def test_a_household_has_at_most_one_head(world: World):
    household = _create(world).json()
    assert _add(world, household["id"], create_person(world)["id"], "02").status_code == 200
    r = _add(world, household["id"], create_person(world)["id"], "02")
    assert r.status_code == 409
    assert r.json()["code"] == "head_exists"


def test_an_unknown_relationship_code_is_a_field_error(world: World):
    household = _create(world).json()
    r = _add(world, household["id"], create_person(world)["id"], "33")
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "relationship_code"


def test_a_member_must_be_registered_in_the_households_village(world: World):
    household = _create(world).json()
    elsewhere = create_person(world, hukou_region_code=HBK_VILLAGE_2)
    r = _add(world, household["id"], elsewhere["id"], "20")
    assert r.status_code == 422
    assert r.json()["errors"][0]["code"] == "household_mismatch"


def test_a_person_belongs_to_one_household_at_a_time(world: World):
    first = _create(world, "HBK-1").json()
    second = _create(world, "HBK-2").json()
    person = create_person(world)
    assert _add(world, first["id"], person["id"], "20").status_code == 200
    r = _add(world, second["id"], person["id"], "20")
    assert r.status_code == 409
    assert r.json()["code"] == "already_in_household"


def test_removing_a_member_keeps_the_person_and_records_the_change(world: World):
    household = _create(world).json()
    person = create_person(world)
    _add(world, household["id"], person["id"], "20")
    r = world.client.delete(
        f"/api/v1/households/{household['id']}/members/{person['id']}",
        headers=world.headers("clerk_hbk"),
    )
    assert r.status_code == 200
    assert r.json()["members"] == []
    after = world.client.get(
        f"/api/v1/persons/{person['id']}", headers=world.headers("clerk_hbk")
    ).json()
    assert after["household"] is None and after["relationship_code"] is None
    removal = [c for c in after["changes"] if c["field"] == "household"][-1]
    assert (removal["old_value"], removal["new_value"]) == ("HBK-1", None)


def test_removing_someone_who_is_not_a_member_is_404(world: World):
    household = _create(world).json()
    person = create_person(world)
    r = world.client.delete(
        f"/api/v1/households/{household['id']}/members/{person['id']}",
        headers=world.headers("clerk_hbk"),
    )
    assert r.status_code == 404
    assert r.json()["code"] == "member_not_found"


def test_a_household_number_is_unique(world: World):
    assert _create(world, "HBK-1").status_code == 201
    r = _create(world, "HBK-1", region=HBK_VILLAGE_2)
    assert r.status_code == 409
    assert r.json()["errors"][0]["field"] == "household_number"


def test_a_household_must_be_in_a_known_village(world: World):
    r = _create(world, region="654226100000")
    assert r.status_code == 422
    assert r.json()["errors"][0] == {
        "field": "region_code",
        "code": "unknown_region",
        "message": "区划代码654226100000不是已知的村（社区）",
    }


def test_households_are_listed_by_village_and_paged(world: World):
    _create(world, "HBK-1")
    _create(world, "HBK-2", region=HBK_VILLAGE_2)
    _create(world, "HBK-3", region=HBK_VILLAGE_2)

    def numbers(**params: object) -> tuple[int, list[str]]:
        r = world.client.get(
            "/api/v1/households", params=params, headers=world.headers("clerk_hbk")
        )
        return r.json()["total"], [h["household_number"] for h in r.json()["items"]]

    assert numbers(region=HBK_VILLAGE_2) == (2, ["HBK-2", "HBK-3"])
    assert numbers(limit=1, offset=1) == (3, ["HBK-2"])


def test_retrying_household_requests_with_the_same_key_changes_nothing(
    world: World, session_factory: sessionmaker[Session]
):
    first = _create(world, key="hh-1")
    again = _create(world, key="hh-1")
    assert first.status_code == again.status_code == 201 and again.json() == first.json()
    person = create_person(world)
    one = _add(world, first.json()["id"], person["id"], "20", key="add-1")
    two = _add(world, first.json()["id"], person["id"], "20", key="add-1")
    assert one.status_code == two.status_code == 200 and one.json() == two.json()
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Household)) == 1
