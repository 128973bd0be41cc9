"""Settings sources, session expiry, the region loader and operator commands."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from backend.auth.models import OperatorSession
from backend.config import Settings, get_settings
from backend.db import unit_of_work
from backend.errors import InvalidInput
from backend.orgs import service as orgs
from backend.orgs.models import Region
from tests.conftest import PASSWORD, World


def test_toml_file_is_read_and_environment_wins(tmp_path: Path, monkeypatch):
    config = tmp_path / "xnb.toml"
    config.write_text("port = 9100\nlockout_minutes = 42\n", encoding="utf-8")
    monkeypatch.setenv("XNB_CONFIG", str(config))
    monkeypatch.setenv("XNB_PORT", "9200")
    settings = Settings()
    assert settings.lockout_minutes == 42
    assert settings.port == 9200


def test_idle_session_expires(world: World, session_factory: sessionmaker[Session]):
    headers = world.headers("clerk_hbk")
    with unit_of_work(session_factory) as s:
        s.execute(
            update(OperatorSession).values(
                expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
            )
        )
    r = world.client.get("/api/v1/auth/me", headers=headers)
    assert r.status_code == 401 and r.json()["code"] == "session_expired"


def test_use_slides_idle_expiry_but_not_past_absolute_cap(world: World, session_factory):
    headers = world.headers("clerk_hbk")
    with unit_of_work(session_factory) as s:
        s.execute(
            update(OperatorSession).values(
                created_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=7, minutes=50)
            )
        )
    assert world.client.get("/api/v1/auth/me", headers=headers).status_code == 200
    with unit_of_work(session_factory) as s:
        op_session = s.scalars(select(OperatorSession)).one()
        assert op_session.expires_at <= op_session.created_at + dt.timedelta(hours=8)


def test_region_file_with_unknown_parent_is_refused(tmp_path: Path, session: Session):
    bad = tmp_path / "regions.csv"
    bad.write_text("code,name,illustrative\n654226100200,孤儿村,1\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match="上级"):
        orgs.load_regions(session=session, path=bad)
    session.rollback()


def test_region_tree_has_levels_and_illustrative_flags(session: Session):
    orgs.load_regions(session=session, path=orgs.DATA_DIR / "regions_654226.csv")
    county = session.get(Region, "654226000000")
    assert county is not None and county.level == 3 and county.parent_code == "654200000000"
    village = session.get(Region, "654226200200")
    assert village is not None and village.level == 5 and not village.illustrative
    assert session.scalar(select(Region).where(Region.level == 4, Region.illustrative))


def test_operator_commands(database_url: str, monkeypatch, session_factory):
    from xnb.cli import app

    monkeypatch.setenv("XNB_DATABASE_URL", database_url)
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        assert runner.invoke(app, ["orgs", "load"]).exit_code == 0
        r = runner.invoke(app, ["orgs", "office-create", "654226-SB", "县社保中心", "654226000000"])
        assert r.exit_code == 0, r.output
        r = runner.invoke(
            app,
            [
                "operator",
                "create",
                "boss",
                "县管理员",
                "--role",
                "county_admin",
                "--office",
                "654226-SB",
                "--password",
                PASSWORD,
            ],
        )
        assert r.exit_code == 0, r.output
        listing = runner.invoke(app, ["operator", "list"])
        assert "boss" in listing.output and "县级管理员" in listing.output
        weak = runner.invoke(
            app,
            [
                "operator",
                "create",
                "weak",
                "弱",
                "--role",
                "clerk",
                "--office",
                "654226-SB",
                "--password",
                "123",
            ],
        )
        assert weak.exit_code == 2 and "password" in weak.output
        missing = runner.invoke(app, ["operator", "unlock", "nobody"])
        assert missing.exit_code == 2 and "operator_not_found" in missing.output
    finally:
        get_settings.cache_clear()
