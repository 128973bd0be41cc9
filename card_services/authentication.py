"""Card and terminal authentication as pure functions, and a verifier holding master keys.

INTERNAL AUTHENTICATE: the terminal sends a fresh random, the card returns it
encrypted under its internal-authentication key; whoever holds the master key derives
that card key and checks. EXTERNAL AUTHENTICATE: the card gives a challenge, the
terminal returns it encrypted under the card's read key.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from typing import Protocol

from card_services.applications import SocialSecurityApplication
from card_services.crypto import diversify_key
from card_services.errors import CardCryptoError, CardVerificationError
from card_services.keys import (
    DEFAULT_DIVERSIFICATION_LEVELS,
    CardKeys,
    MasterKeys,
    derive_card_keys,
    diversification_path,
)


def internal_authenticate_cryptogram(
    *, application: SocialSecurityApplication, card_key: bytes, challenge: bytes
) -> bytes:
    """What a genuine card answers to INTERNAL AUTHENTICATE on ``challenge``."""
    if len(challenge) != application.cipher.block_size:
        raise CardCryptoError(f"challenge must be {application.cipher.block_size} bytes")
    return application.cipher.encrypt(card_key, challenge)


def verify_internal_authenticate(
    *,
    application: SocialSecurityApplication,
    master_key: bytes,
    identification_code: bytes,
    challenge: bytes,
    cryptogram: bytes,
    levels: int = DEFAULT_DIVERSIFICATION_LEVELS,
) -> None:
    """Check a card's INTERNAL AUTHENTICATE answer; raise :class:`CardVerificationError`."""
    path = diversification_path(identification_code, levels=levels)
    card_key = diversify_key(application.cipher, master_key, path)
    expected = internal_authenticate_cryptogram(
        application=application, card_key=card_key, challenge=challenge
    )
    if not hmac.compare_digest(expected, cryptogram):
        raise CardVerificationError("internal authentication failed: card is not genuine")


def external_authenticate_cryptogram(
    *, application: SocialSecurityApplication, card_key: bytes, challenge: bytes
) -> bytes:
    """What the terminal sends in EXTERNAL AUTHENTICATE for the card's ``challenge``."""
    if len(challenge) != application.cipher.block_size:
        raise CardCryptoError(f"card challenge must be {application.cipher.block_size} bytes")
    return application.cipher.encrypt(card_key, challenge)


class CardVerifier(Protocol):
    """The key holder a terminal asks (PSAM, HSM or the backend): never the card itself."""

    def new_challenge(self, *, application: SocialSecurityApplication) -> bytes:
        """A fresh random for INTERNAL AUTHENTICATE."""
        ...

    def verify_card(
        self,
        *,
        application: SocialSecurityApplication,
        identification_code: bytes,
        challenge: bytes,
        cryptogram: bytes,
    ) -> None:
        """Raise :class:`CardVerificationError` unless the card's answer is right."""
        ...

    def answer_card_challenge(
        self,
        *,
        application: SocialSecurityApplication,
        identification_code: bytes,
        challenge: bytes,
    ) -> bytes:
        """The EXTERNAL AUTHENTICATE cryptogram for the card's challenge (read key)."""
        ...


class MasterKeyVerifier:
    """A :class:`CardVerifier` that holds the master keys itself (PSAM-like, or tests)."""

    def __init__(
        self,
        master_keys: MasterKeys,
        *,
        levels: int = DEFAULT_DIVERSIFICATION_LEVELS,
        random_bytes: Callable[[int], bytes] = secrets.token_bytes,
    ) -> None:
        self._master_keys = master_keys
        self._levels = levels
        self._random_bytes = random_bytes
        self._issued: set[bytes] = set()

    def card_keys(
        self, *, application: SocialSecurityApplication, identification_code: bytes
    ) -> CardKeys:
        """The diversified keys of one card."""
        return derive_card_keys(
            self._master_keys,
            application=application,
            identification_code=identification_code,
            levels=self._levels,
        )

    def new_challenge(self, *, application: SocialSecurityApplication) -> bytes:
        """A fresh random, remembered until it is used once."""
        challenge = self._random_bytes(application.cipher.block_size)
        self._issued.add(challenge)
        return challenge

    def verify_card(
        self,
        *,
        application: SocialSecurityApplication,
        identification_code: bytes,
        challenge: bytes,
        cryptogram: bytes,
    ) -> None:
        """Check the answer to a challenge this verifier issued; each challenge works once."""
        if challenge not in self._issued:
            raise CardVerificationError("challenge was not issued here or was already used")
        self._issued.discard(challenge)
        verify_internal_authenticate(
            application=application,
            master_key=self._master_keys.internal_auth,
            identification_code=identification_code,
            challenge=challenge,
            cryptogram=cryptogram,
            levels=self._levels,
        )

    def answer_card_challenge(
        self,
        *,
        application: SocialSecurityApplication,
        identification_code: bytes,
        challenge: bytes,
    ) -> bytes:
        """Encrypt the card's challenge under its diversified read key."""
        keys = self.card_keys(application=application, identification_code=identification_code)
        return external_authenticate_cryptogram(
            application=application, card_key=keys.read, challenge=challenge
        )
