"""The local key vault file: its active-version pointer is authenticated, new files are
sealed at a sound scrypt cost, and files of the first format still open (and are sealed
anew)."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from backend.keys.local import DEFAULT_SCRYPT_N, LEGACY_FORMAT, LocalKeyVault
from backend.keys.vault import KeyFamily, VaultError
from card_services.demo import DEMO_MASTER_KEYS, DEMO_TRANSPORT_MASTER_KEY

PASSPHRASE = "a long enough test passphrase"
FAST = 2**10  # scrypt cost for tests: the same code path, a fraction of the time


def test_moving_the_active_pointer_back_to_an_older_key_version_is_refused(tmp_path: Path):
    path = tmp_path / "vault.json"
    vault = LocalKeyVault.create(path, passphrase=PASSPHRASE, province_code="65", scrypt_n=FAST)
    assert vault.rotate(KeyFamily.TRIPLE_DES) == 2
    assert LocalKeyVault.open(path, passphrase=PASSPHRASE).active_version(KeyFamily.TRIPLE_DES) == 2
    document = json.loads(path.read_text())
    document["active"]["3des"] = 1  # back to the version an attacker may know
    path.write_text(json.dumps(document))
    with pytest.raises(VaultError, match="被改动"):
        LocalKeyVault.open(path, passphrase=PASSPHRASE)
    document["active"]["3des"] = 2
    del document["active_mac"]  # nor can the pointer simply lose its MAC
    path.write_text(json.dumps(document))
    with pytest.raises(VaultError):
        LocalKeyVault.open(path, passphrase=PASSPHRASE)


def test_new_vaults_are_sealed_at_a_sound_scrypt_cost(tmp_path: Path):
    path = tmp_path / "vault.json"
    LocalKeyVault.create(path, passphrase=PASSPHRASE, province_code="65")
    kdf = json.loads(path.read_text())["kdf"]
    assert (kdf["n"], kdf["r"], kdf["p"]) == (2**17, 8, 1)  # 128 MiB per derivation
    assert DEFAULT_SCRYPT_N >= 2**17


def _first_format_file(path: Path) -> None:
    """A vault as the first format wrote it: scrypt N=2**10, no MAC on the pointer."""
    kdf = {"name": "scrypt", "salt": secrets.token_hex(16), "n": FAST, "r": 8, "p": 1}
    key = Scrypt(salt=bytes.fromhex(kdf["salt"]), length=32, n=FAST, r=8, p=1).derive(
        PASSPHRASE.encode()
    )
    master = {
        "read": DEMO_MASTER_KEYS.read.hex(),
        "internal_auth": DEMO_MASTER_KEYS.internal_auth.hex(),
        "update": DEMO_MASTER_KEYS.update.hex(),
        "pin_unblock": DEMO_MASTER_KEYS.pin_unblock.hex(),
        "transport": DEMO_TRANSPORT_MASTER_KEY.hex(),
    }
    sealed = []
    for family in ("3des", "sm4"):
        nonce = secrets.token_bytes(12)
        aad = f"{LEGACY_FORMAT}|65|{family}|1".encode()
        ciphertext = AESGCM(key).encrypt(nonce, json.dumps(master).encode(), aad)
        sealed.append(
            {
                "family": family,
                "version": 1,
                "created_at": "2026-01-01T00:00:00+00:00",
                "nonce": nonce.hex(),
                "ciphertext": ciphertext.hex(),
                "kcv": {},
            }
        )
    document = {
        "format": LEGACY_FORMAT,
        "province_code": "65",
        "kdf": kdf,
        "active": {"3des": 1, "sm4": 1},
        "key_sets": sealed,
    }
    path.write_text(json.dumps(document))


def test_a_first_format_file_still_opens_and_is_sealed_anew(tmp_path: Path):
    path = tmp_path / "vault.json"
    _first_format_file(path)
    demo = LocalKeyVault.create(
        tmp_path / "demo.json",
        passphrase=PASSPHRASE,
        province_code="65",
        demo_keys=True,
        scrypt_n=FAST,
    )
    old = LocalKeyVault.open(path, passphrase=PASSPHRASE)
    assert old.key_check_values() == demo.key_check_values()
    document = json.loads(path.read_text())
    assert document["format"] == "xnb-card-key-vault/2" and document["active_mac"]
    assert document["kdf"]["n"] == DEFAULT_SCRYPT_N
    again = LocalKeyVault.open(path, passphrase=PASSPHRASE)
    assert again.key_check_values() == demo.key_check_values()
