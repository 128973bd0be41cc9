"""ID scanner profiles: the bundled models load, a broken file is refused by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from firmware_profiles.loader import ProfileError
from firmware_profiles.scanners import load_scanner_profiles, parse_profiles_text, scanner_profile


def test_at_least_three_real_models_with_sources() -> None:
    real = [p for p in load_scanner_profiles() if p.vendor != "xnb"]
    assert len(real) >= 3
    assert all(p.sources for p in real)
    assert all(p.default_baud == p.baud_rates[0] for p in real)


def test_drivers_ask_features_not_model_names() -> None:
    profile = scanner_profile("shensi_ss628_100")
    assert profile.supports("appended_address")
    assert not scanner_profile("synjones_dkq_a16d").supports("fingerprint")
    with pytest.raises(ProfileError, match="unknown ScannerProfile feature"):
        profile.supports("teleport")


def test_unknown_profile_name_lists_the_known_ones() -> None:
    with pytest.raises(ProfileError, match="simulator"):
        scanner_profile("no_such_scanner")


GOOD = """
[scanner.x]
title = "X"
vendor = "V"
baud_rates = [115200]
sources = ["manual"]
"""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[scanner", "not valid TOML"),
        ('[printer.x]\ntitle = "X"', "unexpected top-level"),
        ("", "at least one"),
        (GOOD.replace("baud_rates = [115200]", "baud_rates = [12345]"), "baud_rates"),
        (GOOD.replace("baud_rates = [115200]", "baud_rates = []"), "non-empty"),
        (GOOD + "bauds = [9600]\n", r"unknown keys \['bauds'\]"),
        (GOOD + 'features = ["fax"]\n', "features"),
        (GOOD + 'usb_ids = ["0400-c35a"]\n', "usb_ids"),
        (GOOD.replace('title = "X"\n', ""), "missing required key 'title'"),
        (GOOD + "read_timeout_ms = 5\n", "read_timeout_ms"),
    ],
)
def test_broken_profile_files_are_refused_with_a_clear_message(text: str, message: str) -> None:
    with pytest.raises(ProfileError, match=message):
        parse_profiles_text(text)


def test_a_profile_file_on_disk_names_itself_in_errors(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(GOOD + "speed = 1\n", encoding="utf-8")
    with pytest.raises(ProfileError, match=r"mine\.toml: \[scanner\.x\]"):
        load_scanner_profiles(path)
    path.write_text(GOOD, encoding="utf-8")
    assert load_scanner_profiles(path)[0].title == "X"
