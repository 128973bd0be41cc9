"""Outline fonts for the lines a printer cannot print itself, and for previews.

The font files are chosen in ``receipts.fonts`` (one list for receipts and PDFs): the
main CJK font for the Basic Multilingual Plane, and a supplementary one for CJK
Extension B and later (𠮷 U+20BB7), which printers' resident fonts never hold.
"""

from __future__ import annotations

import logging
from functools import cache

from PIL import ImageFont

from receipts.fonts import is_supplementary, main_font_file, supplementary_font_file

log = logging.getLogger(__name__)

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


@cache
def cjk_font(size: int) -> Font:
    """The main CJK font at ``size`` pixels; Pillow's own (no Chinese) if none is installed."""
    path = main_font_file()
    if path is None:
        log.warning("no CJK font found (install fonts-wqy-zenhei or set XNB_CJK_FONT)")
        return ImageFont.load_default(size)
    return ImageFont.truetype(str(path), size)


@cache
def _supplementary_font(size: int) -> Font:
    path = supplementary_font_file()
    if path is None:
        log.warning("no font for CJK Extension B (install fonts-hanazono or set XNB_CJK_EXT_FONT)")
        return cjk_font(size)
    return ImageFont.truetype(str(path), size)


def font_for(char: str, size: int) -> Font:
    """The font that draws ``char``: the supplementary one beyond the BMP, else the main."""
    return _supplementary_font(size) if is_supplementary(char) else cjk_font(size)
