"""A Chinese outline font for the lines a printer cannot print itself, and for previews."""

from __future__ import annotations

import logging
import os
from functools import cache
from pathlib import Path

from PIL import ImageFont

log = logging.getLogger(__name__)

#: Where Debian, Kylin and UOS put CJK fonts; ``XNB_CJK_FONT`` overrides.
CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
)

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


def find_cjk_font() -> Path | None:
    """The first CJK font file present, or ``None``."""
    configured = os.environ.get("XNB_CJK_FONT")
    for candidate in ([configured] if configured else []) + list(CANDIDATES):
        if Path(candidate).is_file():
            return Path(candidate)
    return None


@cache
def cjk_font(size: int) -> Font:
    """A CJK font at ``size`` pixels; Pillow's own font (no Chinese glyphs) if none is installed."""
    path = find_cjk_font()
    if path is None:
        log.warning("no CJK font found (install fonts-wqy-zenhei or set XNB_CJK_FONT)")
        return ImageFont.load_default(size)
    return ImageFont.truetype(str(path), size)
