"""Text on a receipt printer: display width, alignment, columns, and what the font holds.

A printer in Chinese mode prints every double-byte character two columns wide, the
way GB fonts are cut, so width is counted on the encoded form: ASCII one column,
anything else two. (Unicode's East Asian Width disagrees for characters such as
``·`` and ``°``, which GB fonts print full width.)
"""

from __future__ import annotations

from enum import Enum


class Align(Enum):
    """Where a line sits between the margins."""

    LEFT = "left"
    CENTER = "center"
    RIGHT = "right"


def char_width(char: str) -> int:
    """Columns one character takes: 1 for ASCII, 2 for anything printed in Chinese mode."""
    return 1 if ord(char) < 0x80 else 2


def display_width(text: str) -> int:
    """Columns ``text`` takes on the paper."""
    return sum(char_width(c) for c in text)


def wrap(text: str, width: int) -> list[str]:
    """Break ``text`` into lines of at most ``width`` columns (never splitting a character)."""
    lines: list[str] = []
    current: list[str] = []
    used = 0
    for char in text:
        if used + char_width(char) > width:
            lines.append("".join(current))
            current, used = [], 0
        current.append(char)
        used += char_width(char)
    lines.append("".join(current))
    return lines


def align(text: str, width: int, how: Align) -> str:
    """Pad ``text`` with spaces to sit left, centre or right in ``width`` columns."""
    gap = max(0, width - display_width(text))
    if how is Align.RIGHT:
        return " " * gap + text
    if how is Align.CENTER:
        return " " * (gap // 2) + text + " " * (gap - gap // 2)
    return text + " " * gap


def pair(label: str, value: str, width: int) -> list[str]:
    """A label at the left and its value at the right; two lines when both do not fit."""
    if display_width(label) + 1 + display_width(value) <= width:
        return [label + " " * (width - display_width(label) - display_width(value)) + value]
    return [*wrap(label, width), *(align(part, width, Align.RIGHT) for part in wrap(value, width))]


def printable(char: str, cjk_charset: str) -> bool:
    """Tell whether the printer's resident font (``gb2312``, ``gbk``, ``gb18030``) has ``char``.

    Judged on the GB18030 bytes we send, as the printer sees them: a GBK font has the
    character if GBK encodes it to the same bytes (GB18030 reassigned a few GBK codes,
    e.g. ``FE9F`` is now 䶮), a GB2312 font if the bytes fall in its ``A1A1``–``FEFE``
    block. (Python's ``gb2312`` codec maps ``A1A4`` to U+30FB, so asking it about
    ``·`` gives the wrong answer.)
    Printer fonts stop at the Basic Multilingual Plane even when they are GB18030.
    """
    if char.isascii():
        return char.isprintable()
    if ord(char) > 0xFFFF:
        return False
    try:
        encoded = char.encode("gb18030")
    except UnicodeEncodeError:
        return False
    if cjk_charset == "gb18030":
        return True
    if cjk_charset == "gbk":
        return char.encode("gbk", errors="replace") == encoded
    return len(encoded) == 2 and encoded[0] >= 0xA1 and encoded[1] >= 0xA1
