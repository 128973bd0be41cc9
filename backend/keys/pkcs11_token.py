"""A logged-in connection to a PKCS#11 token: the hardware security module that holds the
card issuer's master keys and the CA's signing keys (SoftHSM2 embedded and in tests).

One session per token and process, logged in once with the user PIN and used under a
lock (a PKCS#11 session runs one operation at a time). The PIN comes from a file or the
environment, never from the command line, and is never logged or shown in a ``repr``.
Objects of this project are found by label; their handles are cached until the session
is reopened. ``python-pkcs11`` is imported here only, so the backend runs without it
when the file stores are configured.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar

from pydantic import SecretStr

from backend.keys.vault import VaultError

if TYPE_CHECKING:
    from pkcs11 import Session as P11Session

    from backend.config import Settings

T = TypeVar("T")

#: Where Debian's softhsm2 package puts the module (the default of ``XNB_PKCS11_MODULE``).
SOFTHSM2_MODULE: Final = Path("/usr/lib/softhsm/libsofthsm2.so")


class TokenError(VaultError):
    """The token is missing, locked, refuses the PIN or an operation (message in Chinese)."""


@dataclass(frozen=True)
class TokenConfig:
    """Which module and token to use and the user PIN (kept out of ``repr``)."""

    module: Path
    label: str
    pin: SecretStr = field(repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenConfig:
        """The configured token; the PIN from ``XNB_PKCS11_PIN_FILE`` or ``XNB_PKCS11_PIN``."""
        pin = settings.pkcs11_pin
        if settings.pkcs11_pin_file is not None:
            try:
                pin = SecretStr(settings.pkcs11_pin_file.read_text(encoding="utf-8").strip())
            except OSError as exc:
                raise TokenError(
                    f"无法读取硬件密码模块口令文件 {settings.pkcs11_pin_file}：{exc.strerror}"
                ) from exc
        if pin is None or not pin.get_secret_value():
            raise TokenError("未配置硬件密码模块口令：设置 XNB_PKCS11_PIN_FILE 或 XNB_PKCS11_PIN")
        return cls(module=settings.pkcs11_module, label=settings.pkcs11_token_label, pin=pin)


def _import_pkcs11() -> Any:
    try:
        import pkcs11
    except ImportError as exc:
        raise TokenError("未安装 python-pkcs11：pip install -e '.[hsm]'") from exc
    return pkcs11


def _load_library(module: Path) -> Any:
    pkcs11 = _import_pkcs11()
    if not module.exists():
        raise TokenError(f"找不到 PKCS#11 模块 {module}（SoftHSM2：apt-get install softhsm2）")
    try:
        return pkcs11.lib(str(module))
    except pkcs11.PKCS11Error as exc:
        raise TokenError(f"PKCS#11 模块 {module} 无法加载：{exc!r}") from exc


class Token:
    """One logged-in session to a token, shared by the process's threads under a lock."""

    def __init__(self, config: TokenConfig) -> None:
        self.config = config
        self._lock = threading.RLock()
        self._session: P11Session | None = None
        self._objects: dict[tuple[str, int], Any] = {}
        self._generation = -1

    def __repr__(self) -> str:
        return f"Token({self.config.label!r} in {self.config.module})"

    def _open(self) -> P11Session:
        pkcs11 = _import_pkcs11()
        library = _load_library(self.config.module)
        try:
            token = library.get_token(token_label=self.config.label)
        except pkcs11.NoSuchToken:
            # A token initialised after this process loaded the module is seen only after
            # the module re-reads its slots (SoftHSM2 scans its directory at C_Initialize).
            rescan(self.config.module)
            try:
                token = library.get_token(token_label=self.config.label)
            except pkcs11.NoSuchToken as exc:
                raise TokenError(f"硬件密码模块中没有标签为 {self.config.label} 的令牌") from exc
        pin = self.config.pin.get_secret_value()
        try:
            session = token.open(user_pin=pin, rw=True)
        except pkcs11.UserAlreadyLoggedIn:
            # Login is per token and application: another Token of this process logged in.
            session = token.open(rw=True)
        except pkcs11.PinIncorrect as exc:
            raise TokenError("硬件密码模块口令错误") from exc
        except pkcs11.PinLocked as exc:
            raise TokenError("硬件密码模块口令已锁定，需安全管理员解锁") from exc
        return session

    def run(self, operation: Callable[[P11Session], T]) -> T:
        """Run ``operation`` with the logged-in session (reopened once if it was lost)."""
        pkcs11 = _import_pkcs11()
        with self._lock:
            for attempt in (1, 2):
                if self._session is None or self._generation != _generation[self.config.module]:
                    self._objects.clear()
                    self._session = self._open()
                    self._generation = _generation[self.config.module]
                try:
                    return operation(self._session)
                except (
                    pkcs11.SessionHandleInvalid,
                    pkcs11.SessionClosed,
                    pkcs11.DeviceRemoved,
                    pkcs11.TokenNotPresent,
                    pkcs11.UserNotLoggedIn,
                ) as exc:
                    self._session = None
                    if attempt == 2:
                        raise TokenError(f"硬件密码模块会话中断：{type(exc).__name__}") from exc
                except pkcs11.PKCS11Error as exc:
                    raise TokenError(f"硬件密码模块拒绝了操作：{type(exc).__name__}") from exc
        raise AssertionError("unreachable")

    def find(self, session: P11Session, *, label: str, object_class: Any) -> Any | None:
        """The object of this label and class (cached), or None."""
        key = (label, int(object_class))
        cached = self._objects.get(key)
        if cached is not None:
            return cached
        found = list(
            session.get_objects({_attribute().LABEL: label, _attribute().CLASS: object_class})
        )
        if len(found) > 1:
            raise TokenError(f"令牌中有多个标签为 {label} 的对象")
        if not found:
            return None
        self._objects[key] = found[0]
        return found[0]

    def forget(self, label: str) -> None:
        """Drop cached handles of ``label`` (after destroying or replacing the object)."""
        for key in [k for k in self._objects if k[0] == label]:
            del self._objects[key]


def _attribute() -> Any:
    return _import_pkcs11().Attribute


_registry: dict[tuple[Path, str], Token] = {}
_generation: dict[Path, int] = {}
_registry_lock = threading.Lock()


def token_for(config: TokenConfig) -> Token:
    """The process's :class:`Token` for a module and label (one session each)."""
    with _registry_lock:
        _generation.setdefault(config.module, 0)
        token = _registry.get((config.module, config.label))
        if token is None or token.config != config:
            token = _registry[config.module, config.label] = Token(config)
        return token


def rescan(module: Path) -> None:
    """Re-initialise the module so that it sees tokens created since it was loaded.

    Every session of the module ends; each :class:`Token` reopens its own on next use.
    """
    library = _load_library(module)
    library.reinitialize()
    _generation[module] = _generation.get(module, 0) + 1


class _DerivationString(ctypes.Structure):
    # CK_KEY_DERIVATION_STRING_DATA: python-pkcs11 packs it only for AES_ECB_ENCRYPT_DATA.
    _fields_ = (("data", ctypes.c_void_p), ("length", ctypes.c_ulong))


def derive_by_encryption(
    base_key: Any, data: bytes, *, key_type: Any, mechanism: Any, template: dict[Any, Any]
) -> Any:
    """A new key whose value is ``base_key`` ECB-encrypting ``data`` (``*_ECB_ENCRYPT_DATA``),
    made inside the token with the attributes of ``template``."""
    pkcs11 = _import_pkcs11()
    buffer = ctypes.create_string_buffer(data, len(data))
    parameter = bytes(_DerivationString(ctypes.cast(buffer, ctypes.c_void_p), len(data)))
    if key_type in (pkcs11.KeyType.DES2, pkcs11.KeyType.DES3):
        # VALUE_LEN is implied by the key type for DES keys and refused if given.
        template = {pkcs11.Attribute.VALUE_LEN: pkcs11.DEFAULT, **template}
    # The parameter points into ``buffer``, which lives until this function returns.
    return base_key.derive_key(
        key_type, len(data) * 8, mechanism=mechanism, mechanism_param=parameter, template=template
    )
