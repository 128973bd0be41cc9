"""The one profile loader: TOML tables checked field by field, profiles that say ``supports``.

Each device kind (ID scanners, printers) declares a :class:`DeviceProfile` subclass
with its known features and a function that builds a profile from a
:class:`TableReader`. The reader refuses a missing or mistyped field and any key it
was not asked for, so a typo in a data file is an error naming the file, the table
and the key, never a silently ignored setting.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Collection
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import ClassVar, TypeVar


class ProfileError(ValueError):
    """A profile file is malformed, or a driver asked about a feature no profile knows."""


@dataclass(frozen=True)
class DeviceProfile:
    """What every device model has: an id, a title, features, and where the facts came from."""

    KNOWN_FEATURES: ClassVar[frozenset[str]] = frozenset()

    profile_id: str
    title: str
    features: frozenset[str]
    sources: tuple[str, ...]

    def supports(self, feature: str) -> bool:
        """Tell whether the model has ``feature``; an unknown feature name is an error."""
        if feature not in self.KNOWN_FEATURES:
            raise ProfileError(f"unknown {type(self).__name__} feature {feature!r}")
        return feature in self.features


_MISSING = object()
_T = TypeVar("_T")


class TableReader:
    """Takes typed values out of one ``[kind.id]`` table and remembers which keys it read."""

    def __init__(self, where: str, table: dict[str, object]) -> None:
        self.where = where
        self._table = table
        self._read: set[str] = set()

    def _take(self, key: str, default: object) -> object:
        self._read.add(key)
        if key in self._table:
            return self._table[key]
        if default is _MISSING:
            raise ProfileError(f"{self.where}: missing required key {key!r}")
        return default

    def _fail(self, key: str, expected: str) -> ProfileError:
        return ProfileError(f"{self.where}: {key} must be {expected}")

    def text(self, key: str, default: object = _MISSING, *, choices: Collection[str] = ()) -> str:
        """A string value (one of ``choices`` when given)."""
        value = self._take(key, default)
        if not isinstance(value, str) or not value or (choices and value not in choices):
            raise self._fail(key, f"one of {sorted(choices)}" if choices else "a non-empty string")
        return value

    def integer(
        self,
        key: str,
        default: object = _MISSING,
        *,
        minimum: int = 0,
        choices: Collection[int] = (),
    ) -> int:
        """An integer value, at least ``minimum`` (one of ``choices`` when given)."""
        value = self._take(key, default)
        if type(value) is not int or value < minimum or (choices and value not in choices):
            expected = f"one of {sorted(choices)}" if choices else f"an integer >= {minimum}"
            raise self._fail(key, expected)
        return value

    def texts(
        self,
        key: str,
        default: object = _MISSING,
        *,
        choices: Collection[str] = (),
        non_empty: bool = False,
    ) -> tuple[str, ...]:
        """A list of strings (each one of ``choices`` when given)."""
        return self._list(key, default, str, choices, non_empty)

    def integers(
        self,
        key: str,
        default: object = _MISSING,
        *,
        choices: Collection[int] = (),
        non_empty: bool = False,
    ) -> tuple[int, ...]:
        """A list of integers (each one of ``choices`` when given)."""
        return self._list(key, default, int, choices, non_empty)

    def _list(
        self,
        key: str,
        default: object,
        item_type: type[_T],
        choices: Collection[_T],
        non_empty: bool,
    ) -> tuple[_T, ...]:
        value = self._take(key, default)
        if not isinstance(value, list | tuple) or (non_empty and not value):
            raise self._fail(key, "a non-empty list" if non_empty else "a list")
        for item in value:
            if type(item) is not item_type:
                raise self._fail(key, f"a list of {item_type.__name__}")
            if choices and item not in choices:
                raise self._fail(
                    key, f"a list drawn from {sorted(choices, key=str)} (not {item!r})"
                )
        return tuple(value)

    def usb_ids(self) -> tuple[str, ...]:
        """The ``usb_ids`` list of ``"vvvv:pppp"`` lower-case hex vendor and product ids."""
        usb_ids = self.texts("usb_ids", [])
        for usb_id in usb_ids:
            vendor, _, product = usb_id.partition(":")
            if not all(
                len(p) == 4 and set(p) <= set("0123456789abcdef") for p in (vendor, product)
            ):
                raise self._fail("usb_ids", f"'vvvv:pppp' lower-case hex (not {usb_id!r})")
        return usb_ids

    def features(self, known: frozenset[str]) -> frozenset[str]:
        """The ``features`` list, every entry one of ``known``."""
        return frozenset(self.texts("features", [], choices=known))

    def finish(self) -> None:
        """Refuse keys nobody asked for: they are typos or settings the driver would ignore."""
        unknown = sorted(set(self._table) - self._read)
        if unknown:
            raise ProfileError(f"{self.where}: unknown keys {unknown}")


P = TypeVar("P", bound=DeviceProfile)


def parse_profiles(
    text: str, *, kind: str, build: Callable[[str, TableReader], P], source: str = "<text>"
) -> tuple[P, ...]:
    """Parse a TOML document of ``[<kind>.<id>]`` tables into profiles, in file order."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{source}: not valid TOML: {exc}") from exc
    tables = document.get(kind)
    extra = sorted(set(document) - {kind})
    if extra:
        raise ProfileError(f"{source}: unexpected top-level tables {extra}")
    if not isinstance(tables, dict) or not tables:
        raise ProfileError(f"{source}: needs at least one [{kind}.<id>] table")
    profiles = []
    for profile_id, table in tables.items():
        where = f"{source}: [{kind}.{profile_id}]"
        if not isinstance(table, dict):
            raise ProfileError(f"{where} must be a table")
        reader = TableReader(where, table)
        profile = build(profile_id, reader)
        reader.finish()
        profiles.append(profile)
    return tuple(profiles)


def load_profiles(
    package: str,
    filename: str,
    *,
    kind: str,
    build: Callable[[str, TableReader], P],
    path: Path | None = None,
) -> tuple[P, ...]:
    """Load ``path``, or the data file ``filename`` bundled in ``package`` when not given."""
    if path is None:
        text = resources.files(package).joinpath(filename).read_text(encoding="utf-8")
        return parse_profiles(text, kind=kind, build=build, source=filename)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(f"{path}: cannot be read as UTF-8 text: {exc}") from exc
    return parse_profiles(text, kind=kind, build=build, source=str(path))


def find_profile(profiles: tuple[P, ...], profile_id: str) -> P:
    """The profile named ``profile_id``; ``ProfileError`` listing the known ones otherwise."""
    for profile in profiles:
        if profile.profile_id == profile_id:
            return profile
    known = ", ".join(p.profile_id for p in profiles)
    raise ProfileError(f"no profile {profile_id!r} (known: {known})")
