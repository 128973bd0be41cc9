"""A PNG of a decoded receipt, so a person can look at what the printer would print."""

from __future__ import annotations

from pathlib import Path

import barcode
import qrcode
from barcode.writer import ImageWriter
from PIL import Image, ImageDraw

from device_drivers.printer.decode import (
    BarcodeItem,
    Cut,
    DecodedReceipt,
    QrItem,
    RasterImage,
    TextLine,
)
from device_drivers.printer.fonts import font_for
from device_drivers.printer.text import Align, display_width

#: Font A: 12 x 24 dots per column, as the printer draws it.
_COLUMN_DOTS, _LINE_DOTS, _MARGIN = 12, 24, 16


def _barcode_image(data: str) -> Image.Image:
    options = {"module_width": 0.25, "module_height": 10, "dpi": 203, "write_text": True}
    return barcode.Code128(data, writer=ImageWriter()).render(options).convert("1")


def _paste_centred(canvas: Image.Image, image: Image.Image, y: int) -> int:
    canvas.paste(image.convert("L"), ((canvas.width - image.width) // 2, y))
    return y + image.height


def render_preview(receipt: DecodedReceipt, *, dots_per_line: int = 576) -> Image.Image:
    """Draw ``receipt`` on a paper-white strip ``dots_per_line`` dots wide (plus margins)."""
    pieces: list[Image.Image] = []
    for item in receipt.items:
        if isinstance(item, TextLine):
            pieces.append(_text_line(item, dots_per_line))
        elif isinstance(item, RasterImage):
            pieces.append(item.image)
        elif isinstance(item, BarcodeItem):
            pieces.append(_barcode_image(item.data))
        elif isinstance(item, QrItem):
            code = qrcode.QRCode(box_size=item.module_dots, border=2)
            code.add_data(item.payload)
            pieces.append(code.make_image().get_image())
        elif isinstance(item, Cut):
            pieces.append(_cut_mark(dots_per_line))
    height = sum(p.height for p in pieces) + 2 * _MARGIN
    canvas = Image.new("L", (dots_per_line + 2 * _MARGIN, height), 255)
    y = _MARGIN
    for piece in pieces:
        y = _paste_centred(canvas, piece, y)
    return canvas


def _text_line(item: TextLine, dots_per_line: int) -> Image.Image:
    """A text line in the printer's cell grid; a tall line is stretched, as GS ! 01 does."""
    line = Image.new("L", (dots_per_line, _LINE_DOTS + 6), 255)
    draw = ImageDraw.Draw(line)
    x = {
        Align.LEFT: 0,
        Align.CENTER: (dots_per_line - display_width(item.text) * _COLUMN_DOTS) // 2,
        Align.RIGHT: dots_per_line - display_width(item.text) * _COLUMN_DOTS,
    }[item.align]
    for char in item.text:
        font = font_for(char, _LINE_DOTS)
        draw.text((x, 0), char, font=font, fill=0)
        if item.bold:
            draw.text((x + 1, 0), char, font=font, fill=0)
        x += display_width(char) * _COLUMN_DOTS
    return line.resize((line.width, line.height * 2)) if item.tall else line


def _cut_mark(width: int) -> Image.Image:
    mark = Image.new("L", (width, 12), 255)
    ImageDraw.Draw(mark).line([(0, 6), (width, 6)], fill=128, width=1)
    return mark


def save_preview(receipt: DecodedReceipt, path: Path, *, dots_per_line: int = 576) -> Path:
    """Write the PNG preview of ``receipt`` to ``path``."""
    render_preview(receipt, dots_per_line=dots_per_line).save(path, format="PNG")
    return path
