"""Receipt rendering: Chinese encoding, image lines for rare names, widths, codes."""

from __future__ import annotations

from pathlib import Path

import pytest

from device_drivers.printer import decode_escpos, render_receipt
from device_drivers.printer.decode import EscposDecodeError, RasterImage, TextLine
from device_drivers.printer.render import CHINESE_OFF, CHINESE_ON, encode_line
from device_drivers.printer.text import display_width
from firmware_profiles.printers import printer_profile
from tests.device_drivers.printer_support import VERIFIER, every_layout

WIDE = printer_profile("capture_80")
NARROW = printer_profile("capture_58")


def test_any_non_ascii_line_is_wrapped_in_fs_and_and_fs_dot() -> None:
    assert encode_line("R2026") == b"R2026\n"
    # Punctuation only: python-escpos would send "?" here.
    assert encode_line("：·") == CHINESE_ON + "：·".encode("gb18030") + CHINESE_OFF + b"\n"
    assert encode_line("王秀英") == b"\x1c&" + "王秀英".encode("gb18030") + b"\x1c.\n"


@pytest.mark.parametrize("profile", [WIDE, NARROW], ids=lambda p: p.profile_id)
def test_every_layout_fits_the_paper_and_carries_a_verifiable_token(profile: object) -> None:
    for receipt in every_layout():
        decoded = decode_escpos(render_receipt(receipt, profile))  # type: ignore[arg-type]
        assert all(display_width(line) <= profile.columns for line in decoded.lines)  # type: ignore[attr-defined]
        assert any(line.endswith(receipt.number) for line in decoded.lines)
        assert "巴特尔·孟克" in decoded.text
        if profile is WIDE:
            assert decoded.barcodes == [receipt.number]
            (payload,) = decoded.qr_payloads
            assert VERIFIER.verify(payload).receipt_number == receipt.number
            assert decoded.cut
        else:
            # No native QR or cutter on this model: the QR code is an image, no cut.
            assert decoded.barcodes == [receipt.number]
            assert decoded.qr_payloads == [] and len(decoded.images) == 1
            assert not decoded.cut


def test_pairs_are_flush_right_on_both_widths() -> None:
    receipt = every_layout()[0]
    for profile in (WIDE, NARROW):
        lines = decode_escpos(render_receipt(receipt, profile)).lines
        name_line = next(line for line in lines if line.startswith("姓名"))
        assert display_width(name_line) == profile.columns
        assert name_line.endswith("巴特尔·孟克")


def test_amounts_and_masked_id_are_printed() -> None:
    text = decode_escpos(render_receipt(every_layout()[0], WIDE)).text
    assert "实收金额：500.00元" in text
    assert "654226********0011" in text
    assert "654226195009080011" not in text


def test_a_rare_name_is_an_image_line_and_the_rest_stays_text() -> None:
    receipt = every_layout("刘䶮")[0]
    decoded = decode_escpos(render_receipt(receipt, WIDE))  # GBK font: no 䶮
    assert "刘䶮" not in decoded.text and "?" not in decoded.text
    name_index = next(
        i
        for i, item in enumerate(decoded.items)
        if isinstance(item, TextLine) and item.text.startswith("身份证号")
    )
    assert isinstance(decoded.items[name_index - 1], RasterImage)
    image = decoded.items[name_index - 1].image  # type: ignore[union-attr]
    assert image.width == WIDE.dots_per_line and image.height == 24
    assert image.getextrema()[0] == 0  # something is drawn


def test_a_gb18030_printer_prints_the_rare_name_as_text() -> None:
    decoded = decode_escpos(
        render_receipt(every_layout("刘䶮")[0], printer_profile("epson_tm_t82iii"))
    )
    assert any(line.endswith("刘䶮") for line in decoded.lines)


def test_title_is_centred_by_display_width() -> None:
    lines = decode_escpos(render_receipt(every_layout()[0], NARROW)).lines
    assert lines[1] == " " * 10 + "个人缴费凭证"


def test_unknown_command_is_a_decode_error_with_its_offset() -> None:
    with pytest.raises(EscposDecodeError, match="at byte 3"):
        decode_escpos(b"abc\x1b\x99")
    with pytest.raises(EscposDecodeError, match="ends inside"):
        decode_escpos(b"\x1dv0\x00\x10\x00\x10\x00")


def test_a_name_with_an_extension_b_character_is_drawn_not_boxed() -> None:
    """𠮷 (U+20BB7) is in no printer font and not in the main CJK font either: the image
    line draws it with the supplementary font (fonts-hanazono), not as an empty box."""
    from PIL import Image, ImageDraw

    from device_drivers.printer.fonts import cjk_font, font_for
    from device_drivers.printer.preview import save_preview

    receipt = every_layout("𠮷田")[0]
    decoded = decode_escpos(render_receipt(receipt, WIDE))
    assert "?" not in decoded.text
    name_index = next(
        i
        for i, item in enumerate(decoded.items)
        if isinstance(item, TextLine) and item.text.startswith("身份证号")
    )
    image = decoded.items[name_index - 1].image  # type: ignore[union-attr]
    # The name is flush right: 𠮷 takes the two columns before 田's two.
    cell = WIDE.dots_per_line // WIDE.columns
    left = WIDE.dots_per_line - 4 * cell
    drawn = image.crop((left, 0, left + 2 * cell, 24)).convert("L")

    def glyph(font: object) -> Image.Image:
        canvas = Image.new("1", (2 * cell, 24), 1)
        ImageDraw.Draw(canvas).text((0, 1), "𠮷", font=font, fill=0)  # type: ignore[arg-type]
        return canvas.convert("L")

    assert drawn.tobytes() == glyph(font_for("𠮷", 22)).tobytes()
    assert drawn.tobytes() != glyph(cjk_font(22)).tobytes()  # the .notdef box
    screenshots = Path(__file__).resolve().parents[2] / "var" / "screenshots"
    screenshots.mkdir(parents=True, exist_ok=True)
    save_preview(decoded, screenshots / "receipt-rare-name.png")
