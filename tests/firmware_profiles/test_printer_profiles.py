"""Printer profiles: widths, columns and Chinese fonts as data; broken files refused."""

from __future__ import annotations

import pytest

from firmware_profiles.loader import ProfileError
from firmware_profiles.printers import load_printer_profiles, parse_profiles_text, printer_profile


def test_at_least_three_real_models_with_both_paper_widths() -> None:
    real = [p for p in load_printer_profiles() if p.vendor != "xnb"]
    assert len(real) >= 3
    assert {p.paper_width_mm for p in real} == {58, 80}
    assert all(p.sources for p in real)


def test_columns_follow_the_paper_width() -> None:
    assert printer_profile("epson_tm_t82iii").columns == 48
    assert printer_profile("epson_tm_t82iii").cjk_columns == 24
    assert printer_profile("xprinter_xp_58iih").columns == 32
    assert not printer_profile("xprinter_xp_58iih").supports("qr_native")


GOOD = """
[printer.x]
title = "X"
vendor = "V"
transports = ["network"]
paper_width_mm = 58
dots_per_line = 384
columns = 32
cjk_charset = "gbk"
sources = ["manual"]
"""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD.replace("paper_width_mm = 58", "paper_width_mm = 76"), "paper_width_mm"),
        (GOOD.replace("columns = 32", "columns = 48"), "48 columns need 576 dots"),
        (GOOD.replace('cjk_charset = "gbk"', 'cjk_charset = "big5"'), "cjk_charset"),
        (GOOD.replace('["network"]', '["bluetooth"]'), "transports"),
        (GOOD.replace("columns = 32", 'columns = "32"'), "columns must be"),
        (GOOD.replace('sources = ["manual"]', "sources = []"), "sources"),
        (GOOD + 'features = ["cut", "laser"]\n', "laser"),
        (GOOD + "[printer.y]\ntitle = 3\n", r"\[printer\.y\]"),
    ],
)
def test_broken_printer_profiles_are_refused(text: str, message: str) -> None:
    with pytest.raises(ProfileError, match=message):
        parse_profiles_text(text)
