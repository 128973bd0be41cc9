"""Reading CSV files as townships produce them: UTF-8 (with or without BOM) or GB18030.

The file is read one physical line at a time and decoded strictly, so a byte that
does not belong to the encoding is reported with its line number instead of being
replaced silently; the CSV parser then sees decoded lines (quoted fields may span
lines). Memory stays constant whatever the size of the file.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

UTF8_BOM = codecs.BOM_UTF8
# Enough of the head of the file to tell UTF-8 from GB18030 in practice; a file whose
# first non-ASCII byte comes later fails at that line with a hint to name the encoding.
_SNIFF_BYTES = 1 << 20
_ENCODING_LABELS = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8", "gb18030": "GB18030"}
_ALIASES = {"utf8": "utf-8", "utf-8": "utf-8", "utf-8-sig": "utf-8-sig", "gb18030": "gb18030"}
# GBK and GB2312 are subsets of GB18030: decoding them as GB18030 gives the same text.
_ALIASES.update({"gbk": "gb18030", "gb2312": "gb18030", "cp936": "gb18030"})
#: The longest physical line read (a resident's row is well under 1 KiB): a longer one is
#: an error at its line, and it is never read whole into memory.
MAX_LINE_BYTES = 64 * 1024


class CsvFileError(ValueError):
    """The file cannot be read as CSV; ``line`` is the physical line (1-based) or 0."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"第{line}行：{message}" if line else message)
        self.line = line
        self.message = message


def normalise_encoding(name: str) -> str:
    """The codec name for a user-given encoding (utf-8, utf-8-sig, gb18030, gbk …)."""
    key = name.strip().lower().replace("_", "-")
    if key not in _ALIASES:
        raise CsvFileError(0, f"不支持的编码“{name}”，可选 utf-8、gb18030")
    return _ALIASES[key]


def detect_encoding(head: bytes) -> str:
    """``utf-8-sig`` with a BOM, ``utf-8`` when the head decodes as UTF-8, else ``gb18030``."""
    if head.startswith(UTF8_BOM):
        return "utf-8-sig"
    try:
        # final=False: the sniffed head may end in the middle of a multi-byte character.
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError as exc:
        # Valid multi-byte UTF-8 before the first bad byte: a damaged UTF-8 file, to be
        # reported at its line, not read as GB18030 mojibake.
        if any(b >= 0x80 for b in head[: exc.start]):
            return "utf-8"
        return "gb18030"
    return "utf-8"


def encoding_label(encoding: str) -> str:
    """The name of an encoding as staff know it."""
    return _ENCODING_LABELS.get(encoding, encoding)


class CsvReader:
    """Records of one open CSV file: ``header`` and then ``records()`` as (line, fields)."""

    def __init__(self, stream: BinaryIO, *, encoding: str | None = None) -> None:
        head = stream.read(_SNIFF_BYTES)
        stream.seek(0)
        self.encoding = normalise_encoding(encoding) if encoding else detect_encoding(head)
        self._hash = hashlib.sha256()
        self._reader = csv.reader(self._decoded_lines(stream), strict=True)
        self._last_line = 0
        header = self._next_record()
        if header is None:
            raise CsvFileError(1, "文件为空，缺少表头行")
        self.header: list[str] = header[1]

    @property
    def sha256(self) -> str:
        """The SHA-256 of the bytes read so far (the whole file once records are exhausted)."""
        return self._hash.hexdigest()

    def _decoded_lines(self, stream: BinaryIO) -> Iterator[str]:
        # Line feeds never occur inside a multi-byte UTF-8 or GB18030 character, so
        # splitting the bytes on b"\n" before decoding is safe for both encodings.
        codec = "utf-8" if self.encoding == "utf-8-sig" else self.encoding
        number = 0
        while raw := stream.readline(MAX_LINE_BYTES + 1):
            number += 1
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                raise CsvFileError(number, f"本行超过{MAX_LINE_BYTES // 1024} KiB，不是人员数据")
            self._hash.update(raw)
            data = raw[len(UTF8_BOM) :] if number == 1 and raw.startswith(UTF8_BOM) else raw
            try:
                yield data.decode(codec)
            except UnicodeDecodeError as exc:
                raise CsvFileError(
                    number,
                    f"第{exc.start + 1}个字节起不是有效的{encoding_label(self.encoding)}编码"
                    "（可用 --encoding 指定文件编码）",
                ) from exc

    def _next_record(self) -> tuple[int, list[str]] | None:
        while True:
            try:
                fields = next(self._reader)
            except StopIteration:
                return None
            except csv.Error as exc:
                raise CsvFileError(self._reader.line_num, f"CSV格式错误：{exc}") from exc
            start = self._last_line + 1
            self._last_line = self._reader.line_num
            if fields:  # blank lines carry no record
                return start, fields

    def records(self) -> Iterator[tuple[int, list[str]]]:
        """The data records after the header, each with the line it starts on."""
        while (record := self._next_record()) is not None:
            yield record


def open_csv(path: Path, *, encoding: str | None = None) -> tuple[BinaryIO, CsvReader]:
    """Open ``path`` for reading records; the caller closes the returned stream."""
    stream = path.open("rb")
    try:
        return stream, CsvReader(stream, encoding=encoding)
    except BaseException:
        stream.close()
        raise


def writer_encoding(encoding: str) -> str:
    """The encoding to write a companion file (rejects) in: the input's, UTF-8 with a BOM."""
    return "gb18030" if encoding == "gb18030" else "utf-8-sig"
