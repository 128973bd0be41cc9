"""Report forms: made with their provenance, signed off by a second administrator and
frozen, verified by recomputation, exported as XLSX; scoped; periods without data refused."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

from openpyxl import load_workbook
from typer.testing import CliRunner

from backend.audit.service import Actor
from backend.config import get_settings
from backend.contributions import service as contrib
from backend.db import unit_of_work
from backend.orgs.models import Operator
from backend.orgs.service import Principal
from backend.registry.models import Enrolment
from tests.backend.benefits_support import three_pensioners
from tests.backend.statistics_support import statistics_county
from tests.conftest import World

COUNTY_REGION = "654226000000"


def _make(world: World, username: str, period: str, region: str = COUNTY_REGION, **extra):
    return world.client.post(
        "/api/v1/statistics/reports",
        json={"period": period, "region_code": region, **extra},
        headers=world.headers(username),
    )


def _late_collection(session_factory, world: World) -> None:
    """A June payment booked after the report was made (a correction that arrives late)."""
    with unit_of_work(session_factory) as s:
        clerk = Principal.of(s.get(Operator, world.operator_ids["clerk_county"]), Actor.system())
        enrolment = (
            s.query(Enrolment)
            .filter(Enrolment.status == "paying")
            .order_by(Enrolment.id.desc())
            .first()
        )
        assert enrolment is not None
        on = dt.date(2026, 6, 10)
        a = contrib.assess(
            session=s,
            principal=clerk,
            person_id=enrolment.person_id,
            year=2026,
            grade_fen=20000,
            today=on,
        )
        contrib.collect(session=s, principal=clerk, assessment_id=a.id, on=on)


def test_monthly_report_is_made_signed_by_another_administrator_frozen_and_verified(
    world: World, session_factory, tmp_path: Path, database_url: str, monkeypatch
):
    statistics_county(world, session_factory, tmp_path)
    r = _make(world, "reviewer_county", "2026-06")
    assert r.status_code == 201, r.text
    report = r.json()
    county = report["figures"]["654226"]
    townships = {k: v for k, v in report["figures"].items() if len(k) == 9}
    assert len(townships) > 1
    assert county["enrolled"] == sum(t.get("enrolled", 0) for t in townships.values())
    assert county["pensioners"] == 3 and county["contributors"] == 2
    assert report["status"] == "draft" and report["policy_versions"]
    assert report["query_version"] and report["data_cutoff"]

    # The maker cannot sign (nor can a reviewer); another county administrator can, once.
    r = _make(world, "admin_county", "2026-05")
    assert r.status_code == 201, r.text
    own = r.json()["id"]
    r = world.client.post(
        f"/api/v1/statistics/reports/{own}/sign", headers=world.headers("admin_county")
    )
    assert r.status_code == 409 and r.json()["code"] == "same_operator"
    sign = f"/api/v1/statistics/reports/{report['id']}/sign"
    assert world.client.post(sign, headers=world.headers("reviewer_county")).status_code == 403
    r = world.client.post(sign, headers=world.headers("admin_county"))
    assert r.status_code == 200 and r.json()["status"] == "signed"
    assert r.json()["checker_id"] == world.operator_ids["admin_county"]
    r = world.client.post(sign, headers=world.headers("admin_province"))
    assert r.status_code == 409 and r.json()["code"] == "report_signed"

    # A late correction: the frozen report does not move, verification shows the change.
    _late_collection(session_factory, world)
    url = f"/api/v1/statistics/reports/{report['id']}"
    again = world.client.get(url, headers=world.headers("admin_county")).json()
    assert again["figures"] == report["figures"]
    assert again["figures_sha256"] == report["figures_sha256"]
    verified = world.client.get(f"{url}/verify", headers=world.headers("reviewer_county")).json()
    assert not verified["unchanged"]
    changed = {
        (d["region"], d["indicator"]): (d["stored"], d["now"]) for d in verified["differences"]
    }
    assert changed[("654226", "contributors")] == (2, 3)
    assert changed[("654226", "contribution_fen")] == (
        county["contribution_fen"],
        county["contribution_fen"] + 20000,
    )

    monkeypatch.setenv("XNB_DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        from xnb.cli import app

        result = CliRunner().invoke(app, ["stats", "verify", str(report["id"])])
        assert result.exit_code == 1, result.output
        assert "缴费人数：报表 2，现在 3" in result.output
        result = CliRunner().invoke(app, ["stats", "verify", str(own)])
        assert result.exit_code == 0 and "复算结果与报表一致" in result.output
    finally:
        get_settings.cache_clear()

    # The XLSX form: regions as rows, the county's row the sum of its townships.
    r = world.client.get(f"{url}/xlsx", headers=world.headers("reviewer_county"))
    assert r.status_code == 200
    sheet = load_workbook(io.BytesIO(r.content)).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    header = rows[3]
    assert header[0] == "区划名称" and "参保人数" in header and "参保率（%）" in header
    assert "个人缴费金额（元）" in header and "发放成功金额（元）" in header
    enrolled = header.index("参保人数")
    body = [row for row in rows[4:] if row[1]]
    assert body[0][1] == COUNTY_REGION and body[0][0]
    assert body[0][enrolled] == sum(row[enrolled] for row in body[1:])
    assert "已签发" in rows[1][0]


def test_reports_are_scoped_and_a_period_without_data_says_so(world: World, session_factory):
    three_pensioners(world, session_factory)  # in 夏孜盖乡, from June 2026
    # A township's reviewer reports on the township, not on the county.
    assert _make(world, "reviewer_xzg", "2026-06").status_code == 404
    r = _make(world, "reviewer_xzg", "2026-06", region="654226200000")
    assert r.status_code == 201, r.text
    assert set(r.json()["figures"]) >= {"654226200"}
    assert all(k.startswith("654226200") for k in r.json()["figures"])
    report_id = r.json()["id"]
    assert (
        world.client.get(
            f"/api/v1/statistics/reports/{report_id}", headers=world.headers("reviewer_hbk")
        ).status_code
        == 404
    )
    # Before any data, and after today: said in plain words, as problem+json.
    for period in ("2009-01", "2030-01"):
        r = _make(world, "reviewer_county", period)
        assert r.status_code == 404, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["code"] == "period_without_data" and "没有" in r.json()["detail"]
    r = _make(world, "reviewer_county", "2026-06", form="annual")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "period"
    r = world.client.get(
        "/api/v1/statistics/indicators",
        params={"period": "2026"},
        headers=world.headers("reviewer_county"),
    )
    assert r.status_code == 200 and r.json()["figures"]["654226"]["pensioners"] == 3
    r = world.client.get(
        "/api/v1/statistics/groups",
        params={"period": "2026-06", "region_code": "654226200000"},
        headers=world.headers("reviewer_xzg"),
    )
    assert r.status_code == 200 and sum(g["pensioners"] for g in r.json()["groups"].values()) == 3
    r = world.client.get(
        "/api/v1/statistics/groups",
        params={"period": "2026-06", "grouping": "ethnicity", "region_code": COUNTY_REGION},
        headers=world.headers("reviewer_xzg"),
    )
    assert r.status_code == 404
