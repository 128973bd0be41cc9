"""Receipt → ESC/POS bytes for one printer profile.

Encoding rules (DOMAIN.md §10): a line with any non-ASCII character is sent as
``FS &`` + GB18030 bytes + ``FS .``, whatever the character (python-escpos would
only switch for ideographs and turn ``：`` or ``·`` into ``?``). A line holding a
character outside the printer's resident font is drawn with an outline font and sent
as a raster image, so a rare name (生僻字) prints right instead of as ``?``. Widths,
centring and columns are computed on display width (a Chinese character is two
columns) from the profile's column count.
"""

from __future__ import annotations

import io

import barcode
import qrcode
from barcode.writer import ImageWriter
from escpos.constants import QR_ECLEVEL_M
from escpos.printer import Dummy
from PIL import Image, ImageDraw

from device_drivers.printer import receipt as r
from device_drivers.printer.errors import ReceiptLayoutError
from device_drivers.printer.fonts import font_for
from device_drivers.printer.text import Align, align, display_width, pair, printable, wrap
from firmware_profiles.printers import PrinterProfile

ESC, GS, FS, LF = b"\x1b", b"\x1d", b"\x1c", b"\n"
INIT = ESC + b"@"
CHINESE_ON = FS + b"&"
CHINESE_OFF = FS + b"."
#: Font A is 24 dots high; an image line the same height keeps the rhythm of the text.
LINE_DOTS = 24
#: Code 128 (GS k 73) modules: start, check and stop symbols around 11 per character.
_CODE128_MODULES_FIXED = 11 * 2 + 13
_QR_MODULE_DOTS = {58: 4, 80: 6}


def _bold(on: bool) -> bytes:
    return ESC + b"E" + bytes([int(on)])


def _size(tall: bool) -> bytes:
    # GS ! 01: double height only, so the columns (and our padding) stay the same.
    return GS + b"!" + bytes([0x01 if tall else 0x00])


def _justify(how: Align) -> bytes:
    return ESC + b"a" + bytes([{Align.LEFT: 0, Align.CENTER: 1, Align.RIGHT: 2}[how]])


def _escpos_builder(dots_per_line: int) -> Dummy:
    """A python-escpos ``Dummy`` that knows the paper width (else it prints a warning)."""
    dummy = Dummy()
    media = {"width": {"mm": "Unknown", "pixels": dots_per_line}, "dpi": 203}
    # An instance attribute: the class-level profile data is shared by every printer.
    dummy.profile.profile_data = {**dummy.profile.profile_data, "media": media}
    return dummy


def encode_line(text: str) -> bytes:
    """One text line as bytes: ASCII as is, anything else inside ``FS &`` … ``FS .``."""
    if text.isascii():
        return text.encode("ascii") + LF
    return CHINESE_ON + text.encode("gb18030") + CHINESE_OFF + LF


class Renderer:
    """Renders receipts for one printer profile."""

    def __init__(self, profile: PrinterProfile) -> None:
        self.profile = profile

    def render(self, receipt: r.Receipt) -> bytes:
        """The ESC/POS bytes of ``receipt``: initialise, elements, feed, and cut if it can."""
        out = bytearray(INIT)
        for element in receipt.elements:
            out += self._element(element)
        out += ESC + b"d" + bytes([4])
        if self.profile.supports("cut"):
            out += GS + b"V" + bytes([1])
        return bytes(out)

    def _element(self, element: r.Element) -> bytes:
        columns = self.profile.columns
        match element:
            case r.Line(text=text, align=how, bold=bold, tall=tall):
                lines = [align(part, columns, how).rstrip() for part in wrap(text, columns)]
                return _bold(bold) + _size(tall) + self._lines(lines) + _size(False) + _bold(False)
            case r.Pair(label=label, value=value):
                return self._lines(pair(label, value, columns))
            case r.Rule():
                return encode_line("-" * columns)
            case r.Barcode(data=data):
                return self._barcode(data)
            case r.QrCode(payload=payload):
                return self._qr(payload)
        raise ReceiptLayoutError(f"unknown receipt element {element!r}")

    def _lines(self, lines: list[str]) -> bytes:
        out = bytearray()
        for line in lines:
            if all(printable(c, self.profile.cjk_charset) for c in line):
                out += encode_line(line)
            else:
                out += self._image(self._text_image(line))
        return bytes(out)

    def _text_image(self, line: str) -> Image.Image:
        """Draw a line the font cannot print, at the width it would take as text."""
        dots_per_column = self.profile.dots_per_line // self.profile.columns
        canvas = Image.new("1", (self.profile.dots_per_line, LINE_DOTS), 1)
        draw = ImageDraw.Draw(canvas)
        x = 0
        for char in line:
            # Two dots smaller than the cell, as the printer's own 24-dot font leaves room.
            draw.text((x, 1), char, font=font_for(char, LINE_DOTS - 2), fill=0)
            x += dots_per_column * display_width(char)
        return canvas

    def _image(self, image: Image.Image) -> bytes:
        """A raster image (GS v 0) centred on the paper."""
        width = self.profile.dots_per_line
        if image.width > width:
            image = image.resize((width, image.height * width // image.width))
        canvas = Image.new("1", (width, image.height), 1)
        canvas.paste(image.convert("1"), ((width - image.width) // 2, 0))
        dummy = _escpos_builder(width)
        dummy.image(canvas, impl="bitImageRaster", center=False)
        return dummy.output

    def _barcode(self, data: str) -> bytes:
        if not data.isascii() or not data.isprintable() or len(data) > 64:
            raise ReceiptLayoutError(
                f"Code 128 takes up to 64 printable ASCII characters: {data!r}"
            )
        modules = _CODE128_MODULES_FIXED + 11 * len(data)
        module_dots = 2 if modules * 2 <= self.profile.dots_per_line else 1
        if modules * module_dots > self.profile.dots_per_line:
            raise ReceiptLayoutError(f"barcode {data!r} is wider than the paper")
        if self.profile.supports("barcode_native"):
            payload = b"{B" + data.encode("ascii")
            return (
                _justify(Align.CENTER)
                + GS + b"h" + bytes([80])
                + GS + b"w" + bytes([module_dots])
                + GS + b"H" + bytes([2])
                + GS + b"k" + bytes([73, len(payload)]) + payload
                + LF
                + _justify(Align.LEFT)
            )  # fmt: skip
        writer_options = {"module_width": 0.25 * module_dots, "module_height": 10, "dpi": 203}
        rendered = io.BytesIO()
        barcode.Code128(data, writer=ImageWriter()).write(rendered, writer_options)
        return self._image(Image.open(rendered))

    def _qr(self, payload: str) -> bytes:
        module_dots = _QR_MODULE_DOTS[self.profile.paper_width_mm]
        dummy = _escpos_builder(self.profile.dots_per_line)
        if self.profile.supports("qr_native"):
            dummy._raw(_justify(Align.CENTER))
            dummy.qr(payload, ec=QR_ECLEVEL_M, size=module_dots, native=True)
            dummy._raw(LF + _justify(Align.LEFT))
            return dummy.output
        code = qrcode.QRCode(
            error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=module_dots, border=2
        )
        code.add_data(payload)
        return self._image(code.make_image().get_image())


def render_receipt(receipt: r.Receipt, profile: PrinterProfile) -> bytes:
    """The ESC/POS bytes of ``receipt`` on a printer described by ``profile``."""
    return Renderer(profile).render(receipt)
