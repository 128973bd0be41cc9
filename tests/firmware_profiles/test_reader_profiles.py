"""Reader profiles: bundled data loads, names match, typos are refused."""

from __future__ import annotations

import pytest

from firmware_profiles import (
    ReaderProfileError,
    load_reader_profiles,
    match_reader_profile,
)
from firmware_profiles.readers import parse_reader_profiles


def test_bundled_profiles_load_with_a_generic_fallback_last() -> None:
    profiles = load_reader_profiles()
    assert profiles[-1].profile_id == "generic"
    assert {p.profile_id for p in profiles} >= {"vpcd", "generic"}


def test_reader_names_pick_their_profile() -> None:
    assert match_reader_profile("Virtual PCD 00 00").profile_id == "vpcd"
    assert match_reader_profile("Mingwah URD-R310 PIN 00 00").supports("pin_pad")
    generic = match_reader_profile("Some Unknown Reader 01 00")
    assert generic.profile_id == "generic"
    assert not generic.supports("pin_pad")


def test_asking_for_an_unknown_capability_is_an_error() -> None:
    with pytest.raises(ReaderProfileError):
        match_reader_profile("Virtual PCD 00 00").supports("teleport")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not toml [", "not valid TOML"),
        ("[other]\nx = 1", "at least one"),
        ("[reader.a]\nname_patterns = []", "non-empty"),
        ('[reader.a]\nname_patterns = ["x"]\nquirks = ["pin-pad"]', "unknown quirks"),
        ('[reader.a]\nname_patterns = ["x"]\nmax_apdu_length = 2', "max_apdu_length"),
    ],
)
def test_malformed_profile_files_are_refused(text: str, message: str) -> None:
    with pytest.raises(ReaderProfileError, match=message):
        parse_reader_profiles(text)
