"""Enrolment (参保登记): dated eligibility rules, one active enrolment, status transitions."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from backend.audit.models import AuditRecord
from backend.registry import service
from backend.registry.eligibility import (
    RuleBook,
    age_on,
    check_eligibility,
    load_rules,
    parse_rules,
)
from backend.registry.models import Enrolment
from backend.registry.validation import PersonData
from tests.backend.registry_support import create_person, enrol, new_id_number
from tests.conftest import World

RULES = load_rules()


def facts(birth: dt.date = dt.date(1970, 5, 1), **flags: bool) -> PersonData:
    return PersonData(
        id_number="",
        name="巴特尔",
        gender="1",
        ethnicity="02",
        birth_date=birth,
        hukou_region_code="654226100200",
        **flags,
    )


# ---- the pure rules ----------------------------------------------------------------------


def test_a_person_may_enrol_on_their_sixteenth_birthday_but_not_the_day_before():
    birth = dt.date(2000, 3, 15)
    assert check_eligibility(facts(birth), dt.date(2016, 3, 15), RULES) == []
    reasons = check_eligibility(facts(birth), dt.date(2016, 3, 14), RULES)
    assert [r.rule for r in reasons] == ["min_age"]
    assert "15周岁" in reasons[0].message


def test_someone_born_on_29_february_turns_a_year_older_on_1_march():
    assert age_on(dt.date(2000, 2, 29), dt.date(2016, 2, 28)) == 15
    assert age_on(dt.date(2000, 2, 29), dt.date(2016, 3, 1)) == 16


def test_civil_servants_may_enrol_before_21_february_2014_and_not_from_then_on():
    servant = facts(is_civil_servant=True)
    assert check_eligibility(servant, dt.date(2014, 2, 20), RULES) == []
    reasons = check_eligibility(servant, dt.date(2014, 2, 21), RULES)
    assert [r.rule for r in reasons] == ["civil_servant"]
    assert reasons[0].source is not None and "2014" in reasons[0].source


def test_every_reason_is_given_at_once_each_naming_its_rule_and_field():
    person = facts(dt.date(2015, 1, 1), is_student=True, in_employee_scheme=True)
    reasons = check_eligibility(person, dt.date(2025, 1, 1), RULES)
    assert [(r.rule, r.field) for r in reasons] == [
        ("min_age", "birth_date"),
        ("full_time_student", "is_student"),
        ("employee_scheme", "in_employee_scheme"),
    ]


def test_no_one_may_enrol_before_the_scheme_existed():
    reasons = check_eligibility(facts(), dt.date(2009, 8, 31), RULES)
    assert [r.rule for r in reasons] == ["scheme_not_in_force"]


def test_rule_versions_are_data_sorted_by_date_and_a_new_version_changes_the_outcome():
    book = parse_rules(
        """
        [[version]]
        valid_from = 2020-01-01
        source = "later"
        min_age = 18
        exclude_full_time_students = false
        exclude_employee_scheme = true
        exclude_civil_servants = true
        pension_age = 65
        [[version]]
        valid_from = 2010-01-01
        source = "earlier"
        min_age = 16
        exclude_full_time_students = true
        exclude_employee_scheme = true
        exclude_civil_servants = false
        pension_age = 60
        """
    )
    assert isinstance(book, RuleBook)
    assert [v.source for v in book.versions] == ["earlier", "later"]
    seventeen = facts(dt.date(2003, 1, 1), is_student=True)
    assert [r.rule for r in check_eligibility(seventeen, dt.date(2019, 6, 1), book)] == [
        "full_time_student"
    ]
    assert [r.rule for r in check_eligibility(seventeen, dt.date(2020, 6, 1), book)] == ["min_age"]


def test_a_rule_book_without_versions_is_refused():
    with pytest.raises(ValueError, match="no versions"):
        parse_rules("")


# ---- the API -----------------------------------------------------------------------------


def _count(session_factory: sessionmaker[Session], model: type, **where: object) -> int:
    with session_factory() as s:
        query = select(func.count()).select_from(model)
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        return s.scalar(query) or 0


def test_enrolment_starts_paying_with_a_dated_event_and_is_audited(
    world: World, session_factory: sessionmaker[Session]
):
    person = create_person(world)
    enrolment = enrol(world, person["id"], enrolled_on="2015-03-01")
    assert enrolment["status"] == "paying"
    assert enrolment["region_code"] == "654226100200"
    assert [(e["status"], e["effective_date"]) for e in enrolment["events"]] == [
        ("paying", "2015-03-01")
    ]
    detail = world.client.get(
        f"/api/v1/persons/{person['id']}", headers=world.headers("clerk_hbk")
    ).json()
    assert [e["id"] for e in detail["enrolments"]] == [enrolment["id"]]
    assert _count(session_factory, AuditRecord, action="enrolment.create") == 1


def test_an_ineligible_person_gets_422_listing_every_reason_and_nothing_is_written(
    world: World, session_factory: sessionmaker[Session]
):
    young = new_id_number(dt.date.today() - dt.timedelta(days=365 * 10))
    person = create_person(world, id_number=young, is_student=True, in_employee_scheme=True)
    r = world.client.post(
        "/api/v1/enrolments", json={"person_id": person["id"]}, headers=world.headers("clerk_hbk")
    )
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == "not_eligible"
    assert [e["code"] for e in body["errors"]] == [
        "min_age",
        "full_time_student",
        "employee_scheme",
    ]
    assert {e["field"] for e in body["errors"]} == {
        "birth_date",
        "is_student",
        "in_employee_scheme",
    }
    assert [reason["rule"] for reason in body["reasons"]] == [
        "min_age",
        "full_time_student",
        "employee_scheme",
    ]
    assert _count(session_factory, Enrolment) == 0


def test_civil_servant_is_refused_after_2014_by_the_api(world: World):
    person = create_person(world, is_civil_servant=True)
    r = world.client.post(
        "/api/v1/enrolments",
        json={"person_id": person["id"], "enrolled_on": "2014-02-21"},
        headers=world.headers("clerk_hbk"),
    )
    assert r.status_code == 422
    assert [e["code"] for e in r.json()["errors"]] == ["civil_servant"]
    enrol(world, person["id"], enrolled_on="2013-06-01")


def test_a_second_enrolment_gets_409_naming_the_region_where_the_person_is_enrolled(
    world: World,
):
    person = create_person(world)
    enrol(world, person["id"])
    r = world.client.post(
        "/api/v1/enrolments",
        json={"person_id": person["id"]},
        headers=world.headers("clerk_county"),
    )
    assert r.status_code == 409
    body = r.json()
    assert body["code"] == "already_enrolled"
    assert body["region_code"] == "654226100200"
    assert body["region_name"] == "那仁和布克村"
    assert "那仁和布克村（654226100200）" in body["detail"]


def test_a_concurrent_duplicate_caught_by_the_unique_index_still_names_the_region(
    world: World, session_factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
):
    person = create_person(world)
    enrol(world, person["id"])
    real = service.enrolments._active_enrolment
    calls: list[int] = []

    def blind_first_look(session: Session, person_id: int) -> Enrolment | None:
        # The first look happens before the other request committed: it sees nothing.
        calls.append(person_id)
        return None if len(calls) == 1 else real(session, person_id)

    monkeypatch.setattr(service.enrolments, "_active_enrolment", blind_first_look)
    r = world.client.post(
        "/api/v1/enrolments", json={"person_id": person["id"]}, headers=world.headers("clerk_hbk")
    )
    assert r.status_code == 409, r.text
    assert r.json()["region_code"] == "654226100200"
    assert len(calls) == 2
    assert _count(session_factory, Enrolment) == 1


def test_retrying_an_enrolment_with_the_same_key_returns_the_first_result_and_changes_nothing(
    world: World, session_factory: sessionmaker[Session]
):
    person = create_person(world)
    headers = world.headers("clerk_hbk", key="enrol-once")
    first = world.client.post(
        "/api/v1/enrolments", json={"person_id": person["id"]}, headers=headers
    )
    again = world.client.post(
        "/api/v1/enrolments", json={"person_id": person["id"]}, headers=headers
    )
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert _count(session_factory, Enrolment) == 1
    assert _count(session_factory, AuditRecord, action="enrolment.create") == 1


def test_enrolment_without_idempotency_key_is_refused(world: World):
    person = create_person(world)
    headers = world.headers("clerk_hbk")
    del headers["Idempotency-Key"]
    r = world.client.post("/api/v1/enrolments", json={"person_id": person["id"]}, headers=headers)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "Idempotency-Key"


def test_an_enrolment_date_in_the_future_is_refused(world: World):
    person = create_person(world)
    tomorrow = dt.date.today() + dt.timedelta(days=1)
    r = world.client.post(
        "/api/v1/enrolments",
        json={"person_id": person["id"], "enrolled_on": tomorrow.isoformat()},
        headers=world.headers("clerk_hbk"),
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "enrolled_on"


def test_reviewers_may_not_enrol(world: World):
    person = create_person(world)
    r = world.client.post(
        "/api/v1/enrolments",
        json={"person_id": person["id"]},
        headers=world.headers("reviewer_hbk"),
    )
    assert r.status_code == 403


# ---- status transitions ------------------------------------------------------------------


def _move(world: World, enrolment_id: int, status: str, **extra: str) -> tuple[int, dict]:
    r = world.client.post(
        f"/api/v1/enrolments/{enrolment_id}/status",
        json={"status": status, **extra},
        headers=world.headers("clerk_hbk"),
    )
    return r.status_code, r.json()


def test_suspension_and_resumption_keep_a_dated_history(world: World):
    person = create_person(world)
    enrolment = enrol(world, person["id"], enrolled_on="2015-03-01")
    assert _move(world, enrolment["id"], "suspended", effective_date="2020-01-01")[0] == 200
    code, body = _move(world, enrolment["id"], "paying", effective_date="2021-01-01")
    assert code == 200
    assert [(e["status"], e["effective_date"]) for e in body["events"]] == [
        ("paying", "2015-03-01"),
        ("suspended", "2020-01-01"),
        ("paying", "2021-01-01"),
    ]
    r = world.client.get(
        f"/api/v1/enrolments/{enrolment['id']}", headers=world.headers("clerk_hbk")
    )
    assert r.json()["status"] == "paying"


def test_a_suspended_contributor_cannot_jump_to_receiving(world: World):
    person = create_person(world, id_number=new_id_number(dt.date(1950, 1, 1)))
    enrolment = enrol(world, person["id"])
    _move(world, enrolment["id"], "suspended")
    code, body = _move(world, enrolment["id"], "receiving")
    assert code == 409
    assert body["code"] == "invalid_transition"
    assert "暂停缴费" in body["detail"] and "领取待遇" in body["detail"]
    assert body["allowed"] == ["paying", "terminated"]


def test_a_terminated_enrolment_cannot_change_and_the_person_may_enrol_again(world: World):
    person = create_person(world)
    enrolment = enrol(world, person["id"], enrolled_on="2015-03-01")
    code, body = _move(world, enrolment["id"], "terminated", reason="迁出")
    assert code == 200 and body["ended_on"] == dt.date.today().isoformat()
    code, body = _move(world, enrolment["id"], "paying")
    assert code == 409
    assert "终止" in body["detail"]
    assert body["allowed"] == []
    again = enrol(world, person["id"])
    assert again["id"] != enrolment["id"]


def test_moving_to_the_same_status_is_a_conflict(world: World):
    person = create_person(world)
    enrolment = enrol(world, person["id"])
    assert _move(world, enrolment["id"], "paying")[0] == 409


def test_receiving_needs_the_pension_age_from_the_rules(world: World):
    young = create_person(world)
    enrolment = enrol(world, young["id"])
    code, body = _move(world, enrolment["id"], "receiving")
    assert code == 422
    assert body["errors"][0]["code"] == "pension_age"
    old = create_person(world, id_number=new_id_number(dt.date(1950, 1, 1)))
    enrolment = enrol(world, old["id"], enrolled_on="2012-01-01")
    assert _move(world, enrolment["id"], "receiving")[0] == 200


def test_a_status_change_cannot_predate_the_last_one(world: World):
    person = create_person(world)
    enrolment = enrol(world, person["id"], enrolled_on="2015-03-01")
    code, body = _move(world, enrolment["id"], "suspended", effective_date="2015-02-28")
    assert code == 422
    assert body["errors"][0]["field"] == "effective_date"


def test_an_unknown_status_is_a_field_error(world: World):
    person = create_person(world)
    enrolment = enrol(world, person["id"])
    code, body = _move(world, enrolment["id"], "retired")
    assert code == 422
    assert body["errors"][0]["field"] == "status"


def test_status_changes_are_audited(world: World, session_factory: sessionmaker[Session]):
    person = create_person(world)
    enrolment = enrol(world, person["id"])
    _move(world, enrolment["id"], "suspended")
    assert _count(session_factory, AuditRecord, action="enrolment.status") == 1


def test_search_by_enrolment_status(world: World):
    enrolled = create_person(world)
    enrol(world, enrolled["id"])
    other = create_person(world)

    def found(status: str) -> list[int]:
        r = world.client.get(
            "/api/v1/persons", params={"status": status}, headers=world.headers("clerk_hbk")
        )
        return [p["id"] for p in r.json()["items"]]

    assert found("paying") == [enrolled["id"]]
    assert found("none") == [other["id"]]
    assert found("suspended") == []


def test_enrolment_listing_filters_by_status_and_region(world: World):

    paying = create_person(world, "clerk_county")
    enrol(world, paying["id"])
    r = world.client.get(
        "/api/v1/enrolments?status=paying&region=654226", headers=world.headers("clerk_county")
    )
    assert r.status_code == 200, r.text
    assert paying["id"] in {e["person_id"] for e in r.json()["items"]}
    none = world.client.get(
        "/api/v1/enrolments?status=terminated", headers=world.headers("clerk_county")
    )
    assert none.json()["total"] == 0
    bad = world.client.get("/api/v1/enrolments?status=dead", headers=world.headers("clerk_county"))
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "status"
