"""Face comparison device errors with stable codes the kiosk page can say in plain words.

::

    FaceDeviceError(code, retriable)
    ├── FaceDeviceUnavailableError  face_device_unavailable  retriable  not connected or gone
    └── NoFaceError                 no_face                  retriable  nobody there in time

A comparison that ran is no error: a face that does not match or fails the liveness check
is a :class:`~device_drivers.face.base.FaceComparison` outcome, for the backend to decide on.
"""

from __future__ import annotations

from typing import ClassVar


class FaceDeviceError(Exception):
    """Base class: a stable ``code`` and whether the resident should simply try again."""

    code: ClassVar[str] = "face_device_error"
    retriable: ClassVar[bool] = False

    def to_dict(self) -> dict[str, object]:
        """What a local API returns to the page."""
        return {"code": self.code, "retriable": self.retriable, "detail": str(self)}


class FaceDeviceUnavailableError(FaceDeviceError):
    """The device cannot be reached (unplugged, its service stopped)."""

    code = "face_device_unavailable"
    retriable = True


class NoFaceError(FaceDeviceError):
    """No face was in front of the camera before the profile's capture timeout."""

    code = "no_face"
    retriable = True
