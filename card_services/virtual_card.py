"""The virtual card: an emulator of the social security card's operating system.

It answers raw command APDUs with raw responses and never raises: anything it cannot
parse or does not allow gets an error status word. It behaves like a T=0 card: data
after a command with a data field waits behind ``61xx`` for GET RESPONSE, and a wrong
Le is answered with ``6Cxx`` (the right length). Persistent state is a plain
:class:`CardState` the caller saves; this module does no I/O.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from card_services import commands as cmd
from card_services import status_words as sw
from card_services.apdu import CommandApdu, ResponseApdu
from card_services.applications import (
    KEY_INTERNAL_AUTH,
    KEY_PIN_UNBLOCK,
    KEY_READ,
    KEY_UPDATE,
    SocialSecurityApplication,
    application_for_atr,
    card_atr,
)
from card_services.crypto import MAC_LENGTH, encode_pin, pin_from_block, verify_mac
from card_services.errors import ApduFormatError, CardCryptoError
from card_services.layout import (
    MF_FID,
    PENSION_RECORD_LENGTH,
    PENSION_RECORD_TAG,
    SSSE_AID,
    CardFile,
    FileKind,
    ReadAccess,
)
from card_services.tlv import TlvRecord

log = logging.getLogger(__name__)

LIFECYCLE_BLANK: Final = "blank"
LIFECYCLE_PERSONALISED: Final = "personalised"
_PIN_LENGTHS: Final = range(2, 7)


class _Refusal(Exception):
    """Internal: stop handling a command and answer this status word."""

    def __init__(self, status: int) -> None:
        super().__init__(f"{status:04X}")
        self.status = status


@dataclass
class CardState:
    """Everything a card keeps across power cycles; JSON-friendly via ``to_dict``."""

    label: str
    generation: int
    chip_serial: bytes
    transport_key: bytes
    lifecycle: str = LIFECYCLE_BLANK
    keys: dict[int, bytes] = field(default_factory=dict)
    pin: str | None = None
    pin_tries_left: int = 3
    #: Raw records (``tag len value``) per file path such as ``"SSSE/EF05"``.
    records: dict[str, list[bytes]] = field(default_factory=dict)
    personalisation_counter: int = 0

    @property
    def atr(self) -> bytes:
        """The ATR this card presents; blank cards show it in the chip-state byte."""
        return card_atr(
            self.generation,
            chip_serial=self.chip_serial,
            blank=self.lifecycle == LIFECYCLE_BLANK,
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable copy (bytes as hex)."""
        return {
            "label": self.label,
            "generation": self.generation,
            "chip_serial": self.chip_serial.hex(),
            "transport_key": self.transport_key.hex(),
            "lifecycle": self.lifecycle,
            "keys": {f"{kid:02X}": key.hex() for kid, key in self.keys.items()},
            "pin": self.pin,
            "pin_tries_left": self.pin_tries_left,
            "records": {path: [r.hex() for r in recs] for path, recs in self.records.items()},
            "personalisation_counter": self.personalisation_counter,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CardState:
        """Rebuild from :meth:`to_dict` output."""
        return cls(
            label=data["label"],
            generation=int(data["generation"]),
            chip_serial=bytes.fromhex(data["chip_serial"]),
            transport_key=bytes.fromhex(data["transport_key"]),
            lifecycle=data["lifecycle"],
            keys={int(kid, 16): bytes.fromhex(key) for kid, key in data["keys"].items()},
            pin=data["pin"],
            pin_tries_left=int(data["pin_tries_left"]),
            records={p: [bytes.fromhex(r) for r in recs] for p, recs in data["records"].items()},
            personalisation_counter=int(data["personalisation_counter"]),
        )


def new_blank_card(
    *, label: str, generation: int, chip_serial: bytes, transport_key: bytes
) -> CardState:
    """A card as the chip factory ships it: transport key only, empty files."""
    state = CardState(
        label=label, generation=generation, chip_serial=chip_serial, transport_key=transport_key
    )
    empty_pension = TlvRecord(PENSION_RECORD_TAG, bytes(PENSION_RECORD_LENGTH)).to_bytes()
    state.records["SSSE/DF03/EF07"] = [empty_pension] * 4
    return state


@dataclass
class _Session:
    """Volatile state, lost at reset."""

    df_path: tuple[str, ...] = ("MF",)
    current_ef: str | None = None
    authenticated: set[int] = field(default_factory=set)
    challenge: bytes | None = None
    pending: bytes = b""
    pin_verified: bool = False


class VirtualCard:
    """A card's operating system: ``process(apdu) -> response``, never raising."""

    def __init__(
        self, state: CardState, *, random_bytes: Callable[[int], bytes] = secrets.token_bytes
    ) -> None:
        self.state = state
        self.application: SocialSecurityApplication = application_for_atr(state.atr)
        self.layout = self.application.layout()
        self._files = {"/".join(path): node for path, node in self.layout.walk()}
        self._random_bytes = random_bytes
        self._session = _Session()
        #: Increases whenever persistent state changes, so the caller knows to save.
        self.revision = 0

    @property
    def atr(self) -> bytes:
        """The card's current ATR."""
        return self.state.atr

    def reset(self) -> None:
        """Power cycle: forget selection, authentication, challenge and pending data."""
        self._session = _Session()

    def transmit(self, apdu: bytes) -> bytes:
        """The card as a :class:`CardChannel`, for talking to it without a reader."""
        return self.process(apdu)

    def process(self, apdu: bytes) -> bytes:
        """Answer one command APDU with data + SW1 SW2; any failure becomes a status word."""
        try:
            command = CommandApdu.from_bytes(apdu)
        except ApduFormatError:
            self._session.pending = b""
            return ResponseApdu.status(sw.SW_WRONG_LENGTH).to_bytes()
        try:
            if command.ins == cmd.INS_GET_RESPONSE and command.cla == cmd.CLA_ISO:
                return self._get_response(command).to_bytes()
            self._session.pending = b""
            data = self._dispatch(command)
        except _Refusal as refusal:
            return ResponseApdu.status(refusal.status).to_bytes()
        except Exception:
            # A card never crashes: an internal fault answers 6F00, like a real chip.
            log.exception("virtual card failed on %s", apdu.hex())
            return ResponseApdu.status(sw.SW_UNKNOWN).to_bytes()
        return self._t0_answer(command, data).to_bytes()

    def _t0_answer(self, command: CommandApdu, data: bytes) -> ResponseApdu:
        if not data:
            return ResponseApdu.status(sw.SW_OK)
        if command.data:
            self._session.pending = data
            return ResponseApdu.status(0x6100 | (len(data) & 0xFF))
        if command.le != len(data):
            return ResponseApdu.status(0x6C00 | (len(data) & 0xFF))
        return ResponseApdu.status(sw.SW_OK, data)

    def _get_response(self, command: CommandApdu) -> ResponseApdu:
        pending = self._session.pending
        if command.p1 or command.p2:
            raise _Refusal(sw.SW_WRONG_P1P2)
        if not pending:
            raise _Refusal(sw.SW_CONDITIONS)
        wanted = command.le or 0
        if wanted > len(pending):
            return ResponseApdu.status(0x6C00 | (len(pending) & 0xFF))
        self._session.pending = pending[wanted:]
        if self._session.pending:
            rest = 0x6100 | (min(len(self._session.pending), 256) & 0xFF)
            return ResponseApdu.status(rest, pending[:wanted])
        return ResponseApdu.status(sw.SW_OK, pending[:wanted])

    def _dispatch(self, command: CommandApdu) -> bytes:
        if command.cla not in (
            cmd.CLA_ISO,
            cmd.CLA_SECURED,
            cmd.CLA_PROPRIETARY,
            cmd.CLA_PROPRIETARY_SECURED,
        ):
            raise _Refusal(sw.SW_CLA_NOT_SUPPORTED)
        if command.extended:
            raise _Refusal(sw.SW_WRONG_LENGTH)
        handler = self._HANDLERS.get((command.cla, command.ins))
        if handler is None:
            known_ins = {ins for _, ins in self._HANDLERS}
            status = (
                sw.SW_CLA_NOT_SUPPORTED if command.ins in known_ins else sw.SW_INS_NOT_SUPPORTED
            )
            raise _Refusal(status)
        return handler(self, command)

    # -- helpers ---------------------------------------------------------------

    @property
    def _personalised(self) -> bool:
        return self.state.lifecycle == LIFECYCLE_PERSONALISED

    def _require_personalised(self) -> None:
        if not self._personalised:
            raise _Refusal(sw.SW_CONDITIONS)

    def _current_df(self) -> CardFile:
        return self._files["/".join(self._session.df_path)]

    def _ef_path(self, command: CommandApdu) -> str:
        sfi = command.p2 >> 3
        if sfi == 0:
            if self._session.current_ef is None:
                raise _Refusal(sw.SW_NO_CURRENT_EF)
            return self._session.current_ef
        node = self._current_df().child_by_sfi(sfi)
        if node is None or node.kind is not FileKind.RECORDS:
            raise _Refusal(sw.SW_FILE_NOT_FOUND)
        path = "/".join((*self._session.df_path, node.name))
        self._session.current_ef = path
        return path

    def _state_key(self, path: str) -> str:
        return path.removeprefix("MF/")

    def _take_challenge(self) -> bytes:
        challenge = self._session.challenge
        self._session.challenge = None
        if challenge is None:
            raise _Refusal(sw.SW_CONDITIONS)
        return challenge

    def _key(self, key_id: int) -> bytes:
        key = self.state.keys.get(key_id)
        if key is None:
            raise _Refusal(sw.SW_KEY_NOT_FOUND)
        return key

    def _check_secured_mac(
        self, command: CommandApdu, key: bytes, *, iv: bytes, prefix: bytes = b""
    ) -> bytes:
        if len(command.data) < MAC_LENGTH:
            raise _Refusal(sw.SW_WRONG_LENGTH)
        body, mac = command.data[:-MAC_LENGTH], command.data[-MAC_LENGTH:]
        mac_input = prefix + cmd.secured_mac_input(
            command.cla, command.ins, command.p1, command.p2, body
        )
        if not verify_mac(self.application.cipher, key, mac_input, iv=iv, mac=mac):
            raise _Refusal(sw.SW_SM_WRONG)
        return body

    def _changed(self) -> None:
        self.revision += 1

    # -- file system -------------------------------------------------------------

    def _select(self, command: CommandApdu) -> bytes:
        if command.p2 not in (0x00, 0x0C):
            raise _Refusal(sw.SW_WRONG_P1P2)
        if command.p1 == 0x04:
            if command.data != SSSE_AID:
                raise _Refusal(sw.SW_FILE_NOT_FOUND)
            self._session = _Session(df_path=("MF", "SSSE"), challenge=self._session.challenge)
            return self._ssse_fci() if command.p2 == 0x00 else b""
        if command.p1 not in (0x00, 0x01, 0x02):
            raise _Refusal(sw.SW_WRONG_P1P2)
        if len(command.data) != 2:
            raise _Refusal(sw.SW_WRONG_LENGTH)
        fid = int.from_bytes(command.data, "big")
        if fid == MF_FID and command.p1 == 0x00:
            self._session = _Session(challenge=self._session.challenge)
            return b""
        node = self._current_df().child(fid)
        wanted_kind = {0x01: FileKind.DEDICATED, 0x02: FileKind.RECORDS}.get(command.p1)
        if node is None or (wanted_kind is not None and node.kind is not wanted_kind):
            raise _Refusal(sw.SW_FILE_NOT_FOUND)
        if node.kind is FileKind.RECORDS:
            self._session.current_ef = "/".join((*self._session.df_path, node.name))
        else:
            self._session.df_path = (*self._session.df_path, node.name)
            self._session.current_ef = None
        return b""

    def _ssse_fci(self) -> bytes:
        proprietary = bytes((0x9F, 0x0C, 0x03, 0x86, 0x01, self.application.algorithm_id))
        body = (
            bytes((0x84, len(SSSE_AID))) + SSSE_AID + bytes((0xA5, len(proprietary))) + proprietary
        )
        return bytes((0x6F, len(body))) + body

    def _read_record(self, command: CommandApdu) -> bytes:
        mode = command.p2 & 0x07
        if mode not in (0x00, 0x04) or command.p1 == 0:
            raise _Refusal(sw.SW_WRONG_P1P2)
        path = self._ef_path(command)
        node = self._files[path]
        if (
            node.read_access is ReadAccess.READ_KEY
            and self.application.holder_data_needs_read_key
            and KEY_READ not in self._session.authenticated
        ):
            raise _Refusal(sw.SW_SECURITY_STATUS)
        records = self.state.records.get(self._state_key(path), [])
        if mode == 0x04:
            if command.p1 > len(records):
                raise _Refusal(sw.SW_RECORD_NOT_FOUND)
            return records[command.p1 - 1]
        for record in records:
            if record[0] == command.p1:
                return record
        raise _Refusal(sw.SW_RECORD_NOT_FOUND)

    def _update_record(self, command: CommandApdu) -> bytes:
        self._require_personalised()
        if command.cla != cmd.CLA_SECURED:
            raise _Refusal(sw.SW_SECURITY_STATUS)
        if command.p2 & 0x07 != 0x04:
            raise _Refusal(sw.SW_WRONG_P1P2)
        challenge = self._take_challenge()
        record = self._check_secured_mac(command, self._key(KEY_UPDATE), iv=challenge)
        path = self._ef_path(command)
        self._write_record(path, command.p1, record)
        return b""

    def _write_record(self, path: str, number: int, record: bytes) -> None:
        node = self._files[path]
        if not 1 <= number <= len(node.records):
            raise _Refusal(sw.SW_RECORD_NOT_FOUND)
        tag, length = node.records[number - 1]
        if len(record) != 2 + length:
            raise _Refusal(sw.SW_WRONG_LENGTH)
        if record[0] != tag or record[1] != length:
            raise _Refusal(sw.SW_WRONG_DATA)
        records = self.state.records.setdefault(self._state_key(path), [])
        if number > len(records) + 1:
            raise _Refusal(sw.SW_RECORD_NOT_FOUND)
        if number == len(records) + 1:
            records.append(record)
        else:
            records[number - 1] = record
        self._changed()

    # -- security ----------------------------------------------------------------

    def _get_challenge(self, command: CommandApdu) -> bytes:
        if command.p1 or command.p2:
            raise _Refusal(sw.SW_WRONG_P1P2)
        allowed = (4, 8, self.application.challenge_length)
        length = command.le if command.le in allowed else self.application.challenge_length
        challenge = self._random_bytes(length)
        if command.le == length:
            self._session.challenge = challenge
        return challenge

    def _internal_authenticate(self, command: CommandApdu) -> bytes:
        self._require_personalised()
        if command.p1 or command.p2:
            raise _Refusal(sw.SW_WRONG_P1P2)
        if len(command.data) != self.application.cipher.block_size:
            raise _Refusal(sw.SW_WRONG_LENGTH)
        return self.application.cipher.encrypt(self._key(KEY_INTERNAL_AUTH), command.data)

    def _external_authenticate(self, command: CommandApdu) -> bytes:
        self._require_personalised()
        if command.p1:
            raise _Refusal(sw.SW_WRONG_P1P2)
        key = self._key(command.p2)
        cipher = self.application.cipher
        if len(command.data) != cipher.block_size:
            raise _Refusal(sw.SW_WRONG_LENGTH)
        challenge = self._take_challenge()
        if len(challenge) != cipher.block_size:
            raise _Refusal(sw.SW_CONDITIONS)
        if cipher.encrypt(key, challenge) != command.data:
            self._session.authenticated.discard(command.p2)
            raise _Refusal(sw.SW_AUTH_FAILED)
        self._session.authenticated.add(command.p2)
        return b""

    def _check_pin(self, candidate: bytes) -> None:
        state = self.state
        if state.pin is None:
            raise _Refusal(sw.SW_KEY_NOT_FOUND)
        if state.pin_tries_left == 0:
            raise _Refusal(sw.SW_AUTH_BLOCKED)
        expected = encode_pin(state.pin)
        if candidate == expected:
            if state.pin_tries_left != self.application.pin_tries:
                state.pin_tries_left = self.application.pin_tries
                self._changed()
            self._session.pin_verified = True
            return
        state.pin_tries_left -= 1
        self._session.pin_verified = False
        self._changed()
        if state.pin_tries_left == 0:
            raise _Refusal(sw.SW_AUTH_BLOCKED)
        raise _Refusal(0x63C0 | state.pin_tries_left)

    def _verify(self, command: CommandApdu) -> bytes:
        self._require_personalised()
        if command.p1 or command.p2:
            raise _Refusal(sw.SW_WRONG_P1P2)
        if not command.data:
            if self.state.pin_tries_left == 0:
                raise _Refusal(sw.SW_AUTH_BLOCKED)
            raise _Refusal(0x63C0 | self.state.pin_tries_left)
        if len(command.data) not in _PIN_LENGTHS:
            raise _Refusal(sw.SW_WRONG_LENGTH)
        self._check_pin(command.data)
        return b""

    def _change_pin(self, command: CommandApdu) -> bytes:
        self._require_personalised()
        if (command.p1, command.p2) != (0x01, 0x00):
            raise _Refusal(sw.SW_WRONG_P1P2)
        old, separator, new = command.data.partition(b"\xff")
        if not separator or len(old) not in _PIN_LENGTHS or len(new) not in _PIN_LENGTHS:
            raise _Refusal(sw.SW_WRONG_DATA)
        new_pin = new.hex().upper().rstrip("F")
        if not new_pin.isdigit() or not 4 <= len(new_pin) <= 12:
            raise _Refusal(sw.SW_WRONG_DATA)
        self._check_pin(old)
        self.state.pin = new_pin
        self._changed()
        return b""

    def _unblock_pin(self, command: CommandApdu) -> bytes:
        self._require_personalised()
        if command.p1 or command.p2:
            raise _Refusal(sw.SW_WRONG_P1P2)
        challenge = self._take_challenge()
        key = self._key(KEY_PIN_UNBLOCK)
        encrypted = self._check_secured_mac(command, key, iv=challenge)
        cipher = self.application.cipher
        if len(encrypted) != cipher.block_size:
            raise _Refusal(sw.SW_WRONG_LENGTH)
        try:
            new_pin = pin_from_block(cipher.decrypt(key, encrypted))
        except CardCryptoError as exc:
            raise _Refusal(sw.SW_WRONG_DATA) from exc
        self.state.pin = new_pin
        self.state.pin_tries_left = self.application.pin_tries
        self._changed()
        return b""

    # -- personalisation -----------------------------------------------------------

    def _personalisation_body(self, command: CommandApdu) -> bytes:
        if self._personalised:
            raise _Refusal(sw.SW_CONDITIONS)
        counter = self.state.personalisation_counter.to_bytes(2, "big")
        zero_iv = bytes(self.application.cipher.block_size)
        body = self._check_secured_mac(
            command, self.state.transport_key, iv=zero_iv, prefix=counter
        )
        return body

    def _personalisation_step_done(self) -> None:
        self.state.personalisation_counter += 1
        self._changed()

    def _personalise_record(self, command: CommandApdu) -> bytes:
        if command.p2 & 0x07 != 0x04:
            raise _Refusal(sw.SW_WRONG_P1P2)
        path = self._ef_path(command)
        record = self._personalisation_body(command)
        self._write_record(path, command.p1, record)
        self._personalisation_step_done()
        return b""

    def _write_key(self, command: CommandApdu) -> bytes:
        cipher = self.application.cipher
        known_keys = (KEY_READ, KEY_INTERNAL_AUTH, KEY_UPDATE, KEY_PIN_UNBLOCK)
        if command.p1 == cmd.WRITE_KEY_P1_KEY and command.p2 not in known_keys:
            raise _Refusal(sw.SW_KEY_NOT_FOUND)
        if command.p1 not in (cmd.WRITE_KEY_P1_KEY, cmd.WRITE_KEY_P1_PIN):
            raise _Refusal(sw.SW_WRONG_P1P2)
        encrypted = self._personalisation_body(command)
        if len(encrypted) % cipher.block_size or not encrypted:
            raise _Refusal(sw.SW_WRONG_LENGTH)
        plain = cipher.decrypt(self.state.transport_key, encrypted)
        if command.p1 == cmd.WRITE_KEY_P1_PIN:
            try:
                self.state.pin = pin_from_block(plain)
            except CardCryptoError as exc:
                raise _Refusal(sw.SW_WRONG_DATA) from exc
            self.state.pin_tries_left = self.application.pin_tries
        elif len(plain) != 16:
            raise _Refusal(sw.SW_WRONG_LENGTH)
        else:
            self.state.keys[command.p2] = plain
        self._personalisation_step_done()
        return b""

    def _end_personalisation(self, command: CommandApdu) -> bytes:
        if command.p1 or command.p2:
            raise _Refusal(sw.SW_WRONG_P1P2)
        if self._personalised:
            raise _Refusal(sw.SW_CONDITIONS)
        complete = {KEY_READ, KEY_INTERNAL_AUTH, KEY_UPDATE, KEY_PIN_UNBLOCK} <= set(
            self.state.keys
        )
        ssse_files = ("SSSE/EF05", "SSSE/EF06")
        filled = all(
            len(self.state.records.get(p, [])) == len(self._files["MF/" + p].records)
            for p in ssse_files
        )
        if not complete or not filled or self.state.pin is None:
            raise _Refusal(sw.SW_CONDITIONS)
        self._personalisation_body(command)
        self.state.lifecycle = LIFECYCLE_PERSONALISED
        self._personalisation_step_done()
        return b""

    _HANDLERS: Final[dict[tuple[int, int], Callable[[VirtualCard, CommandApdu], bytes]]] = {
        (cmd.CLA_ISO, cmd.INS_SELECT): _select,
        (cmd.CLA_ISO, cmd.INS_READ_RECORD): _read_record,
        (cmd.CLA_ISO, cmd.INS_UPDATE_RECORD): _update_record,
        (cmd.CLA_SECURED, cmd.INS_UPDATE_RECORD): _update_record,
        (cmd.CLA_ISO, cmd.INS_GET_CHALLENGE): _get_challenge,
        (cmd.CLA_ISO, cmd.INS_INTERNAL_AUTHENTICATE): _internal_authenticate,
        (cmd.CLA_ISO, cmd.INS_EXTERNAL_AUTHENTICATE): _external_authenticate,
        (cmd.CLA_ISO, cmd.INS_VERIFY): _verify,
        (cmd.CLA_PROPRIETARY, cmd.INS_CHANGE_PIN): _change_pin,
        (cmd.CLA_PROPRIETARY_SECURED, cmd.INS_RESET_RETRY_COUNTER): _unblock_pin,
        (cmd.CLA_PROPRIETARY_SECURED, cmd.INS_UPDATE_RECORD): _personalise_record,
        (cmd.CLA_PROPRIETARY_SECURED, cmd.INS_WRITE_KEY): _write_key,
        (cmd.CLA_PROPRIETARY_SECURED, cmd.INS_END_PERSONALISATION): _end_personalisation,
    }
