"""Reader profiles: bundled data loads, names match, typos are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from firmware_profiles import (
    ProfileError,
    load_reader_profiles,
    match_reader_profile,
)
from firmware_profiles.readers import parse_reader_profiles

READER = '[reader.a]\ntitle = "A"\nsources = ["manual"]\n'


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
    with pytest.raises(ProfileError):
        match_reader_profile("Virtual PCD 00 00").supports("teleport")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not toml [", "not valid TOML"),
        ("[other]\nx = 1", "unexpected top-level tables"),
        (f"{READER}name_patterns = []", "non-empty"),
        (f'{READER}name_patterns = ["x"]\nfeatures = ["pin-pad"]', "features must be"),
        (f'{READER}name_patterns = ["x"]\nquirks = ["pin_pad"]', "unknown keys"),
        (f'{READER}name_patterns = ["x"]\nmax_apdu_length = 2', "max_apdu_length"),
    ],
)
def test_malformed_profile_files_are_refused(text: str, message: str) -> None:
    with pytest.raises(ProfileError, match=message):
        parse_reader_profiles(text)


def test_a_corrupted_profile_file_is_a_profile_error_naming_it(tmp_path: Path) -> None:
    broken = tmp_path / "readers.toml"
    broken.write_bytes(b'[reader.a]\ntitle = "\xff\xfe\x00garbage')
    with pytest.raises(ProfileError, match=r"readers\.toml"):
        load_reader_profiles(broken)
    missing = tmp_path / "absent.toml"
    with pytest.raises(ProfileError, match=r"absent\.toml"):
        load_reader_profiles(missing)


def test_every_reader_profile_names_its_sources_and_three_are_real_models() -> None:
    profiles = load_reader_profiles()
    assert all(p.sources for p in profiles)
    real = [p for p in profiles if p.profile_id not in ("vpcd", "generic")]
    assert len(real) >= 3
