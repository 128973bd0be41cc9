"""Display width, alignment and columns on a Chinese receipt printer."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from device_drivers.printer.text import Align, align, display_width, pair, printable, wrap

MIXED = st.text(alphabet=st.sampled_from("ab1 :：·王䶮巴特尔-"), max_size=60)


def test_chinese_and_full_width_punctuation_take_two_columns() -> None:
    assert display_width("R2026") == 5
    assert display_width("王秀英") == 6
    assert display_width("巴特尔·孟克") == 12  # GB fonts print the middle dot full width
    assert display_width("金额：500.00元") == 4 + 2 + 6 + 2


@given(text=MIXED, width=st.integers(min_value=2, max_value=48))
def test_wrapped_lines_never_exceed_the_paper(text: str, width: int) -> None:
    lines = wrap(text, width)
    assert "".join(lines) == text
    assert all(display_width(line) <= width for line in lines)


@given(text=MIXED, width=st.integers(min_value=2, max_value=48))
def test_aligned_text_fills_exactly_the_width_when_it_fits(text: str, width: int) -> None:
    for how in Align:
        padded = align(text, width, how)
        assert padded.strip() == text.strip() or display_width(text) > width
        assert display_width(padded) == max(width, display_width(text))


def test_centre_uses_display_width() -> None:
    assert align("个人缴费凭证", 32, Align.CENTER) == " " * 10 + "个人缴费凭证" + " " * 10


def test_pair_puts_the_value_flush_right_or_on_its_own_line() -> None:
    assert pair("姓名", "王秀英", 32) == ["姓名" + " " * 22 + "王秀英"]
    long_value = "新疆和布克赛尔蒙古自治县夏孜盖乡"
    lines = pair("住址", long_value, 32)
    assert lines[0] == "住址"
    assert all(display_width(line) <= 32 for line in lines)


def test_what_the_font_holds_depends_on_its_charset() -> None:
    assert printable("王", "gb2312")
    assert printable("·", "gb2312")
    assert not printable("䶮", "gbk")  # CJK Extension A: only in GB18030
    assert printable("䶮", "gb18030")
    assert not printable("𠮷", "gb18030")  # Extension B: in no printer's font
    assert not printable("\x07", "gb18030")
