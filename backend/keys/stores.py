"""The configured key vault: the sealed file (``XNB_KEY_STORE=file``) or the HSM (``pkcs11``)."""

from __future__ import annotations

from backend.config import Settings
from backend.keys.local import DEFAULT_SCRYPT_N, LocalKeyVault
from backend.keys.pkcs11 import Pkcs11KeyVault
from backend.keys.pkcs11_token import TokenConfig, token_for
from backend.keys.vault import KeyVault


def open_configured(settings: Settings) -> KeyVault:
    """Open the vault the settings name; ``VaultError`` if it is missing or locked."""
    if settings.key_store == "pkcs11":
        return Pkcs11KeyVault.open(token_for(TokenConfig.from_settings(settings)))
    return LocalKeyVault.open(
        settings.card_vault_path, passphrase=settings.card_vault_passphrase.get_secret_value()
    )


def create_configured(
    settings: Settings,
    *,
    province_code: str,
    demo_keys: bool = False,
    scrypt_n: int = DEFAULT_SCRYPT_N,
) -> KeyVault:
    """Generate version 1 of both key families where the settings say; never overwrite."""
    if settings.key_store == "pkcs11":
        return Pkcs11KeyVault.create(
            token_for(TokenConfig.from_settings(settings)),
            province_code=province_code,
            demo_keys=demo_keys,
        )
    return LocalKeyVault.create(
        settings.card_vault_path,
        passphrase=settings.card_vault_passphrase.get_secret_value(),
        province_code=province_code,
        demo_keys=demo_keys,
        scrypt_n=scrypt_n,
    )


def location(settings: Settings) -> str:
    """Where the keys are, for the ceremony's messages (never the PIN or passphrase)."""
    if settings.key_store == "pkcs11":
        return f"硬件密码模块令牌 {settings.pkcs11_token_label}（{settings.pkcs11_module}）"
    return str(settings.card_vault_path)
