"""Region scope on every registry route: out of scope looks exactly like not found.

The resident lives in 和布克赛尔镇. The 夏孜盖乡 township staff and the 额敏县 staff
get 404 on every object route (and the refusal is audited); the county staff of
和布克赛尔县 reach it. Creating into another township's village is refused as a
field error. A guard test fails when a registry route is missing from the table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.audit.models import AuditRecord
from backend.audit.service import Actor
from backend.db import unit_of_work
from backend.orgs import service as orgs
from backend.orgs.permissions import Role
from backend.registry.views import router
from tests.backend.registry_support import (
    HBK_VILLAGE,
    XZG_VILLAGE,
    create_person,
    enrol,
    person_body,
)
from tests.conftest import PASSWORD, World


@dataclass
class Resident:
    """A resident of 和布克赛尔镇 with an enrolment, a household and a pending change."""

    person_id: int
    enrolment_id: int
    household_id: int
    change_id: int
    xzg_person_id: int


@pytest.fixture
def resident(world: World, session_factory: sessionmaker[Session]) -> Resident:
    with unit_of_work(session_factory) as s:
        op = orgs.create_operator(
            session=s,
            principal=None,
            actor=Actor.system(),
            username="reviewer_emin",
            full_name="reviewer_emin",
            role=Role.REVIEWER,
            office_id=world.offices["emin"].id,
            password=PASSWORD,
        )
        world.operator_ids["reviewer_emin"] = op.id
    c = world.client
    person = create_person(world, household_number="HBK-0001", relationship_code="02")
    enrolment = enrol(world, person["id"])
    r = c.patch(
        f"/api/v1/persons/{person['id']}",
        json={"name": "巴特尔其其格"},
        headers=world.headers("clerk_hbk"),
    )
    assert r.status_code == 202, r.text
    xzg = create_person(world, "clerk_xzg", hukou_region_code=XZG_VILLAGE)
    return Resident(
        person_id=person["id"],
        enrolment_id=enrolment["id"],
        household_id=person["household_id"],
        change_id=r.json()["pending"][0]["id"],
        xzg_person_id=xzg["id"],
    )


# (method, path, body, role) for every object route; the path is formatted with a Resident.
OBJECT_ROUTES: list[tuple[str, str, dict[str, Any] | None, str]] = [
    ("GET", "/persons/{r.person_id}", None, "clerk"),
    ("PATCH", "/persons/{r.person_id}", {"phone": "13012345678"}, "clerk"),
    ("PATCH", "/persons/{r.person_id}", {"name": "某某"}, "clerk"),
    ("POST", "/person-changes/{r.change_id}/approve", {}, "reviewer"),
    ("POST", "/person-changes/{r.change_id}/reject", {}, "reviewer"),
    ("POST", "/enrolments", {"person_id": "{r.person_id}"}, "clerk"),
    ("GET", "/enrolments/{r.enrolment_id}", None, "clerk"),
    ("POST", "/enrolments/{r.enrolment_id}/status", {"status": "suspended"}, "clerk"),
    ("GET", "/households/{r.household_id}", None, "clerk"),
    (
        "POST",
        "/households/{r.household_id}/members",
        {"person_id": "{r.xzg_person_id}", "relationship_code": "80"},
        "clerk",
    ),
    ("DELETE", "/households/{r.household_id}/members/{r.person_id}", None, "clerk"),
]
# Listings: the resident must not appear for the other township or county.
LIST_ROUTES = ["/persons", "/households", "/person-changes", "/enrolments"]
# Creation into a village of another township: a field error naming the region.
CREATE_ROUTES: list[tuple[str, dict[str, Any], str]] = [
    ("/persons", {"hukou_region_code": HBK_VILLAGE}, "hukou_region_code"),
    ("/households", {"household_number": "HBK-9", "region_code": HBK_VILLAGE}, "region_code"),
]


def _fill(value: Any, resident: Resident) -> Any:
    if isinstance(value, str):
        text = value.format(r=resident)
        return int(text) if value.startswith("{r.") and text.isdigit() else text
    if isinstance(value, dict):
        return {k: _fill(v, resident) for k, v in value.items()}
    return value


def _call(world: World, username: str, method: str, path: str, body: Any) -> Any:
    return world.client.request(
        method, "/api/v1" + path, json=body, headers=world.headers(username)
    )


def test_every_registry_route_is_in_the_scope_table():
    covered = {(m, _template(p)) for m, p, _, _ in OBJECT_ROUTES}
    covered |= {("GET", p) for p in LIST_ROUTES}
    covered |= {("POST", p) for p, _, _ in CREATE_ROUTES}
    covered.add(("POST", "/persons/search"))  # test_search_by_id_number_outside_scope_…
    routes = {(m, _template(r.path)) for r in router.routes for m in r.methods}
    assert routes - covered == set()


def _template(path: str) -> str:
    """A path with every parameter name erased: /persons/{} ."""
    out, depth = [], 0
    for ch in path:
        if ch == "{":
            depth += 1
            out.append("{}")
        elif ch == "}":
            depth -= 1
        elif depth == 0:
            out.append(ch)
    return "".join(out)


@pytest.mark.parametrize(("method", "path", "body", "role"), OBJECT_ROUTES)
@pytest.mark.parametrize("office", ["xzg", "emin"])
def test_staff_outside_the_residents_township_get_404_and_the_refusal_is_audited(
    world: World,
    resident: Resident,
    session_factory: sessionmaker[Session],
    office: str,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    role: str,
):
    before = world.client.get(
        f"/api/v1/persons/{resident.person_id}", headers=world.headers("clerk_county")
    ).json()
    r = _call(world, f"{role}_{office}", method, _fill(path, resident), _fill(body, resident))
    assert r.status_code == 404, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "巴特尔" not in r.text and "654226100200" not in r.text
    after = world.client.get(
        f"/api/v1/persons/{resident.person_id}", headers=world.headers("clerk_county")
    ).json()
    assert after == before
    with session_factory() as s:
        refused = s.scalars(select(AuditRecord).where(AuditRecord.action == "access.refused"))
        assert any(rec.username == f"{role}_{office}" for rec in refused)


@pytest.mark.parametrize(("method", "path", "body", "role"), OBJECT_ROUTES)
def test_county_staff_reach_the_resident_on_every_route(
    world: World,
    resident: Resident,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    role: str,
):
    r = _call(world, f"{role}_county", method, _fill(path, resident), _fill(body, resident))
    assert r.status_code != 404 or "member_not_found" in r.text, r.text
    assert r.status_code < 500


@pytest.mark.parametrize("path", LIST_ROUTES)
def test_listings_show_only_the_scope(world: World, resident: Resident, path: str):
    def ids(username: str) -> list[int]:
        r = world.client.get("/api/v1" + path, headers=world.headers(username))
        assert r.status_code == 200, r.text
        return [item["id"] for item in r.json()["items"]]

    own = {
        "/persons": resident.person_id,
        "/households": resident.household_id,
        "/enrolments": resident.enrolment_id,
    }.get(path, resident.change_id)
    assert own in ids("clerk_hbk")
    assert own in ids("clerk_county")
    assert own not in ids("clerk_xzg")
    assert own not in ids("clerk_emin")


def test_search_by_id_number_outside_scope_finds_nothing(world: World, resident: Resident):
    person = world.client.get(
        f"/api/v1/persons/{resident.person_id}", headers=world.headers("clerk_hbk")
    ).json()
    r = world.client.post(
        "/api/v1/persons/search",
        json={"id_number": person["id_number"]},
        headers=world.headers("clerk_xzg"),
    )
    assert r.status_code == 200 and r.json()["total"] == 0


@pytest.mark.parametrize(("path", "override", "field"), CREATE_ROUTES)
def test_creating_in_another_townships_village_names_the_field(
    world: World, path: str, override: dict[str, Any], field: str
):
    body = person_body(**override) if path == "/persons" else override
    r = world.client.post("/api/v1" + path, json=body, headers=world.headers("clerk_xzg"))
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["field"] == field
    assert r.json()["errors"][0]["code"] == "out_of_scope"
