"""The 12333 phone menu as a pure state machine: keys and timeouts in, prompts out.

No I/O: the line-protocol server (``backend.query.ivr_server``) feeds it one DTMF key or
one timeout at a time and speaks what it answers; identification goes through the
``identify`` port (ID number, query password → :class:`Facts` or ``None``).

States::

    main ──1──► id_number ──#──► password ──#──► services ──1..4──► answer
      │0                                             │* back         │9 repeat, * back
      ▼                                              ▼               ▼0
    operator (transfer)                            main            operator

Every waiting state re-prompts on a wrong key or a timeout, at most ``MAX_TRIES`` times
in a row, then the call ends. A refused identification (unknown ID number, wrong or
locked password: one answer for all) sends the caller back to the ID number, at most
``MAX_IDENTIFY`` times per call.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable
from dataclasses import dataclass, field

from backend.query.service import Facts, source_label
from national_codes.id_number import IdNumberError, parse_id_number

MAX_TRIES = 3
MAX_IDENTIFY = 3
KEYS = frozenset("0123456789*#")

WELCOME = "您好，欢迎致电12333城乡居民养老保险查询服务。"
MAIN_MENU = "查询个人账户和养老金，请按1；人工服务，请按0；重听，请按9。"
ID_PROMPT = "请输入您的18位身份证号码，末位是X的请按星号键，输入完毕请按井号键。"
PASSWORD_PROMPT = "请输入6位查询密码，输入完毕请按井号键。"
SERVICES_MENU = (
    "查询个人账户余额，请按1；查询最近一次缴费，请按2；查询本月养老金，请按3；"
    "查询待遇资格认证，请按4；返回上一级，请按星号键；人工服务，请按0。"
)
AFTER_ANSWER = "重听，请按9；返回上一级，请按星号键；人工服务，请按0。"
BAD_KEY = "您的输入有误。"
NO_INPUT = "您没有输入。"
BAD_ID = "您输入的身份证号码有误。"
REFUSED = "身份证号码或查询密码不正确。"
NO_PASSWORD_HINT = "如未设置查询密码或密码已锁定，请携带身份证到社保经办窗口办理。"
TRANSFER = "正在为您转接人工服务，请稍候。"
GOODBYE = "感谢您的来电，再见。"
TOO_MANY = "您的输入多次有误，请稍后再拨，或到社保经办窗口办理。再见。"


class State(enum.StrEnum):
    """Where the call is."""

    MAIN = "main"
    ID_NUMBER = "id_number"
    PASSWORD = "password"
    SERVICES = "services"
    ANSWER = "answer"
    ENDED = "ended"


@dataclass(frozen=True)
class Read:
    """Wait for keys: up to ``max_keys`` (ended early by ``#``), for ``timeout_s`` seconds."""

    max_keys: int
    timeout_s: int


@dataclass
class Reply:
    """What the caller hears, then either a wait for keys or the end of the call."""

    say: list[str] = field(default_factory=list)
    read: Read | None = None
    end: str | None = None  # "hangup" or "transfer"


def amount(fen: int) -> str:
    """An amount as a TTS speaks it: 1234元5角6分, 0元."""
    sign = "负" if fen < 0 else ""
    yuan, rest = divmod(abs(fen), 100)
    jiao, cents = divmod(rest, 10)
    words = f"{sign}{yuan}元"
    if jiao or cents:
        words += f"{jiao}角" if jiao or not cents else "零"
    if cents:
        words += f"{cents}分"
    return words


def _date(day: dt.date) -> str:
    return f"{day:%Y年%-m月%-d日}"


def answer_text(choice: str, facts: Facts) -> str:
    """The spoken answer to service 1–4 of the services menu."""
    if choice == "1":
        parts = [
            f"{source_label(source)}{amount(fen)}"
            for source, fen in sorted(facts.balance_by_source.items())
        ]
        detail = f"其中{'，'.join(parts)}。" if parts else ""
        return f"您的个人账户余额为{amount(facts.balance_fen)}。{detail}"
    if choice == "2":
        last = facts.last_contribution
        if last is None:
            return "没有查到您的缴费记录。"
        return (
            f"您最近一次缴费是{_date(last.collected_on)}，"
            f"缴纳{last.year}年度保费{amount(last.amount_fen)}。"
        )
    if choice == "3":
        pension = facts.pension
        if pension is None:
            return "您尚未领取养老金。"
        month = f"{pension.month:%Y年%-m月}"
        if pension.failed:
            return f"您{month}的养老金发放失败，请携带社保卡到社保经办窗口办理。"
        if pension.paid_fen:
            return f"您{month}的养老金{amount(pension.paid_fen)}已发放。"
        if pension.pending:
            return f"您{month}的养老金正在发放中。"
        return f"您{month}的养老金尚未发放。"
    certification = facts.certification
    if certification is None:
        return "您尚未领取养老金，无需资格认证。"
    if certification.suspended:
        return "您的养老金已暂停发放，请尽快到社保经办窗口或自助终端办理资格认证。"
    if certification.due_on is None:
        return "您还没有资格认证记录，请到社保经办窗口或自助终端办理。"
    if certification.overdue:
        return f"您的资格认证已于{_date(certification.due_on)}到期，请尽快办理。"
    return f"您下一次资格认证应在{_date(certification.due_on)}之前完成。"


class Call:
    """One call through the menu. ``start`` first, then ``key`` or ``timeout`` per event."""

    def __init__(self, *, identify: Callable[[str, str], Facts | None], timeout_s: int = 8) -> None:
        self._identify = identify
        self._timeout_s = timeout_s
        self.state = State.MAIN
        self._buffer = ""
        self._tries = 0
        self._identify_tries = 0
        self._id_number = ""
        self._facts: Facts | None = None
        self._last_answer = ""

    # -- events ---------------------------------------------------------------------------

    def start(self) -> Reply:
        """The greeting and the main menu."""
        reply = self._prompt(State.MAIN)
        reply.say.insert(0, WELCOME)
        return reply

    def key(self, key: str) -> Reply | None:
        """One DTMF key; ``None`` while a number is still being keyed in (no prompt)."""
        if key not in KEYS:
            raise ValueError(f"not a DTMF key: {key!r}")
        if self.state in (State.ID_NUMBER, State.PASSWORD):
            return self._entry_key(key)
        handler = {
            State.MAIN: self._main,
            State.SERVICES: self._services,
            State.ANSWER: self._answer,
        }.get(self.state)
        if handler is None:
            raise ValueError("the call has ended")
        return handler(key)

    def timeout(self) -> Reply:
        """No (complete) input within the wait: say so and prompt again, or end the call."""
        if self.state == State.ENDED:
            raise ValueError("the call has ended")
        self._buffer = ""
        return self._retry(NO_INPUT)

    # -- states ---------------------------------------------------------------------------

    def _main(self, key: str) -> Reply:
        if key == "1":
            return self._prompt(State.ID_NUMBER)
        if key == "0":
            return self._end(TRANSFER, "transfer")
        if key == "9":
            return self._prompt(State.MAIN)
        return self._retry(BAD_KEY)

    def _services(self, key: str) -> Reply:
        assert self._facts is not None
        if key in ("1", "2", "3", "4"):
            self._last_answer = answer_text(key, self._facts)
            reply = self._prompt(State.ANSWER)
            reply.say.insert(0, self._last_answer)
            return reply
        if key == "*":
            self._facts = None  # back to the main menu: identify again for more
            return self._prompt(State.MAIN)
        if key == "0":
            return self._end(TRANSFER, "transfer")
        return self._retry(BAD_KEY)

    def _answer(self, key: str) -> Reply:
        if key == "9":
            reply = self._prompt(State.ANSWER)
            reply.say.insert(0, self._last_answer)
            return reply
        if key == "*":
            return self._prompt(State.SERVICES)
        if key == "0":
            return self._end(TRANSFER, "transfer")
        return self._retry(BAD_KEY)

    def _entry_key(self, key: str) -> Reply | None:
        limit = 18 if self.state == State.ID_NUMBER else 6
        if key != "#":
            self._buffer += "X" if key == "*" else key
            if len(self._buffer) <= limit:
                return None
        entered, self._buffer = self._buffer, ""
        if self.state == State.ID_NUMBER:
            try:
                self._id_number = parse_id_number(entered).value
            except IdNumberError:
                return self._retry(BAD_ID)
            return self._prompt(State.PASSWORD)
        if len(entered) != 6 or not entered.isdigit():
            return self._refused()
        facts = self._identify(self._id_number, entered)
        if facts is None:
            return self._refused()
        self._facts = facts
        return self._prompt(State.SERVICES)

    def _refused(self) -> Reply:
        self._identify_tries += 1
        self._id_number = ""
        if self._identify_tries >= MAX_IDENTIFY:
            return self._end(f"{REFUSED}{NO_PASSWORD_HINT}{GOODBYE}", "hangup")
        reply = self._prompt(State.ID_NUMBER)
        reply.say.insert(0, REFUSED)
        return reply

    # -- helpers --------------------------------------------------------------------------

    def _menu(self, state: State) -> tuple[str, Read]:
        if state == State.MAIN:
            return MAIN_MENU, Read(1, self._timeout_s)
        if state == State.ID_NUMBER:
            return ID_PROMPT, Read(19, self._timeout_s * 3)
        if state == State.PASSWORD:
            return PASSWORD_PROMPT, Read(7, self._timeout_s * 2)
        if state == State.SERVICES:
            return SERVICES_MENU, Read(1, self._timeout_s)
        return AFTER_ANSWER, Read(1, self._timeout_s)

    def _prompt(self, state: State) -> Reply:
        """Enter ``state`` afresh: its prompt, its wait, the retry count reset."""
        self.state = state
        self._tries = 0
        text, read = self._menu(state)
        return Reply(say=[text], read=read)

    def _retry(self, reason: str) -> Reply:
        """A wrong key or a timeout in the current state: prompt again, or end the call."""
        self._tries += 1
        if self._tries >= MAX_TRIES:
            return self._end(TOO_MANY, "hangup")
        text, read = self._menu(self.state)
        return Reply(say=[reason, text], read=read)

    def _end(self, text: str, how: str) -> Reply:
        self.state = State.ENDED
        self._facts = None
        return Reply(say=[text], end=how)
