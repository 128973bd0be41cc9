"""Receipt printer profiles (ESC/POS): paper width, columns, Chinese font, features."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import ClassVar

from firmware_profiles.loader import (
    DeviceProfile,
    ProfileError,
    TableReader,
    find_profile,
    load_profiles,
    parse_profiles,
)

#: Python codec names of the Chinese fonts printers carry, smallest first.
CJK_CHARSETS = ("gb2312", "gbk", "gb18030")
TRANSPORTS = ("usb", "serial", "network")


@dataclass(frozen=True)
class PrinterProfile(DeviceProfile):
    """One receipt printer model."""

    KNOWN_FEATURES: ClassVar[frozenset[str]] = frozenset(
        {
            "cut",  # GS V: has an auto-cutter (58 mm printers usually only tear)
            "qr_native",  # GS ( k: draws QR codes itself; otherwise sent as an image
            "barcode_native",  # GS k: draws Code 128 itself; otherwise sent as an image
            "status_query",  # DLE EOT: answers real-time status (paper, cover, online)
            "cash_drawer",  # ESC p: drawer kick
        }
    )

    vendor: str = ""
    usb_ids: tuple[str, ...] = ()
    transports: tuple[str, ...] = ("usb",)
    paper_width_mm: int = 80
    dots_per_line: int = 576
    columns: int = 48
    cjk_charset: str = "gb18030"
    serial_baud: int = 9600

    @property
    def cjk_columns(self) -> int:
        """How many Chinese characters fit on a line (each is two columns)."""
        return self.columns // 2


def _build(profile_id: str, table: TableReader) -> PrinterProfile:
    paper_width_mm = table.integer("paper_width_mm", choices=(58, 80))
    dots_per_line = table.integer("dots_per_line", minimum=200)
    columns = table.integer("columns", minimum=16)
    # Font A is 12 dots wide; more columns than the print head holds would wrap mid-line.
    if columns * 12 > dots_per_line:
        raise ProfileError(f"{table.where}: {columns} columns need {columns * 12} dots")
    return PrinterProfile(
        profile_id=profile_id,
        title=table.text("title"),
        vendor=table.text("vendor"),
        features=table.features(PrinterProfile.KNOWN_FEATURES),
        sources=table.texts("sources", non_empty=True),
        usb_ids=table.usb_ids(),
        transports=table.texts("transports", non_empty=True, choices=TRANSPORTS),
        paper_width_mm=paper_width_mm,
        dots_per_line=dots_per_line,
        columns=columns,
        cjk_charset=table.text("cjk_charset", choices=CJK_CHARSETS),
        serial_baud=table.integer("serial_baud", 9600, choices=(9600, 19200, 38400, 115200)),
    )


def parse_profiles_text(text: str, *, source: str = "<text>") -> tuple[PrinterProfile, ...]:
    """Parse printer profiles from TOML text (``[printer.<id>]`` tables)."""
    return parse_profiles(text, kind="printer", build=_build, source=source)


@cache
def _bundled() -> tuple[PrinterProfile, ...]:
    return load_profiles(__package__, "printers.toml", kind="printer", build=_build)


def load_printer_profiles(path: Path | None = None) -> tuple[PrinterProfile, ...]:
    """Load printer profiles from ``path``, or the bundled ``printers.toml``."""
    if path is None:
        return _bundled()
    return load_profiles(__package__, "printers.toml", kind="printer", build=_build, path=path)


def printer_profile(profile_id: str, *, path: Path | None = None) -> PrinterProfile:
    """The printer profile named ``profile_id``."""
    return find_profile(load_printer_profiles(path), profile_id)
