"""Device model descriptions as data, and the loader that reads them.

Drivers ask a profile what a model can do (``profile.supports("pin_pad")``); they
never branch on a model name. Reader, ID scanner, printer and face device profiles all go through
the one schema-checked loader in :mod:`firmware_profiles.loader`.
"""

from firmware_profiles.faces import FaceProfile, face_profile, load_face_profiles
from firmware_profiles.loader import DeviceProfile, ProfileError
from firmware_profiles.printers import PrinterProfile, load_printer_profiles, printer_profile
from firmware_profiles.readers import (
    ReaderProfile,
    load_reader_profiles,
    match_reader_profile,
)
from firmware_profiles.scanners import ScannerProfile, load_scanner_profiles, scanner_profile

__all__ = [
    "DeviceProfile",
    "FaceProfile",
    "PrinterProfile",
    "ProfileError",
    "ReaderProfile",
    "ScannerProfile",
    "face_profile",
    "load_face_profiles",
    "load_printer_profiles",
    "load_reader_profiles",
    "load_scanner_profiles",
    "match_reader_profile",
    "printer_profile",
    "scanner_profile",
]
