"""Card reader profiles: name patterns, capabilities and quirks, loaded from TOML."""

from __future__ import annotations

import fnmatch
import tomllib
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path

#: Quirks a profile may declare; anything else in a data file is a typo and refused.
KNOWN_QUIRKS = frozenset(
    {
        "pin_pad",
        "contactless",
        "virtual",
        "needs_get_response",
        "slow_power_up",
        "drops_context_on_restart",
    }
)


class ReaderProfileError(ValueError):
    """A reader profile file is malformed."""


@dataclass(frozen=True)
class ReaderProfile:
    """What one reader model is, how to recognise it and what it can do."""

    profile_id: str
    title: str
    name_patterns: tuple[str, ...]
    quirks: frozenset[str] = field(default_factory=frozenset)
    max_apdu_length: int = 261

    def matches(self, reader_name: str) -> bool:
        """Tell whether a PC/SC reader name belongs to this model (glob, case-insensitive)."""
        name = reader_name.lower()
        return any(fnmatch.fnmatchcase(name, pattern.lower()) for pattern in self.name_patterns)

    def supports(self, quirk: str) -> bool:
        """Tell whether the model has a capability or quirk, e.g. ``"pin_pad"``."""
        if quirk not in KNOWN_QUIRKS:
            raise ReaderProfileError(f"unknown reader capability {quirk!r}")
        return quirk in self.quirks


def _profile_from_table(profile_id: str, table: dict[str, object]) -> ReaderProfile:
    title = table.get("title", profile_id)
    patterns = table.get("name_patterns")
    quirks = table.get("quirks", [])
    max_apdu_length = table.get("max_apdu_length", 261)
    if not isinstance(title, str):
        raise ReaderProfileError(f"{profile_id}: title must be a string")
    if not isinstance(patterns, list) or not patterns:
        raise ReaderProfileError(f"{profile_id}: name_patterns must be a non-empty list")
    if not all(isinstance(p, str) for p in patterns):
        raise ReaderProfileError(f"{profile_id}: name_patterns must hold strings")
    if not isinstance(quirks, list) or not all(isinstance(q, str) for q in quirks):
        raise ReaderProfileError(f"{profile_id}: quirks must be a list of strings")
    unknown = set(quirks) - KNOWN_QUIRKS
    if unknown:
        raise ReaderProfileError(f"{profile_id}: unknown quirks {sorted(unknown)}")
    if not isinstance(max_apdu_length, int) or max_apdu_length < 5:
        raise ReaderProfileError(f"{profile_id}: max_apdu_length must be an integer >= 5")
    return ReaderProfile(
        profile_id=profile_id,
        title=title,
        name_patterns=tuple(patterns),
        quirks=frozenset(quirks),
        max_apdu_length=max_apdu_length,
    )


def parse_reader_profiles(text: str) -> tuple[ReaderProfile, ...]:
    """Parse a reader profile TOML document (``[reader.<id>]`` tables), in file order."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ReaderProfileError(f"reader profiles are not valid TOML: {exc}") from exc
    readers = document.get("reader")
    if not isinstance(readers, dict) or not readers:
        raise ReaderProfileError("reader profiles need at least one [reader.<id>] table")
    profiles = []
    for profile_id, table in readers.items():
        if not isinstance(table, dict):
            raise ReaderProfileError(f"reader.{profile_id} must be a table")
        profiles.append(_profile_from_table(profile_id, table))
    return tuple(profiles)


@cache
def _bundled_profiles() -> tuple[ReaderProfile, ...]:
    text = resources.files(__package__).joinpath("readers.toml").read_text(encoding="utf-8")
    return parse_reader_profiles(text)


def load_reader_profiles(path: Path | None = None) -> tuple[ReaderProfile, ...]:
    """Load reader profiles from ``path``, or the bundled ``readers.toml`` when not given."""
    if path is None:
        return _bundled_profiles()
    return parse_reader_profiles(path.read_text(encoding="utf-8"))


def match_reader_profile(
    reader_name: str, *, profiles: tuple[ReaderProfile, ...] | None = None
) -> ReaderProfile:
    """Return the first profile whose pattern matches ``reader_name`` (the last is the fallback)."""
    candidates = profiles if profiles is not None else load_reader_profiles()
    for profile in candidates:
        if profile.matches(reader_name):
            return profile
    return candidates[-1]
