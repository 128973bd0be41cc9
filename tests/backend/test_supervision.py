"""Fund supervision: the rule framework (stable keys, runs, thresholds) and the first rules."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from backend.audit.service import Actor
from backend.benefits import death
from backend.benefits.models import DeathCase, Pension, SurvivalCertification
from backend.config import get_settings
from backend.contributions.models import Assessment
from backend.db import unit_of_work
from backend.errors import Conflict, InvalidInput
from backend.orgs import service as orgs
from backend.orgs.permissions import Role
from backend.payroll.models import PayrollLine
from backend.policy import service as policy
from backend.supervision import framework, thresholds
from backend.supervision.framework import FindingStatus
from backend.supervision.models import Finding, Run
from backend.supervision.rules import BY_NAME, RULES
from tests.backend.benefits_support import change_payee_account, three_pensioners
from tests.backend.money_world import VILLAGE, add_resident
from tests.backend.payroll_support import pay_month, principal
from tests.conftest import PASSWORD, World


def _report_deaths(factory, ids: list[int]) -> None:
    """The first dies 30 June 2026 (last day of the month: July overpaid), the second (if
    given) 1 July (July is owed: nothing overpaid); the national thresholds are loaded."""
    clerk = principal(factory, "clerk_xzg")
    with unit_of_work(factory) as s:
        for person_id, died_on in zip(
            ids, (dt.date(2026, 6, 30), dt.date(2026, 7, 1)), strict=False
        ):
            death.report_death(session=s, principal=clerk, person_id=person_id, died_on=died_on)
        thresholds.load(session=s)


def _supervisor(world: World, factory, username: str, office: str) -> None:
    """A supervisor (基金监管员) of one of the world's offices."""
    with unit_of_work(factory) as s:
        operator = orgs.create_operator(
            session=s,
            principal=None,
            actor=Actor.system(),
            username=username,
            full_name=username,
            role=Role.SUPERVISOR,
            office_id=world.offices[office].id,
            password=PASSWORD,
        )
        world.operator_ids[username] = operator.id


def _run(factory, rule: str, as_of: dt.date) -> dict[str, int]:
    run_id = framework.run(
        factory=factory, rules=[BY_NAME[rule]], region_prefix="654226", as_of=as_of, only_rule=rule
    )
    with unit_of_work(factory) as s:
        run = s.get_one(Run, run_id)
        assert run.status == "done"
        summary: dict[str, int] = json.loads(run.summary_json)[rule]
        return summary


def _findings(factory, rule: str) -> list[Finding]:
    with unit_of_work(factory) as s:
        found = list(s.scalars(select(Finding).where(Finding.rule == rule).order_by(Finding.id)))
        s.expunge_all()
        return found


def test_paid_after_death_found_once_cleared_raised_again_on_new_evidence_resolved(
    world: World, session_factory, tmp_path: Path
) -> None:
    ids = three_pensioners(world, session_factory)
    pay_month(world, session_factory, "2026-06", tmp_path)
    pay_month(world, session_factory, "2026-07", tmp_path)
    _report_deaths(session_factory, ids)

    summary = _run(session_factory, "paid_after_death", dt.date(2026, 8, 1))
    [finding] = _findings(session_factory, "paid_after_death")
    assert (finding.subject_type, finding.subject_id) == ("person", ids[0])
    evidence = json.loads(finding.evidence_json)
    assert evidence["died_on"] == "2026-06-30"
    assert evidence["months_paid_after_death"] == ["2026-07"]
    assert finding.amount_fen == sum(line["amount_fen"] for line in evidence["payroll_lines"]) > 0
    assert summary["new_count"] == 1 and summary["new_fen"] == finding.amount_fen

    # The same data again: nothing new, the finding still open, the same row.
    again = _run(session_factory, "paid_after_death", dt.date(2026, 8, 2))
    assert (again["new_count"], again["open_count"], again["resolved_count"]) == (0, 1, 0)
    assert [f.id for f in _findings(session_factory, "paid_after_death")] == [finding.id]

    # Cleared by a supervisor (the case module, not built yet, will record it): not raised
    # again on the same evidence.
    with unit_of_work(session_factory) as s:
        s.get_one(Finding, finding.id).status = FindingStatus.CLEARED
    assert _run(session_factory, "paid_after_death", dt.date(2026, 8, 3))["new_count"] == 0

    # The death date is corrected to 31 May: June and July were both paid after it.
    with unit_of_work(session_factory) as s:
        case = s.scalars(select(DeathCase).where(DeathCase.person_id == ids[0])).one()
        case.died_on = dt.date(2026, 5, 31)
        case_id = case.id
    assert _run(session_factory, "paid_after_death", dt.date(2026, 8, 4))["new_count"] == 1
    cleared, raised = _findings(session_factory, "paid_after_death")
    assert cleared.status == FindingStatus.CLEARED and raised.status == FindingStatus.OPEN
    assert json.loads(raised.evidence_json)["months_paid_after_death"] == ["2026-06", "2026-07"]
    assert raised.amount_fen > cleared.amount_fen

    # The report proves wrong and is rejected: the open finding is resolved.
    with unit_of_work(session_factory) as s:
        death.decide_death(
            session=s,
            principal=principal(session_factory, "reviewer_xzg"),
            case_id=case_id,
            accept=False,
            reason="误报，本人健在",
        )
    summary = _run(session_factory, "paid_after_death", dt.date(2026, 8, 5))
    assert (summary["new_count"], summary["open_count"], summary["resolved_count"]) == (0, 0, 1)
    assert summary["resolved_fen"] == raised.amount_fen
    assert _findings(session_factory, "paid_after_death")[1].status == FindingStatus.RESOLVED


def test_dead_more_than_a_year_with_enrolment_and_balance_open_and_county_threshold(
    world: World, session_factory, tmp_path: Path
) -> None:
    ids = three_pensioners(world, session_factory)
    _report_deaths(session_factory, ids)
    # Exactly 365 days after the death of 30 June 2026: not yet "more than a year".
    assert _run(session_factory, "dead_still_open", dt.date(2027, 6, 30))["new_count"] == 0
    summary = _run(session_factory, "dead_still_open", dt.date(2027, 7, 1))
    [finding] = _findings(session_factory, "dead_still_open")
    assert finding.subject_id == ids[0]
    evidence = json.loads(finding.evidence_json)
    assert [e["status"] for e in evidence["open_enrolments"]] == ["receiving"]
    assert evidence["account"]["balance_fen"] == finding.amount_fen > 0
    assert summary["new_fen"] == finding.amount_fen
    # The next day the second person (died 1 July 2026) is past the year too.
    assert _run(session_factory, "dead_still_open", dt.date(2027, 7, 2))["new_count"] == 1

    # A county version from 2028 flags after 30 days; before its date the national one holds.
    county = tmp_path / "county.toml"
    county.write_text(
        '[[version]]\nregion = "654226"\nvalid_from = 2028-01-01\nname = "县阈值"\n'
        'source = "测试"\n[version.values]\ndeath_paid_min_months = 1\n'
        "dead_open_after_days = 30\nback_pay_fen = 200000\npayee_change_days = 30\n"
        "min_contribution_age = 16\ncertification_max = 200\n",
        encoding="utf-8",
    )
    with unit_of_work(session_factory) as s:
        assert thresholds.load(session=s, path=county) == 1
        assert thresholds.load(session=s, path=county) == 0  # the same file twice: nothing
        national = thresholds.thresholds_on(
            session=s, region_code="654226", on=dt.date(2027, 12, 31)
        )
        local = thresholds.thresholds_on(session=s, region_code="654226001", on=dt.date(2028, 1, 1))
    assert national.thresholds.dead_open_after_days == 365
    assert local.thresholds.dead_open_after_days == 30 and local.version_id != national.version_id

    # Read over the API, scoped: a province supervisor sees both findings, a supervisor of
    # another township and another county's administrator see none, a clerk is refused.
    for username, office in (("supervisor_prov", "province"), ("supervisor_hbk", "hbk")):
        _supervisor(world, session_factory, username, office)
    url = "/api/v1/supervision/findings"
    r = world.client.get(url, headers=world.headers("supervisor_prov"))
    assert r.status_code == 200, r.text
    assert [(f["rule"], f["subject_id"], f["status"]) for f in r.json()] == [
        ("dead_still_open", ids[0], "open"),
        ("dead_still_open", ids[1], "open"),
    ]
    assert r.json()[0]["rule_label"] == "死亡超过期限仍未注销参保、账户或社保卡"
    assert r.json()[0]["evidence"]["account"]["balance_fen"] == r.json()[0]["amount_fen"]
    finding_id = r.json()[0]["id"]
    filtered = world.client.get(
        url,
        params={"rule": "paid_after_death", "region": "654226200", "status": "open"},
        headers=world.headers("supervisor_prov"),
    )
    assert filtered.status_code == 200 and filtered.json() == []
    bad = world.client.get(url, params={"status": "closed"}, headers=world.headers("admin_county"))
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "status"
    assert world.client.get(url, headers=world.headers("supervisor_hbk")).json() == []
    assert world.client.get(url, headers=world.headers("admin_emin")).json() == []
    outside = world.client.get(
        url, params={"region": "654226"}, headers=world.headers("admin_emin")
    )
    assert outside.status_code == 404
    one = f"{url}/{finding_id}"
    assert world.client.get(one, headers=world.headers("admin_county")).status_code == 200
    assert world.client.get(one, headers=world.headers("supervisor_hbk")).status_code == 404
    assert world.client.get(one, headers=world.headers("clerk_xzg")).status_code == 403
    runs = world.client.get("/api/v1/supervision/runs", headers=world.headers("supervisor_prov"))
    assert [run["summary"]["dead_still_open"]["new_count"] for run in runs.json()] == [1, 1, 0]


def test_an_interrupted_run_resumes_where_it_stopped_and_the_command_reports_it(
    world: World, session_factory, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = three_pensioners(world, session_factory)
    _report_deaths(session_factory, ids)
    as_of = dt.date(2027, 7, 2)
    done: list[str] = []

    def crash_after_first(rule: str, county: str, counts: framework.ChunkCounts) -> None:
        done.append(rule)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        framework.run(
            factory=session_factory,
            rules=list(RULES),
            region_prefix="654226",
            as_of=as_of,
            progress=crash_after_first,
        )
    assert done == ["paid_after_death"]
    with unit_of_work(session_factory) as s:
        [interrupted] = s.scalars(select(Run)).all()
        assert interrupted.status == "running"

    monkeypatch.setenv("XNB_DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        from xnb.cli import app

        result = CliRunner().invoke(app, ["supervision", "thresholds"])
        assert result.exit_code == 0 and "新增阈值版本 0 个" in result.output, result.output
        result = CliRunner().invoke(
            app, ["supervision", "run", "--region", "654226", "--as-of", as_of.isoformat()]
        )
        assert result.exit_code == 0, result.output
        # Only the chunk not done before ran: the first rule's county is not reported again.
        assert f"运行 {interrupted.id}（654226，{as_of}）完成" in result.output
        assert "死亡超过期限仍未注销参保、账户或社保卡：新增 2" in result.output
        assert "死亡后仍发放养老金 县 654226：" not in result.output
        assert result.output.count(" 县 654226：") == len(RULES) - 1
        result = CliRunner().invoke(app, ["supervision", "run", "--rule", "no_such_rule"])
        assert result.exit_code == 2 and "rule" in result.output
    finally:
        get_settings.cache_clear()
    with unit_of_work(session_factory) as s:
        assert [r.status for r in s.scalars(select(Run))] == ["done"]


def test_bad_threshold_files_are_refused_whole(session_factory, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[[version]]\nregion = ""\nvalid_from = 2030-01-01\nname = "a"\nsource = "b"\n'
        "[version.values]\ndeath_paid_min_months = -1\ndead_open_after_days = 30\n"
        "back_pay_fen = 200000\npayee_change_days = 30\nmin_contribution_age = 16\n"
        "certification_max = 200\n",
        encoding="utf-8",
    )
    with unit_of_work(session_factory) as s, pytest.raises(InvalidInput) as refused:
        thresholds.load(session=s, path=bad)
    assert refused.value.fields[0].field == "version[0].values.death_paid_min_months"
    with unit_of_work(session_factory) as s:
        thresholds.load(session=s)
    changed = thresholds.DEFAULT_FILE.read_text(encoding="utf-8").replace(
        "dead_open_after_days = 365", "dead_open_after_days = 366"
    )
    bad.write_text(changed, encoding="utf-8")
    with unit_of_work(session_factory) as s, pytest.raises(Conflict):
        thresholds.load(session=s, path=bad)


def test_a_run_refuses_a_region_that_is_not_a_prefix(session_factory) -> None:
    with pytest.raises(InvalidInput) as refused:
        framework.run(
            factory=session_factory,
            rules=list(RULES),
            region_prefix="65422",
            as_of=dt.date(2026, 1, 1),
        )
    assert refused.value.fields[0].field == "region"
    with unit_of_work(session_factory) as s:
        assert s.scalars(select(Run)).all() == []


def _county_thresholds(factory, tmp_path: Path, versions: list[tuple[str, int, int]]) -> None:
    """County 654226 versions: (valid_from, back_pay_fen, payee_change_days)."""
    text = "".join(
        f'[[version]]\nregion = "654226"\nvalid_from = {valid_from}\nname = "县阈值"\n'
        f'source = "测试"\n[version.values]\ndeath_paid_min_months = 1\n'
        f"dead_open_after_days = 365\nback_pay_fen = {back_pay}\npayee_change_days = {days}\n"
        "min_contribution_age = 16\ncertification_max = 200\n"
        for valid_from, back_pay, days in versions
    )
    path = tmp_path / "county.toml"
    path.write_text(text, encoding="utf-8")
    with unit_of_work(factory) as s:
        thresholds.load(session=s, path=path)


def test_back_pay_above_threshold_and_payee_changed_just_before_it(
    world: World, session_factory, tmp_path: Path
) -> None:
    ids = three_pensioners(world, session_factory)
    pay_month(world, session_factory, "2026-06", tmp_path)
    _report_deaths(session_factory, ids[:1])
    pay_month(world, session_factory, "2026-07", tmp_path)  # the first is held back
    with unit_of_work(session_factory) as s:
        case = s.scalars(select(DeathCase).where(DeathCase.person_id == ids[0])).one()
        death.decide_death(
            session=s,
            principal=principal(session_factory, "reviewer_xzg"),
            case_id=case.id,
            accept=False,
            reason="误报，本人健在",
        )
    change_payee_account(
        world, ids[0], holder="乌云", bank_code="RCC", bank_account="6230000099998888"
    )
    pay_month(world, session_factory, "2026-08", tmp_path)  # July comes as back pay
    with unit_of_work(session_factory) as s:
        [back_pay] = s.scalars(
            select(PayrollLine.amount_fen).where(PayrollLine.kind == "back_pay")
        ).all()
    # National threshold (2,000 yuan) not passed; a county threshold equal to the back pay is
    # not passed either ("above"); one fen below it is; a zero-day window sees no change.
    _county_thresholds(
        session_factory,
        tmp_path,
        [
            ("2026-09-01", back_pay, 30),
            ("2026-10-01", back_pay - 1, 30),
            ("2026-11-01", back_pay - 1, 0),
        ],
    )
    rules = ("back_pay_above_threshold", "payee_changed_before_back_pay")
    for as_of in (dt.date(2026, 8, 31), dt.date(2026, 9, 1)):
        assert [_run(session_factory, rule, as_of)["new_count"] for rule in rules] == [0, 0]
    assert [_run(session_factory, rule, dt.date(2026, 10, 1))["new_count"] for rule in rules] == [
        1,
        1,
    ]
    above, changed = _findings(session_factory, rules[0]) + _findings(session_factory, rules[1])
    assert (above.subject_type, above.amount_fen) == ("pension", back_pay)
    assert json.loads(above.evidence_json)["months"] == ["2026-07", "2026-07"]
    evidence = json.loads(changed.evidence_json)
    assert evidence["back_pay_fen"] == back_pay and evidence["payee_change_id"] > 0
    assert evidence["maker_id"] != evidence["checker_id"]
    summary = _run(session_factory, rules[1], dt.date(2026, 11, 1))
    assert (summary["new_count"], summary["resolved_count"]) == (0, 1)


def _paid_year(s, person_id: int, year: int, paid_fen: int) -> None:
    version_id = policy.version_on(session=s, region_code=VILLAGE, on=dt.date(year, 12, 31)).id
    s.add(
        Assessment(
            person_id=person_id,
            county_code=VILLAGE[:6],
            region_code=VILLAGE,
            year=year,
            grade_fen=10000,
            own_due_fen=10000,
            policy_version_id=version_id,
            paid_fen=paid_fen,
            settled=paid_fen > 0,
        )
    )


def test_contributions_before_the_minimum_age_or_after_the_pension_started(
    world: World, session_factory
) -> None:
    ids = three_pensioners(world, session_factory)  # paid from 2026-06, years 2010-2024
    with unit_of_work(session_factory) as s:
        thresholds.load(session=s)
        # Born on the last day of 2000: 16 during 2016, so 2016 is plausible, 2015 is not;
        # an assessment not paid is no contribution.
        young = add_resident(s, sequence=71, birth=dt.date(2000, 12, 31)).id
        for year, paid in ((2014, 0), (2015, 10000), (2016, 10000)):
            _paid_year(s, young, year, paid)
        # A pensioner from June 2026 paying for 2026 is plausible; for 2027 is not.
        _paid_year(s, ids[0], 2026, 20000)
        _paid_year(s, ids[0], 2027, 30000)
    summary = _run(session_factory, "contribution_outside_age", dt.date(2027, 3, 1))
    assert summary["new_count"] == 2 and summary["new_fen"] == 40000
    found = {
        f.subject_id: json.loads(f.evidence_json)
        for f in _findings(session_factory, "contribution_outside_age")
    }
    assert [(a["year"], a["why"]) for a in found[young]["assessments"]] == [(2015, "under_min_age")]
    assert [(a["year"], a["why"]) for a in found[ids[0]]["assessments"]] == [
        (2027, "after_pension_start")
    ]
    assert found[ids[0]]["pension_start_month"] == "2026-06"


def test_a_pension_starting_in_the_month_of_the_60th_birthday_is_found(
    world: World, session_factory, tmp_path: Path
) -> None:
    ids = three_pensioners(world, session_factory)  # born May 1966: first month June 2026
    pay_month(world, session_factory, "2026-06", tmp_path)
    with unit_of_work(session_factory) as s:
        thresholds.load(session=s)
        # A falsified record: the second pension moved to start in May, the birthday month.
        pension = s.scalars(select(Pension).where(Pension.person_id == ids[1])).one()
        pension.start_month = dt.date(2026, 5, 1)
        [june] = s.scalars(select(PayrollLine).where(PayrollLine.pension_id == pension.id))
        # ... and a May line paid with June's payroll, as the falsified start would give.
        early = PayrollLine(
            payroll_id=june.payroll_id,
            pension_id=pension.id,
            person_id=june.person_id,
            county_code=june.county_code,
            bank_code=june.bank_code,
            bank_account=june.bank_account,
            kind="back_pay",
            month=dt.date(2026, 5, 1),
            amount_fen=june.amount_fen,
            basic_fen=june.basic_fen,
            account_fen=june.account_fen,
            computation_id=june.computation_id,
            policy_version_id=june.policy_version_id,
            state="paid",
        )
        s.add(early)
    summary = _run(session_factory, "pension_before_age", dt.date(2026, 7, 1))
    [finding] = _findings(session_factory, "pension_before_age")
    assert (finding.subject_type, finding.subject_id) == ("pension", pension.id)
    assert json.loads(finding.evidence_json) == {
        "birth_month": "1966-05",
        "pension_age": 60,
        "start_month": "2026-05",
    }
    # Only May was paid before the first payable month (June is not counted).
    assert finding.amount_fen == early.amount_fen == summary["new_fen"]


def test_an_operator_certifying_more_people_in_a_day_than_the_threshold(
    world: World, session_factory, tmp_path: Path
) -> None:
    ids = three_pensioners(world, session_factory)
    county = tmp_path / "county.toml"
    county.write_text(
        '[[version]]\nregion = "654226"\nvalid_from = 2026-01-01\nname = "县阈值"\n'
        'source = "测试"\n[version.values]\ndeath_paid_min_months = 1\n'
        "dead_open_after_days = 365\nback_pay_fen = 200000\npayee_change_days = 30\n"
        "min_contribution_age = 16\ncertification_max = 2\n",
        encoding="utf-8",
    )
    clerk_id = world.operator_ids["clerk_xzg"]
    with unit_of_work(session_factory) as s:
        thresholds.load(session=s, path=county)
        pensions = s.scalars(select(Pension.id).where(Pension.person_id.in_(ids))).all()
        # Three on 10 July (above two), two on 11 July (not above), one the next month.
        for pension_id, on in [(p, dt.date(2026, 7, 10)) for p in pensions] + [
            (pensions[0], dt.date(2026, 7, 11)),
            (pensions[1], dt.date(2026, 7, 11)),
            (pensions[2], dt.date(2026, 8, 1)),
        ]:
            s.add(
                SurvivalCertification(
                    pension_id=pension_id,
                    county_code="654226",
                    certified_on=on,
                    method="counter",
                    operator_id=clerk_id,
                    next_due=on.replace(year=on.year + 1),
                )
            )
    summary = _run(session_factory, "operator_certifies_many", dt.date(2026, 7, 31))
    [finding] = _findings(session_factory, "operator_certifies_many")
    assert (finding.subject_type, finding.subject_id) == ("operator", clerk_id)
    assert finding.region_code == "654226200000"  # the operator's office
    evidence = json.loads(finding.evidence_json)
    assert (evidence["certified_on"], evidence["certified"]) == ("2026-07-10", 3)
    assert summary["new_count"] == 1
