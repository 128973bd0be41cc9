"""The face comparison driver: the profile's threshold decides, liveness first; the
simulator answers what a test sets and records no photo."""

from __future__ import annotations

from dataclasses import replace

import pytest

from device_drivers.face import (
    Capture,
    FaceComparator,
    FaceDeviceUnavailableError,
    FaceOutcome,
    FaceSimulator,
    NoFaceError,
)
from firmware_profiles import face_profile

PHOTO = bytes(range(256)) * 4  # 1,024 WLT bytes, as the ID card gives them


class FixedCapture(FaceComparator):
    """A device that reports one capture."""

    def __init__(self, capture: Capture, threshold: int) -> None:
        super().__init__(replace(face_profile("simulator"), match_threshold=threshold), serial="X1")
        self.capture = capture

    def _capture(self, id_photo: bytes, *, timeout_seconds: float) -> Capture:
        return self.capture

    def check(self) -> None:
        """Always there."""


@pytest.mark.parametrize(
    ("capture", "threshold", "outcome"),
    [
        (Capture(live=True, score=80), 80, FaceOutcome.MATCH),  # at the threshold: a match
        (Capture(live=True, score=79), 80, FaceOutcome.NO_MATCH),
        (Capture(live=True, score=79), 70, FaceOutcome.MATCH),  # the profile decides
        (Capture(live=False, score=99), 80, FaceOutcome.LIVENESS_FAILED),  # a photo held up
    ],
)
def test_the_profile_threshold_and_liveness_decide_the_outcome(
    capture: Capture, threshold: int, outcome: FaceOutcome
) -> None:
    comparison = FixedCapture(capture, threshold).compare(PHOTO)
    assert comparison.outcome is outcome
    assert comparison.to_dict() == {
        "outcome": outcome.value,
        "score": capture.score,
        "device": "simulator/X1",
    }


def test_the_simulator_answers_what_is_set_and_fails_when_told() -> None:
    face = FaceSimulator(face_profile("simulator"))
    assert face.compare(PHOTO).outcome is FaceOutcome.MATCH
    for outcome in ("no_match", "liveness_failed", "match"):
        face.set_outcome(outcome)
        assert face.compare(PHOTO).outcome.value == outcome
    face.fail_with(NoFaceError("未检测到人脸"))
    with pytest.raises(NoFaceError):
        face.compare(PHOTO)
    assert face.compare(PHOTO).outcome is FaceOutcome.MATCH  # a failure is for one comparison
    face.connected = False
    with pytest.raises(FaceDeviceUnavailableError) as caught:
        face.compare(PHOTO)
    assert caught.value.to_dict()["code"] == "face_device_unavailable"
    assert [c.photo_length for c in face.comparisons] == [1024] * 5
