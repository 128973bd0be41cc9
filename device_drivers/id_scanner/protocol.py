"""GA 467 framing as pure functions: encode requests and replies, decode a byte stream.

A frame on the line::

    AA AA AA 96 69 | LEN (2, big-endian) | CMD PARA (request) or SW1 SW2 SW3 (reply)
                   | DATA | CHK

``LEN`` counts the bytes from CMD (or SW1) up to and including CHK; ``CHK`` is the
XOR of every byte from LEN to the end of DATA. Nothing here does I/O, so the driver,
the simulator and the tests share one implementation of the format.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce

from device_drivers.id_scanner import errors

PREAMBLE = bytes.fromhex("AAAAAA9669")
#: The largest frame a scanner sends: a read reply is 3 + 4 + 256 + 1024 + 1 bytes of
#: LEN; fingerprint readers add 1,024 more. Anything longer is garbage that happened to
#: contain a preamble.
MAX_FRAME_LENGTH = 4096
_LENGTH_BYTES = 2


@dataclass(frozen=True)
class Command:
    """A GA 467 command: command byte and parameter byte."""

    name: str
    cmd: int
    para: int


FIND_CARD = Command("find_card", 0x20, 0x01)
SELECT_CARD = Command("select_card", 0x20, 0x02)
READ_TEXT_PHOTO = Command("read_text_photo", 0x30, 0x01)
READ_APPENDED_ADDRESS = Command("read_appended_address", 0x30, 0x03)
SAM_STATUS = Command("sam_status", 0x11, 0xFF)
RESET_SAM = Command("reset_sam", 0x10, 0xFF)
READ_SAM_ID = Command("read_sam_id", 0x12, 0xFF)

COMMANDS = {
    (c.cmd, c.para): c
    for c in (
        FIND_CARD,
        SELECT_CARD,
        READ_TEXT_PHOTO,
        READ_APPENDED_ADDRESS,
        SAM_STATUS,
        RESET_SAM,
        READ_SAM_ID,
    )
}

#: SW3 success codes.
SW_OK = 0x90
SW_CARD_FOUND = 0x9F

#: Every SW3 a scanner may send that is not success: the class raised and the message
#: (GA 467-2013 appendix, as the vendors' SDK manuals list it).
STATUS_TABLE: dict[int, tuple[type[errors.IdScannerError], str]] = {
    0x10: (errors.CommandRejectedError, "扫描器收到的数据校验和错误"),
    0x11: (errors.CommandRejectedError, "扫描器收到的数据长度错误"),
    0x21: (errors.CommandRejectedError, "扫描器收到的命令错误"),
    0x23: (errors.CommandRejectedError, "越权操作"),
    0x24: (errors.CommandRejectedError, "扫描器内部无法识别的错误"),
    0x31: (errors.CardNotGenuineError, "证件认证扫描器失败"),
    0x32: (errors.CardNotGenuineError, "扫描器认证证件失败"),
    0x33: (errors.CardNotGenuineError, "证件信息验证错误"),
    0x37: (errors.CardNotGenuineError, "指纹信息验证错误"),
    0x3F: (errors.CommandRejectedError, "信息长度错误"),
    0x40: (errors.UnknownCardTypeError, "无法识别的证件类型"),
    0x41: (errors.ReadFailedError, "读证件失败，请将证件平放后重试"),
    0x47: (errors.ReadFailedError, "取随机数失败，请重试"),
    0x60: (errors.SamError, "安全模块自检失败"),
    0x66: (errors.SamError, "安全模块未经授权"),
    0x80: (errors.NoIdCardError, "未找到新的身份证（已读过的证件请拿起后重新放置）"),
    0x81: (errors.SelectFailedError, "选卡失败，请勿移动证件"),
    0x91: (errors.NoContentError, "证件中无此项内容"),
}


@dataclass(frozen=True)
class Request:
    """A frame to the scanner."""

    cmd: int
    para: int
    data: bytes = b""


@dataclass(frozen=True)
class Reply:
    """A frame from the scanner."""

    sw1: int
    sw2: int
    sw3: int
    data: bytes = b""

    def raise_for_status(self) -> None:
        """Raise the table's exception for a non-success SW3; return on 90 or 9F."""
        if self.sw3 in (SW_OK, SW_CARD_FOUND):
            return
        error_class, message = STATUS_TABLE.get(
            self.sw3, (errors.UnknownStatusError, "扫描器返回了未定义的状态码")
        )
        raise error_class(f"{message} (SW3={self.sw3:02X})", status=self.sw3)


def checksum(data: bytes) -> int:
    """XOR of ``data`` (LEN through the end of DATA)."""
    return reduce(lambda acc, byte: acc ^ byte, data, 0)


def _frame(body: bytes) -> bytes:
    length = (len(body) + 1).to_bytes(_LENGTH_BYTES, "big")
    return PREAMBLE + length + body + bytes([checksum(length + body)])


def encode_request(request: Request) -> bytes:
    """The bytes of a request frame."""
    return _frame(bytes([request.cmd, request.para]) + request.data)


def encode_reply(reply: Reply) -> bytes:
    """The bytes of a reply frame (the simulator's side)."""
    return _frame(bytes([reply.sw1, reply.sw2, reply.sw3]) + reply.data)


def decode_request(body: bytes) -> Request:
    """A request from a frame body (CMD PARA DATA), as :class:`FrameReader` returns it."""
    if len(body) < 2:
        raise errors.TruncatedFrameError("request frame shorter than CMD PARA")
    return Request(cmd=body[0], para=body[1], data=body[2:])


def decode_reply(body: bytes) -> Reply:
    """A reply from a frame body (SW1 SW2 SW3 DATA), as :class:`FrameReader` returns it."""
    if len(body) < 3:
        raise errors.TruncatedFrameError("reply frame shorter than SW1 SW2 SW3")
    return Reply(sw1=body[0], sw2=body[1], sw3=body[2], data=body[3:])


class FrameReader:
    """Reassembles frames from a byte stream that may hold noise and partial frames.

    Bytes before a preamble are dropped (and counted in ``discarded``); a preamble
    followed by an impossible length is taken for noise and scanning resumes one byte
    later, so a stray ``AA AA AA 96 69`` cannot swallow the next real frame.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.discarded = 0

    def feed(self, chunk: bytes) -> None:
        """Add bytes read from the line."""
        self._buffer.extend(chunk)

    @property
    def in_frame(self) -> bool:
        """Whether a frame has started but is not complete (for telling truncation apart)."""
        return self._buffer.startswith(PREAMBLE)

    def next_body(self) -> bytes | None:
        """The next complete frame's body (between LEN and CHK), or ``None`` if none yet.

        Raises :class:`ChecksumError` for a complete frame whose check fails; the frame
        is consumed, so the stream stays usable.
        """
        while True:
            start = self._buffer.find(PREAMBLE)
            if start < 0:
                # Keep a tail that may be the start of a preamble split across reads.
                keep = len(PREAMBLE) - 1
                self._drop(max(0, len(self._buffer) - keep))
                return None
            self._drop(start)
            header = len(PREAMBLE) + _LENGTH_BYTES
            if len(self._buffer) < header:
                return None
            length_bytes = bytes(self._buffer[len(PREAMBLE) : header])
            length = int.from_bytes(length_bytes, "big")
            if not 3 <= length <= MAX_FRAME_LENGTH:
                self._drop(1)
                continue
            if len(self._buffer) < header + length:
                return None
            body = bytes(self._buffer[header : header + length - 1])
            received_check = self._buffer[header + length - 1]
            del self._buffer[: header + length]
            if checksum(length_bytes + body) != received_check:
                raise errors.ChecksumError(
                    f"reply check byte {received_check:02X} does not match its content"
                )
            return body

    def _drop(self, count: int) -> None:
        self.discarded += count
        del self._buffer[:count]
