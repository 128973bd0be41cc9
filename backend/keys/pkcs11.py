"""The key vault in a PKCS#11 hardware security module (SoftHSM2 embedded and in tests).

What runs where:

- **3DES (generations 1 and 2): inside the token.** The master keys are generated in the
  token (``CKM_DES2_KEY_GEN``), sensitive, never extractable, usable only to derive.
  A card's keys are derived in the token by ECB-encrypting the diversification data
  (``CKM_DES3_ECB_ENCRYPT_DATA``, one derivation per level, exactly
  :func:`card_services.crypto.diversify_key`); INTERNAL and EXTERNAL AUTHENTICATE
  cryptograms are computed by the token with the derived key (``CKM_DES3_ECB``) and the
  derived keys are destroyed at once. Key check values are read from a derivation of the
  zero block; no master key value ever reaches this process.
- **SM4 (generation 3): in this process.** PKCS#11 defines no SM4 mechanism and SoftHSM2
  implements none. The SM4 master keys are generated in the token
  (``CKM_GENERIC_SECRET_KEY_GEN``) and kept there as private objects (the token PIN
  guards them at rest), but they must be readable to be used: the process reads them and
  derives, encrypts and MACs in software, as the file vault does. A GM/T 0018 card-issuer
  HSM (or a PKCS#11 module with its vendor's SM4 mechanisms) does SM4 derivation and
  encryption inside; see docs/cards.md.
- **PIN unblock commands (3DES): inside the token**, the retail MAC composed from
  ``CKM_DES3_CBC`` and ``CKM_DES3_ECB`` (see :meth:`Pkcs11KeyVault._token_pin_unblock`).
- **Personalisation scripts: card keys in this process.** The
  script carries the card's keys encrypted under its transport key and every command
  MACed under it; SoftHSM2 cannot wrap a key with 3DES (``C_WrapKey`` offers AES key wrap
  and RSA only), so the card's keys and transport key are derived in the token as
  readable session objects and the script is built in software. The master keys stay
  in the token; a production HSM exports card keys under the transport key itself.

Objects are found by label: ``xnb-card:<family>:v<version>:<key>`` for master keys,
``xnb-card:<family>:transport`` for the card factory's transport master key, and a data
object ``xnb-card:<family>:v<version>`` (application ``xnb-card-vault``) written last,
which makes a version exist: a rotation interrupted half-way leaves no half version.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

from backend.keys.pkcs11_token import Token, derive_by_encryption
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
    CardKeys,
    MasterKeys,
    PersonalisationData,
    PersonalisationScript,
    application_for_atr,
    derive_card_keys,
    derive_transport_key,
    diversification_path,
    personalisation_script_for_keys,
)
from card_services import commands as card_commands
from card_services.apdu import CommandApdu
from card_services.crypto import MAC_LENGTH, pad_method_2, pin_block
from card_services.demo import DEMO_MASTER_KEYS, DEMO_TRANSPORT_MASTER_KEY
from card_services.errors import CardError

APPLICATION: Final = "xnb-card-vault"
_MARKER = re.compile(r"^xnb-card:(3des|sm4):v(\d+)$")
_MASTER_NAMES: Final = ("read", "internal_auth", "update", "pin_unblock")
#: Families the token computes itself (those with a standard PKCS#11 mechanism).
TOKEN_FAMILIES: Final = frozenset({KeyFamily.TRIPLE_DES})
_CIPHER_OF_FAMILY: Final = {
    KeyFamily.TRIPLE_DES: application_of(2).cipher,
    KeyFamily.SM4: application_of(3).cipher,
}


def _p11() -> Any:
    import pkcs11

    return pkcs11


def _label(family: KeyFamily, version: int | None, name: str) -> str:
    if version is None:
        return f"xnb-card:{family.value}:{name}"
    return f"xnb-card:{family.value}:v{version}:{name}"


def _complement(data: bytes) -> bytes:
    return bytes(b ^ 0xFF for b in data)


class Pkcs11KeyVault(KeyVault):
    """Master keys in a token; derived results (and, for SM4, the keys) in the process."""

    def __init__(self, token: Token, *, province_code: str, versions: dict[KeyFamily, list[int]]):
        self._token = token
        self.province_code = province_code
        self._versions = versions

    def __repr__(self) -> str:
        return f"Pkcs11KeyVault({self._token!r}, province {self.province_code})"

    # ---- the key ceremony ---------------------------------------------------------------

    @classmethod
    def create(cls, token: Token, *, province_code: str, demo_keys: bool = False) -> Pkcs11KeyVault:
        """Generate version 1 of both families in the token (or load the public demo keys)."""
        if _read_markers(token):
            raise VaultError(f"令牌 {token.config.label} 中的卡主密钥已存在，不会覆盖")
        vault = cls(token, province_code=province_code, versions={f: [] for f in KeyFamily})
        for family in KeyFamily:
            transport = DEMO_TRANSPORT_MASTER_KEY if demo_keys else None
            vault._put_key(family, None, "transport", transport)
            vault._add_version(family, 1, DEMO_MASTER_KEYS if demo_keys else None)
        return vault

    @classmethod
    def open(cls, token: Token) -> Pkcs11KeyVault:
        """The vault whose versions the token's markers name."""
        markers = _read_markers(token)
        if not markers:
            raise VaultError(f"令牌 {token.config.label} 中没有卡主密钥，请先运行 xnb keys init")
        provinces = {province for _, _, province in markers}
        if len(provinces) != 1:
            raise VaultError(f"令牌 {token.config.label} 中的卡主密钥属于多个省份")
        versions: dict[KeyFamily, list[int]] = {f: [] for f in KeyFamily}
        for family, version, _ in markers:
            versions[family].append(version)
        return cls(token, province_code=provinces.pop(), versions=versions)

    def rotate(self, family: KeyFamily) -> int:
        """Generate the next version of a family's keys in the token and make it active."""
        version = max(self._versions[family]) + 1
        self._add_version(family, version, None)
        return version

    def _add_version(self, family: KeyFamily, version: int, values: MasterKeys | None) -> None:
        for name in _MASTER_NAMES:
            self._put_key(family, version, name, getattr(values, name) if values else None)
        created = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        marker = json.dumps({"province_code": self.province_code, "created_at": created})

        def write(session: Any) -> None:
            p11 = _p11()
            session.create_object(
                {
                    p11.Attribute.CLASS: p11.ObjectClass.DATA,
                    p11.Attribute.TOKEN: True,
                    p11.Attribute.PRIVATE: True,
                    p11.Attribute.MODIFIABLE: False,
                    p11.Attribute.LABEL: f"xnb-card:{family.value}:v{version}",
                    p11.Attribute.APPLICATION: APPLICATION,
                    p11.Attribute.VALUE: marker.encode(),
                }
            )

        self._token.run(write)
        self._versions[family].append(version)

    def _put_key(
        self, family: KeyFamily, version: int | None, name: str, value: bytes | None
    ) -> None:
        """Generate (or, for the demo keys, import) one master key under its label."""
        p11 = _p11()
        label = _label(family, version, name)
        in_token = family in TOKEN_FAMILIES
        template = {
            p11.Attribute.TOKEN: True,
            p11.Attribute.PRIVATE: True,
            p11.Attribute.LABEL: label,
            p11.Attribute.MODIFIABLE: False,
            # A 3DES master key only derives, and never leaves; an SM4 one is read by the
            # process, since the token cannot compute SM4 (see the module docstring).
            p11.Attribute.SENSITIVE: in_token,
            p11.Attribute.EXTRACTABLE: not in_token,
            p11.Attribute.DERIVE: in_token,
            p11.Attribute.ENCRYPT: False,
            p11.Attribute.DECRYPT: False,
            p11.Attribute.SIGN: False,
            p11.Attribute.VERIFY: False,
            p11.Attribute.WRAP: False,
            p11.Attribute.UNWRAP: False,
        }
        key_type = p11.KeyType.DES2 if in_token else p11.KeyType.GENERIC_SECRET

        def put(session: Any) -> None:
            if self._token.find(session, label=label, object_class=p11.ObjectClass.SECRET_KEY):
                raise VaultError(f"令牌中已有密钥 {label}")
            if value is None:
                session.generate_key(
                    key_type,
                    128,
                    mechanism=p11.Mechanism.DES2_KEY_GEN
                    if in_token
                    else p11.Mechanism.GENERIC_SECRET_KEY_GEN,
                    template=template if in_token else {**template, p11.Attribute.VALUE_LEN: 16},
                )
            else:
                session.create_object(
                    {
                        **template,
                        p11.Attribute.CLASS: p11.ObjectClass.SECRET_KEY,
                        p11.Attribute.KEY_TYPE: key_type,
                        p11.Attribute.VALUE: value,
                    }
                )

        self._token.run(put)

    # ---- keys inside the token ----------------------------------------------------------

    def _master(self, session: Any, family: KeyFamily, version: int | None, name: str) -> Any:
        p11 = _p11()
        label = _label(family, version, name)
        key = self._token.find(session, label=label, object_class=p11.ObjectClass.SECRET_KEY)
        if key is None:
            raise VaultError(f"令牌中缺少密钥 {label}")
        return key

    @contextmanager
    def _derived(
        self,
        session: Any,
        base: Any,
        path: tuple[bytes, ...],
        *,
        readable: bool,
        left_half_twice: bool = False,
    ) -> Iterator[Any]:
        """A session key derived from ``base`` along ``path``; destroyed on leaving.

        ``left_half_twice`` makes the last level ``E(K,d) ‖ E(K,d)``: the card key's left
        half as a two-key 3DES key, which is single DES under that half (the chaining part
        of the retail MAC).
        """
        p11 = _p11()
        made: list[Any] = []
        try:
            key = base
            for level, data in enumerate(path, start=1):
                last = level == len(path)
                template = {
                    p11.Attribute.TOKEN: False,
                    p11.Attribute.SENSITIVE: not (last and readable),
                    p11.Attribute.EXTRACTABLE: last and readable,
                    p11.Attribute.DERIVE: not last,
                    p11.Attribute.ENCRYPT: last and not readable,
                    p11.Attribute.DECRYPT: False,
                    p11.Attribute.WRAP: False,
                    p11.Attribute.UNWRAP: False,
                    p11.Attribute.SIGN: False,
                    p11.Attribute.VERIFY: False,
                }
                # A readable result is a generic secret: no DES parity adjustment on its value.
                key_type = p11.KeyType.GENERIC_SECRET if last and readable else p11.KeyType.DES2
                if len(data) == 8:
                    data += data if last and left_half_twice else _complement(data)
                key = derive_by_encryption(
                    key,
                    data,
                    key_type=key_type,
                    mechanism=p11.Mechanism.DES3_ECB_ENCRYPT_DATA,
                    template=template,
                )
                made.append(key)
            yield key
        finally:
            for key in made:
                key.destroy()

    def _token_cryptogram(
        self,
        family: KeyFamily,
        key_version: int,
        name: str,
        identification_code: bytes,
        challenge: bytes,
    ) -> bytes:
        p11 = _p11()
        path = diversification_path(identification_code)

        def compute(session: Any) -> bytes:
            master = self._master(session, family, key_version, name)
            with self._derived(session, master, path, readable=False) as card_key:
                return bytes(card_key.encrypt(challenge, mechanism=p11.Mechanism.DES3_ECB))

        return self._token.run(compute)

    def _read(
        self, family: KeyFamily, version: int | None, name: str, path: tuple[bytes, ...]
    ) -> bytes:
        """A key value: a derivation along ``path`` (3DES), or the stored key itself (SM4)."""
        p11 = _p11()

        def read(session: Any) -> bytes:
            master = self._master(session, family, version, name)
            if family not in TOKEN_FAMILIES:
                return bytes(master[p11.Attribute.VALUE])
            with self._derived(session, master, path, readable=True) as derived:
                return bytes(derived[p11.Attribute.VALUE])

        return self._token.run(read)

    def _card_keys(self, generation: int, key_version: int, identification_code: bytes) -> CardKeys:
        family = self._family(generation, key_version)
        path = diversification_path(identification_code)
        if family in TOKEN_FAMILIES:
            return CardKeys(*(self._read(family, key_version, n, path) for n in _MASTER_NAMES))
        return derive_card_keys(
            MasterKeys(*(self._read(family, key_version, n, ()) for n in _MASTER_NAMES)),
            application=application_of(generation),
            identification_code=identification_code,
        )

    def _family(self, generation: int, key_version: int) -> KeyFamily:
        family = FAMILY_OF_GENERATION.get(generation)
        if family is None or key_version not in self._versions[family]:
            raise VaultError(f"密钥库中没有第{generation}代卡的第{key_version}版密钥")
        return family

    # ---- the KeyVault interface ---------------------------------------------------------

    def active_version(self, family: KeyFamily) -> int:
        """The newest version: a rotation always makes its new version the active one."""
        return max(self._versions[family])

    def key_check_values(self) -> list[KeyCheckValue]:
        """Check values of every master key of every version (computed in the token for 3DES)."""
        values = []
        for family in KeyFamily:
            cipher = (
                application_of(2) if family == KeyFamily.TRIPLE_DES else application_of(3)
            ).cipher
            zero = bytes(cipher.block_size)
            for version in sorted(self._versions[family]):
                for name in KEY_NAMES:
                    stored_version = None if name == "transport" else version
                    if family in TOKEN_FAMILIES:
                        # The key applied to the zero block, read from a derivation with it.
                        kcv = self._read(family, stored_version, name, (zero,))[:3].hex().upper()
                    else:
                        kcv = key_check_value(cipher, self._read(family, stored_version, name, ()))
                    values.append(
                        KeyCheckValue(
                            family=family,
                            version=version,
                            key_name=name,
                            kcv=kcv,
                            active=version == self.active_version(family),
                        )
                    )
        return values

    def _cryptogram(
        self,
        *,
        generation: int,
        key_version: int,
        name: str,
        identification_code: bytes,
        challenge: bytes,
    ) -> bytes:
        family = self._family(generation, key_version)
        application = application_of(generation)
        if len(challenge) != application.cipher.block_size:
            raise VaultError(f"挑战数应为{application.cipher.block_size}字节")
        if family in TOKEN_FAMILIES:
            return self._token_cryptogram(family, key_version, name, identification_code, challenge)
        keys = self._card_keys(generation, key_version, identification_code)
        return application.cipher.encrypt(getattr(keys, name), challenge)

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
        expected = self._cryptogram(
            generation=generation,
            key_version=key_version,
            name="internal_auth",
            identification_code=identification_code,
            challenge=challenge,
        )
        return secrets.compare_digest(expected, cryptogram)

    def external_authenticate_cryptogram(
        self, *, generation: int, key_version: int, identification_code: bytes, challenge: bytes
    ) -> bytes:
        """The EXTERNAL AUTHENTICATE cryptogram (card read key) for the card's challenge."""
        return self._cryptogram(
            generation=generation,
            key_version=key_version,
            name="read",
            identification_code=identification_code,
            challenge=challenge,
        )

    def personalisation_script(
        self, *, data: PersonalisationData, atr: bytes, key_version: int
    ) -> PersonalisationScript:
        """The MACed personalisation script for the blank chip presenting ``atr``."""
        try:
            application = application_for_atr(atr)
            family = self._family(application.generation, key_version)
            if family in TOKEN_FAMILIES:
                transport_key = self._read(family, None, "transport", (atr[-8:],))
            else:
                transport_key = derive_transport_key(
                    self._read(family, None, "transport", ()), application=application, atr=atr
                )
            keys = self._card_keys(
                application.generation, key_version, data.basic.identification_code
            )
            return personalisation_script_for_keys(
                data, application=application, card_keys=keys, transport_key=transport_key
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
        """The MAC-protected PIN unblock APDU for the card's challenge, setting ``new_pin``
        (3DES: the PIN block encrypted and the retail MAC computed by the token)."""
        if self._family(generation, key_version) in TOKEN_FAMILIES:
            return self._token_pin_unblock(
                key_version=key_version,
                identification_code=identification_code,
                challenge=challenge,
                new_pin=new_pin,
            )
        keys = self._card_keys(generation, key_version, identification_code)
        try:
            command = card_commands.unblock_pin(
                application_of(generation).cipher, keys.pin_unblock, new_pin, challenge=challenge
            )
        except CardError as exc:
            raise VaultError(str(exc)) from exc
        return command.to_bytes()

    def _token_pin_unblock(
        self, *, key_version: int, identification_code: bytes, challenge: bytes, new_pin: str
    ) -> bytes:
        """RESET RETRY COUNTER as ``card_services.commands.unblock_pin`` builds it, with the
        card's PIN-unblock key only in the token: ECB for the PIN block, and the retail MAC
        (ISO 9797-1 algorithm 3) as 3DES-CBC under the left half twice for all blocks but
        the last, then 3DES under the whole key."""
        p11 = _p11()
        if len(challenge) != 8:
            raise VaultError("挑战数应为8字节")
        try:
            block = pin_block(new_pin, 8)
        except CardError as exc:
            raise VaultError(str(exc)) from exc
        header = (
            card_commands.CLA_PROPRIETARY_SECURED,
            card_commands.INS_RESET_RETRY_COUNTER,
            0,
            0,
        )
        path = diversification_path(identification_code)

        def build(session: Any) -> bytes:
            master = self._master(session, KeyFamily.TRIPLE_DES, key_version, "pin_unblock")
            with self._derived(session, master, path, readable=False) as key:
                encrypted = bytes(key.encrypt(block, mechanism=p11.Mechanism.DES3_ECB))
                padded = pad_method_2(card_commands.secured_mac_input(*header, encrypted), 8)
                chained = challenge
                if len(padded) > 8:
                    with self._derived(
                        session, master, path, readable=False, left_half_twice=True
                    ) as left:
                        chained = bytes(
                            left.encrypt(
                                padded[:-8],
                                mechanism=p11.Mechanism.DES3_CBC,
                                mechanism_param=challenge,
                            )
                        )[-8:]
                last = bytes(a ^ b for a, b in zip(chained, padded[-8:], strict=True))
                mac = bytes(key.encrypt(last, mechanism=p11.Mechanism.DES3_ECB))[:MAC_LENGTH]
            return CommandApdu(*header, encrypted + mac).to_bytes()

        return self._token.run(build)


def _read_markers(token: Token) -> list[tuple[KeyFamily, int, str]]:
    """(family, version, province) of every complete key version in the token."""
    p11 = _p11()

    def read(session: Any) -> list[tuple[KeyFamily, int, str]]:
        found = []
        for marker in session.get_objects(
            {p11.Attribute.CLASS: p11.ObjectClass.DATA, p11.Attribute.APPLICATION: APPLICATION}
        ):
            match = _MARKER.match(marker[p11.Attribute.LABEL])
            if match is None:
                continue
            value = json.loads(bytes(marker[p11.Attribute.VALUE]))
            found.append((KeyFamily(match[1]), int(match[2]), str(value["province_code"])))
        return found

    return token.run(read)
