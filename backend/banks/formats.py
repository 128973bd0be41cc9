"""Bank file layouts behind one interface: a bank's own layout is one small class.

The default is the pipe layout of DOMAIN.md §7 (Anhui 2010:
``社保编号|姓名|身份证号|金额|社保单据号``) with a header line carrying the batch number,
row count and control sum, as ISO 20022 pain.001 does. A return file repeats each
row and adds the outcome code, the amount actually debited and a reason. Amounts
are yuan with two decimals; files are GB18030 (names with rare characters survive).
The same layouts serve pay-out (代发) batches: only the kind in the header differs.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import ClassVar, TextIO

from backend.policy.rules import fen_to_yuan, yuan_to_fen


class Outcome(StrEnum):
    """What the bank did with one row (every row ends in exactly one)."""

    SUCCESS = "success"
    FAILED = "failed"
    PARTIAL = "partial"  # short balance: part debited
    UNKNOWN = "unknown"  # timeout / status unknown: left open for a status query
    CARRIED = "carried"  # carried to the next batch by the bank


OUTCOME_LABELS = {
    Outcome.SUCCESS: "成功",
    Outcome.FAILED: "失败",
    Outcome.PARTIAL: "部分扣款",
    Outcome.UNKNOWN: "状态未知",
    Outcome.CARRIED: "转下批",
}


@dataclass(frozen=True)
class BatchHeader:
    """The header of a batch file."""

    batch_no: str
    kind: str
    bank_code: str
    county_code: str
    count: int
    total_fen: int
    created_on: dt.date


@dataclass(frozen=True)
class BatchLine:
    """One row of a batch file."""

    person_code: str
    name: str
    id_number: str
    amount_fen: int
    doc_no: str


@dataclass(frozen=True)
class ReturnHeader:
    """The header of a return file: what the bank says the rows add up to."""

    batch_no: str
    count: int
    total_fen: int
    debited_fen: int
    value_date: dt.date


@dataclass(frozen=True)
class ReturnLine:
    """One row of a return file."""

    line_no: int
    person_code: str
    name: str
    id_number: str
    amount_fen: int
    doc_no: str
    outcome: Outcome
    debited_fen: int
    reason: str


class BankFileError(ValueError):
    """A file that cannot be read as the layout says (the whole file is refused)."""


class UndecodableFileError(BankFileError):
    """Bytes that are not in the layout's encoding; ``line_no`` names the first such line."""

    def __init__(self, encoding: str, reason: str, line_no: int | None = None) -> None:
        where = f"第{line_no}行" if line_no else "回盘文件"
        super().__init__(f"{where}不是{encoding.upper()}编码（{reason}），整个文件未导入")
        self.encoding, self.reason, self.line_no = encoding, reason, line_no

    def at_line_of(self, path: Path) -> UndecodableFileError:
        """The same error naming the first line of ``path`` that does not decode."""
        with path.open("rb") as fh:
            for line_no, raw in enumerate(fh, start=1):
                try:
                    raw.decode(self.encoding)
                except UnicodeDecodeError:
                    return UndecodableFileError(self.encoding, self.reason, line_no)
        return self


class BankFileFormat(ABC):
    """A bank's layout: how batch files are written and return files read."""

    code: str
    encoding: str = "gb18030"

    @abstractmethod
    def batch_lines(self, header: BatchHeader, rows: Iterable[BatchLine]) -> Iterator[str]:
        """The lines (without line ends) of a batch file, header first."""

    @abstractmethod
    def read_return(self, lines: Iterator[str]) -> tuple[ReturnHeader, Iterator[ReturnLine]]:
        """The header and (lazily) the rows of a return file; ``BankFileError`` if unreadable."""

    def return_lines(self, header: ReturnHeader, rows: Iterable[ReturnLine]) -> Iterator[str]:
        """The lines of a return file (the bank's side: demo bank and tests)."""
        raise NotImplementedError(f"{self.code} 不能生成回盘文件")

    def read_return_file(self, fh: TextIO) -> tuple[ReturnHeader, Iterator[ReturnLine]]:
        """``read_return`` over an open text file in ``encoding``: bytes that are not in
        that encoding refuse the file (``BankFileError``) wherever they are met."""
        try:
            header, rows = self.read_return(fh)
        except UnicodeDecodeError as exc:
            raise self._undecodable(exc) from exc
        return header, self._decoded(rows)

    def _decoded(self, rows: Iterator[ReturnLine]) -> Iterator[ReturnLine]:
        try:
            yield from rows
        except UnicodeDecodeError as exc:
            raise self._undecodable(exc) from exc

    def _undecodable(self, exc: UnicodeDecodeError) -> BankFileError:
        return UndecodableFileError(self.encoding, exc.reason)


class PipeFormat(BankFileFormat):
    """The pipe layout of DOMAIN.md §7 with an ``H|…`` header line."""

    code = "pipe"
    OUTCOME_CODES: ClassVar[dict[str, Outcome]] = {
        "0000": Outcome.SUCCESS,
        "1001": Outcome.FAILED,
        "2001": Outcome.PARTIAL,
        "3001": Outcome.UNKNOWN,
        "4001": Outcome.CARRIED,
    }

    def batch_lines(self, header: BatchHeader, rows: Iterable[BatchLine]) -> Iterator[str]:
        """``H|批次号|类别|银行|县|笔数|金额|日期`` then one line per row."""
        yield "|".join(
            [
                "H",
                header.batch_no,
                header.kind,
                header.bank_code,
                header.county_code,
                str(header.count),
                fen_to_yuan(header.total_fen),
                f"{header.created_on:%Y%m%d}",
            ]
        )
        for r in rows:
            yield "|".join(
                [r.person_code, r.name, r.id_number, fen_to_yuan(r.amount_fen), r.doc_no]
            )

    def return_lines(self, header: ReturnHeader, rows: Iterable[ReturnLine]) -> Iterator[str]:
        """``H|批次号|笔数|金额|实扣金额|日期`` then each row with code, debited and reason."""
        codes = {v: k for k, v in self.OUTCOME_CODES.items()}
        yield "|".join(
            [
                "H",
                header.batch_no,
                str(header.count),
                fen_to_yuan(header.total_fen),
                fen_to_yuan(header.debited_fen),
                f"{header.value_date:%Y%m%d}",
            ]
        )
        for r in rows:
            yield "|".join(
                [
                    r.person_code,
                    r.name,
                    r.id_number,
                    fen_to_yuan(r.amount_fen),
                    r.doc_no,
                    codes[r.outcome],
                    fen_to_yuan(r.debited_fen),
                    r.reason,
                ]
            )

    def read_return(self, lines: Iterator[str]) -> tuple[ReturnHeader, Iterator[ReturnLine]]:
        """Parse the header now and the rows as they are consumed."""
        first = next(lines, None)
        if first is None:
            raise BankFileError("回盘文件为空")
        fields = first.rstrip("\r\n").split("|")
        if len(fields) != 6 or fields[0] != "H":
            raise BankFileError("第1行不是回盘文件头（H|批次号|笔数|金额|实扣金额|日期）")
        try:
            header = ReturnHeader(
                batch_no=fields[1],
                count=int(fields[2]),
                total_fen=yuan_to_fen(fields[3]),
                debited_fen=yuan_to_fen(fields[4]),
                value_date=dt.datetime.strptime(fields[5], "%Y%m%d").date(),
            )
        except (ValueError, ArithmeticError) as exc:
            raise BankFileError(f"文件头格式错误：{exc}") from exc
        return header, self._rows(lines)

    def _rows(self, lines: Iterator[str]) -> Iterator[ReturnLine]:
        for line_no, raw in enumerate(lines, start=2):
            line = raw.rstrip("\r\n")
            if not line:
                continue
            fields = line.split("|")
            if len(fields) != 8:
                raise BankFileError(f"第{line_no}行应有8个字段，实有{len(fields)}个")
            outcome = self.OUTCOME_CODES.get(fields[5])
            if outcome is None:
                raise BankFileError(f"第{line_no}行结果码{fields[5]}未知")
            try:
                amount, debited = yuan_to_fen(fields[3]), yuan_to_fen(fields[6])
            except (ValueError, ArithmeticError) as exc:
                raise BankFileError(f"第{line_no}行金额格式错误：{exc}") from exc
            yield ReturnLine(
                line_no=line_no,
                person_code=fields[0],
                name=fields[1],
                id_number=fields[2],
                amount_fen=amount,
                doc_no=fields[4],
                outcome=outcome,
                debited_fen=debited,
                reason=fields[7],
            )


FORMATS: dict[str, BankFileFormat] = {PipeFormat.code: PipeFormat()}


def get_format(code: str) -> BankFileFormat:
    """The layout registered under ``code``."""
    try:
        return FORMATS[code]
    except KeyError:
        raise BankFileError(f"未知的银行文件格式：{code}") from None
