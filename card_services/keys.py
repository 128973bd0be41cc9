"""Master keys, per-card keys and how one becomes the other.

The backend derives a card's keys with :func:`derive_card_keys` (personalisation and
online authentication); a terminal's PSAM does the same inside its secure chip.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from card_services.applications import SocialSecurityApplication
from card_services.crypto import diversify_key
from card_services.errors import CardCryptoError

DEFAULT_DIVERSIFICATION_LEVELS: Final = 2


@dataclass(frozen=True, repr=False)
class MasterKeys:
    """The issuer's master keys of one card generation (16 bytes each)."""

    read: bytes
    internal_auth: bytes
    update: bytes
    pin_unblock: bytes

    def __post_init__(self) -> None:
        for name in ("read", "internal_auth", "update", "pin_unblock"):
            if len(getattr(self, name)) != 16:
                raise CardCryptoError(f"master key {name} must be 16 bytes")

    def __repr__(self) -> str:
        return "MasterKeys(<secret>)"


@dataclass(frozen=True, repr=False)
class CardKeys:
    """One card's diversified keys."""

    read: bytes
    internal_auth: bytes
    update: bytes
    pin_unblock: bytes

    def __repr__(self) -> str:
        return "CardKeys(<secret>)"


def diversification_path(
    identification_code: bytes, *, levels: int = DEFAULT_DIVERSIFICATION_LEVELS
) -> tuple[bytes, ...]:
    """Diversification data from the card identification code, 1 to 3 levels.

    Level 1 uses the card's own 8 bytes (the tail of the identification code); level 2
    puts the issuing region first; level 3 adds the head of the identification code.
    """
    if len(identification_code) != 16:
        raise CardCryptoError("identification code must be 16 bytes")
    region = identification_code[:3].ljust(8, b"\xff")
    head, tail = identification_code[:8], identification_code[8:]
    paths = {1: (tail,), 2: (region, tail), 3: (region, head, tail)}
    if levels not in paths:
        raise CardCryptoError(f"diversification takes 1 to 3 levels, got {levels}")
    return paths[levels]


def derive_card_keys(
    master_keys: MasterKeys,
    *,
    application: SocialSecurityApplication,
    identification_code: bytes,
    levels: int = DEFAULT_DIVERSIFICATION_LEVELS,
) -> CardKeys:
    """Derive a card's keys from the master keys and its identification code."""
    path = diversification_path(identification_code, levels=levels)
    cipher = application.cipher
    return CardKeys(
        read=diversify_key(cipher, master_keys.read, path),
        internal_auth=diversify_key(cipher, master_keys.internal_auth, path),
        update=diversify_key(cipher, master_keys.update, path),
        pin_unblock=diversify_key(cipher, master_keys.pin_unblock, path),
    )


def derive_transport_key(
    transport_master_key: bytes, *, application: SocialSecurityApplication, atr: bytes
) -> bytes:
    """A blank card's transport key: the master diversified with the ATR's last 8 bytes."""
    if len(atr) < 8:
        raise CardCryptoError("ATR too short to diversify the transport key")
    return diversify_key(application.cipher, transport_master_key, (atr[-8:],))
