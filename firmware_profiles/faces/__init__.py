"""Face comparison (人证核验) device profiles: liveness methods, the match threshold, timing.

A face comparison device takes the photo of the resident's ID card, looks at the person
in front of it, decides whether a live person is there (liveness) and scores how alike
the two faces are. Whether a score is a match is the profile's ``match_threshold``: data
per model, never a number in a driver.
"""

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


@dataclass(frozen=True)
class FaceProfile(DeviceProfile):
    """One face comparison device model."""

    KNOWN_FEATURES: ClassVar[frozenset[str]] = frozenset(
        {
            "liveness_infrared",  # a second (near-infrared) camera tells a face from a photo
            "liveness_action",  # the person is asked to blink or turn the head
            "wlt_photo",  # takes the ID card photo as read (WLT) and decodes it itself
        }
    )

    vendor: str = ""
    usb_ids: tuple[str, ...] = ()
    # Similarity scores run 0–100; at or above the threshold the faces are the same person.
    match_threshold: int = 80
    # How long the device looks for a face before it gives up.
    capture_timeout_ms: int = 10000


#: A face device that cannot tell a live person from a photo proves nothing.
LIVENESS_FEATURES = frozenset({"liveness_infrared", "liveness_action"})


def _build(profile_id: str, table: TableReader) -> FaceProfile:
    features = table.features(FaceProfile.KNOWN_FEATURES)
    if not features & LIVENESS_FEATURES:
        raise ProfileError(f"{table.where}: a face device must detect liveness")
    return FaceProfile(
        profile_id=profile_id,
        title=table.text("title"),
        vendor=table.text("vendor"),
        features=features,
        sources=table.texts("sources", non_empty=True),
        usb_ids=table.usb_ids(),
        match_threshold=table.integer("match_threshold", choices=range(1, 101)),
        capture_timeout_ms=table.integer("capture_timeout_ms", 10000, minimum=1000),
    )


def parse_profiles_text(text: str, *, source: str = "<text>") -> tuple[FaceProfile, ...]:
    """Parse face device profiles from TOML text (``[face.<id>]`` tables)."""
    return parse_profiles(text, kind="face", build=_build, source=source)


@cache
def _bundled() -> tuple[FaceProfile, ...]:
    return load_profiles(__package__, "faces.toml", kind="face", build=_build)


def load_face_profiles(path: Path | None = None) -> tuple[FaceProfile, ...]:
    """Load face device profiles from ``path``, or the bundled ``faces.toml``."""
    if path is None:
        return _bundled()
    return load_profiles(__package__, "faces.toml", kind="face", build=_build, path=path)


def face_profile(profile_id: str, *, path: Path | None = None) -> FaceProfile:
    """The face device profile named ``profile_id``."""
    return find_profile(load_face_profiles(path), profile_id)
