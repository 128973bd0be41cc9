"""The local key vault: master keys in a JSON file, each key set sealed with AES-256-GCM
under a key derived from a passphrase with scrypt.

It stands in for a hardware security module: the file alone reveals nothing but key
check values, and an opened vault answers the :class:`KeyVault` methods without ever
returning a master key. Each key set is bound (as GCM associated data) to the file format,
its province, family and version, so sealed sets cannot be swapped between slots
unnoticed; the pointer to the active version of each family carries an HMAC under a key
derived from the sealing key, so it cannot be moved back to an older version unnoticed.

The scrypt parameters are stored in the file: a file made at an older, lower cost still
opens, and is sealed again at the current cost (fresh salt, format 2 with the pointer's
MAC) the first time it is opened.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from backend.keys.vault import (
    FAMILY_OF_GENERATION,
    KEY_NAMES,
    KeyCheckValue,
    KeyFamily,
    KeyVault,
    VaultError,
    application_of,
    key_check_value,
)
from card_services import (
    MasterKeys,
    PersonalisationData,
    PersonalisationScript,
    application_for_atr,
    build_personalisation_script,
    derive_card_keys,
    derive_transport_key,
    external_authenticate_cryptogram,
    internal_authenticate_cryptogram,
)
from card_services import commands as card_commands
from card_services.demo import DEMO_MASTER_KEYS, DEMO_TRANSPORT_MASTER_KEY
from card_services.errors import CardError

log = logging.getLogger("xnb.keys")
FORMAT: Final = "xnb-card-key-vault/2"
#: Files of the first format: no MAC on the active pointer; opened, then sealed anew.
LEGACY_FORMAT: Final = "xnb-card-key-vault/1"
#: scrypt cost of an offline key file, opened once per process: N = 2**17, r = 8 (128 MiB,
#: about half a second), the cost OWASP recommends for scrypt; older files keep theirs
#: until they are next sealed.
DEFAULT_SCRYPT_N: Final = 2**17
_POINTER_MAC_LABEL: Final = b"xnb-card-key-vault/active-pointer"
_APPLICATION_OF_FAMILY: Final = {
    KeyFamily.TRIPLE_DES: application_of(2),
    KeyFamily.SM4: application_of(3),
}


@dataclass(frozen=True, repr=False)
class _KeySet:
    family: KeyFamily
    version: int
    master: MasterKeys
    transport_master: bytes

    def named_keys(self) -> dict[str, bytes]:
        return {
            "read": self.master.read,
            "internal_auth": self.master.internal_auth,
            "update": self.master.update,
            "pin_unblock": self.master.pin_unblock,
            "transport": self.transport_master,
        }


def _random_key_set(family: KeyFamily, version: int, transport_master: bytes) -> _KeySet:
    master = MasterKeys(*(secrets.token_bytes(16) for _ in range(4)))
    return _KeySet(family, version, master, transport_master)


def _kdf(passphrase: str, kdf: dict[str, Any]) -> bytes:
    return Scrypt(
        salt=bytes.fromhex(kdf["salt"]), length=32, n=kdf["n"], r=kdf["r"], p=kdf["p"]
    ).derive(passphrase.encode())


def _new_kdf(scrypt_n: int) -> dict[str, Any]:
    return {"name": "scrypt", "salt": secrets.token_hex(16), "n": scrypt_n, "r": 8, "p": 1}


def _aad(province_code: str, family: KeyFamily, version: int, file_format: str = FORMAT) -> bytes:
    return f"{file_format}|{province_code}|{family.value}|{version}".encode()


def _pointer_mac(
    sealing_key: bytes,
    province_code: str,
    active: dict[KeyFamily, int],
    versions: list[tuple[KeyFamily, int]],
) -> str:
    """The HMAC of the active pointer (and of which versions exist) under the vault's key."""
    mac_key = hmac.new(sealing_key, _POINTER_MAC_LABEL, hashlib.sha256).digest()
    message = json.dumps(
        {
            "format": FORMAT,
            "province_code": province_code,
            "active": {family.value: version for family, version in sorted(active.items())},
            "versions": [[family.value, version] for family, version in sorted(versions)],
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return hmac.new(mac_key, message.encode(), hashlib.sha256).hexdigest()


class LocalKeyVault(KeyVault):
    """An opened vault file: the key sets decrypted in memory, sealed again on rotation."""

    def __init__(
        self,
        *,
        path: Path,
        province_code: str,
        kdf: dict[str, Any],
        sealing_key: bytes,
        key_sets: dict[tuple[KeyFamily, int], _KeySet],
        active: dict[KeyFamily, int],
        created: dict[tuple[KeyFamily, int], str],
    ) -> None:
        self.path = path
        self.province_code = province_code
        self._kdf = kdf
        self._sealing_key = sealing_key
        self._key_sets = key_sets
        self._active = active
        self._created = created

    def __repr__(self) -> str:
        return f"LocalKeyVault({self.path}, province {self.province_code})"

    # ---- the key ceremony ---------------------------------------------------------------

    @classmethod
    def create(
        cls,
        path: Path,
        *,
        passphrase: str,
        province_code: str,
        demo_keys: bool = False,
        scrypt_n: int = DEFAULT_SCRYPT_N,
    ) -> LocalKeyVault:
        """Generate version 1 of both key families (or load the public demo keys) and seal."""
        if path.exists():
            raise VaultError(f"密钥库文件{path}已存在，不会覆盖")
        if len(passphrase) < 12:
            raise VaultError("密钥库口令至少12个字符")
        kdf = _new_kdf(scrypt_n)
        key_sets: dict[tuple[KeyFamily, int], _KeySet] = {}
        for family in KeyFamily:
            if demo_keys:
                key_sets[family, 1] = _KeySet(
                    family, 1, DEMO_MASTER_KEYS, DEMO_TRANSPORT_MASTER_KEY
                )
            else:
                key_sets[family, 1] = _random_key_set(family, 1, secrets.token_bytes(16))
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        vault = cls(
            path=path,
            province_code=province_code,
            kdf=kdf,
            sealing_key=_kdf(passphrase, kdf),
            key_sets=key_sets,
            active=dict.fromkeys(KeyFamily, 1),
            created=dict.fromkeys(key_sets, now),
        )
        vault._save()
        return vault

    @classmethod
    def open(cls, path: Path, *, passphrase: str) -> LocalKeyVault:
        """Read and unseal a vault file; a wrong passphrase, an edited file or a moved active
        pointer is refused. A first-format file is sealed anew at the current cost."""
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise VaultError(f"密钥库文件{path}不存在，请先运行 xnb keys init") from exc
        except (OSError, ValueError) as exc:
            raise VaultError(f"密钥库文件{path}无法读取：{exc}") from exc
        file_format = document.get("format")
        if file_format not in (FORMAT, LEGACY_FORMAT):
            raise VaultError(f"{path}不是密钥库文件（格式{file_format!r}）")
        province_code = document["province_code"]
        sealing_key = _kdf(passphrase, document["kdf"])
        key_sets: dict[tuple[KeyFamily, int], _KeySet] = {}
        created: dict[tuple[KeyFamily, int], str] = {}
        for sealed in document["key_sets"]:
            family, version = KeyFamily(sealed["family"]), int(sealed["version"])
            try:
                plain = AESGCM(sealing_key).decrypt(
                    bytes.fromhex(sealed["nonce"]),
                    bytes.fromhex(sealed["ciphertext"]),
                    _aad(province_code, family, version, file_format),
                )
            except InvalidTag as exc:
                raise VaultError("密钥库口令错误，或密钥库文件被篡改") from exc
            keys = {name: bytes.fromhex(value) for name, value in json.loads(plain).items()}
            transport = keys.pop("transport")
            key_sets[family, version] = _KeySet(family, version, MasterKeys(**keys), transport)
            created[family, version] = sealed["created_at"]
        active = {KeyFamily(k): int(v) for k, v in document["active"].items()}
        if file_format == FORMAT:
            expected = _pointer_mac(sealing_key, province_code, active, list(key_sets))
            if not hmac.compare_digest(expected, str(document.get("active_mac", ""))):
                raise VaultError("密钥库文件中当前使用的密钥版本被改动（校验码不符）")
        vault = cls(
            path=path,
            province_code=province_code,
            kdf=document["kdf"],
            sealing_key=sealing_key,
            key_sets=key_sets,
            active=active,
            created=created,
        )
        if file_format == LEGACY_FORMAT:
            vault._kdf = _new_kdf(max(DEFAULT_SCRYPT_N, int(document["kdf"]["n"])))
            vault._sealing_key = _kdf(passphrase, vault._kdf)
            try:
                vault._save()
            except OSError as exc:  # a read-only file still serves; the next rotation seals it
                log.warning("could not seal the first-format key vault %s anew: %s", path, exc)
            else:
                log.warning(
                    "sealed the key vault %s anew: format 2, scrypt N=%s", path, vault._kdf["n"]
                )
        return vault

    def rotate(self, family: KeyFamily) -> int:
        """Generate the next version of a family's issuer keys and make it the active one.

        Older versions stay, because cards personalised under them keep authenticating;
        the transport master key is the card factory's and carries over unchanged.
        """
        current = self._key_sets[family, self._active[family]]
        version = max(v for f, v in self._key_sets if f == family) + 1
        self._key_sets[family, version] = _random_key_set(family, version, current.transport_master)
        self._created[family, version] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        self._active[family] = version
        self._save()
        return version

    def _save(self) -> None:
        sealed = []
        for (family, version), key_set in sorted(self._key_sets.items()):
            nonce = secrets.token_bytes(12)
            plain = json.dumps({k: v.hex() for k, v in key_set.named_keys().items()})
            ciphertext = AESGCM(self._sealing_key).encrypt(
                nonce, plain.encode(), _aad(self.province_code, family, version)
            )
            sealed.append(
                {
                    "family": family.value,
                    "version": version,
                    "created_at": self._created[family, version],
                    "nonce": nonce.hex(),
                    "ciphertext": ciphertext.hex(),
                    "kcv": self._kcvs(key_set),
                }
            )
        document = {
            "format": FORMAT,
            "province_code": self.province_code,
            "kdf": self._kdf,
            "active": {family.value: version for family, version in self._active.items()},
            "active_mac": _pointer_mac(
                self._sealing_key, self.province_code, self._active, list(self._key_sets)
            ),
            "key_sets": sealed,
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # A name of this process's own: two processes sealing at once never share a file.
        temporary = self.path.with_suffix(f".{os.getpid()}.tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as fh:
            json.dump(document, fh, indent=1)
        os.replace(temporary, self.path)

    @staticmethod
    def _kcvs(key_set: _KeySet) -> dict[str, str]:
        cipher = _APPLICATION_OF_FAMILY[key_set.family].cipher
        return {name: key_check_value(cipher, key) for name, key in key_set.named_keys().items()}

    # ---- the KeyVault interface ---------------------------------------------------------

    def active_version(self, family: KeyFamily) -> int:
        """The key version new cards of ``family`` are personalised under."""
        return self._active[family]

    def key_check_values(self) -> list[KeyCheckValue]:
        """Check values of every master key of every version."""
        return [
            KeyCheckValue(
                family=family,
                version=version,
                key_name=name,
                kcv=kcv,
                active=self._active[family] == version,
            )
            for (family, version), key_set in sorted(self._key_sets.items())
            for name, kcv in self._kcvs(key_set).items()
            if name in KEY_NAMES
        ]

    def _key_set(self, generation: int, key_version: int) -> _KeySet:
        family = FAMILY_OF_GENERATION.get(generation)
        key_set = self._key_sets.get((family, key_version)) if family else None
        if key_set is None:
            raise VaultError(f"密钥库中没有第{generation}代卡的第{key_version}版密钥")
        return key_set

    def verify_internal_authenticate(
        self,
        *,
        generation: int,
        key_version: int,
        identification_code: bytes,
        challenge: bytes,
        cryptogram: bytes,
    ) -> bool:
        """Whether ``cryptogram`` is this card's INTERNAL AUTHENTICATE answer to ``challenge``."""
        application = application_of(generation)
        keys = derive_card_keys(
            self._key_set(generation, key_version).master,
            application=application,
            identification_code=identification_code,
        )
        expected = internal_authenticate_cryptogram(
            application=application, card_key=keys.internal_auth, challenge=challenge
        )
        return secrets.compare_digest(expected, cryptogram)

    def external_authenticate_cryptogram(
        self, *, generation: int, key_version: int, identification_code: bytes, challenge: bytes
    ) -> bytes:
        """The EXTERNAL AUTHENTICATE cryptogram (card read key) for the card's challenge."""
        application = application_of(generation)
        keys = derive_card_keys(
            self._key_set(generation, key_version).master,
            application=application,
            identification_code=identification_code,
        )
        try:
            return external_authenticate_cryptogram(
                application=application, card_key=keys.read, challenge=challenge
            )
        except CardError as exc:
            raise VaultError(str(exc)) from exc

    def personalisation_script(
        self, *, data: PersonalisationData, atr: bytes, key_version: int
    ) -> PersonalisationScript:
        """The MACed personalisation script for the blank chip presenting ``atr``."""
        try:
            application = application_for_atr(atr)
            key_set = self._key_set(application.generation, key_version)
            transport_key = derive_transport_key(
                key_set.transport_master, application=application, atr=atr
            )
            return build_personalisation_script(
                data,
                application=application,
                master_keys=key_set.master,
                transport_key=transport_key,
            )
        except CardError as exc:
            raise VaultError(str(exc)) from exc

    def pin_unblock_command(
        self,
        *,
        generation: int,
        key_version: int,
        identification_code: bytes,
        challenge: bytes,
        new_pin: str,
    ) -> bytes:
        """The MAC-protected PIN unblock APDU for the card's challenge, setting ``new_pin``."""
        application = application_of(generation)
        keys = derive_card_keys(
            self._key_set(generation, key_version).master,
            application=application,
            identification_code=identification_code,
        )
        try:
            command = card_commands.unblock_pin(
                application.cipher, keys.pin_unblock, new_pin, challenge=challenge
            )
        except CardError as exc:
            raise VaultError(str(exc)) from exc
        return command.to_bytes()


def open_vault(path: Path, *, passphrase: str) -> LocalKeyVault:
    """Open the local vault file (the backend's default :class:`KeyVault`)."""
    return LocalKeyVault.open(path, passphrase=passphrase)
