"""The annual statement and the contribution certificate as A4 PDF (reportlab).

Why reportlab: it is pure Python on PyPI (wheels for every platform the backend runs
on), embeds a subset of a TrueType font by itself, draws QR codes without another
library, and lays out tables without a browser engine. WeasyPrint would need Pango,
Cairo and HarfBuzz from the system and renders HTML, which we do not need for two
fixed forms.

Chinese text: every glyph comes from the fonts ``receipts.fonts`` names, embedded as
subsets (the PDF shows the same on any reader, none of it needs fonts installed). A
character the main CJK font lacks — CJK Extension B such as 𠮷 in a name — is set in
the supplementary font (HanaMinB, ``fonts-hanazono``) instead of coming out as a box.

One module, used by the counter (``backend.statements.views``) and reusable by the
12333 pages: ``statement_pdf(annual)`` and ``certificate_pdf(certificate)`` → bytes.
"""

from __future__ import annotations

import datetime as dt
import io
from functools import cache
from xml.sax.saxutils import escape

from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics, ttfonts
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import (
    Flowable,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from backend.accounts.models import SOURCE_LABELS, Source
from backend.errors import DomainError
from backend.policy.rules import fen_to_yuan
from backend.statements.service import (
    CONVENTION_LABELS,
    AnnualStatement,
    ContributionCertificate,
    Issue,
)
from receipts.fonts import bmp_fallback_font_file, main_font_file, supplementary_font_file

MAIN, SUPPLEMENTARY, BMP_FALLBACK = "XnbCJK", "XnbCJKExtB", "XnbCJKAlt"
_BEIJING = dt.timezone(dt.timedelta(hours=8))


class FontMissing(DomainError):
    """No CJK font is installed: a PDF in Chinese cannot be made."""

    code: str = "font_missing"
    status: int = 503
    title: str = "服务器缺少中文字体"


def _to_unicode_cmap(fontname: str, subset: list[int]) -> str:
    """reportlab's ToUnicode CMap, with characters beyond the BMP written as UTF-16.

    reportlab writes ``<%04X>``, which gives 𠮷 (U+20BB7) five hex digits that readers take
    as U+20BB: the PDF would show the right glyph but copy and search the wrong character.
    """
    utf16 = (
        f"<{i:02X}> <{chr(v).encode('utf-16-be').hex().upper()}>" for i, v in enumerate(subset)
    )
    original = _reportlab_to_unicode_cmap(fontname, subset).split("\n")
    start = original.index(f"{len(subset)} beginbfchar") + 1
    return "\n".join(original[:start] + list(utf16) + original[start + len(subset) :])


_reportlab_to_unicode_cmap = ttfonts.makeToUnicodeCMap
ttfonts.makeToUnicodeCMap = _to_unicode_cmap


@cache
def _fonts() -> tuple[tuple[str, frozenset[int]], ...]:
    """Register the fonts once; each with the code points it has, main font first."""
    main = main_font_file()
    if main is None:
        raise FontMissing(detail="服务器未安装中文字体（fonts-wqy-zenhei），无法生成PDF")
    found: list[tuple[str, frozenset[int]]] = []
    for name, path in (
        (MAIN, main),
        (SUPPLEMENTARY, supplementary_font_file()),
        (BMP_FALLBACK, bmp_fallback_font_file()),
    ):
        if path is None:
            continue
        font = TTFont(name, str(path), subfontIndex=0)
        pdfmetrics.registerFont(font)
        found.append((name, frozenset(font.face.charToGlyph)))
    return tuple(found)


def _font_of(char: str) -> str:
    fonts = _fonts()
    for name, covered in fonts:
        if ord(char) in covered or char in "\n\t ":
            return name
    return fonts[0][0]


def text(value: object) -> str:
    """Paragraph markup for ``value``: characters the main font lacks in a font that has them."""
    out: list[str] = []
    run, run_font = "", MAIN
    for char in str(value):
        font = _font_of(char)
        if font != run_font and run:
            out.append(_run(run, run_font))
            run = ""
        run, run_font = run + char, font
    if run:
        out.append(_run(run, run_font))
    return "".join(out)


def _run(chunk: str, font: str) -> str:
    return escape(chunk) if font == MAIN else f'<font name="{font}">{escape(chunk)}</font>'


def _styles() -> dict[str, ParagraphStyle]:
    _fonts()
    body = ParagraphStyle("body", fontName=MAIN, fontSize=10, leading=14, wordWrap="CJK")
    return {
        "title": ParagraphStyle("title", parent=body, fontSize=16, leading=22, alignment=1),
        "subtitle": ParagraphStyle("subtitle", parent=body, fontSize=11, alignment=1),
        "heading": ParagraphStyle(
            "heading", parent=body, fontSize=11.5, leading=18, spaceBefore=8, spaceAfter=2
        ),
        "body": body,
        "cell": ParagraphStyle("cell", parent=body, fontSize=9.5, leading=12),
        "right": ParagraphStyle("right", parent=body, fontSize=9.5, leading=12, alignment=2),
        "small": ParagraphStyle("small", parent=body, fontSize=8.5, leading=11),
    }


def _table(rows: list[list[str]], widths: list[float], *, numeric: set[int]) -> Table:
    styles = _styles()
    cells = [
        [
            Paragraph(text(value), styles["right" if i in numeric and r else "cell"])
            for i, value in enumerate(row)
        ]
        for r, row in enumerate(rows)
    ]
    table = Table(cells, colWidths=widths, repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.Color(0.92, 0.92, 0.92)),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ]
        )
    )
    return table


def _facts(pairs: list[tuple[str, str]]) -> Table:
    styles = _styles()
    rows, row = [], []
    for label, value in pairs:
        row += [Paragraph(text(label), styles["cell"]), Paragraph(text(value), styles["cell"])]
        if len(row) == 4:
            rows.append(row)
            row = []
    if row:
        rows.append(row + [""] * (4 - len(row)))
    table = Table(rows, colWidths=[28 * mm, 57 * mm, 28 * mm, 57 * mm])
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
                ("BACKGROUND", (0, 0), (0, -1), colors.Color(0.95, 0.95, 0.95)),
                ("BACKGROUND", (2, 0), (2, -1), colors.Color(0.95, 0.95, 0.95)),
            ]
        )
    )
    return table


def _qr(issue: Issue, what: str) -> Table:
    size = 32 * mm
    widget = QrCodeWidget(issue.token, barLevel="M")
    x1, y1, x2, y2 = widget.getBounds()
    drawing = Drawing(size, size, transform=[size / (x2 - x1), 0, 0, size / (y2 - y1), 0, 0])
    drawing.add(widget)
    styles = _styles()
    issued = issue.issued_at.astimezone(_BEIJING)
    note = Paragraph(
        text(
            f"单据号 {issue.receipt_number}\n"
            f"打印机构 {issue.office}　经办人 {issue.operator}\n"
            f"打印时间 {issued:%Y年%m月%d日 %H:%M}\n"
            f"扫描左侧二维码可核验本{what}的真伪（签名令牌，由社保经办机构签发）。"
        ).replace("\n", "<br/>"),
        styles["small"],
    )
    table = Table([[drawing, note]], colWidths=[36 * mm, 134 * mm])
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "MIDDLE")]))
    return table


def _render(flowables: list[Flowable], *, title: str) -> bytes:
    out = io.BytesIO()
    document = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=20 * mm,
        rightMargin=20 * mm,
        topMargin=18 * mm,
        bottomMargin=18 * mm,
        title=title,
        author="城乡居民基本养老保险经办机构",
        subject=title,
        creator="xnb",
    )

    def footer(canvas: object, doc: object) -> None:
        canvas.saveState()  # type: ignore[attr-defined]
        canvas.setFont(MAIN, 8)  # type: ignore[attr-defined]
        canvas.drawCentredString(  # type: ignore[attr-defined]
            A4[0] / 2,
            10 * mm,
            f"第 {doc.page} 页",  # type: ignore[attr-defined]
        )
        canvas.restoreState()  # type: ignore[attr-defined]

    document.build(flowables, onFirstPage=footer, onLaterPages=footer)
    return out.getvalue()


#: What an entry was for, by the business that made it (the rest are contributions).
_ENTRY_NOTES = {
    "payroll_line": "支付养老金",
    "pension_recompute": "养老金调整",
    "overpayment": "多发追回",
    "death_case": "死亡结算",
    "transfer": "转移",
    "employee_transfer_in": "职工养老保险转入",
    "double_pension_case": "重复领取处理",
}


def _label(source: str) -> str:
    return SOURCE_LABELS[Source(source)]


def _yuan(fen: int) -> str:
    return f"{fen_to_yuan(fen)}"


def statement_pdf(annual: AnnualStatement) -> bytes:
    """个人账户对账单 of one year as an A4 PDF."""
    s = annual.statement
    styles = _styles()
    title = f"城乡居民基本养老保险个人账户对账单（{s.year}年度）"
    story: list[Flowable] = [
        Paragraph(text(title), styles["title"]),
        Spacer(1, 4 * mm),
        _facts(
            [
                ("姓名", s.name),
                ("公民身份号码", s.id_number),
                ("参保地", annual.region_name),
                ("对账期间", f"{s.year}年1月1日至{s.year}年12月31日"),
            ]
        ),
        Paragraph(text("一、账户概要"), styles["heading"]),
        _facts(
            [
                ("年初余额", f"{_yuan(s.opening_fen)} 元"),
                ("本年记账合计", f"{_yuan(sum(s.credits_by_source.values()))} 元"),
                ("其中利息", f"{_yuan(s.interest_fen)} 元"),
                ("年末余额", f"{_yuan(s.closing_fen)} 元"),
            ]
        ),
        Paragraph(text("二、本年记账明细（按日期，单位：元）"), styles["heading"]),
    ]
    if s.lines:
        rows = [["记账日期", "资金来源", "金额", "说明"]]
        for line in s.lines:
            note = "冲正" if line.reverses_id else _ENTRY_NOTES.get(line.ref_type or "", "")
            if line.source == Source.INTEREST.value and not line.reverses_id:
                note = "年末结息"
            rows.append(
                [
                    f"{line.entry_date:%Y-%m-%d}",
                    _label(line.source),
                    _yuan(line.amount_fen),
                    note,
                ]
            )
        story.append(_table(rows, [35 * mm, 45 * mm, 40 * mm, 50 * mm], numeric={2}))
    else:
        story.append(Paragraph(text("本年无记账。"), styles["body"]))
    story.append(Paragraph(text("三、利息"), styles["heading"]))
    if annual.interest_rate is not None:
        rate = f"{(annual.interest_rate * 100).normalize():f}%"
        story.append(
            Paragraph(
                text(f"本年度记账利率 {rate}（年利率）；本年利息 {_yuan(s.interest_fen)} 元。"),
                styles["body"],
            )
        )
    else:
        story.append(
            Paragraph(text("本年度记账利率尚未公布，利息于公布后年末结息时记入。"), styles["body"])
        )
    if annual.interest_convention is not None:
        story.append(
            Paragraph(
                text(f"计息办法：{CONVENTION_LABELS[annual.interest_convention]}。"),
                styles["body"],
            )
        )
    story.append(Paragraph(text("四、年末余额按资金来源（单位：元）"), styles["heading"]))
    sources = sorted(
        set(s.opening_by_source) | set(s.credits_by_source) | set(s.closing_by_source),
        key=lambda v: list(Source).index(Source(v)),
    )
    rows = [["资金来源", "年初余额", "本年记账", "年末余额"]]
    rows += [
        [
            _label(source),
            _yuan(s.opening_by_source.get(source, 0)),
            _yuan(s.credits_by_source.get(source, 0)),
            _yuan(s.closing_by_source.get(source, 0)),
        ]
        for source in sources
    ]
    rows.append(
        [
            "合计",
            _yuan(s.opening_fen),
            _yuan(sum(s.credits_by_source.values())),
            _yuan(s.closing_fen),
        ]
    )
    story.append(_table(rows, [42.5 * mm] * 4, numeric={1, 2, 3}))
    story.append(Paragraph(text("五、本年领取养老金（单位：元）"), styles["heading"]))
    if annual.pension_months:
        rows = [["所属月份", "发放金额"]]
        rows += [[f"{m.month:%Y年%m月}", _yuan(m.amount_fen)] for m in annual.pension_months]
        rows.append(["合计", _yuan(annual.pension_paid_fen)])
        story.append(_table(rows, [85 * mm, 85 * mm], numeric={1}))
    else:
        story.append(Paragraph(text("本年未领取养老金。"), styles["body"]))
    story += [Spacer(1, 6 * mm), _qr(annual.issue, "对账单")]
    return _render(story, title=title)


def certificate_pdf(certificate: ContributionCertificate) -> bytes:
    """缴费证明 as an A4 PDF."""
    c = certificate
    styles = _styles()
    title = "城乡居民基本养老保险缴费证明"
    enrolled = f"{c.enrolled_on:%Y年%m月%d日}" if c.enrolled_on else "无参保记录"
    first, last = c.years[0].year, c.years[-1].year
    span = f"{first}年" if first == last else f"{first}年至{last}年"
    story: list[Flowable] = [
        Paragraph(text(title), styles["title"]),
        Spacer(1, 4 * mm),
        _facts(
            [
                ("姓名", c.name),
                ("公民身份号码", c.id_number),
                ("参保地", c.region_name),
                ("参保日期", enrolled),
            ]
        ),
        Spacer(1, 3 * mm),
        Paragraph(
            text(
                f"兹证明{c.name}（公民身份号码 {c.id_number}）参加城乡居民基本养老保险，"
                f"{span}缴费到账的年度共 {len(c.years)} 年，"
                f"计入缴费年限 {c.years_counted} 年；截至打印日，个人账户余额 "
                f"{_yuan(c.balance_fen)} 元。缴费明细如下。"
            ),
            styles["body"],
        ),
        Paragraph(text("缴费明细（单位：元）"), styles["heading"]),
    ]
    rows = [["年度", "缴费档次", "个人缴费", "政府代缴", "补贴与补助", "说明"]]
    rows += [
        [
            f"{y.year}",
            _yuan(y.grade_fen),
            _yuan(y.own_paid_fen),
            _yuan(y.hardship_paid_fen),
            _yuan(y.subsidy_fen),
            "补缴" if y.make_up else "",
        ]
        for y in c.years
    ]
    rows.append(
        [
            "合计",
            "",
            _yuan(sum(y.own_paid_fen for y in c.years)),
            _yuan(sum(y.hardship_paid_fen for y in c.years)),
            _yuan(sum(y.subsidy_fen for y in c.years)),
            "",
        ]
    )
    story.append(
        _table(rows, [20 * mm, 28 * mm, 30 * mm, 28 * mm, 32 * mm, 32 * mm], numeric={1, 2, 3, 4})
    )
    story += [
        Spacer(1, 4 * mm),
        Paragraph(text("特此证明。本证明由经办机构打印，扫码可核验真伪。"), styles["body"]),
        Spacer(1, 6 * mm),
        _qr(c.issue, "缴费证明"),
    ]
    return _render(story, title=title)
