"""Which installed font files print Chinese, for everything xnb puts on paper.

One list for the receipt printer's image lines and previews (``device_drivers.printer``)
and for the PDF statements and certificates (``backend.statements``). Two kinds:

* the **main** CJK font (Debian ``fonts-wqy-zenhei``, or what Kylin/UOS ship), which
  covers the Basic Multilingual Plane: common and most rare characters;
* the **supplementary** font for CJK Extension B and later (planes 2 and 3, e.g. 𠮷
  U+20BB7, frequent in names), which the main fonts lack: Debian ``fonts-hanazono``
  (HanaMinB). Without it such a character prints as an empty box.

Paths only (no font library here): each user opens the file with its own toolkit.
``XNB_CJK_FONT`` and ``XNB_CJK_EXT_FONT`` name other files.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

#: Where Debian, Kylin and UOS put CJK fonts for the Basic Multilingual Plane.
MAIN_CANDIDATES: Final = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
)
#: Fonts covering CJK Extension B–F (planes 2 and 3).
SUPPLEMENTARY_CANDIDATES: Final = (
    "/usr/share/fonts/truetype/hanazono/HanaMinB.ttf",
    "/usr/share/fonts/truetype/hanazono-b/HanaMinB.ttf",
)
#: A BMP font of the same family as the supplementary one, for BMP characters the main
#: font lacks (Extension A stragglers); optional.
BMP_FALLBACK_CANDIDATES: Final = ("/usr/share/fonts/truetype/hanazono/HanaMinA.ttf",)


def _first(configured: str | None, candidates: tuple[str, ...]) -> Path | None:
    for candidate in ([configured] if configured else []) + list(candidates):
        if Path(candidate).is_file():
            return Path(candidate)
    return None


def main_font_file() -> Path | None:
    """The CJK font for the Basic Multilingual Plane, or ``None`` when none is installed."""
    return _first(os.environ.get("XNB_CJK_FONT"), MAIN_CANDIDATES)


def supplementary_font_file() -> Path | None:
    """The font for CJK Extension B and later, or ``None`` when none is installed."""
    return _first(os.environ.get("XNB_CJK_EXT_FONT"), SUPPLEMENTARY_CANDIDATES)


def bmp_fallback_font_file() -> Path | None:
    """A second BMP font for characters the main one lacks, or ``None``."""
    return _first(None, BMP_FALLBACK_CANDIDATES)


def is_supplementary(char: str) -> bool:
    """Whether ``char`` lies beyond the Basic Multilingual Plane (Extension B, 𠮷 …)."""
    return ord(char) > 0xFFFF
