"""The face comparison driver: one raw primitive, the decision from the profile.

A concrete driver implements :meth:`FaceComparator._capture` (look at the person, check
liveness, score the face against the ID card photo); the base turns that into an
outcome with the profile's ``match_threshold`` and logs it without any image.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import StrEnum

from firmware_profiles.faces import FaceProfile

log = logging.getLogger(__name__)


class FaceOutcome(StrEnum):
    """What one comparison found (the backend's wire values)."""

    MATCH = "match"
    NO_MATCH = "no_match"
    LIVENESS_FAILED = "liveness_failed"


@dataclass(frozen=True)
class Capture:
    """What the device reports: a live person or not, and the similarity score (0–100)."""

    live: bool
    score: int


@dataclass(frozen=True)
class FaceComparison:
    """The outcome of one comparison, the score, and the device that made it."""

    outcome: FaceOutcome
    score: int
    device: str

    def to_dict(self) -> dict[str, object]:
        """As sent to the backend with a kiosk certification."""
        return {"outcome": self.outcome.value, "score": self.score, "device": self.device}


class FaceComparator(ABC):
    """A face comparison device of one profile, identified by its serial number."""

    def __init__(self, profile: FaceProfile, *, serial: str) -> None:
        self.profile = profile
        self.serial = serial

    @property
    def device(self) -> str:
        """Model and unit, as recorded on a certification (``profile/serial``)."""
        return f"{self.profile.profile_id}/{self.serial}"[:64]

    @abstractmethod
    def _capture(self, id_photo: bytes, *, timeout_seconds: float) -> Capture:
        """Look at the person in front of the device and compare with ``id_photo`` (WLT)."""

    def compare(self, id_photo: bytes) -> FaceComparison:
        """Compare the live face with the ID card photo; liveness first, then the score."""
        capture = self._capture(id_photo, timeout_seconds=self.profile.capture_timeout_ms / 1000)
        if not capture.live:
            outcome = FaceOutcome.LIVENESS_FAILED
        elif capture.score >= self.profile.match_threshold:
            outcome = FaceOutcome.MATCH
        else:
            outcome = FaceOutcome.NO_MATCH
        log.info("face comparison on %s: %s (score %d)", self.device, outcome, capture.score)
        return FaceComparison(outcome=outcome, score=capture.score, device=self.device)

    @abstractmethod
    def check(self) -> None:
        """Raise ``FaceDeviceUnavailableError`` unless the device answers (for the watcher)."""
