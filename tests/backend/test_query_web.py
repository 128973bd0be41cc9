"""The 12333 web query through HTTP: ID number + name + a one-time code from the test sink,
the resident's own records, one answer for every refusal, and the lockout."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from backend.accounts.models import Source
from backend.db import unit_of_work
from backend.query.models import QueryCode
from backend.query.sender import MemorySender
from backend.registry.models import Person
from tests.backend.money_world import OTHER_TOWNSHIP_VILLAGE, add_resident, id_number, load_basics
from tests.backend.test_interest import credit
from tests.backend.test_statements import pdf_text
from tests.conftest import World

PHONE = "13912345678"
NAME = "巴特尔"
SAME_ANSWER = "如您填写的信息与登记信息一致，验证码已发送到您登记的手机"
REFUSED = "身份证号码、姓名或验证码不正确"


@pytest.fixture
def sink(world: World) -> MemorySender:
    sink = MemorySender()
    world.client.app.state.query_code_sender = sink  # type: ignore[attr-defined]
    return sink


def _resident(world: World, factory: sessionmaker[Session]) -> str:
    with unit_of_work(factory) as s:
        load_basics(s, regions=False)
        person = add_resident(s, sequence=51, village=OTHER_TOWNSHIP_VILLAGE, name=NAME)
        person.phone = PHONE
        credit(s, person, dt.date(2025, 6, 1), 300_00)
        credit(s, person, dt.date(2025, 6, 1), 45_60, Source.GOVERNMENT_SUBSIDY)
        person_id, number = person.id, person.id_number
    r = world.client.post(
        "/api/v1/contributions/assessments",
        json={"person_id": person_id, "year": 2025, "grade_fen": 30000},
        headers=world.headers("clerk_hbk"),
    )
    assert r.status_code < 300, r.text
    return number


def _request_key(world: World) -> str:
    page = world.client.get("/12333/")
    assert page.status_code == 200 and 'lang="zh-CN"' in page.text
    assert '<label for="id_number">身份证号码</label>' in page.text
    match = re.search(r'name="request_key" value="([^"]+)"', page.text)
    assert match
    return match.group(1)


def _ask_code(world: World, number: str, name: str = NAME, key: str | None = None):
    return world.client.post(
        "/12333/code",
        data={"id_number": number, "name": name, "request_key": key or _request_key(world)},
    )


def _log_in(world: World, number: str, code: str, name: str = NAME):
    return world.client.post(
        "/12333/login",
        data={"id_number": number, "name": name, "code": code},
        follow_redirects=False,
    )


def _code(sink: MemorySender) -> str:
    phone, text = sink.messages[-1]
    assert phone == PHONE
    match = re.search(r"验证码是(\d{6})", text)
    assert match, text
    return match.group(1)


def test_resident_signs_in_with_a_code_and_sees_own_records(
    world: World, session_factory: sessionmaker[Session], sink: MemorySender, tmp_path: Path
):
    number = _resident(world, session_factory)
    key = _request_key(world)
    page = _ask_code(world, number, key=key)
    assert page.status_code == 200 and SAME_ANSWER in page.text
    assert _ask_code(world, number, key=key).status_code == 200  # the same form again
    assert len(sink.messages) == 1
    r = _log_in(world, number, _code(sink))
    assert r.status_code == 303 and r.headers["location"] == "/12333/me"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/12333" in cookie
    me = world.client.get("/12333/me")
    assert me.status_code == 200 and me.headers["cache-control"] == "no-store"
    text = me.text
    assert f"{NAME}，您好" in text
    assert "个人账户余额：345.60 元" in text
    assert '<td>个人缴费</td><td class="num">300.00 元</td>' in text
    assert "<td>2025</td>" in text and "未到账" in text
    assert "没有养老金发放记录" in text and "无需资格认证" in text
    assert number not in text  # the ID number is not shown back
    assert '<a href="/12333/statements/2025.pdf">2025年度对账单</a>' in text
    pdf = world.client.get("/12333/statements/2025.pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    printed = pdf_text(pdf.content, tmp_path)
    assert NAME in printed and "12333网上查询" in printed and "本人下载" in printed
    assert "345.60" in printed  # the closing balance, as in the books
    assert _log_in(world, number, _code(sink)).status_code == 401  # a code works once
    world.client.post("/12333/logout")
    for page in ("/12333/me", "/12333/statements/2025.pdf"):
        assert world.client.get(page, follow_redirects=False).headers["location"] == "/12333/"


def test_unknown_person_wrong_name_and_wrong_code_get_the_same_answer(
    world: World, session_factory: sessionmaker[Session], sink: MemorySender
):
    number = _resident(world, session_factory)
    unknown = id_number("654226", dt.date(1966, 6, 6), 991)
    known_page = _ask_code(world, number)
    for page in (_ask_code(world, unknown), _ask_code(world, number, name="巴特")):
        assert page.status_code == known_page.status_code
        assert SAME_ANSWER in page.text
    assert len(sink.messages) == 1  # only the real resident got a code
    code = _code(sink)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    answers = [
        _log_in(world, unknown, code),
        _log_in(world, number, code, name="巴特"),
        _log_in(world, number, wrong),
    ]
    assert {r.status_code for r in answers} == {401}
    assert all(REFUSED in r.text for r in answers)
    assert _log_in(world, number, code).status_code == 303


def test_repeated_wrong_codes_lock_the_web_query(
    world: World, session_factory: sessionmaker[Session], sink: MemorySender, settings
):
    number = _resident(world, session_factory)
    failures = 0
    while failures < settings.login_max_failures:
        _ask_code(world, number)
        code = _code(sink)
        for _ in range(min(3, settings.login_max_failures - failures)):
            assert _log_in(world, number, f"{(int(code) + 1) % 10**6:06d}").status_code == 401
            failures += 1
    sent = len(sink.messages)
    _ask_code(world, number)
    assert len(sink.messages) == sent  # locked: no new code is sent
    assert _log_in(world, number, code).status_code == 401  # nor is a right one taken


def test_an_expired_code_is_refused(
    world: World, session_factory: sessionmaker[Session], sink: MemorySender
):
    number = _resident(world, session_factory)
    _ask_code(world, number)
    with unit_of_work(session_factory) as s:
        s.execute(update(QueryCode).values(expires_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC)))
    assert _log_in(world, number, _code(sink)).status_code == 401
    with session_factory() as s:
        assert s.scalar(select(Person.phone)) == PHONE


def test_production_without_an_sms_gateway_says_so_and_sends_nothing(
    world: World, session_factory: sessionmaker[Session], settings
):
    number = _resident(world, session_factory)
    app = world.client.app  # type: ignore[attr-defined]
    app.state.settings = settings.model_copy(update={"env": "production"})
    page = _ask_code(world, number)
    assert page.status_code == 503 and "短信服务暂不可用" in page.text
    with session_factory() as s:
        assert s.scalar(select(QueryCode)) is None
