"""ESC/POS bytes back into what a person would see: text lines, images, barcodes, QR codes.

It understands the commands xnb's renderer and python-escpos send (and the usual
set of a receipt printer); anything else is a :class:`EscposDecodeError` naming the
offset, so a test notices bytes it did not expect.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from PIL import Image

from device_drivers.printer.text import Align


class EscposDecodeError(ValueError):
    """The bytes hold a command the decoder does not know, or end inside one."""


@dataclass(frozen=True)
class TextLine:
    """A printed line of text (spaces kept: padding is part of the layout)."""

    text: str
    align: Align = Align.LEFT
    bold: bool = False
    tall: bool = False


@dataclass(frozen=True)
class RasterImage:
    """A raster image (GS v 0); black is 0 in ``image`` (mode ``"1"``)."""

    image: Image.Image


@dataclass(frozen=True)
class BarcodeItem:
    """A barcode the printer draws itself."""

    symbology: str
    data: str


@dataclass(frozen=True)
class QrItem:
    """A QR code the printer draws itself."""

    payload: str
    module_dots: int


@dataclass(frozen=True)
class Cut:
    """The paper is cut here."""


Item = TextLine | RasterImage | BarcodeItem | QrItem | Cut


@dataclass
class DecodedReceipt:
    """Everything a print job put on paper, in order."""

    items: list[Item] = field(default_factory=list)

    @property
    def lines(self) -> list[str]:
        """The text lines, trailing spaces removed."""
        return [i.text.rstrip() for i in self.items if isinstance(i, TextLine)]

    @property
    def text(self) -> str:
        """All text lines joined by newlines."""
        return "\n".join(self.lines)

    @property
    def barcodes(self) -> list[str]:
        """Data of every barcode."""
        return [i.data for i in self.items if isinstance(i, BarcodeItem)]

    @property
    def qr_payloads(self) -> list[str]:
        """Payload of every native QR code."""
        return [i.payload for i in self.items if isinstance(i, QrItem)]

    @property
    def images(self) -> list[Image.Image]:
        """Every raster image."""
        return [i.image for i in self.items if isinstance(i, RasterImage)]

    @property
    def cut(self) -> bool:
        """Whether the job ends with a cut."""
        return bool(self.items) and isinstance(self.items[-1], Cut)


_BARCODE_SYMBOLOGIES = {
    65: "UPC-A",
    66: "UPC-E",
    67: "EAN13",
    68: "EAN8",
    69: "CODE39",
    72: "CODE93",
}
#: Commands with a fixed number of parameter bytes that change nothing we report.
_SKIP_ESC = {
    b"2": 0,
    b"3": 1,
    b"J": 1,
    b"t": 1,
    b"M": 1,
    b"-": 1,
    b"G": 1,
    b"p": 3,
    b"R": 1,
    b"{": 1,
}
_SKIP_GS = {b"h": 1, b"w": 1, b"H": 1, b"f": 1, b"L": 2, b"W": 2, b"B": 1, b"b": 1, b"P": 2}


class _Decoder:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0
        self.receipt = DecodedReceipt()
        self.line = bytearray()
        self.chinese = False
        self.align = Align.LEFT
        self.bold = False
        self.tall = False
        self.qr_store = ""
        self.qr_size = 3

    def take(self, count: int) -> bytes:
        if self.pos + count > len(self.data):
            raise EscposDecodeError(f"job ends inside a command at byte {self.pos}")
        chunk = self.data[self.pos : self.pos + count]
        self.pos += count
        return chunk

    def take_text(self, count: int, codec: str) -> str:
        """``count`` bytes of a command's text parameter (a barcode's or QR code's data)."""
        start = self.pos
        try:
            return self.take(count).decode(codec)
        except UnicodeDecodeError as exc:
            raise EscposDecodeError(f"parameter at byte {start} is not {codec} text") from exc

    def end_line(self) -> None:
        text = self.line.decode("gb18030", errors="replace")
        self.receipt.items.append(TextLine(text, self.align, self.bold, self.tall))
        self.line.clear()

    def run(self) -> DecodedReceipt:
        while self.pos < len(self.data):
            byte = self.take(1)
            if byte == b"\n":
                self.end_line()
            elif byte == b"\x1b":
                self.esc()
            elif byte == b"\x1d":
                self.gs()
            elif byte == b"\x1c":
                self.fs()
            elif byte == b"\x10":
                self.real_time()
            elif byte in (b"\r", b"\x00"):
                continue
            elif byte[0] >= 0x80 and not self.chinese:
                raise EscposDecodeError(f"non-ASCII byte outside Chinese mode at {self.pos - 1}")
            else:
                self.line += byte
        if self.line:
            self.end_line()
        return self.receipt

    def esc(self) -> None:
        command = self.take(1)
        if command == b"@":
            self.chinese, self.align, self.bold, self.tall = False, Align.LEFT, False, False
        elif command == b"a":
            self.align = [Align.LEFT, Align.CENTER, Align.RIGHT][self.take(1)[0] % 3]
        elif command == b"E":
            self.bold = bool(self.take(1)[0] & 1)
        elif command == b"!":
            self.tall = bool(self.take(1)[0] & 0x10)
        elif command == b"d":
            for _ in range(self.take(1)[0]):
                self.end_line()
        elif command in _SKIP_ESC:
            self.take(_SKIP_ESC[command])
        else:
            raise EscposDecodeError(f"unknown command ESC {command!r} at byte {self.pos - 2}")

    def gs(self) -> None:
        command = self.take(1)
        if command == b"!":
            self.tall = bool(self.take(1)[0] & 0x0F)
        elif command == b"V":
            mode = self.take(1)[0]
            if mode in (65, 66):
                self.take(1)
            self.receipt.items.append(Cut())
        elif command == b"v":
            self.raster()
        elif command == b"k":
            self.barcode()
        elif command == b"(":
            self.two_dimensional()
        elif command in _SKIP_GS:
            self.take(_SKIP_GS[command])
        else:
            raise EscposDecodeError(f"unknown command GS {command!r} at byte {self.pos - 2}")

    def fs(self) -> None:
        command = self.take(1)
        if command == b"&":
            self.chinese = True
        elif command == b".":
            self.chinese = False
        else:
            raise EscposDecodeError(f"unknown command FS {command!r} at byte {self.pos - 2}")

    def real_time(self) -> None:
        # DLE EOT n (status request) and DLE ENQ n (recover): the driver's status
        # checks around a receipt; they put nothing on paper.
        command = self.take(1)
        if command not in (b"\x04", b"\x05"):
            raise EscposDecodeError(f"unknown command DLE {command!r} at byte {self.pos - 2}")
        self.take(1)

    def raster(self) -> None:
        if self.take(1) != b"0":
            raise EscposDecodeError(f"unknown GS v variant at byte {self.pos - 1}")
        self.take(1)  # density mode
        header = self.take(4)
        width_bytes = header[0] | header[1] << 8
        height = header[2] | header[3] << 8
        bits = self.take(width_bytes * height)
        # ESC/POS sets a bit for a black dot; Pillow's mode "1" has 0 for black.
        image = Image.frombytes("1", (width_bytes * 8, height), bytes(b ^ 0xFF for b in bits))
        self.receipt.items.append(RasterImage(image))

    def barcode(self) -> None:
        symbology = self.take(1)[0]
        if symbology == 73:
            payload = self.take_text(self.take(1)[0], "ascii")
            # Code 128 data starts with a code set selector: {A, {B or {C.
            data = payload[2:] if payload[:1] == "{" else payload
            self.receipt.items.append(BarcodeItem("CODE128", data))
        elif symbology in _BARCODE_SYMBOLOGIES:
            data = self.take_text(self.take(1)[0], "ascii")
            self.receipt.items.append(BarcodeItem(_BARCODE_SYMBOLOGIES[symbology], data))
        else:
            raise EscposDecodeError(f"unsupported barcode type {symbology} at byte {self.pos - 1}")

    def two_dimensional(self) -> None:
        if self.take(1) != b"k":
            raise EscposDecodeError(f"unknown GS ( variant at byte {self.pos - 1}")
        size = self.take(2)
        start = self.pos
        body = self.take(size[0] | size[1] << 8)
        if body[:1] != b"1":  # cn 49: QR code; PDF417 (48) is not used on receipts
            raise EscposDecodeError(f"unsupported 2D symbol {body[:1]!r} at byte {self.pos}")
        function = body[1:2]
        if function == b"C":
            if len(body) < 3:
                raise EscposDecodeError(f"QR module size missing at byte {start}")
            self.qr_size = body[2]
        elif function == b"P":
            try:
                self.qr_store = body[3:].decode("utf-8")
            except UnicodeDecodeError as exc:
                raise EscposDecodeError(f"QR data at byte {start} is not UTF-8") from exc
        elif function == b"Q":
            self.receipt.items.append(QrItem(self.qr_store, self.qr_size))


def decode_escpos(data: bytes) -> DecodedReceipt:
    """Decode a print job's bytes into text lines, images, barcodes, QR codes and cuts."""
    return _Decoder(data).run()
