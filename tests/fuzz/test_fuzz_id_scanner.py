"""GA 467 frames and ID-card data from the serial line: only ``IdScannerError``.

The scanner (or whatever is on the other end of the cable) sends bytes in chunks of any
size, with noise, partial frames and bad check bytes; the reply's data is a text block
and a photo. Nothing in them may raise anything but the driver's own errors.
"""

from __future__ import annotations

import contextlib

from hypothesis import given
from hypothesis import strategies as st

from device_drivers.id_scanner import protocol
from device_drivers.id_scanner.errors import IdScannerError
from device_drivers.id_scanner.idcard import (
    PHOTO_BYTES,
    TEXT_BYTES,
    TEXT_LAYOUT,
    encode_card_text,
    encode_read_reply_data,
    parse_card_text,
    parse_read_reply,
)
from device_drivers.id_scanner.simulator import synthetic_deck
from tests.fuzz.support import fuzz

CARD = synthetic_deck()[0]
GOOD_REPLY = protocol.encode_reply(
    protocol.Reply(sw1=0, sw2=0, sw3=0x90, data=encode_read_reply_data(CARD))
)


def _stream() -> st.SearchStrategy[bytes]:
    """Noise, real frames, and real frames with a byte changed, run together."""
    frame = st.one_of(
        st.just(GOOD_REPLY),
        st.builds(
            lambda body: protocol.encode_reply(
                protocol.Reply(sw1=body[0], sw2=body[1], sw3=body[2], data=body[3:])
            ),
            st.binary(min_size=3, max_size=80),
        ),
        st.tuples(st.integers(0, len(GOOD_REPLY) - 1), st.integers(1, 255)).map(
            lambda t: GOOD_REPLY[: t[0]] + bytes([GOOD_REPLY[t[0]] ^ t[1]]) + GOOD_REPLY[t[0] + 1 :]
        ),
        st.binary(max_size=40),
        st.just(protocol.PREAMBLE),
    )
    return st.lists(frame, max_size=6).map(b"".join)


@fuzz
@given(_stream(), st.lists(st.integers(1, 64), min_size=1, max_size=20))
def test_frames_from_a_noisy_line_in_any_chunks(stream: bytes, cuts: list[int]) -> None:
    reader = protocol.FrameReader()
    position = 0
    for size in cuts * (len(stream) // max(1, sum(cuts)) + 1):
        reader.feed(stream[position : position + size])
        position += size
        while True:
            try:
                body = reader.next_body()
            except IdScannerError:
                continue
            if body is None:
                break
            try:
                reply = protocol.decode_reply(body)
                reply.raise_for_status()
                parse_read_reply(reply.data)
            except IdScannerError:
                pass
        if position >= len(stream):
            break


@fuzz
@given(st.binary(max_size=PHOTO_BYTES + TEXT_BYTES + 8))
def test_read_reply_data_of_any_bytes(data: bytes) -> None:
    with contextlib.suppress(IdScannerError):
        parse_read_reply(data)
    with contextlib.suppress(IdScannerError):
        protocol.decode_request(data)


@fuzz
@given(
    st.fixed_dictionaries(
        {name: st.text(max_size=(end - start) // 2) for name, (start, end) in TEXT_LAYOUT.items()}
    ),
    st.binary(min_size=TEXT_BYTES, max_size=TEXT_BYTES),
    st.booleans(),
)
def test_card_text_with_any_field_values(
    fields: dict[str, str], noise: bytes, use_noise: bool
) -> None:
    """Every field of the text block replaced by any text (or the block by noise)."""
    block = bytearray(encode_card_text(CARD))
    for name, value in fields.items():
        start, end = TEXT_LAYOUT[name]
        encoded = value.encode("utf-16-le", "surrogatepass")[: end - start]
        block[start:end] = encoded.ljust(end - start, b" ")
    text = noise if use_noise else bytes(block)
    with contextlib.suppress(IdScannerError):
        card = parse_card_text(text, CARD.photo_wlt)
        assert len(card.id_number) == 18
