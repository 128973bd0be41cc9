"""The layout of a report form: columns, derived figures and the XLSX export."""

from __future__ import annotations

import io
import json
from decimal import ROUND_HALF_UP, Decimal

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font

from backend.statistics.indicators import INDICATORS, Figures
from backend.statistics.models import StatisticsReport

STATUS_LABELS = {"draft": "草稿（未签发）", "signed": "已签发"}
# Derived columns: (code, heading, numerator, denominator, scale).
DERIVED = (
    ("coverage_rate", "参保率（%）", "enrolled", "eligible", 100),
    ("average_pension", "人均月养老金（元）", "pension_total_fen", "pensioners", Decimal("0.01")),
)


def _grade_heading(code: str) -> str:
    return f"缴费档次{Decimal(code.removeprefix('grade_')) / 100:g}元人数"


def columns(figures: Figures) -> list[tuple[str, str]]:
    """The form's columns: the fixed indicators, one per grade seen, then derived rates."""
    grades = sorted(
        {name for values in figures.values() for name in values if name.startswith("grade_")},
        key=lambda name: int(name.removeprefix("grade_")),
    )
    fixed = [(code, heading(code)) for code in INDICATORS]
    return (
        fixed[:7]
        + [(code, heading(code)) for code in grades]
        + fixed[7:]
        + [(code, heading) for code, heading, *_ in DERIVED]
    )


def heading(code: str) -> str:
    """The column heading of an indicator code (money columns in yuan)."""
    if code.startswith("grade_"):
        return _grade_heading(code)
    label = INDICATORS[code]
    return f"{label}（元）" if code.endswith("_fen") else label


def cell(code: str, values: dict[str, int]) -> int | Decimal | None:
    """A cell's value: counts as they are, fen as yuan, derived rates rounded half up."""
    for derived, _, numerator, denominator, scale in DERIVED:
        if code == derived:
            if not values.get(denominator):
                return None
            ratio = Decimal(values.get(numerator, 0)) * scale / values[denominator]
            return ratio.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    value = values.get(code, 0)
    return Decimal(value) / 100 if code.endswith("_fen") else value


def xlsx(report: StatisticsReport, names: dict[str, str], form_title: str) -> bytes:
    """The report form as an XLSX workbook: provenance on top, regions as rows."""
    figures: Figures = json.loads(report.figures)
    cols = columns(figures)
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "报表"
    sheet.append([f"{form_title}（{report.period}）"])
    sheet["A1"].font = Font(bold=True, size=14)
    sheet.append(
        [f"状态：{STATUS_LABELS[report.status]}；数据截止：{report.data_cutoff:%Y-%m-%d %H:%M} UTC"]
    )
    sheet.append(
        [
            f"报表编号：{report.id}；查询版本：{report.query_version}；"
            f"政策版本：{', '.join(str(v) for v in json.loads(report.policy_versions))}"
        ]
    )
    sheet.append(["区划名称", "区划代码", *(heading for _, heading in cols)])
    for cell_ in sheet[4]:
        cell_.font = Font(bold=True)
        cell_.alignment = Alignment(wrap_text=True, vertical="center")
    for prefix in sorted(figures, key=lambda p: (len(p), p)):
        values = figures[prefix]
        sheet.append(
            [
                names.get(prefix, ""),
                prefix.ljust(12, "0"),
                *(cell(code, values) for code, _ in cols),
            ]
        )
    sheet.column_dimensions["A"].width = 18
    sheet.column_dimensions["B"].width = 15
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
