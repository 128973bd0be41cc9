"""Residents' CSV files (UTF-8 or GB18030) as the importer reads them: the file is refused
with ``CsvFileError`` naming a line, or every row is validated into a person or field
errors — nothing else is ever raised.

Files are raw bytes, or CSV text (quotes, commas, line breaks, Chinese, characters
outside GBK) under a real or a broken header, encoded in UTF-8 (with or without BOM) or
GB18030, and read with the encoding detected or named.
"""

from __future__ import annotations

import csv
import datetime as dt
import io

from hypothesis import given
from hypothesis import strategies as st

from backend.registry.csvfile import CsvFileError, CsvReader
from backend.registry.importer import COLUMN_ALIASES, map_header
from backend.registry.validation import validate_person
from tests.fuzz.support import fuzz

VILLAGES = {"654226100200", "654226200200"}
TODAY = dt.date(2026, 6, 1)

cell = st.one_of(
    st.text(max_size=20),
    st.from_regex(r"6542261\d{10}[\dX]", fullmatch=True),
    st.from_regex(r"\d{4}-\d{2}-\d{2}", fullmatch=True),
    st.sampled_from(("654226100200", "01", "02", "男", "女", "是", "否", "𠮷", '"', ",", "\n")),
)
header = st.one_of(
    st.permutations([aliases[0] for aliases in COLUMN_ALIASES.values()]).map(list),
    st.lists(
        st.sampled_from([a for aliases in COLUMN_ALIASES.values() for a in aliases])
        | st.text(max_size=6),
        max_size=14,
    ),
)


def _csv_text(head: list[str], rows: list[list[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(head)
    writer.writerows(rows)
    return out.getvalue()


files = st.one_of(
    st.binary(max_size=600),
    st.tuples(
        header,
        st.lists(st.lists(cell, max_size=14), max_size=6),
        st.sampled_from(("utf-8", "utf-8-sig", "gb18030")),
    ).map(lambda t: _csv_text(t[0], t[1]).encode(t[2], errors="replace")),
)


@fuzz
@given(files, st.sampled_from((None, "utf-8", "gb18030", "gbk")))
def test_any_file_is_refused_at_a_line_or_read_row_by_row(
    data: bytes, encoding: str | None
) -> None:
    try:
        reader = CsvReader(io.BytesIO(data), encoding=encoding)
        columns = map_header(reader.header)
        for line, fields in reader.records():
            assert line >= 2
            if len(fields) != len(columns):
                continue  # the importer reports the column count for this row
            person, errors = validate_person(
                dict(zip(columns, fields, strict=True)), known_villages=VILLAGES, today=TODAY
            )
            assert (person is None) == bool(errors)
    except CsvFileError as exc:
        assert exc.args  # names the line and the reason
