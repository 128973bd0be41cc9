"""Card reader profiles on the shared loader: PC/SC name patterns, features and quirks.

What used to be a reader's "quirks" are its ``features`` here, asked the same way as a
scanner's or a printer's: ``profile.supports("pin_pad")``.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import ClassVar

from firmware_profiles.loader import DeviceProfile, TableReader, load_profiles, parse_profiles


@dataclass(frozen=True)
class ReaderProfile(DeviceProfile):
    """One card reader model: how PC/SC names it and what it can do."""

    KNOWN_FEATURES: ClassVar[frozenset[str]] = frozenset(
        {
            "pin_pad",  # the holder types the PIN on the reader (secure PIN entry)
            "contactless",  # also reads the card's contactless interface
            "virtual",  # vsmartcard's vpcd: tests and demos
            "needs_get_response",  # T=0: 61xx / 6Cxx are the terminal's job
            "slow_power_up",  # the first APDU after insertion may time out; retry once
            "drops_context_on_restart",  # a pcscd restart invalidates the PC/SC context
        }
    )

    name_patterns: tuple[str, ...] = ()
    usb_ids: tuple[str, ...] = ()
    max_apdu_length: int = 261

    def matches(self, reader_name: str) -> bool:
        """Tell whether a PC/SC reader name belongs to this model (glob, case-insensitive)."""
        name = reader_name.lower()
        return any(fnmatch.fnmatchcase(name, pattern.lower()) for pattern in self.name_patterns)


def _build(profile_id: str, table: TableReader) -> ReaderProfile:
    return ReaderProfile(
        profile_id=profile_id,
        title=table.text("title"),
        features=table.features(ReaderProfile.KNOWN_FEATURES),
        sources=table.texts("sources", non_empty=True),
        name_patterns=table.texts("name_patterns", non_empty=True),
        usb_ids=table.usb_ids(),
        max_apdu_length=table.integer("max_apdu_length", 261, minimum=5),
    )


def parse_reader_profiles(text: str, *, source: str = "<text>") -> tuple[ReaderProfile, ...]:
    """Parse reader profiles from TOML text (``[reader.<id>]`` tables), in file order."""
    return parse_profiles(text, kind="reader", build=_build, source=source)


@cache
def _bundled() -> tuple[ReaderProfile, ...]:
    return load_profiles(__package__, "readers.toml", kind="reader", build=_build)


def load_reader_profiles(path: Path | None = None) -> tuple[ReaderProfile, ...]:
    """Load reader profiles from ``path``, or the bundled ``readers.toml`` when not given."""
    if path is None:
        return _bundled()
    return load_profiles(__package__, "readers.toml", kind="reader", build=_build, path=path)


def match_reader_profile(
    reader_name: str, *, profiles: tuple[ReaderProfile, ...] | None = None
) -> ReaderProfile:
    """Return the first profile whose pattern matches ``reader_name`` (the last is the fallback)."""
    candidates = profiles if profiles is not None else load_reader_profiles()
    for profile in candidates:
        if profile.matches(reader_name):
            return profile
    return candidates[-1]
