"""The request dependency that hands views the process's key vault."""

from __future__ import annotations

import threading
from typing import Annotated

from fastapi import Depends, Request

from backend.errors import DomainError
from backend.keys.stores import open_configured
from backend.keys.vault import KeyVault, VaultError

_opening = threading.Lock()


def get_vault(request: Request) -> KeyVault:
    """The configured vault (file or HSM), opened on first use (scrypt is slow, an HSM
    log-in is a round trip) and kept for the process's life.

    Tests may put their own :class:`KeyVault` in ``app.state.key_vault``.
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
                vault = open_configured(settings)
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
