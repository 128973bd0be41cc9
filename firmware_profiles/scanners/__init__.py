"""Second-generation ID card scanner profiles (GA 467): serial speeds, timing, features."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import ClassVar

from firmware_profiles.loader import (
    DeviceProfile,
    TableReader,
    find_profile,
    load_profiles,
    parse_profiles,
)

#: The serial speeds GA 467 scanners offer (DOMAIN.md §9).
BAUD_RATES = (115200, 57600, 38400, 19200, 9600)


@dataclass(frozen=True)
class ScannerProfile(DeviceProfile):
    """One ID card scanner model."""

    KNOWN_FEATURES: ClassVar[frozenset[str]] = frozenset(
        {
            "appended_address",  # reads 30 03, the address change written by the police
            "fingerprint",  # returns the 1,024-byte fingerprint file after the photo
            "usb_virtual_serial",  # USB model that shows up as a serial port
            "usb_hid",  # USB model spoken to through the vendor library only
        }
    )

    vendor: str = ""
    usb_ids: tuple[str, ...] = ()
    baud_rates: tuple[int, ...] = (115200,)
    command_timeout_ms: int = 500
    read_timeout_ms: int = 3000
    frame_retries: int = 1

    @property
    def default_baud(self) -> int:
        """The speed tried first (the factory setting)."""
        return self.baud_rates[0]


def _build(profile_id: str, table: TableReader) -> ScannerProfile:
    return ScannerProfile(
        profile_id=profile_id,
        title=table.text("title"),
        vendor=table.text("vendor"),
        features=table.features(ScannerProfile.KNOWN_FEATURES),
        sources=table.texts("sources", non_empty=True),
        usb_ids=table.usb_ids(),
        baud_rates=table.integers("baud_rates", non_empty=True, choices=BAUD_RATES),
        command_timeout_ms=table.integer("command_timeout_ms", 500, minimum=50),
        read_timeout_ms=table.integer("read_timeout_ms", 3000, minimum=100),
        frame_retries=table.integer("frame_retries", 1),
    )


def parse_profiles_text(text: str, *, source: str = "<text>") -> tuple[ScannerProfile, ...]:
    """Parse scanner profiles from TOML text (``[scanner.<id>]`` tables)."""
    return parse_profiles(text, kind="scanner", build=_build, source=source)


@cache
def _bundled() -> tuple[ScannerProfile, ...]:
    return load_profiles(__package__, "scanners.toml", kind="scanner", build=_build)


def load_scanner_profiles(path: Path | None = None) -> tuple[ScannerProfile, ...]:
    """Load scanner profiles from ``path``, or the bundled ``scanners.toml``."""
    if path is None:
        return _bundled()
    return load_profiles(__package__, "scanners.toml", kind="scanner", build=_build, path=path)


def scanner_profile(profile_id: str, *, path: Path | None = None) -> ScannerProfile:
    """The scanner profile named ``profile_id``."""
    return find_profile(load_scanner_profiles(path), profile_id)
