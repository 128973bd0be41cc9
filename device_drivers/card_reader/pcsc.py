"""The PC/SC card reader driver (pcscd on Linux, WinSCard on Windows) over pyscard.

pyscard is imported here and nowhere else. The driver uses pyscard's thin ``scard``
layer so it controls the PC/SC context itself: after pcscd restarts, an old context
keeps failing with ``SCARD_E_NO_SERVICE``, so the driver drops it and establishes a new
one once before reporting ``service_not_running``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Final, TypeVar

from device_drivers.card_reader import errors
from device_drivers.card_reader.base import CardConnection, CardReaderDriver, ReaderState
from device_drivers.card_reader.pin_pad import PIN_DIGITS, NoPinPadError, PinEntry, PinEntryError
from firmware_profiles import ReaderProfile

try:
    from smartcard import scard
except ImportError as exc:
    raise ImportError(
        "the PC/SC card reader driver needs the 'pyscard' package "
        "(pip install 'xnb[agent]' or pip install pyscard; on Debian also libpcsclite1)"
    ) from exc

log = logging.getLogger(__name__)
T = TypeVar("T")


def _u32(code: int) -> int:
    return code & 0xFFFFFFFF


_SUCCESS: Final = _u32(scard.SCARD_S_SUCCESS)
_NO_SERVICE: Final = {_u32(scard.SCARD_E_NO_SERVICE), _u32(scard.SCARD_E_SERVICE_STOPPED)}
_NO_READERS: Final = _u32(scard.SCARD_E_NO_READERS_AVAILABLE)
_STALE_CONTEXT: Final = _NO_SERVICE | {_u32(scard.SCARD_E_INVALID_HANDLE)}

#: PC/SC result codes → reader error classes (anything else: reader_error).
_ERRORS: Final[dict[int, type[errors.ReaderError]]] = {
    _u32(scard.SCARD_E_NO_SERVICE): errors.ServiceNotRunningError,
    _u32(scard.SCARD_E_SERVICE_STOPPED): errors.ServiceNotRunningError,
    _u32(scard.SCARD_E_NO_READERS_AVAILABLE): errors.NoReaderError,
    _u32(scard.SCARD_E_UNKNOWN_READER): errors.NoReaderError,
    _u32(scard.SCARD_E_READER_UNAVAILABLE): errors.NoReaderError,
    _u32(scard.SCARD_E_NO_SMARTCARD): errors.NoCardError,
    _u32(scard.SCARD_W_REMOVED_CARD): errors.CardRemovedError,
    _u32(scard.SCARD_W_RESET_CARD): errors.CardRemovedError,
    _u32(scard.SCARD_E_NOT_TRANSACTED): errors.CardRemovedError,
    _u32(scard.SCARD_W_UNRESPONSIVE_CARD): errors.UnsupportedCardError,
    _u32(scard.SCARD_W_UNPOWERED_CARD): errors.UnsupportedCardError,
    _u32(scard.SCARD_W_UNSUPPORTED_CARD): errors.UnsupportedCardError,
    _u32(scard.SCARD_E_PROTO_MISMATCH): errors.UnsupportedCardError,
}


#: PC/SC v2 part 10: the feature list and the two secure PIN entry features.
_GET_FEATURE_REQUEST: Final = scard.SCARD_CTL_CODE(3400)
_FEATURE_VERIFY: Final = 0x06
_FEATURE_MODIFY: Final = 0x07
_LANG_ZH_CN: Final = (0x0804).to_bytes(2, "little")
#: What the reader answers instead of the card when the entry itself failed (part 10).
_PAD_REFUSALS: Final = {
    b"\x64\x00": "等待持卡人输入密码超时",
    b"\x64\x01": "持卡人取消了密码输入",
    b"\x64\x02": "两次输入的新密码不一致",
    b"\x64\x03": "密码长度不对",
}


def _error(hresult: int, what: str) -> errors.ReaderError:
    code = _u32(hresult)
    cls = _ERRORS.get(code, errors.ReaderFailureError)
    return cls(f"{what}: {scard.SCardGetErrorMessage(hresult)} (0x{code:08X})")


class PcscCardReader(CardReaderDriver):
    """Readers seen through PC/SC."""

    def __init__(self, *, profiles: tuple[ReaderProfile, ...] | None = None) -> None:
        super().__init__(profiles=profiles)
        self._lock = threading.Lock()
        self._context: Any = None

    def _establish(self) -> Any:
        if self._context is None:
            hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
            if _u32(hresult) != _SUCCESS:
                raise _error(hresult, "cannot reach the smart card service")
            self._context = context
        return self._context

    def _drop_context(self) -> None:
        if self._context is not None:
            scard.SCardReleaseContext(self._context)
            self._context = None

    def _with_context(self, call: Callable[[Any], tuple[int, T]], what: str) -> T:
        """Run ``call(context)``; on a dead context establish a new one and try once more."""
        with self._lock:
            for attempt in (1, 2):
                hresult, result = call(self._establish())
                code = _u32(hresult)
                if code == _SUCCESS:
                    return result
                if code in _STALE_CONTEXT and attempt == 1:
                    log.info("PC/SC context is stale (0x%08X); establishing a new one", code)
                    self._drop_context()
                    continue
                if code in _NO_SERVICE:
                    self._drop_context()
                raise _error(hresult, what)
        raise AssertionError("unreachable")

    def list_readers(self) -> list[str]:
        """Names of the readers pcscd knows."""
        try:
            readers: list[str] = self._with_context(
                lambda ctx: scard.SCardListReaders(ctx, []), "cannot list readers"
            )
        except errors.NoReaderError:
            return []
        return list(readers)

    def reader_states(self) -> list[ReaderState]:
        """Every reader with the ATR of the card present in it."""
        readers = self.list_readers()
        if not readers:
            return []
        query = [(reader, scard.SCARD_STATE_UNAWARE) for reader in readers]
        states = self._with_context(
            lambda ctx: scard.SCardGetStatusChange(ctx, 0, query), "cannot read reader states"
        )
        return [
            ReaderState(
                name, bytes(atr) if event_state & scard.SCARD_STATE_PRESENT and atr else None
            )
            for name, event_state, atr in states
        ]

    def _connect(self, reader: str) -> CardConnection:
        handle, protocol = self._with_context(
            lambda ctx: _pair(
                scard.SCardConnect(
                    ctx,
                    reader,
                    scard.SCARD_SHARE_SHARED,
                    scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1,
                )
            ),
            f"cannot connect to the card in {reader}",
        )
        hresult, _name, _state, _protocol, atr = scard.SCardStatus(handle)
        if _u32(hresult) != _SUCCESS:
            scard.SCardDisconnect(handle, scard.SCARD_LEAVE_CARD)
            raise _error(hresult, f"cannot read the ATR in {reader}")
        return PcscConnection(reader=reader, atr=bytes(atr), handle=handle, protocol=protocol)


def _pair(result: tuple[int, Any, Any]) -> tuple[int, tuple[Any, Any]]:
    hresult, handle, protocol = result
    return hresult, (handle, protocol)


class PcscConnection(CardConnection):
    """A PC/SC card handle."""

    def __init__(self, *, reader: str, atr: bytes, handle: Any, protocol: int) -> None:
        super().__init__(reader=reader, atr=atr)
        self._handle = handle
        self._protocol = protocol
        self._open = True

    def _transmit(self, apdu: bytes) -> bytes:
        if not self._open:
            raise errors.ReaderFailureError("connection is closed")
        hresult, response = scard.SCardTransmit(self._handle, self._protocol, list(apdu))
        if _u32(hresult) != _SUCCESS:
            raise _error(hresult, f"transmit to {self.reader} failed")
        return bytes(response)

    def _features(self) -> dict[int, int]:
        """The reader's PC/SC part 10 features: tag → control code (empty without a pad)."""
        hresult, answer = scard.SCardControl(self._handle, _GET_FEATURE_REQUEST, [])
        if _u32(hresult) != _SUCCESS:
            return {}
        raw, features = bytes(answer), {}
        for at in range(0, len(raw) - 5, 6):
            if raw[at + 1] == 4:
                features[raw[at]] = int.from_bytes(raw[at + 2 : at + 6], "big")
        return features

    def enter_pin(self, entry: PinEntry) -> bytes:
        """Secure PIN entry: the reader's pad fills the PIN into ``entry``'s APDU.

        VERIFY_PIN_DIRECT for a PIN typed once, MODIFY_PIN_DIRECT (old PIN in the
        template, the new one typed and confirmed) for a change; six BCD digits.
        """
        feature = _FEATURE_MODIFY if entry.confirm else _FEATURE_VERIFY
        control = self._features().get(feature)
        if control is None:
            raise NoPinPadError(f"{self.reader} 不支持密码键盘输入（PC/SC 安全输入）")
        apdu = entry.template
        common = bytes((30, 30, 0x81, PIN_DIGITS // 2, 0x00))
        digits = bytes((PIN_DIGITS, PIN_DIGITS))  # wPINMaxExtraDigit: max, min
        if entry.confirm:
            structure = (
                common
                + bytes((0, entry.offset))  # bInsertionOffsetOld (unused), bInsertionOffsetNew
                + digits
                + bytes((0x01, 0x02, 0x02))  # confirm the new PIN; OK key; two messages
                + _LANG_ZH_CN
                + bytes((0, 1, 2))  # bMsgIndex1..3
            )
        else:
            structure = common + digits + bytes((0x02, 0x01)) + _LANG_ZH_CN + bytes((0,))
        structure += bytes(3) + len(apdu).to_bytes(4, "little") + apdu
        hresult, answer = scard.SCardControl(self._handle, control, list(structure))
        if _u32(hresult) != _SUCCESS:
            raise _error(hresult, f"PIN entry on {self.reader} failed")
        response = bytes(answer)
        if response[-2:] in _PAD_REFUSALS:
            raise PinEntryError(_PAD_REFUSALS[response[-2:]])
        return response

    def close(self) -> None:
        """Disconnect, resetting the card so its security state does not outlive us."""
        if self._open:
            self._open = False
            scard.SCardDisconnect(self._handle, scard.SCARD_RESET_CARD)
