"""Face comparison device profiles: the bundled table loads; a device without liveness
detection or with a threshold outside 0–100 is refused."""

from __future__ import annotations

import pytest

from firmware_profiles import ProfileError, face_profile, load_face_profiles
from firmware_profiles.faces import parse_profiles_text

GOOD = """
[face.x]
title = "x"
vendor = "v"
features = ["liveness_infrared"]
match_threshold = 80
sources = ["s"]
"""


def test_bundled_profiles_load_and_every_one_detects_liveness() -> None:
    profiles = load_face_profiles()
    assert [p.profile_id for p in profiles] == ["simulator"]
    simulator = face_profile("simulator")
    assert simulator.supports("liveness_infrared") and simulator.match_threshold == 80
    assert parse_profiles_text(GOOD)[0].capture_timeout_ms == 10000


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('["liveness_infrared"]', '["wlt_photo"]'), "liveness"),
        (("match_threshold = 80", "match_threshold = 101"), "match_threshold"),
        (("match_threshold = 80", "match_threshold = 0"), "match_threshold"),
        (('sources = ["s"]', 'sources = ["s"]\nthreshold = 3'), "unknown keys"),
    ],
)
def test_a_bad_profile_is_refused_naming_the_key(change: tuple[str, str], message: str) -> None:
    with pytest.raises(ProfileError, match=message):
        parse_profiles_text(GOOD.replace(*change))
