"""Device model descriptions as data, and the loader that reads them.

Drivers ask a profile what a model can do (``profile.supports("pin_pad")``); they
never branch on a model name.
"""

from firmware_profiles.readers import (
    ReaderProfile,
    ReaderProfileError,
    load_reader_profiles,
    match_reader_profile,
)

__all__ = [
    "ReaderProfile",
    "ReaderProfileError",
    "load_reader_profiles",
    "match_reader_profile",
]
