"""Personal data at rest: AES-256-GCM field encryption and keyed lookup hashes.

ID numbers, names, phone numbers, addresses and bank accounts are stored encrypted. The
data keys live in a key ring file sealed like the card key vault (scrypt over a
passphrase, AES-256-GCM), one data key per version; the active version encrypts, every
version decrypts, so a rotation (:meth:`DataKeyRing.rotate`) is followed by a streamed
re-encryption (:func:`rewrap`) at leisure. A stored value is::

    version (2 bytes, big-endian) | nonce (12 bytes) | ciphertext and GCM tag

with the field's *kind* (``id_number``, ``name``, ``address``…) as associated data, so
a value cannot be moved into a column of another kind unnoticed, while set-based SQL may
copy a ciphertext between columns of the same kind (persons → bank batch rows) as is.

Exact search uses a keyed hash (HMAC-SHA256 under the ring's own lookup key, never a data
key) stored beside the value: ``lookup("id_number", "6542…")``. Without the lookup key a
hash cannot be tested against the (small) space of valid ID numbers.

:class:`Encrypted` is the SQLAlchemy type of such a column: ORM code reads and writes
clear text; comparing the column in SQL is refused (compare its lookup hash instead).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from sqlalchemy import Column, LargeBinary, MetaData, Table, select, type_coerce, update
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql import operators
from sqlalchemy.types import TypeDecorator

from backend.keys.vault import VaultError

FORMAT: Final = "xnb-data-keys/1"
DEFAULT_SCRYPT_N: Final = 2**15
_NONCE: Final = 12
_HEADER: Final = 2 + _NONCE
LOOKUP_HASH_BYTES: Final = 32


class DataKeyRing:
    """Versioned AES-256 data keys and one HMAC lookup key, sealed in one file.

    The whole ring (keys, active version, lookup key) is one AES-GCM ciphertext, so the
    active pointer cannot be changed without the passphrase.
    """

    def __init__(
        self,
        *,
        path: Path | None,
        kdf: dict[str, Any],
        sealing_key: bytes,
        keys: dict[int, bytes],
        active: int,
        lookup_key: bytes,
        created: dict[int, str],
    ) -> None:
        self.path = path
        self._kdf = kdf
        self._sealing_key = sealing_key
        self._keys = keys
        self._active = active
        self._lookup_key = lookup_key
        self._created = created
        self._ciphers = {version: AESGCM(key) for version, key in keys.items()}

    def __repr__(self) -> str:
        return f"DataKeyRing({self.path}, active v{self._active})"

    @classmethod
    def create(
        cls, path: Path | None, *, passphrase: str, scrypt_n: int = DEFAULT_SCRYPT_N
    ) -> DataKeyRing:
        """A new ring with data key version 1 and a lookup key (``path`` None: in memory)."""
        if path is not None and path.exists():
            raise VaultError(f"数据密钥文件{path}已存在，不会覆盖")
        if len(passphrase) < 12:
            raise VaultError("数据密钥口令至少12个字符")
        kdf = {"name": "scrypt", "salt": secrets.token_hex(16), "n": scrypt_n, "r": 8, "p": 1}
        ring = cls(
            path=path,
            kdf=kdf,
            sealing_key=_kdf(passphrase, kdf),
            keys={1: secrets.token_bytes(32)},
            active=1,
            lookup_key=secrets.token_bytes(32),
            created={1: _now()},
        )
        ring._save()
        return ring

    @classmethod
    def open(cls, path: Path, *, passphrase: str) -> DataKeyRing:
        """Read and unseal the ring; a wrong passphrase or an edited file is refused."""
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise VaultError(f"数据密钥文件{path}不存在，请先运行 xnb keys init-data") from exc
        except (OSError, ValueError) as exc:
            raise VaultError(f"数据密钥文件{path}无法读取：{exc}") from exc
        if document.get("format") != FORMAT:
            raise VaultError(f"{path}不是数据密钥文件（格式{document.get('format')!r}）")
        sealing_key = _kdf(passphrase, document["kdf"])
        try:
            plain = AESGCM(sealing_key).decrypt(
                bytes.fromhex(document["nonce"]),
                bytes.fromhex(document["ciphertext"]),
                FORMAT.encode(),
            )
        except InvalidTag as exc:
            raise VaultError("数据密钥口令错误，或数据密钥文件被篡改") from exc
        sealed = json.loads(plain)
        return cls(
            path=path,
            kdf=document["kdf"],
            sealing_key=sealing_key,
            keys={int(v): bytes.fromhex(k) for v, k in sealed["keys"].items()},
            active=int(sealed["active"]),
            lookup_key=bytes.fromhex(sealed["lookup_key"]),
            created={int(v): c for v, c in sealed["created"].items()},
        )

    def rotate(self) -> int:
        """Add the next data key version and make it the one new values are encrypted with."""
        version = max(self._keys) + 1
        self._keys[version] = secrets.token_bytes(32)
        self._ciphers[version] = AESGCM(self._keys[version])
        self._created[version] = _now()
        self._active = version
        self._save()
        return version

    def _save(self) -> None:
        if self.path is None:
            return
        sealed = json.dumps(
            {
                "keys": {str(v): k.hex() for v, k in self._keys.items()},
                "active": self._active,
                "lookup_key": self._lookup_key.hex(),
                "created": {str(v): c for v, c in self._created.items()},
            }
        )
        nonce = secrets.token_bytes(_NONCE)
        document = {
            "format": FORMAT,
            "kdf": self._kdf,
            "versions": sorted(self._keys),
            "nonce": nonce.hex(),
            "ciphertext": AESGCM(self._sealing_key)
            .encrypt(nonce, sealed.encode(), FORMAT.encode())
            .hex(),
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as fh:
            json.dump(document, fh, indent=1)
        os.replace(temporary, self.path)

    # ---- use ------------------------------------------------------------------------------

    @property
    def active_version(self) -> int:
        """The data key version new values are encrypted with."""
        return self._active

    @property
    def versions(self) -> list[int]:
        """Every data key version the ring holds (all of them decrypt)."""
        return sorted(self._keys)

    def encrypt(self, kind: str, value: str) -> bytes:
        """``value`` sealed under the active data key, bound to its field kind."""
        nonce = secrets.token_bytes(_NONCE)
        sealed = self._ciphers[self._active].encrypt(nonce, value.encode(), kind.encode())
        return self._active.to_bytes(2, "big") + nonce + sealed

    def decrypt(self, kind: str, blob: bytes) -> str:
        """The clear value of a stored ciphertext of ``kind`` (any version of the ring)."""
        cipher = self._ciphers.get(version_of(blob))
        if cipher is None:
            raise VaultError(f"数据密钥文件中没有第{version_of(blob)}版数据密钥")
        try:
            return cipher.decrypt(blob[2:_HEADER], blob[_HEADER:], kind.encode()).decode()
        except InvalidTag as exc:
            raise VaultError(f"密文（{kind}）无法解开：被篡改或不属于此列") from exc

    def lookup(self, kind: str, value: str) -> bytes:
        """The keyed hash of a value for exact search (HMAC-SHA256 under the lookup key)."""
        return hmac.new(self._lookup_key, f"{kind}\0{value}".encode(), hashlib.sha256).digest()


def version_of(blob: bytes) -> int:
    """The data key version a stored ciphertext was made with."""
    return int.from_bytes(blob[:2], "big")


def _kdf(passphrase: str, kdf: dict[str, Any]) -> bytes:
    return Scrypt(
        salt=bytes.fromhex(kdf["salt"]), length=32, n=kdf["n"], r=kdf["r"], p=kdf["p"]
    ).derive(passphrase.encode())


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


# ---- the process's ring ---------------------------------------------------------------------


@dataclass(frozen=True)
class RingSource:
    """Where the process's ring comes from: the file, its passphrase, whether to create it."""

    path: Path
    passphrase: str
    create_missing: bool


_lock = threading.Lock()
_source: RingSource | None = None
_ring: DataKeyRing | None = None


def configure(source: RingSource) -> None:
    """Name the process's ring file (opened on first use; scrypt is slow)."""
    global _source, _ring
    with _lock:
        if source != _source:
            _source, _ring = source, None


def use(ring: DataKeyRing) -> None:
    """Put an opened ring in place (the key ceremony after a rotation, tests)."""
    global _ring
    with _lock:
        _ring = ring


def ring() -> DataKeyRing:
    """The process's data key ring, opened (or, outside production, created) on first use."""
    global _ring
    current = _ring
    if current is not None:
        return current
    with _lock:
        if _ring is None:
            source = _source or _default_source()
            if source.create_missing and not source.path.exists():
                _ring = DataKeyRing.create(source.path, passphrase=source.passphrase)
            else:
                _ring = DataKeyRing.open(source.path, passphrase=source.passphrase)
        return _ring


def _default_source() -> RingSource:
    from backend.config import get_settings  # settings are read only when no one configured

    return source_of(get_settings())


def source_of(settings: Any) -> RingSource:
    """The ring file the settings name; created when missing except in production."""
    return RingSource(
        path=Path(settings.data_key_path),
        passphrase=settings.data_key_passphrase.get_secret_value(),
        create_missing=settings.env != "production",
    )


def lookup(kind: str, value: str) -> bytes:
    """The keyed lookup hash of a value under the process's ring."""
    return ring().lookup(kind, value)


def encrypt(kind: str, value: str) -> bytes:
    """A value sealed under the process's active data key (for bulk loaders)."""
    return ring().encrypt(kind, value)


def decrypt(kind: str, blob: bytes) -> str:
    """A stored value opened with the process's ring (for raw SQL results)."""
    return ring().decrypt(kind, bytes(blob))


# ---- the column type ------------------------------------------------------------------------


class Encrypted(TypeDecorator[str]):
    """A text column stored AES-GCM encrypted; its lookup hash, if any, is a separate column.

    Comparing it in SQL would compare random ciphertexts, so it raises: filter and join on
    the lookup hash (``Person.id_number_hash == lookup("id_number", x)``).
    """

    impl = LargeBinary
    cache_ok = True

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    class comparator_factory(TypeDecorator.Comparator[str]):
        def operate(self, op: Any, *other: Any, **kwargs: Any) -> Any:
            if op in (operators.eq, operators.ne) and other and other[0] is None:
                return super().operate(op, *other, **kwargs)
            if op in (operators.is_, operators.is_not):
                return super().operate(op, *other, **kwargs)
            raise TypeError("an encrypted column cannot be compared in SQL: use its lookup hash")

    def process_bind_param(self, value: str | None, dialect: Any) -> bytes | None:
        if value is None:
            return None
        return ring().encrypt(self.kind, value)

    def process_result_value(self, value: Any, dialect: Any) -> str | None:
        if value is None:
            return None
        return ring().decrypt(self.kind, bytes(value))

    def copy(self, **kwargs: Any) -> Encrypted:
        return Encrypted(self.kind)

    def __repr__(self) -> str:
        return f"Encrypted({self.kind!r})"


def lookup_hash_column_type() -> LargeBinary:
    """The column type of a lookup hash (32 bytes)."""
    return LargeBinary(LOOKUP_HASH_BYTES)


# ---- re-encryption after a rotation ---------------------------------------------------------


@dataclass
class RewrapCount:
    """What a re-encryption run did for one table."""

    table: str
    rows_read: int = 0
    values_rewrapped: int = 0


def encrypted_columns(metadata: MetaData) -> Iterator[tuple[Table, list[Column[Any]]]]:
    """Every table with encrypted columns, and those columns (single-column key ``id`` only)."""
    for table in metadata.sorted_tables:
        columns = [c for c in table.columns if isinstance(c.type, Encrypted)]
        if columns and "id" in table.columns:
            yield table, columns


def rewrap(
    *,
    factory: sessionmaker[Session],
    metadata: MetaData,
    chunk_rows: int = 5000,
    progress: Callable[[RewrapCount], None] | None = None,
) -> list[RewrapCount]:
    """Re-encrypt every value not under the active data key, streamed, one chunk per commit.

    Reads raw ciphertexts in primary-key order (keyset pages of ``chunk_rows``), opens and
    seals again only the values of older versions, and commits each chunk: interrupted, it
    resumes where it stopped when run again; values already current are left as they are.
    """
    current = ring()
    counts: list[RewrapCount] = []
    for table, columns in encrypted_columns(metadata):
        count = RewrapCount(table.name)
        raw = [type_coerce(c, LargeBinary).label(c.name) for c in columns]
        last_id: Any = None
        while True:
            with factory() as session, session.begin():
                query = select(table.c.id, *raw).order_by(table.c.id).limit(chunk_rows)
                if last_id is not None:
                    query = query.where(table.c.id > last_id)
                rows = session.execute(query).all()
                if not rows:
                    break
                changed: list[dict[str, Any]] = []
                for row in rows:
                    values: dict[str, Any] = {}
                    for column, blob in zip(columns, row[1:], strict=True):
                        if blob is not None and version_of(bytes(blob)) != current.active_version:
                            kind = column.type.kind  # type: ignore[attr-defined]
                            clear = current.decrypt(kind, bytes(blob))
                            values[column.name] = current.encrypt(kind, clear)
                    if values:
                        count.values_rewrapped += len(values)
                        changed.append({"_id": row[0], **values})
                for entry in changed:
                    session.execute(
                        update(table)
                        .where(table.c.id == entry["_id"])
                        .values(
                            {
                                table.c[name]: type_coerce(value, LargeBinary)
                                for name, value in entry.items()
                                if name != "_id"
                            }
                        )
                    )
                count.rows_read += len(rows)
                last_id = rows[-1][0]
            if progress:
                progress(count)
        counts.append(count)
    return counts
