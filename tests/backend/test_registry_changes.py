"""Changes of personal data keep history; ID number and name changes need a second operator."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.audit.models import AuditRecord
from backend.orgs import permissions
from backend.orgs.permissions import Permission, Role
from backend.registry.models import PersonChange
from national_codes.id_number import make_id_number
from tests.backend.registry_support import HBK_VILLAGE_2, create_person, new_id_number
from tests.conftest import World


def _patch(world: World, person_id: int, body: dict, username: str = "clerk_hbk", key=None):
    return world.client.patch(
        f"/api/v1/persons/{person_id}", json=body, headers=world.headers(username, key=key)
    )


def _decide(world: World, change_id: int, verdict: str, username: str = "reviewer_hbk"):
    return world.client.post(
        f"/api/v1/person-changes/{change_id}/{verdict}",
        json={"reason": "核对户口簿"},
        headers=world.headers(username),
    )


def _person(world: World, person_id: int) -> dict:
    return world.client.get(
        f"/api/v1/persons/{person_id}", headers=world.headers("clerk_hbk")
    ).json()


def _actions(session_factory: sessionmaker[Session]) -> list[str]:
    with session_factory() as s:
        return list(s.scalars(select(AuditRecord.action).order_by(AuditRecord.id)))


def test_ordinary_fields_change_at_once_and_the_old_values_are_kept(
    world: World, session_factory: sessionmaker[Session]
):
    person = create_person(world, phone="13800000000")
    r = _patch(
        world,
        person["id"],
        {"phone": "13911112222", "hukou_region_code": HBK_VILLAGE_2, "reason": "搬家"},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["pending"] == []
    assert {(c["field"], c["old_value"], c["new_value"]) for c in body["applied"]} == {
        ("phone", "13800000000", "13911112222"),
        ("hukou_region_code", "654226100200", HBK_VILLAGE_2),
    }
    assert body["person"]["version"] == person["version"] + 1
    history = _person(world, person["id"])["changes"]
    assert {c["status"] for c in history} == {"applied"}
    assert "person.update" in _actions(session_factory)


def test_a_name_change_waits_for_a_reviewer_and_is_applied_on_approval(world: World):
    person = create_person(world, name="巴特尔")
    r = _patch(world, person["id"], {"name": "巴特尔·其其格", "reason": "户口簿更正"})
    assert r.status_code == 202
    change = r.json()["pending"][0]
    assert (change["field"], change["status"]) == ("name", "pending")
    assert _person(world, person["id"])["name"] == "巴特尔"
    queue = world.client.get("/api/v1/person-changes", headers=world.headers("reviewer_hbk"))
    assert [c["id"] for c in queue.json()["items"]] == [change["id"]]

    r = _decide(world, change["id"], "approve")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "applied"
    assert r.json()["checker_id"] == world.operator_ids["reviewer_hbk"]
    assert _person(world, person["id"])["name"] == "巴特尔·其其格"


def test_approving_a_new_id_number_re_derives_birth_date_and_gender(
    world: World, session_factory: sessionmaker[Session]
):
    person = create_person(world, id_number=new_id_number(dt.date(1970, 5, 1), male=True))
    new_number = make_id_number("654226", dt.date(1971, 6, 2), 224)
    r = _patch(world, person["id"], {"id_number": new_number, "birth_date": "1971-06-02"})
    assert r.status_code == 202, r.text
    assert _decide(world, r.json()["pending"][0]["id"], "approve").status_code == 200
    after = _person(world, person["id"])
    assert (after["id_number"], after["birth_date"], after["gender"]) == (
        new_number,
        "1971-06-02",
        "2",
    )
    derived = {c["field"]: c for c in after["changes"] if c["field"] in ("birth_date", "gender")}
    assert derived["birth_date"]["old_value"] == "1970-05-01"
    assert derived["gender"]["checker_id"] == world.operator_ids["reviewer_hbk"]
    actions = _actions(session_factory)
    assert "person.change.request" in actions and "person.change.approve" in actions


def test_a_birth_date_alone_cannot_change_because_it_comes_from_the_id_number(world: World):
    person = create_person(world)
    r = _patch(world, person["id"], {"birth_date": "1969-01-01"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["code"] == "birth_date_mismatch"


def test_gender_is_not_a_field_that_can_be_patched(world: World):
    person = create_person(world)
    r = _patch(world, person["id"], {"gender": "2"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "gender"


def test_the_maker_may_not_approve_their_own_change(world: World, monkeypatch: pytest.MonkeyPatch):
    # No role holds both permissions today; give one to prove the rule does not rely on that.
    both = permissions.ROLE_PERMISSIONS[Role.CLERK] | {Permission.CHANGE_APPROVE}
    monkeypatch.setitem(permissions.ROLE_PERMISSIONS, Role.CLERK, both)
    person = create_person(world)
    change = _patch(world, person["id"], {"name": "新名字"}).json()["pending"][0]
    r = _decide(world, change["id"], "approve", username="clerk_hbk")
    assert r.status_code == 403
    assert r.json()["code"] == "self_review"
    assert _person(world, person["id"])["name"] == "巴特尔"


def test_clerks_without_the_approval_permission_get_403(world: World):
    person = create_person(world)
    change = _patch(world, person["id"], {"name": "新名字"}).json()["pending"][0]
    assert _decide(world, change["id"], "approve", username="clerk_county").status_code == 403


def test_a_rejected_change_leaves_the_person_as_it_was_and_cannot_be_decided_again(
    world: World,
):
    person = create_person(world)
    change = _patch(world, person["id"], {"name": "新名字"}).json()["pending"][0]
    r = _decide(world, change["id"], "reject")
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    assert _person(world, person["id"])["name"] == "巴特尔"
    again = _decide(world, change["id"], "approve", username="reviewer_county")
    assert again.status_code == 409
    assert again.json()["code"] == "change_decided"


def test_a_new_id_number_already_registered_is_409_when_asked(world: World):
    person = create_person(world)
    other = create_person(world)
    r = _patch(world, person["id"], {"id_number": other["id_number"]})
    assert r.status_code == 409
    assert r.json()["code"] == "person_exists"


def test_a_new_id_number_registered_meanwhile_is_409_on_approval(world: World):
    person = create_person(world)
    new_number = new_id_number()
    change = _patch(world, person["id"], {"id_number": new_number}).json()["pending"][0]
    create_person(world, id_number=new_number)
    r = _decide(world, change["id"], "approve")
    assert r.status_code == 409
    assert r.json()["code"] == "person_exists"
    assert _person(world, person["id"])["id_number"] == person["id_number"]


def test_a_second_request_for_a_field_already_waiting_is_409(world: World):
    person = create_person(world)
    assert _patch(world, person["id"], {"name": "甲"}).status_code == 202
    r = _patch(world, person["id"], {"name": "乙"})
    assert r.status_code == 409
    assert r.json()["code"] == "change_pending"


def test_an_edit_based_on_an_old_version_is_409(world: World):
    person = create_person(world)
    assert _patch(world, person["id"], {"phone": "13911112222", "version": 1}).status_code == 200
    r = _patch(world, person["id"], {"phone": "13933334444", "version": 1})
    assert r.status_code == 409
    assert r.json()["code"] == "stale_version"


def test_an_invalid_new_id_number_is_422_and_nothing_waits(
    world: World, session_factory: sessionmaker[Session]
):
    person = create_person(world)
    r = _patch(world, person["id"], {"id_number": "654226197005011019", "phone": "13911112222"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "id_number"
    with session_factory() as s:
        assert s.scalars(select(PersonChange)).all() == []
    assert _person(world, person["id"])["phone"] == person["phone"]


def test_a_move_to_a_village_outside_the_scope_is_refused(world: World):
    person = create_person(world)
    r = _patch(world, person["id"], {"hukou_region_code": "654226200200"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["code"] == "out_of_scope"


def test_retrying_a_change_with_the_same_key_returns_the_first_result(
    world: World, session_factory: sessionmaker[Session]
):
    person = create_person(world)
    first = _patch(world, person["id"], {"name": "新名字"}, key="rename-1")
    again = _patch(world, person["id"], {"name": "新名字"}, key="rename-1")
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    with session_factory() as s:
        assert len(s.scalars(select(PersonChange)).all()) == 1


def test_retrying_an_approval_with_the_same_key_returns_the_first_result(world: World):
    person = create_person(world)
    change = _patch(world, person["id"], {"name": "新名字"}).json()["pending"][0]
    headers = world.headers("reviewer_hbk", key="approve-1")
    url = f"/api/v1/person-changes/{change['id']}/approve"
    first = world.client.post(url, json={}, headers=headers)
    again = world.client.post(url, json={}, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
