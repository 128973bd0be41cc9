"""The request dependency that hands views the process's key vault."""

from __future__ import annotations

import threading
from typing import Annotated

from fastapi import Depends, Request

from backend.errors import DomainError
from backend.keys.local import open_vault
from backend.keys.vault import KeyVault, VaultError

_opening = threading.Lock()


def get_vault(request: Request) -> KeyVault:
    """The vault, opened on first use (scrypt is slow) and kept for the process's life.

    Tests and an HSM deployment put their own :class:`KeyVault` in ``app.state.key_vault``.
    """
    state = request.app.state
    vault: KeyVault | None = getattr(state, "key_vault", None)
    if vault is not None:
        return vault
    with _opening:
        vault = getattr(state, "key_vault", None)
        if vault is None:
            settings = state.settings
            try:
                vault = open_vault(
                    settings.card_vault_path,
                    passphrase=settings.card_vault_passphrase.get_secret_value(),
                )
            except VaultError as exc:
                raise DomainError(
                    detail=f"卡密钥库不可用：{exc}",
                    code="key_vault_unavailable",
                    status=503,
                    title="卡密钥库不可用",
                ) from exc
            state.key_vault = vault
    return vault


Vault = Annotated[KeyVault, Depends(get_vault)]
