"""A face comparison device in software: it answers what tests and the demo set.

``outcome`` is what the next comparisons find until it is set again: a match (score
92), no match (score 31, below every threshold) or a liveness failure (a photo held up).
``fail_with`` makes the next comparison raise instead (device gone, nobody there).
Every comparison is recorded (the photo's length, never the photo).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from device_drivers.face.base import Capture, FaceComparator, FaceOutcome
from device_drivers.face.errors import FaceDeviceError, FaceDeviceUnavailableError
from firmware_profiles.faces import FaceProfile

#: What the simulated camera reports for each outcome.
_CAPTURES = {
    FaceOutcome.MATCH: Capture(live=True, score=92),
    FaceOutcome.NO_MATCH: Capture(live=True, score=31),
    FaceOutcome.LIVENESS_FAILED: Capture(live=False, score=0),
}


@dataclass(frozen=True)
class SimulatedComparison:
    """One comparison the simulator made."""

    photo_length: int
    outcome: FaceOutcome


class FaceSimulator(FaceComparator):
    """The simulated device (thread-safe: the agent's request threads and a test share it)."""

    def __init__(
        self,
        profile: FaceProfile,
        *,
        serial: str = "SIM-0001",
        outcome: FaceOutcome = FaceOutcome.MATCH,
    ) -> None:
        super().__init__(profile, serial=serial)
        self._lock = threading.Lock()
        self._outcome = outcome
        self._failure: FaceDeviceError | None = None
        self.connected = True
        self.comparisons: list[SimulatedComparison] = []

    def set_outcome(self, outcome: FaceOutcome | str) -> None:
        """What the following comparisons find."""
        with self._lock:
            self._outcome = FaceOutcome(outcome)

    def fail_with(self, error: FaceDeviceError | None) -> None:
        """Make the next comparison raise ``error`` (None: stop failing)."""
        with self._lock:
            self._failure = error

    def check(self) -> None:
        """Unavailable while ``connected`` is False (a test pulls the plug)."""
        if not self.connected:
            raise FaceDeviceUnavailableError("人脸识别设备未连接")

    def _capture(self, id_photo: bytes, *, timeout_seconds: float) -> Capture:
        self.check()
        with self._lock:
            failure, self._failure = self._failure, None
            outcome = self._outcome
            if failure is None:
                self.comparisons.append(SimulatedComparison(len(id_photo), outcome))
        if failure is not None:
            raise failure
        return _CAPTURES[outcome]
