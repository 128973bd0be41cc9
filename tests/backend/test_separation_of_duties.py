"""Separation of duties (三员): the system administrator manages ordinary operators and
offices, the security administrator certificates, the audit administrator reads the log;
none of them creates, changes, unlocks or resets another of the three (only the console,
with two people named), and nobody approves a request that gives them a factor."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from backend.audit.models import AuditRecord
from backend.config import get_settings
from backend.db import unit_of_work
from backend.orgs.models import Operator
from tests.backend.pki_support import init_ca, key_headers
from tests.conftest import PASSWORD, World
from xnb_client import make_csr, new_private_key

ADMINISTRATORS = ("sysadmin", "secadmin", "auditor")


def _create(world: World, admin: str, role: str, username: str):
    body = {
        "username": username,
        "full_name": username,
        "role": role,
        "office_id": world.offices["province"].id,
        "password": PASSWORD,
    }
    return world.client.post("/api/v1/operators", json=body, headers=world.headers(admin))


@pytest.mark.parametrize("role", ["system_admin", "security_admin", "audit_admin"])
def test_the_system_administrator_cannot_create_any_of_the_three(world: World, role: str):
    r = _create(world, "sysadmin", role, f"new_{role}")
    assert (r.status_code, r.json()["code"]) == (403, "role_not_manageable")
    ordinary = _create(world, "sysadmin", "reviewer", "new_reviewer")
    assert ordinary.status_code == 201, ordinary.text


@pytest.mark.parametrize(
    "change",
    [
        {"password": "Another-Passw0rd!"},
        {"is_active": False},
        {"role": "clerk"},
    ],
)
def test_the_system_administrator_cannot_change_or_reset_another_administrator(
    world: World, change: dict
):
    for target in ("secadmin", "auditor"):
        r = world.client.patch(
            f"/api/v1/operators/{world.operator_ids[target]}",
            json=change,
            headers=world.headers("sysadmin"),
        )
        assert (r.status_code, r.json()["code"]) == (403, "role_not_manageable"), target
    promote = world.client.patch(
        f"/api/v1/operators/{world.operator_ids['clerk_hbk']}",
        json={"role": "security_admin"},
        headers=world.headers("sysadmin"),
    )
    assert (promote.status_code, promote.json()["code"]) == (403, "role_not_manageable")
    login = world.client.post(
        "/api/v1/auth/login", json={"username": "secadmin", "password": PASSWORD}
    )
    assert login.status_code == 200


def test_the_security_administrator_unlocks_operators_but_not_the_other_administrators(
    world: World, client: TestClient
):
    world.token("secadmin")
    for username in ("sysadmin", "auditor", "clerk_hbk"):
        for _ in range(5):
            client.post("/api/v1/auth/login", json={"username": username, "password": "bad"})
    for target in ("sysadmin", "auditor"):
        r = client.post(
            f"/api/v1/operators/{world.operator_ids[target]}/unlock",
            headers=world.headers("secadmin"),
        )
        assert (r.status_code, r.json()["code"]) == (403, "role_not_manageable"), target
    r = client.post(
        f"/api/v1/operators/{world.operator_ids['clerk_hbk']}/unlock",
        headers=world.headers("secadmin"),
    )
    assert r.status_code == 200
    # The audit administrator reads the log and nothing else of the others' work.
    assert client.get("/api/v1/audit", headers=world.headers("secadmin")).status_code == 403
    assert _create(world, "secadmin", "clerk", "by_secadmin").status_code == 403


def test_nobody_submits_an_operator_csr_for_someone_else_or_approves_their_own(
    world: World, client: TestClient, session_factory: sessionmaker[Session], tmp_path, settings
):
    init_ca(session_factory, settings, tmp_path / "root")
    key = new_private_key()

    def submit(submitter: str, holder: str):
        return client.post(
            "/api/v1/certificate-requests",
            json={
                "profile": "operator",
                "operator_id": world.operator_ids[holder],
                "csr_pem": make_csr(key, common_name=holder, uris={"operator": holder}),
            },
            headers=key_headers(world, submitter),
        )

    # The security administrator would hold the clerk's key and approve it: refused.
    r = submit("secadmin", "clerk_hbk")
    assert (r.status_code, r.json()["code"]) == (403, "not_own_request")
    r = submit("sysadmin", "clerk_hbk")
    assert (r.status_code, r.json()["code"]) == (403, "not_own_request")
    # The security administrator's own CSR: submitted, but not approved by themself.
    r = submit("secadmin", "secadmin")
    assert r.status_code == 201, r.text
    r = client.post(
        f"/api/v1/certificate-requests/{r.json()['id']}/approve",
        headers=key_headers(world, "secadmin"),
    )
    assert (r.status_code, r.json()["code"]) == (403, "self_approval")
    # The clerk's own CSR, approved by the security administrator.
    r = submit("clerk_hbk", "clerk_hbk")
    r = client.post(
        f"/api/v1/certificate-requests/{r.json()['id']}/approve",
        headers=key_headers(world, "secadmin"),
    )
    assert r.status_code == 200 and r.json()["state"] == "approved"


def _console(database_url: str, monkeypatch: pytest.MonkeyPatch, *args: str):
    from xnb.cli import app

    monkeypatch.setenv("XNB_DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(app, list(args))
    finally:
        get_settings.cache_clear()


def test_the_console_needs_two_people_for_an_administrator_account_and_audits_both(
    world: World,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    session_factory: sessionmaker[Session],
):
    create = ["operator", "create", "auditor2", "审计员二", "--role", "audit_admin"]
    create += ["--office", "65-SB", "--password", PASSWORD]
    alone = _console(database_url, monkeypatch, *create)
    assert alone.exit_code == 2 and "two_person_rule" in alone.output
    same = _console(
        database_url, monkeypatch, *create, "--performed-by", "张三", "--witness", "张三"
    )
    assert same.exit_code == 2 and "two_person_rule" in same.output
    unlock = _console(database_url, monkeypatch, "operator", "unlock", "secadmin")
    assert unlock.exit_code == 2 and "two_person_rule" in unlock.output
    done = _console(
        database_url, monkeypatch, *create, "--performed-by", "张三", "--witness", "李四"
    )
    assert done.exit_code == 0, done.output
    ordinary = _console(database_url, monkeypatch, "operator", "unlock", "clerk_hbk")
    assert ordinary.exit_code == 0, ordinary.output
    with unit_of_work(session_factory) as s:
        assert s.scalar(select(Operator.role).where(Operator.username == "auditor2")) == (
            "audit_admin"
        )
        records = s.scalars(
            select(AuditRecord).where(AuditRecord.object_id == "auditor2").order_by(AuditRecord.id)
        ).all()
        assert [r.action for r in records] == ["operator.two_person_console"]
        assert json.loads(records[0].detail)["witness"] == "李四"
        assert records[0].username == "张三"
        created = s.scalars(
            select(AuditRecord).where(AuditRecord.action == "operator.create")
        ).all()[-1]
        assert created.username == "张三"
