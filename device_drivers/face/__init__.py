"""Face comparison (人证核验) devices: the abstract driver, its errors, the simulator.

A real model is driven through its vendor's SDK behind :class:`FaceComparator` (one
primitive, ``_capture``); none is built yet (docs/devices.md).
"""

from device_drivers.face.base import Capture, FaceComparator, FaceComparison, FaceOutcome
from device_drivers.face.errors import FaceDeviceError, FaceDeviceUnavailableError, NoFaceError
from device_drivers.face.simulator import FaceSimulator

__all__ = [
    "Capture",
    "FaceComparator",
    "FaceComparison",
    "FaceDeviceError",
    "FaceDeviceUnavailableError",
    "FaceOutcome",
    "FaceSimulator",
    "NoFaceError",
]
