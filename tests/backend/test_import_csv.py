"""The CSV reader under the importer: encodings, line numbers, and property tests."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.registry.csvfile import MAX_LINE_BYTES, CsvFileError, CsvReader, detect_encoding
from backend.registry.importer import map_header


def _read(
    data: bytes, encoding: str | None = None
) -> tuple[CsvReader, list[tuple[int, list[str]]]]:
    reader = CsvReader(io.BytesIO(data), encoding=encoding)
    return reader, list(reader.records())


def _csv_bytes(rows: list[list[str]], encoding: str) -> bytes:
    buffer = io.StringIO(newline="")
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue().encode(encoding)


def test_utf8_with_bom_is_detected_and_bom_is_not_part_of_the_header():
    reader, records = _read("\ufeff姓名,民族\r\n巴特尔,02\r\n".encode())
    assert reader.encoding == "utf-8-sig"
    assert reader.header == ["姓名", "民族"]
    assert records == [(2, ["巴特尔", "02"])]


def test_gb18030_is_detected_and_astral_characters_survive():
    reader, records = _read("姓名\n𠮷祥\n阿依古丽·买买提\n".encode("gb18030"))
    assert reader.encoding == "gb18030"
    assert [r[1][0] for r in records] == ["𠮷祥", "阿依古丽·买买提"]


def test_records_carry_the_line_they_start_on_across_quoted_newlines_and_blank_lines():
    data = b'a,b\n"x\ny",1\n\nz,2\n'
    _, records = _read(data)
    assert records == [(2, ["x\ny", "1"]), (5, ["z", "2"])]


def test_invalid_byte_in_the_middle_of_a_utf8_file_names_its_line():
    data = "姓名\n巴特尔\n".encode() + b"\xff\xfe\n" + "其其格\n".encode()
    reader = CsvReader(io.BytesIO(data))
    assert reader.encoding == "utf-8"
    with pytest.raises(CsvFileError) as err:
        list(reader.records())
    assert err.value.line == 3
    assert "UTF-8" in str(err.value)


def test_detection_picks_gb18030_for_gb_bytes_and_utf8_for_ascii():
    assert detect_encoding("巴特尔".encode("gb18030")) == "gb18030"
    assert detect_encoding(b"plain ascii") == "utf-8"


def test_unknown_encoding_name_is_refused():
    with pytest.raises(CsvFileError, match="不支持的编码"):
        CsvReader(io.BytesIO(b"a\n"), encoding="latin-1")


def test_unterminated_quote_is_a_clean_error():
    with pytest.raises(CsvFileError, match="CSV格式错误"):
        _read(b'a,b\n"x,1\n')


def test_header_maps_chinese_and_english_aliases():
    assert map_header(["身份证号码", "姓名", "民族", "户籍地区划代码", "phone"]) == [
        "id_number",
        "name",
        "ethnicity",
        "hukou_region_code",
        "phone",
    ]


def test_header_with_unknown_duplicate_and_missing_columns_names_them_all():
    with pytest.raises(CsvFileError) as err:
        map_header(["id_number", "姓名", "name", "shoe_size"])
    message = str(err.value)
    assert err.value.line == 1
    assert "shoe_size" in message and "重复" in message and "ethnicity" in message


_field = st.text(
    alphabet=st.one_of(
        st.sampled_from(list(',"\r\n ;·\t')),
        st.characters(codec="utf-8", exclude_categories=("Cs",)),
        st.sampled_from(list("巴特尔阿依古丽𠮷𡈼𪚥")),
    ),
    max_size=12,
)


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(st.lists(_field, min_size=1, max_size=5), min_size=1, max_size=8),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "gb18030"]),
)
def test_anything_the_csv_writer_writes_reads_back_the_same(rows, encoding):
    header = ["c"]
    data = _csv_bytes([header, *rows], encoding)
    reader, records = _read(data, encoding)
    # A record that is a single empty field is written as "" and read back as such;
    # only truly blank lines are skipped.
    assert [fields for _, fields in records] == rows
    assert reader.header == header


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=400), encoding=st.sampled_from([None, "utf-8", "gb18030"]))
def test_arbitrary_bytes_never_crash_the_reader(data, encoding):
    try:
        reader = CsvReader(io.BytesIO(data), encoding=encoding)
        for line, fields in reader.records():
            assert line >= 2
            assert isinstance(fields, list)
    except CsvFileError as exc:
        assert exc.line >= 0
        assert str(exc)


def test_an_overlong_line_is_an_error_at_its_line_and_is_never_read_whole():
    class Counting(io.BytesIO):
        largest = 0

        def readline(self, size: int | None = -1) -> bytes:
            line = super().readline(size)
            Counting.largest = max(Counting.largest, len(line))
            return line

    body = b"id_number,name\n654226197001010595,ok\n" + b"x" * (10 * 1024 * 1024) + b"\n"
    reader = CsvReader(Counting(body))
    with pytest.raises(CsvFileError) as caught:
        list(reader.records())
    assert caught.value.line == 3 and "KiB" in caught.value.message
    assert Counting.largest <= MAX_LINE_BYTES + 1
