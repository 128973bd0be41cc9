"""Banks' return files as the import reads them (an open file in the layout's encoding):
the pipe layout (GB18030) and ISO 20022 pain.002 (UTF-8). A file is refused with
``BankFileError`` or read into rows — never another exception, wherever in the file the
problem is (the rows are read lazily, so every row is consumed).

Files are raw bytes, and real files written by the layout's own writer with random
values, then cut short or with one byte changed.
"""

from __future__ import annotations

import datetime as dt
import io

from hypothesis import given
from hypothesis import strategies as st

from backend.banks.formats import (
    BankFileError,
    BankFileFormat,
    Outcome,
    PipeFormat,
    ReturnHeader,
    ReturnLine,
)
from backend.payroll.pain002 import Pain002Format
from tests.fuzz.support import fuzz

FORMATS: list[BankFileFormat] = [PipeFormat(), Pain002Format()]

text = st.text(max_size=12)
rows = st.lists(
    st.builds(
        ReturnLine,
        line_no=st.just(0),
        person_code=text,
        name=text,
        id_number=text,
        amount_fen=st.integers(0, 10**12),
        doc_no=text,
        outcome=st.sampled_from((Outcome.SUCCESS, Outcome.FAILED)),
        debited_fen=st.integers(0, 10**12),
        reason=text,
    ),
    max_size=5,
)
headers = st.builds(
    ReturnHeader,
    batch_no=text,
    count=st.integers(0, 10**6),
    total_fen=st.integers(0, 10**12),
    debited_fen=st.integers(0, 10**12),
    value_date=st.dates(dt.date(1990, 1, 1), dt.date(2100, 1, 1)),
)


def _written(fmt: BankFileFormat, header: ReturnHeader, lines: list[ReturnLine]) -> bytes:
    return "".join(f"{line}\n" for line in fmt.return_lines(header, lines)).encode(
        fmt.encoding, errors="replace"
    )


def _mangled(data: bytes, cut: int, at: int, flip: int) -> bytes:
    if not data:
        return data
    at %= len(data)
    changed = data[:at] + bytes([data[at] ^ flip]) + data[at + 1 :] if flip else data
    return changed[: len(changed) - cut % (len(changed) + 1)] if cut else changed


def _read(fmt: BankFileFormat, data: bytes) -> None:
    fh = io.TextIOWrapper(io.BytesIO(data), encoding=fmt.encoding, newline="")
    try:
        header, lines = fmt.read_return_file(fh)
        for line in lines:
            assert line.outcome in Outcome
        assert header.batch_no is not None
    except BankFileError:
        pass


@fuzz
@given(st.sampled_from(FORMATS), st.binary(max_size=800))
def test_any_bytes(fmt: BankFileFormat, data: bytes) -> None:
    _read(fmt, data)


@fuzz
@given(
    st.sampled_from(FORMATS),
    headers,
    rows,
    st.integers(0, 400),
    st.integers(0, 10**6),
    st.integers(0, 255),
)
def test_real_files_cut_short_or_with_a_byte_changed(
    fmt: BankFileFormat,
    header: ReturnHeader,
    lines: list[ReturnLine],
    cut: int,
    at: int,
    flip: int,
) -> None:
    _read(fmt, _mangled(_written(fmt, header, lines), cut, at, flip))
