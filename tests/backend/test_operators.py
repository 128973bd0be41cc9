"""Regions, offices and operator accounts: permissions, scope, three-administrator split."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import PASSWORD, World


def _new_operator(world: World, admin: str, office_key: str, role: str = "clerk", **kw):
    body = {
        "username": kw.get("username", "new_clerk"),
        "full_name": "新经办员",
        "role": role,
        "office_id": world.offices[office_key].id,
        "password": PASSWORD,
    }
    return world.client.post("/api/v1/operators", json=body, headers=world.headers(admin))


def test_county_admin_creates_clerk_in_own_county(world: World):
    r = _new_operator(world, "admin_county", "xzg")
    assert r.status_code == 201, r.text
    assert r.json()["role"] == "clerk"
    login = world.client.post(
        "/api/v1/auth/login", json={"username": "new_clerk", "password": PASSWORD}
    )
    assert login.status_code == 200


def test_county_admin_cannot_create_in_other_county_and_sees_404(world: World):
    r = _new_operator(world, "admin_county", "emin")
    assert r.status_code == 404
    assert r.json()["code"] == "office_not_found"


def test_county_admin_cannot_grant_admin_roles(world: World):
    r = _new_operator(world, "admin_county", "xzg", role="security_admin")
    assert r.status_code == 403
    assert r.json()["code"] == "role_not_manageable"


def test_clerk_cannot_manage_operators(world: World):
    r = _new_operator(world, "clerk_hbk", "hbk")
    assert r.status_code == 403
    assert r.json()["code"] == "permission_denied"


def test_weak_password_refused_with_field_error(world: World):
    body = {
        "username": "weak",
        "full_name": "弱口令",
        "role": "clerk",
        "office_id": world.offices["hbk"].id,
        "password": "123456",
    }
    r = world.client.post("/api/v1/operators", json=body, headers=world.headers("admin_county"))
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "password"


def test_duplicate_username_is_409(world: World):
    r = _new_operator(world, "admin_county", "hbk", username="clerk_xzg")
    assert r.status_code == 409
    assert r.json()["code"] == "username_taken"


def test_repeated_create_with_same_key_returns_first_result(world: World):
    headers = world.headers("admin_county", key="op-create-1")
    body = {
        "username": "twice",
        "full_name": "两次",
        "role": "clerk",
        "office_id": world.offices["hbk"].id,
        "password": PASSWORD,
    }
    first = world.client.post("/api/v1/operators", json=body, headers=headers)
    second = world.client.post("/api/v1/operators", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    listing = world.client.get("/api/v1/operators?limit=500", headers=world.headers("admin_county"))
    assert [o["username"] for o in listing.json()["items"]].count("twice") == 1


def test_same_key_for_a_different_request_is_409(world: World):
    headers = world.headers("admin_county", key="op-create-2")
    _new_operator_body = {
        "username": "one",
        "full_name": "一",
        "role": "clerk",
        "office_id": world.offices["hbk"].id,
        "password": PASSWORD,
    }
    assert (
        world.client.post("/api/v1/operators", json=_new_operator_body, headers=headers).status_code
        == 201
    )
    other = dict(_new_operator_body, username="two")
    r = world.client.post("/api/v1/operators", json=other, headers=headers)
    assert r.status_code == 409
    assert r.json()["code"] == "idempotency_key_reused"


def test_state_change_without_idempotency_key_is_refused(world: World):
    headers = world.headers("admin_county")
    del headers["Idempotency-Key"]
    body = {
        "username": "nokey",
        "full_name": "无键",
        "role": "clerk",
        "office_id": world.offices["hbk"].id,
        "password": PASSWORD,
    }
    r = world.client.post("/api/v1/operators", json=body, headers=headers)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "Idempotency-Key"


def test_operator_list_is_scoped(world: World):
    county = world.client.get("/api/v1/operators?limit=500", headers=world.headers("admin_county"))
    names = {o["username"] for o in county.json()["items"]}
    assert {"clerk_hbk", "clerk_xzg", "admin_county"} <= names
    assert "clerk_emin" not in names and "sysadmin" not in names
    province = world.client.get(
        "/api/v1/operators?limit=500", headers=world.headers("admin_province")
    )
    assert {"clerk_emin", "clerk_hbk"} <= {o["username"] for o in province.json()["items"]}


def test_operator_of_other_county_is_404(world: World):
    r = world.client.get(
        f"/api/v1/operators/{world.operator_ids['clerk_emin']}",
        headers=world.headers("admin_county"),
    )
    assert r.status_code == 404


def test_deactivation_ends_sessions(world: World):
    clerk_headers = world.headers("clerk_hbk")
    assert world.client.get("/api/v1/auth/me", headers=clerk_headers).status_code == 200
    r = world.client.patch(
        f"/api/v1/operators/{world.operator_ids['clerk_hbk']}",
        json={"is_active": False},
        headers=world.headers("admin_county"),
    )
    assert r.status_code == 200 and r.json()["is_active"] is False
    assert world.client.get("/api/v1/auth/me", headers=clerk_headers).status_code == 401


def test_three_administrators_are_separate(world: World):
    # The audit administrator reads the log but cannot manage accounts;
    # the system administrator manages accounts but cannot read the log or residents.
    assert world.client.get("/api/v1/audit", headers=world.headers("auditor")).status_code == 200
    assert _new_operator(world, "auditor", "hbk").status_code == 403
    assert world.client.get("/api/v1/audit", headers=world.headers("sysadmin")).status_code == 403
    assert world.client.get("/api/v1/audit", headers=world.headers("secadmin")).status_code == 403
    assert world.client.get("/api/v1/persons", headers=world.headers("sysadmin")).status_code in (
        403,
        404,
    )


def test_region_tree_is_scoped(world: World, client: TestClient):
    root = client.get("/api/v1/orgs/regions", headers=world.headers("clerk_xzg")).json()
    assert [r["code"] for r in root] == ["654226200000"]
    villages = client.get(
        "/api/v1/orgs/regions?parent=654226200000", headers=world.headers("clerk_xzg")
    ).json()
    assert "654226200200" in {v["code"] for v in villages}
    other = client.get(
        "/api/v1/orgs/regions?parent=654226100000", headers=world.headers("clerk_xzg")
    ).json()
    assert other == []


def test_offices_listed_in_scope(world: World, client: TestClient):
    codes = {
        o["code"]
        for o in client.get("/api/v1/orgs/offices", headers=world.headers("admin_county")).json()
    }
    assert codes == {"654226-SB", "654226100-SB", "654226200-SB"}


def test_admin_creates_office_only_inside_scope(world: World, client: TestClient):
    ok = client.post(
        "/api/v1/orgs/offices",
        headers=world.headers("admin_county"),
        json={"code": "654226201-SB", "name": "铁布肯乌散乡社保所", "region_code": "654226201000"},
    )
    assert ok.status_code == 201
    out = client.post(
        "/api/v1/orgs/offices",
        headers=world.headers("admin_county"),
        json={"code": "654221100-SB", "name": "额敏镇社保所", "region_code": "654221100000"},
    )
    assert out.status_code == 404


def test_every_permission_has_a_counter_label_used_in_refusals(world: World):
    from backend.orgs.permissions import PERMISSION_LABELS, Permission

    assert set(PERMISSION_LABELS) == set(Permission)
    r = world.client.post(
        "/api/v1/payroll/payrolls/1/review", json={}, headers=world.headers("clerk_xzg")
    )
    assert r.status_code == 403
    assert "复核发放名册" in r.json()["detail"]
