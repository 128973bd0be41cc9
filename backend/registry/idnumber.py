"""Citizen ID numbers (GB 11643-1999), kept under the registry's name.

The pure logic lives in :mod:`national_codes.id_number` so that the device drivers
(which may not import the backend) validate an ID card's number the same way.
"""

from national_codes.id_number import (
    IdNumber,
    IdNumberError,
    check_character,
    make_id_number,
    parse_id_number,
)

__all__ = ["IdNumber", "IdNumberError", "check_character", "make_id_number", "parse_id_number"]
