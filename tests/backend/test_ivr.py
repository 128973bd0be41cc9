"""The 12333 phone menu: the pure state machine branch by branch, then a scripted caller
over the TCP line protocol against the real database (identification, answers from the
books, the same answer for an unknown person and a wrong password, lockout, timeouts and
the per-number call limit)."""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.accounts.models import Account, Source
from backend.accounts.service import balances_by_source
from backend.config import Settings
from backend.db import unit_of_work
from backend.keys.fields import lookup
from backend.query import ivr
from backend.query.ivr import Call, State
from backend.query.ivr_server import RATE_LIMITED, IvrServer, identifier
from backend.query.service import Certification, Facts, LastContribution, MonthPension
from backend.registry.models import Person
from tests.backend.money_world import OTHER_TOWNSHIP_VILLAGE, add_resident, id_number, load_basics
from tests.backend.test_interest import credit
from tests.conftest import World, missing

ARTEFACTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
PASSWORD = "258036"
THIS_MONTH = dt.date.today().replace(day=1)


def _facts(**changes: object) -> Facts:
    base = {
        "person_id": 1,
        "name": "巴特尔",
        "balance_fen": 1_234_56,
        "balance_by_source": {"own": 1_000_00, "government_subsidy": 234_56},
        "last_contribution": LastContribution(dt.date(2026, 3, 5), 2026, 500_00),
        "pension": MonthPension(THIS_MONTH, 21_300, failed=False, pending=False),
        "certification": Certification(dt.date(2027, 6, 30), overdue=False, suspended=False),
        "receives_pension": True,
    }
    base.update(changes)
    return Facts(**base)  # type: ignore[arg-type]


def _valid_id(sequence: int = 12) -> str:
    return id_number("654226", dt.date(1955, 3, 1), sequence)


def _keys(number: str) -> str:
    return number.replace("X", "*") + "#"


def _press(call: Call, keys: str) -> ivr.Reply:
    reply = None
    for key in keys:
        reply = call.key(key)
    assert reply is not None, f"no prompt after {keys!r}"
    return reply


def _fake_identify(wanted_id: str, facts: Facts) -> Callable[[str, str], Facts | None]:
    def identify(id_no: str, password: str) -> Facts | None:
        return facts if (id_no, password) == (wanted_id, PASSWORD) else None

    return identify


# -- the state machine -----------------------------------------------------------------


def test_greeting_main_menu_repeat_and_transfer_to_an_operator():
    call = Call(identify=lambda *_: None)
    start = call.start()
    assert start.say == [ivr.WELCOME, ivr.MAIN_MENU] and start.read == ivr.Read(1, 8)
    assert call.key("9").say == [ivr.MAIN_MENU]
    transfer = call.key("0")
    assert transfer.end == "transfer" and transfer.say == [ivr.TRANSFER]
    assert call.state == State.ENDED


def test_wrong_keys_and_timeouts_reprompt_then_end_the_call():
    call = Call(identify=lambda *_: None)
    call.start()
    assert call.key("5").say == [ivr.BAD_KEY, ivr.MAIN_MENU]
    assert call.timeout().say == [ivr.NO_INPUT, ivr.MAIN_MENU]
    end = call.key("#")
    assert end.end == "hangup" and end.say == [ivr.TOO_MANY]
    # A good key in between starts the count afresh.
    call = Call(identify=lambda *_: None)
    call.start()
    call.timeout()
    call.timeout()
    assert call.key("1").say == [ivr.ID_PROMPT]
    assert call.timeout().read is not None


def test_id_number_with_x_by_star_then_every_service_repeat_back_and_operator():
    id_x = next(n for n in (_valid_id(s) for s in range(1, 60)) if n.endswith("X"))
    call = Call(identify=_fake_identify(id_x, _facts()))
    call.start()
    call.key("1")
    assert _press(call, _keys(id_x)).say == [ivr.PASSWORD_PROMPT]
    assert _press(call, PASSWORD + "#").say == [ivr.SERVICES_MENU]
    balance = call.key("1")
    assert balance.say == [
        "您的个人账户余额为1234元5角6分。其中政府补贴234元5角6分，个人缴费1000元。",
        ivr.AFTER_ANSWER,
    ]
    assert call.key("9").say == balance.say  # repeat
    assert call.key("*").say == [ivr.SERVICES_MENU]  # back
    assert call.key("2").say[0] == "您最近一次缴费是2026年3月5日，缴纳2026年度保费500元。"
    call.key("*")
    assert call.key("3").say[0] == f"您{THIS_MONTH:%Y年%-m月}的养老金213元已发放。"
    call.key("*")
    assert call.key("4").say[0] == "您下一次资格认证应在2027年6月30日之前完成。"
    assert call.key("7").say == [ivr.BAD_KEY, ivr.AFTER_ANSWER]
    call.key("*")
    assert call.key("*").say == [ivr.MAIN_MENU]  # back to the main menu, identified no more
    call.key("1")
    assert call.state == State.ID_NUMBER
    call = Call(identify=_fake_identify(id_x, _facts()))
    call.start()
    call.key("1")
    _press(call, _keys(id_x))
    _press(call, PASSWORD + "#")
    assert call.key("0").end == "transfer"


@pytest.mark.parametrize(
    ("changes", "choice", "said"),
    [
        ({"last_contribution": None}, "2", "没有查到您的缴费记录。"),
        ({"pension": None}, "3", "您尚未领取养老金。"),
        (
            {"pension": MonthPension(THIS_MONTH, 0, failed=True, pending=False)},
            "3",
            "养老金发放失败，请携带社保卡到社保经办窗口办理。",
        ),
        ({"pension": MonthPension(THIS_MONTH, 0, failed=False, pending=True)}, "3", "正在发放中"),
        ({"certification": None}, "4", "您尚未领取养老金，无需资格认证。"),
        (
            {"certification": Certification(dt.date(2026, 1, 31), overdue=True, suspended=False)},
            "4",
            "您的资格认证已于2026年1月31日到期，请尽快办理。",
        ),
        (
            {"certification": Certification(None, overdue=False, suspended=True)},
            "4",
            "您的养老金已暂停发放",
        ),
        ({"balance_fen": 5, "balance_by_source": {"interest": 5}}, "1", "余额为0元零5分。"),
    ],
)
def test_each_answer_says_the_case_plainly(changes, choice, said):
    assert said in ivr.answer_text(choice, _facts(**changes))


def test_bad_id_number_unknown_person_and_wrong_password_and_three_refusals():
    known = _valid_id()
    call = Call(identify=_fake_identify(known, _facts()))
    call.start()
    call.key("1")
    assert _press(call, "12345#").say == [ivr.BAD_ID, ivr.ID_PROMPT]
    bad_check = known[:17] + str((int(known[17]) + 1) % 10 if known[17] != "X" else 0)
    assert _press(call, _keys(bad_check)).say == [ivr.BAD_ID, ivr.ID_PROMPT]
    unknown = _valid_id(13)
    _press(call, _keys(unknown))
    refused_unknown = _press(call, PASSWORD + "#")
    _press(call, _keys(known))
    refused_wrong = _press(call, "147036#")
    assert refused_unknown.say == refused_wrong.say == [ivr.REFUSED, ivr.ID_PROMPT]
    _press(call, _keys(known))
    last = _press(call, "14703#")  # too short: refused like a wrong one
    assert last.end == "hangup" and last.say == [
        f"{ivr.REFUSED}{ivr.NO_PASSWORD_HINT}{ivr.GOODBYE}"
    ]


# -- the scripted caller over TCP --------------------------------------------------------


class Caller:
    """A telephony adapter's side of the line protocol: keys in, prompts out."""

    def __init__(self, port: int, number: str = "13800138000") -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.file = self.sock.makefile("rwb")
        self._send(f"CALL {number}")

    def _send(self, line: str) -> None:
        self.file.write(f"{line}\n".encode())
        self.file.flush()

    def hear(self) -> tuple[list[str], str]:
        """The prompts up to the next READ, HANGUP or TRANSFER, and that line."""
        said: list[str] = []
        while True:
            raw = self.file.readline()
            assert raw, f"connection closed after {said}"
            line = raw.decode().rstrip("\n")
            if line.startswith("SAY "):
                said.append(line[4:])
            else:
                return said, line

    def press(self, keys: str) -> tuple[list[str], str]:
        self._send(f"DTMF {keys}")
        return self.hear()

    def wait_out(self) -> tuple[list[str], str]:
        self._send("TIMEOUT")
        return self.hear()

    def close(self) -> None:
        self.sock.close()


@contextmanager
def ivr_server(factory: sessionmaker[Session], settings: Settings, **options: int) -> Iterator[int]:
    """The real server on 127.0.0.1 (a free port), in a thread with its own event loop."""
    server = IvrServer(identify_for=lambda c: identifier(factory, settings, c), **options)
    loop = asyncio.new_event_loop()
    started = loop.run_until_complete(server.start("127.0.0.1", 0))
    port = started.sockets[0].getsockname()[1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield port
    finally:

        async def shut_down() -> None:
            started.close()
            calls = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in calls:
                task.cancel()
            await asyncio.gather(*calls, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shut_down(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


def _resident_with_password(world: World, factory: sessionmaker[Session]) -> str:
    with unit_of_work(factory) as s:
        load_basics(s, regions=False)
        person = add_resident(s, sequence=41, village=OTHER_TOWNSHIP_VILLAGE)
        credit(s, person, dt.date(2025, 6, 1), 300_00)
        credit(s, person, dt.date(2025, 6, 1), 30_00, Source.GOVERNMENT_SUBSIDY)
        person_id, number = person.id, person.id_number
    assessment = world.client.post(
        "/api/v1/contributions/assessments",
        json={"person_id": person_id, "year": dt.date.today().year, "grade_fen": 50000},
        headers=world.headers("clerk_hbk"),
    )
    assert assessment.status_code < 300, assessment.text
    collected = world.client.post(
        "/api/v1/contributions/collections",
        json={"assessment_id": assessment.json()["id"]},
        headers=world.headers("clerk_hbk"),
    )
    assert collected.status_code < 300, collected.text
    r = world.client.put(
        f"/api/v1/persons/{person_id}/query-password",
        json={"password": PASSWORD},
        headers=world.headers("clerk_hbk"),
    )
    assert r.status_code == 200, r.text
    return number


def test_scripted_caller_hears_the_books_and_the_lockout(
    world: World, session_factory: sessionmaker[Session], settings: Settings
):
    number = _resident_with_password(world, session_factory)
    today = dt.date.today()
    with ivr_server(session_factory, settings) as port:
        caller = Caller(port)
        assert caller.hear() == ([ivr.WELCOME, ivr.MAIN_MENU], "READ 1 8")
        assert caller.press("1") == ([ivr.ID_PROMPT], "READ 19 24")
        # Keys may come one line at a time or several on a line.
        for key in _keys(number)[:-1]:
            caller._send(f"DTMF {key}")
        assert caller.press("#") == ([ivr.PASSWORD_PROMPT], "READ 7 16")
        assert caller.press(PASSWORD + "#") == ([ivr.SERVICES_MENU], "READ 1 8")
        said, _ = caller.press("1")
        assert said[0].startswith("您的个人账户余额为")
        with session_factory() as s:
            person = s.scalar(
                select(Person).where(Person.id_number_hash == lookup("id_number", number))
            )
            account = s.scalar(select(Account).where(Account.person_id == person.id))
            books = balances_by_source(session=s, account_id=account.id)
        assert said[0].startswith(f"您的个人账户余额为{ivr.amount(sum(books.values()))}。")
        assert f"个人缴费{ivr.amount(books['own'])}" in said[0]
        assert books["own"] == 800_00 and books["government_subsidy"] > 30_00
        caller.press("*")
        said, _ = caller.press("2")
        assert said[0] == f"您最近一次缴费是{today:%Y年%-m月%-d日}，缴纳{today.year}年度保费500元。"
        caller.press("*")
        assert caller.press("3")[0][0] == "您尚未领取养老金。"
        caller.press("*")
        assert caller.press("4")[0][0] == "您尚未领取养老金，无需资格认证。"
        assert caller.wait_out() == ([ivr.NO_INPUT, ivr.AFTER_ANSWER], "READ 1 8")
        assert caller.press("0") == ([ivr.TRANSFER], "TRANSFER operator")
        caller.close()

        # Unknown person and wrong password: one answer. Five wrong tries lock it.
        unknown = _valid_id(77)
        answers = []
        for attempt in range(settings.login_max_failures + 1):
            if attempt % 3 == 0:
                caller = Caller(port, number=f"1390000000{attempt}")
                caller.hear()
                caller.press("1")
            caller.press(_keys(unknown if attempt == 0 else number))
            answers.append(caller.press("000001#" if attempt else PASSWORD + "#"))
        assert answers[0] == answers[1] == ([ivr.REFUSED, ivr.ID_PROMPT], "READ 19 24")
        caller.close()
        caller = Caller(port, number="13900000099")
        caller.hear()
        caller.press("1")
        caller.press(_keys(number))
        locked = caller.press(PASSWORD + "#")  # the right password, refused while locked
        assert locked == ([ivr.REFUSED, ivr.ID_PROMPT], "READ 19 24")
        caller.close()


def test_server_times_out_on_its_own_and_limits_calls_per_number(
    world: World, session_factory: sessionmaker[Session], settings: Settings
):
    with ivr_server(session_factory, settings, timeout_s=1, calls_per_minute=2) as port:
        caller = Caller(port, number="13700000000")
        caller.hear()
        assert caller.hear() == ([ivr.NO_INPUT, ivr.MAIN_MENU], "READ 1 1")  # nothing sent
        caller._send("BOGUS")
        assert caller.hear() == ([], "ERROR unknown line: BOGUS")
        caller.close()
        Caller(port, number="13700000000").close()
        third = Caller(port, number="13700000000")
        assert third.hear() == ([RATE_LIMITED], "HANGUP")
        third.close()
        other = Caller(port, number="13700000001")
        assert other.hear()[0][0] == ivr.WELCOME
        other.close()


def test_a_prompt_rendered_by_espeak_ng_to_wav():
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        missing("espeak-ng (Debian espeak-ng) is not installed")
    assert espeak is not None
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    out = ARTEFACTS / "ivr-main-menu.wav"
    subprocess.run(
        [espeak, "-v", "cmn", "-w", str(out), ivr.WELCOME + ivr.MAIN_MENU], check=True, timeout=60
    )
    data = out.read_bytes()
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    assert len(data) > 44 + 22050  # more than half a second of 16-bit mono at 22 kHz
