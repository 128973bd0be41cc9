"""The card verifier of a workstation that holds no card key: the backend's vault answers.

A generation-3 card shows its holder data only after EXTERNAL AUTHENTICATE with a
cryptogram under the card's read key. A workstation must not hold master keys, so it
asks the backend (``POST /api/v1/cards/external-authentications``, with the operator's
session) for the cryptogram of the card's challenge; the vault never lets a key out.
Local card authentication needs local keys, so this verifier refuses it.
"""

from __future__ import annotations

from collections.abc import Callable

from card_services import CardVerificationError, SocialSecurityApplication


class BackendCardVerifier:
    """A :class:`card_services.CardVerifier` whose read-key cryptograms come from the backend."""

    def __init__(self, cryptogram_for: Callable[[bytes, bytes], bytes]) -> None:
        """``cryptogram_for(identification_code, challenge)`` asks the backend."""
        self._cryptogram_for = cryptogram_for

    def new_challenge(self, *, application: SocialSecurityApplication) -> bytes:
        """Not here: checking a card's answer is the backend's online authentication."""
        raise CardVerificationError("本机不保存卡片密钥：请使用后台在线认证")

    def verify_card(
        self,
        *,
        application: SocialSecurityApplication,
        identification_code: bytes,
        challenge: bytes,
        cryptogram: bytes,
    ) -> None:
        """Not here: checking a card's answer is the backend's online authentication."""
        raise CardVerificationError("本机不保存卡片密钥：请使用后台在线认证")

    def answer_card_challenge(
        self,
        *,
        application: SocialSecurityApplication,
        identification_code: bytes,
        challenge: bytes,
    ) -> bytes:
        """The backend's cryptogram for the card's challenge (the card's read key)."""
        return self._cryptogram_for(identification_code, challenge)
