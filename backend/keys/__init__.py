"""The issuer's card master keys behind a key vault (a stand-in for a hardware security
module): the vault derives card keys, computes and checks cryptograms and MACs, and never
hands a master key out."""

from backend.keys.local import LocalKeyVault, open_vault
from backend.keys.vault import (
    FAMILY_OF_GENERATION,
    KeyCheckValue,
    KeyFamily,
    KeyVault,
    VaultError,
    key_check_value,
)

__all__ = [
    "FAMILY_OF_GENERATION",
    "KeyCheckValue",
    "KeyFamily",
    "KeyVault",
    "LocalKeyVault",
    "VaultError",
    "key_check_value",
    "open_vault",
]
