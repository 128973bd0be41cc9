"""Receipts as data: a few element kinds, and the layouts the counter prints.

A layout turns business facts into elements; the renderer turns elements into
ESC/POS bytes for one printer profile. Layouts know nothing about paper width.
Every receipt ends with its number as a Code 128 barcode and the backend's signed
token (:mod:`receipts`) as a QR code, so a forged receipt is detectable.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from device_drivers.printer.text import Align
from receipts import ReceiptKind, mask_id_number, read_unverified


@dataclass(frozen=True)
class Line:
    """A line of text (wrapped when longer than the paper)."""

    text: str
    align: Align = Align.LEFT
    bold: bool = False
    tall: bool = False


@dataclass(frozen=True)
class Pair:
    """A label at the left margin and its value at the right."""

    label: str
    value: str


@dataclass(frozen=True)
class Rule:
    """A line of dashes across the paper."""


@dataclass(frozen=True)
class Barcode:
    """A Code 128 barcode (ASCII data)."""

    data: str


@dataclass(frozen=True)
class QrCode:
    """A QR code."""

    payload: str


Element = Line | Pair | Rule | Barcode | QrCode


@dataclass(frozen=True)
class Receipt:
    """What to print, top to bottom."""

    kind: ReceiptKind
    number: str
    elements: tuple[Element, ...]


@dataclass(frozen=True)
class Counter:
    """Where and by whom a receipt is issued."""

    office: str
    operator: str


def yuan(amount_fen: int) -> str:
    """Money as printed: ``50000`` fen → ``500.00元``."""
    sign = "-" if amount_fen < 0 else ""
    return f"{sign}{abs(amount_fen) // 100:,}.{abs(amount_fen) % 100:02d}元"


def _local(moment: dt.datetime) -> str:
    # Receipts show Beijing time; the token carries UTC.
    return moment.astimezone(dt.timezone(dt.timedelta(hours=8))).strftime("%Y-%m-%d %H:%M")


def _frame(
    title: str,
    token: str,
    counter: Counter,
    body: list[Element],
    *,
    expected_kind: ReceiptKind,
) -> Receipt:
    claims = read_unverified(token)
    if claims.kind is not expected_kind:
        raise ValueError(f"token is for a {claims.kind.value} receipt, not {expected_kind.value}")
    elements: list[Element] = [
        Line("城乡居民基本养老保险", Align.CENTER, bold=True),
        Line(title, Align.CENTER, bold=True, tall=True),
        Rule(),
        Pair("收据号", claims.receipt_number),
        *body,
        Rule(),
        Pair("经办机构", counter.office),
        Pair("经办人", counter.operator),
        Pair("打印时间", _local(claims.issued_at)),
        Barcode(claims.receipt_number),
        QrCode(token),
        Line("扫码或登录12333核验本凭证", Align.CENTER),
    ]
    return Receipt(kind=expected_kind, number=claims.receipt_number, elements=tuple(elements))


def contribution_receipt(
    *,
    token: str,
    counter: Counter,
    name: str,
    id_number: str,
    contribution_year: int,
    grade_fen: int,
    amount_fen: int,
    channel: str,
) -> Receipt:
    """缴费凭证: a resident paid their yearly contribution at the counter."""
    body: list[Element] = [
        Pair("姓名", name),
        Pair("身份证号", mask_id_number(id_number)),
        Pair("缴费年度", f"{contribution_year}年"),
        Pair("缴费档次", yuan(grade_fen)),
        Pair("缴费方式", channel),
        Line(f"实收金额：{yuan(amount_fen)}", bold=True),
    ]
    return _frame("个人缴费凭证", token, counter, body, expected_kind=ReceiptKind.CONTRIBUTION)


def card_receipt(
    *,
    token: str,
    counter: Counter,
    name: str,
    id_number: str,
    card_number: str,
    bank: str,
    loss_reported: bool = False,
) -> Receipt:
    """社保卡发卡 or 挂失 receipt."""
    kind = ReceiptKind.CARD_LOSS if loss_reported else ReceiptKind.CARD_ISSUED
    title = "社会保障卡挂失回执" if loss_reported else "社会保障卡领卡回执"
    body: list[Element] = [
        Pair("姓名", name),
        Pair("身份证号", mask_id_number(id_number)),
        Pair("社保卡号", card_number),
        Pair("金融账户", bank),
        Line(
            "卡片已挂失，挂失期间暂停使用。"
            if loss_reported
            else "请妥善保管，初始密码请及时修改。"
        ),
    ]
    return _frame(title, token, counter, body, expected_kind=kind)


def survival_receipt(
    *,
    token: str,
    counter: Counter,
    name: str,
    id_number: str,
    method: str,
    valid_until: dt.date,
) -> Receipt:
    """生存认证 receipt: the pensioner was certified alive (pension keeps paying)."""
    body: list[Element] = [
        Pair("姓名", name),
        Pair("身份证号", mask_id_number(id_number)),
        Pair("认证方式", method),
        Pair("认证结果", "通过"),
        Pair("有效期至", f"{valid_until:%Y-%m-%d}"),
    ]
    return _frame("领取待遇资格认证回执", token, counter, body, expected_kind=ReceiptKind.SURVIVAL)


@dataclass(frozen=True)
class PensionMonth:
    """One month's pension on a statement."""

    month: str  # YYYY-MM
    basic_fen: int
    account_fen: int


def pension_statement(
    *,
    token: str,
    counter: Counter,
    name: str,
    id_number: str,
    months: list[PensionMonth],
) -> Receipt:
    """养老金对账单: months paid, basic and individual-account parts, and the total."""
    body: list[Element] = [
        Pair("姓名", name),
        Pair("身份证号", mask_id_number(id_number)),
        Pair("月份", "基础/个人账户"),
    ]
    for month in months:
        body.append(Pair(month.month, f"{yuan(month.basic_fen)}/{yuan(month.account_fen)}"))
    total = sum(m.basic_fen + m.account_fen for m in months)
    body.append(Line(f"合计发放：{yuan(total)}", bold=True))
    return _frame(
        "养老金发放对账单", token, counter, body, expected_kind=ReceiptKind.PENSION_STATEMENT
    )


@dataclass(frozen=True)
class SourceAmount:
    """One source of an account's year on a statement summary (label in words)."""

    label: str
    amount_fen: int


def account_statement(
    *,
    token: str,
    counter: Counter,
    name: str,
    id_number: str,
    year: int,
    opening_fen: int,
    credits: list[SourceAmount],
    interest_fen: int,
    closing_fen: int,
) -> Receipt:
    """个人账户对账单 (summary): the year's opening balance, credits by source, interest and
    the closing balance; the full statement is the A4 PDF."""
    body: list[Element] = [
        Pair("姓名", name),
        Pair("身份证号", mask_id_number(id_number)),
        Pair("对账年度", f"{year}年"),
        Pair("年初余额", yuan(opening_fen)),
        *(Pair(f"本年{c.label}", yuan(c.amount_fen)) for c in credits),
        Pair("其中利息", yuan(interest_fen)),
        Line(f"年末余额：{yuan(closing_fen)}", bold=True),
    ]
    return _frame(
        "个人账户对账单", token, counter, body, expected_kind=ReceiptKind.ACCOUNT_STATEMENT
    )


@dataclass(frozen=True)
class ClerkCash:
    """One clerk's drawer on a day-close slip: collections, reversals, cash to deposit."""

    name: str
    collections_count: int
    collected_fen: int
    reversals_count: int
    reversed_fen: int
    deposit_fen: int


def day_close_slip(
    *,
    token: str,
    counter: Counter,
    business_date: dt.date,
    clerks: list[ClerkCash],
    deposit_fen: int,
    signed_by: str,
) -> Receipt:
    """柜面日结单: each clerk's collections, reversals and cash to deposit, the office's total
    to deposit and the reviewer who signed the day off (the token vouches for that total)."""
    body: list[Element] = [Pair("日结日期", f"{business_date:%Y-%m-%d}")]
    for clerk in clerks:
        body += [
            Line(f"经办人 {clerk.name}", bold=True),
            Pair("收款", f"{clerk.collections_count}笔 {yuan(clerk.collected_fen)}"),
            Pair("冲正", f"{clerk.reversals_count}笔 {yuan(clerk.reversed_fen)}"),
            Pair("应缴存", yuan(clerk.deposit_fen)),
        ]
    if not clerks:
        body.append(Line("当日没有收款"))
    body += [
        Rule(),
        Line(f"应缴存现金合计：{yuan(deposit_fen)}", bold=True),
        Pair("日结签字", signed_by),
    ]
    return _frame("柜面日结单", token, counter, body, expected_kind=ReceiptKind.DAY_CLOSE)
