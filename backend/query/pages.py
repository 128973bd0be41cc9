"""The 12333 web query: mobile-first pages for residents, plain HTML forms, no JavaScript.

``/12333/`` signs in with ID number + name + a one-time code to the phone on record
(``backend.query.web``); ``/12333/me`` shows the resident's own records, read-only. The
forms post ``application/x-www-form-urlencoded``; each sign-in form carries a one-time
key, so posting it twice sends one code. Served outside ``/api/v1`` without a client
certificate (residents have none), rate-limited per address (``backend.web_security``).
"""

from __future__ import annotations

import datetime as dt
import secrets
from html import escape
from pathlib import Path as FilePath
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from backend.audit.service import Actor
from backend.config import Settings
from backend.deps import AppSettings, DbSession, PublicActor, capped_body
from backend.query import service, web
from backend.query.ivr import answer_text
from backend.query.sender import CodeSender, LogFileSender
from backend.statements import service as statements
from backend.statements.pdf import statement_pdf as statement_pdf_bytes

router = APIRouter(prefix="/12333", tags=["query"], include_in_schema=False)
COOKIE = "xnb12333"
FORM_LIMIT = 4096
#: Where codes go when no SMS gateway is configured (development only).
DEV_CODE_LOG = FilePath("var/12333-codes.log")
STATES = {"paid": "已发放", "failed": "发放失败", "built": "发放中", "unknown": "发放中"}

STYLE = """
body{font-family:"WenQuanYi Zen Hei","Noto Sans CJK SC",sans-serif;font-size:18px;line-height:1.6;
margin:0;color:#111;background:#fff}
header{background:#0b4f8a;color:#fff;padding:12px 16px}header h1{font-size:1.3em;margin:0}
main{padding:16px;max-width:40em;margin:auto}
label{display:block;font-weight:bold;margin-top:12px}
input{font-size:1.1em;width:100%;box-sizing:border-box;padding:10px;border:2px solid #333;
border-radius:4px}
button{font-size:1.1em;margin-top:16px;padding:12px 20px;background:#0b4f8a;color:#fff;
border:0;border-radius:4px;width:100%}
a{color:#0b4f8a}.notice{background:#fff4d6;border-left:4px solid #b36b00;padding:8px 12px}
.error{background:#fde2e2;border-left:4px solid #a40000;padding:8px 12px}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:6px;
border-bottom:1px solid #ccc}td.num{text-align:right}
"""


def _page(title: str, body: str, *, status: int = 200) -> HTMLResponse:
    html = f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy"
 content="default-src 'none'; style-src 'unsafe-inline'; form-action 'self'">
<title>{escape(title)} - 12333城乡居民养老保险查询</title><style>{STYLE}</style></head>
<body><header><h1>12333 城乡居民养老保险查询</h1></header>
<main><h2>{escape(title)}</h2>{body}</main></body></html>"""
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})


def _sender(request: Request, settings: Settings) -> CodeSender | None:
    """The installed SMS gateway client; the log-file sender only outside production."""
    sender: CodeSender | None = getattr(request.app.state, "query_code_sender", None)
    if sender is None and settings.env != "production":
        return LogFileSender(DEV_CODE_LOG)
    return sender


async def _form(request: Request) -> dict[str, str]:
    body = await capped_body(request, FORM_LIMIT)
    parsed = parse_qs(body.decode("utf-8", errors="replace"), max_num_fields=10)
    return {name: values[0].strip()[:64] for name, values in parsed.items()}


def _identity_fields(id_number: str, name: str) -> str:
    return (
        f'<input type="hidden" name="id_number" value="{escape(id_number)}">'
        f'<input type="hidden" name="name" value="{escape(name)}">'
    )


@router.get("/", response_class=HTMLResponse)
def sign_in_page() -> HTMLResponse:
    """Step one: ID number and name."""
    key = secrets.token_urlsafe(24)
    return _page(
        "查询本人参保信息",
        f"""<form method="post" action="/12333/code">
<input type="hidden" name="request_key" value="{key}">
<label for="id_number">身份证号码</label>
<input id="id_number" name="id_number" required maxlength="18" autocomplete="off"
 inputmode="text" pattern="[0-9]{{17}}[0-9Xx]" aria-describedby="id_help">
<p id="id_help">18位，末位为X的请输入X。</p>
<label for="name">姓名</label>
<input id="name" name="name" required maxlength="30" autocomplete="name">
<button type="submit">获取短信验证码</button></form>
<p>验证码将发送到您在社保经办机构登记的手机。手机号码有变化的，请到社保经办窗口更新。</p>
<p><a href="/verify/">核验社保回执或凭证的真伪</a></p>""",
    )


def _code_form(id_number: str, name: str, message: str, css: str) -> str:
    return f"""<p class="{css}" role="status">{escape(message)}</p>
<form method="post" action="/12333/login">{_identity_fields(id_number, name)}
<label for="code">短信验证码</label>
<input id="code" name="code" required maxlength="6" inputmode="numeric" pattern="[0-9]{{6}}"
 autocomplete="one-time-code">
<button type="submit">查询</button></form>
<p><a href="/12333/">重新获取验证码</a></p>"""


@router.post("/code", response_class=HTMLResponse)
async def send_code(
    request: Request, session: DbSession, settings: AppSettings, actor: PublicActor
) -> HTMLResponse:
    """Step two: a code is sent if the person is known; the page says the same either way."""
    form = await _form(request)
    id_number, name = form.get("id_number", ""), form.get("name", "")
    request_key = form.get("request_key", "")
    if not (id_number and name and request_key):
        return _page(
            "查询本人参保信息", '<p class="error">请填写身份证号码和姓名。</p>', status=422
        )
    sender = _sender(request, settings)
    if sender is None:
        return _page(
            "查询本人参保信息",
            '<p class="error">短信服务暂不可用，请稍后再试，或拨打12333电话查询。</p>',
            status=503,
        )
    web.send_code(
        session=session,
        settings=settings,
        sender=sender,
        id_number=id_number,
        name=name,
        request_key=request_key,
        actor=actor,
    )
    return _page(
        "输入短信验证码",
        _code_form(
            id_number,
            name,
            f"如您填写的信息与登记信息一致，验证码已发送到您登记的手机，{web.CODE_MINUTES}分钟内有效。",
            "notice",
        ),
    )


@router.post("/login", response_class=HTMLResponse)
async def login(
    request: Request, session: DbSession, settings: AppSettings, actor: PublicActor
) -> Response:
    """Step three: the code; right → the records, wrong → one answer for every reason."""
    form = await _form(request)
    id_number, name = form.get("id_number", ""), form.get("name", "")
    token = web.verify_code(
        session=session,
        settings=settings,
        id_number=id_number,
        name=name,
        code=form.get("code", ""),
        actor=actor,
    )
    if token is None:
        message = "身份证号码、姓名或验证码不正确，或验证码已过期。多次输错将暂停查询一段时间。"
        return _page("输入短信验证码", _code_form(id_number, name, message, "error"), status=401)
    response = RedirectResponse("/12333/me", status_code=303)
    response.set_cookie(
        COOKIE,
        token,
        max_age=web.SESSION_MINUTES * 60,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/12333",
    )
    return response


@router.post("/logout")
def logout(request: Request, session: DbSession) -> RedirectResponse:
    """Sign out and back to the first page."""
    web.end_session(session=session, token=request.cookies.get(COOKIE))
    response = RedirectResponse("/12333/", status_code=303)
    response.delete_cookie(COOKIE, path="/12333")
    return response


def _rows(rows: list[list[str]], numeric: set[int], empty: str, width: int) -> str:
    """Table rows, escaped; the columns in ``numeric`` right-aligned; ``empty`` when none."""
    if not rows:
        return f'<tr><td colspan="{width}">{escape(empty)}</td></tr>'
    return "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{escape(cell)}</td>' if i in numeric else f"<td>{escape(cell)}</td>"
            for i, cell in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )


def _money(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100:,}.{abs(fen) % 100:02d} 元"


@router.get("/statements/{year}.pdf", response_class=Response)
def statement_pdf(
    year: Annotated[int, Path(ge=2009, le=2100)],
    request: Request,
    session: DbSession,
    settings: AppSettings,
    actor: PublicActor,
) -> Response:
    """The resident's annual statement (个人账户对账单), the counter's document, as A4 PDF."""
    person = web.session_person(session=session, token=request.cookies.get(COOKIE))
    if person is None:
        return RedirectResponse("/12333/", status_code=303)
    resident = Actor(username="12333-web", device="web", address=actor.address)
    annual = statements.resident_annual_statement(
        session=session, settings=settings, person=person, year=year, actor=resident
    )
    return Response(
        statement_pdf_bytes(annual),
        media_type="application/pdf",
        headers={
            "Content-Disposition": f"attachment; filename=statement-{year}.pdf",
            "Cache-Control": "no-store",
        },
    )


@router.get("/me", response_class=HTMLResponse)
def my_records(request: Request, session: DbSession) -> Response:
    """The resident's own records: balance by source, contributions, payments, certification."""
    person = web.session_person(session=session, token=request.cookies.get(COOKIE))
    if person is None:
        return RedirectResponse("/12333/", status_code=303)
    today = dt.date.today()
    facts = service.facts(session=session, person=person, today=today)
    years = service.contributions_by_year(session=session, person_id=person.id)
    payments = service.pension_payments(session=session, person_id=person.id)
    sources = _rows(
        [[service.source_label(s), _money(f)] for s, f in sorted(facts.balance_by_source.items())],
        {1},
        "暂无余额",
        2,
    )
    contributions = _rows(
        [
            [
                str(y.year),
                _money(y.grade_fen),
                _money(y.paid_fen),
                _money(y.subsidy_fen),
                "已到账" if y.settled else "未到账",
            ]
            for y in years
        ],
        {1, 2, 3},
        "没有缴费记录",
        5,
    )
    paid = _rows(
        [
            [f"{p.month:%Y年%-m月}", _money(p.amount_fen), STATES.get(p.state, "处理中")]
            for p in payments
        ],
        {1},
        "没有养老金发放记录",
        3,
    )
    certification = escape(answer_text("4", facts))
    statement_links = (
        "".join(
            f'<li><a href="/12333/statements/{year}.pdf">{year}年度对账单</a></li>'
            for year in service.statement_years(session=session, person_id=person.id, today=today)
        )
        or "<li>尚无个人账户</li>"
    )
    body = f"""<p>{escape(person.name)}，您好。以下为您本人的参保信息，仅供查询。</p>
<section aria-labelledby="h-balance">
<h3 id="h-balance">个人账户余额：{escape(_money(facts.balance_fen))}</h3>
<table><caption>按资金来源</caption>
<thead><tr><th scope="col">来源</th><th scope="col">金额</th></tr></thead>
<tbody>{sources}</tbody></table></section>
<section aria-labelledby="h-years"><h3 id="h-years">历年缴费</h3>
<table><thead><tr><th scope="col">年度</th><th scope="col">缴费档次</th>
<th scope="col">个人已缴</th><th scope="col">补贴</th><th scope="col">状态</th></tr></thead>
<tbody>{contributions}</tbody></table></section>
<section aria-labelledby="h-pension"><h3 id="h-pension">养老金发放</h3>
<table><thead><tr><th scope="col">月份</th><th scope="col">金额</th>
<th scope="col">状态</th></tr></thead>
<tbody>{paid}</tbody></table></section>
<section aria-labelledby="h-statements"><h3 id="h-statements">个人账户对账单（PDF）</h3>
<ul>{statement_links}</ul></section>
<section aria-labelledby="h-cert"><h3 id="h-cert">待遇资格认证</h3><p>{certification}</p></section>
<p><a href="/verify/">核验社保回执或凭证的真伪</a></p>
<form method="post" action="/12333/logout"><button type="submit">退出查询</button></form>"""
    return _page("我的参保信息", body)
