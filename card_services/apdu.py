"""Command and response APDUs (ISO/IEC 7816-4), short and extended length."""

from __future__ import annotations

from dataclasses import dataclass

from card_services.errors import ApduFormatError

#: Le value meaning "as many as you have" (256 short, 65536 extended).
LE_MAX_SHORT = 256
LE_MAX_EXTENDED = 65536


@dataclass(frozen=True)
class CommandApdu:
    """A command: header, optional data (Lc is its length) and optional expected length."""

    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes = b""
    le: int | None = None

    def __post_init__(self) -> None:
        for name in ("cla", "ins", "p1", "p2"):
            value = getattr(self, name)
            if not 0 <= value <= 0xFF:
                raise ApduFormatError(f"{name} must be one byte, got {value}")
        if len(self.data) > 65535:
            raise ApduFormatError(f"data of {len(self.data)} bytes is too long for an APDU")
        if self.le is not None and not 1 <= self.le <= LE_MAX_EXTENDED:
            raise ApduFormatError(f"Le must be 1..65536, got {self.le}")

    @property
    def extended(self) -> bool:
        """Whether the command needs extended length fields."""
        return len(self.data) > 255 or (self.le is not None and self.le > LE_MAX_SHORT)

    @property
    def header(self) -> bytes:
        """CLA INS P1 P2."""
        return bytes((self.cla, self.ins, self.p1, self.p2))

    def to_bytes(self) -> bytes:
        """Encode, choosing short or extended length as the sizes require."""
        out = bytearray(self.header)
        if self.extended:
            if self.data:
                out += b"\x00" + len(self.data).to_bytes(2, "big") + self.data
            if self.le is not None:
                le = self.le % LE_MAX_EXTENDED
                out += (b"" if self.data else b"\x00") + le.to_bytes(2, "big")
            return bytes(out)
        if self.data:
            out += bytes((len(self.data),)) + self.data
        if self.le is not None:
            out.append(self.le % LE_MAX_SHORT)
        return bytes(out)

    def with_le(self, le: int) -> CommandApdu:
        """The same command with another expected length (for ``6Cxx``)."""
        return CommandApdu(self.cla, self.ins, self.p1, self.p2, self.data, le)

    @classmethod
    def from_bytes(cls, raw: bytes) -> CommandApdu:
        """Parse the four ISO cases, short and extended; refuse anything else."""
        if len(raw) < 4:
            raise ApduFormatError(f"command APDU of {len(raw)} bytes is shorter than a header")
        cla, ins, p1, p2 = raw[:4]
        body = raw[4:]
        if not body:
            return cls(cla, ins, p1, p2)
        if len(body) == 1:
            return cls(cla, ins, p1, p2, le=body[0] or LE_MAX_SHORT)
        if body[0] != 0:
            lc = body[0]
            if len(body) == 1 + lc:
                return cls(cla, ins, p1, p2, body[1:])
            if len(body) == 2 + lc:
                return cls(cla, ins, p1, p2, body[1:-1], le=body[-1] or LE_MAX_SHORT)
            raise ApduFormatError(f"Lc {lc} does not match {len(body) - 1} bytes after it")
        return cls._from_extended(cla, ins, p1, p2, body)

    @classmethod
    def _from_extended(cls, cla: int, ins: int, p1: int, p2: int, body: bytes) -> CommandApdu:
        if len(body) == 3:
            return cls(cla, ins, p1, p2, le=int.from_bytes(body[1:3], "big") or LE_MAX_EXTENDED)
        if len(body) < 3:
            raise ApduFormatError("extended length field is truncated")
        lc = int.from_bytes(body[1:3], "big")
        if lc == 0:
            raise ApduFormatError("extended Lc of zero")
        rest = body[3:]
        if len(rest) == lc:
            return cls(cla, ins, p1, p2, rest)
        if len(rest) == lc + 2:
            le = int.from_bytes(rest[-2:], "big") or LE_MAX_EXTENDED
            return cls(cla, ins, p1, p2, rest[:-2], le=le)
        raise ApduFormatError(f"extended Lc {lc} does not match {len(rest)} bytes after it")

    def __str__(self) -> str:
        return self.to_bytes().hex(" ").upper()


@dataclass(frozen=True)
class ResponseApdu:
    """A response: data and the two status bytes."""

    data: bytes
    sw1: int
    sw2: int

    @property
    def sw(self) -> int:
        """SW1 and SW2 as one number, e.g. ``0x9000``."""
        return (self.sw1 << 8) | self.sw2

    @property
    def ok(self) -> bool:
        """Whether the status word is ``9000``."""
        return self.sw == 0x9000

    def to_bytes(self) -> bytes:
        """Data followed by SW1 SW2."""
        return self.data + bytes((self.sw1, self.sw2))

    @classmethod
    def from_bytes(cls, raw: bytes) -> ResponseApdu:
        """Split a response into data and status word."""
        if len(raw) < 2:
            raise ApduFormatError(f"response of {len(raw)} bytes has no status word")
        return cls(raw[:-2], raw[-2], raw[-1])

    @classmethod
    def status(cls, sw: int, data: bytes = b"") -> ResponseApdu:
        """Build a response from a status word number."""
        return cls(data, sw >> 8, sw & 0xFF)


def apdu_trace(command: bytes, response: bytes) -> str:
    """One exchange for a log line without personal data: the command header, the lengths
    of the data fields (never their bytes: PINs, challenges, holder records) and the
    status word. ``00 B0 85 00 Le=256 -> 112 bytes 9000``."""
    try:
        parsed = CommandApdu.from_bytes(command)
    except ApduFormatError:
        sent = f"{command[:4].hex(' ').upper()} ({len(command)} bytes, malformed)"
    else:
        sent = parsed.header.hex(" ").upper()
        if parsed.data:
            sent += f" Lc={len(parsed.data)}"
        if parsed.le is not None:
            sent += f" Le={parsed.le}"
    if len(response) < 2:
        return f"{sent} -> {len(response)} bytes, no status word"
    data_length = len(response) - 2
    answered = f"{data_length} bytes " if data_length else ""
    return f"{sent} -> {answered}{response[-2:].hex().upper()}"
