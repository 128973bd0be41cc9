"""The ESC/POS decoder behind receipt previews: any print job, only ``EscposDecodeError``.

Jobs are built from the commands the decoder knows, each with random parameter bytes,
mixed with text and raw noise, so the fuzzer reaches every command's parameter handling
rather than stopping at the first unknown byte.
"""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from device_drivers.printer.decode import EscposDecodeError, decode_escpos
from tests.fuzz.support import fuzz

PREFIXES = [
    b"\x1b@",
    b"\x1ba",
    b"\x1bE",
    b"\x1b!",
    b"\x1bd",
    b"\x1b2",
    b"\x1b3",
    b"\x1bJ",
    b"\x1bt",
    b"\x1dV",
    b"\x1dV\x41",
    b"\x1d!",
    b"\x1dv0",
    b"\x1dk",
    b"\x1dkI",
    b"\x1dkC",
    b"\x1d(k",
    b"\x1d(k\x03\x001C",
    b"\x1d(k\x05\x001P0",
    b"\x1d(k\x03\x001Q",
    b"\x1dh",
    b"\x1c&",
    b"\x1c.",
    b"\x10\x04",
    b"\x10\x05",
]

token = st.one_of(
    st.tuples(st.sampled_from(PREFIXES), st.binary(max_size=12)).map(b"".join),
    st.text(max_size=10).map(lambda t: t.encode("gb18030")),
    st.binary(max_size=8),
    st.just(b"\n"),
)


@fuzz
@given(st.lists(token, max_size=20).map(b"".join))
def test_any_print_job_decodes_or_is_refused_with_the_decoders_error(job: bytes) -> None:
    with contextlib.suppress(EscposDecodeError):
        decode_escpos(job)


@fuzz
@given(st.binary(max_size=400))
def test_raw_bytes(job: bytes) -> None:
    with contextlib.suppress(EscposDecodeError):
        decode_escpos(job)


@pytest.mark.parametrize(
    "job",
    [
        b"\x1dkC\x02\xff\xfe",  # EAN13 data that is not ASCII: was UnicodeDecodeError
        b"\x1dkI\x03{B\x80",  # CODE128 likewise
        b"\x1d(k\x02\x001C",  # QR module size without its size byte: was IndexError
        b"\x1d(k\x05\x001P0\xff\xfe",  # QR data that is not UTF-8: was UnicodeDecodeError
    ],
)
def test_found_by_the_fuzzer_is_the_decoders_error(job: bytes) -> None:
    with pytest.raises(EscposDecodeError):
        decode_escpos(job)
