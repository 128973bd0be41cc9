"""National codes and formats as pure functions (DOMAIN.md §6), shared by every package.

It imports nothing of ours, so the backend, the device drivers and the terminal agent
can all validate a citizen ID number the same way.
"""

from national_codes.id_number import (
    IdNumber,
    IdNumberError,
    check_character,
    make_id_number,
    parse_id_number,
)

__all__ = ["IdNumber", "IdNumberError", "check_character", "make_id_number", "parse_id_number"]
