"""ISO 20022 ``pain.002.001.03`` (customer payment status report) as a pay-out return file.

A bank answering a pain.001 batch (``payroll.pain001``) may send its status report instead
of the pipe-layout return file. The report names the batch (``OrgnlMsgId``), its count and
control sum, and per payment the end-to-end id (the batch row's document number), the
status and the amount. ``ACSC``/``ACCC`` (settled) are paid, ``RJCT`` failed, any other
status (``PDNG``, ``ACTC``, ``ACCP``, ``ACSP``) is not final and stays open for a later
report. The report carries no ID numbers: rows are matched by document number and amount.

The file is read twice, streaming both times (constant memory): once for the totals the
import checks (the report states no amount paid, so it is the sum of the settled
payments), then for the rows.
"""

from __future__ import annotations

import datetime as dt
import io
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from typing import cast
from xml.sax.saxutils import escape

import defusedxml.ElementTree as defused
from defusedxml import DefusedXmlException

from backend.banks.formats import (
    BankFileError,
    BankFileFormat,
    BatchHeader,
    BatchLine,
    Outcome,
    ReturnHeader,
    ReturnLine,
)
from backend.policy.rules import fen_to_yuan, yuan_to_fen

NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:pain.002.001.03"
_NS = f"{{{NAMESPACE}}}"
_TX = f"{_NS}TxInfAndSts"
SETTLED = ("ACSC", "ACCC")
REJECTED = "RJCT"


def _outcome(status: str) -> Outcome:
    if status in SETTLED:
        return Outcome.SUCCESS
    if status == REJECTED:
        return Outcome.FAILED
    return Outcome.UNKNOWN


def _find(element: ET.Element, path: str) -> str:
    """The text at a slash-separated path of pain.002 element names ('' when absent)."""
    found = element.find("/".join(_NS + part for part in path.split("/")))
    return (found.text or "").strip() if found is not None else ""


def _elements(fh: io.TextIOBase) -> Iterator[ET.Element]:
    """Every completed element, streamed; a payment's element is dropped once read.

    A bank's file is outside input: it is parsed by ``defusedxml``, which refuses any
    document type declaration (so no entity expansion — "billion laughs" — and no
    external entity or DTD fetched from a file or the network) before it is expanded.
    """
    open_elements: list[ET.Element] = []
    events = defused.iterparse(fh, events=("start", "end"), forbid_dtd=True)
    try:
        for item in events:
            event, element = cast(tuple[str, ET.Element], item)  # start/end: elements
            if event == "start":
                open_elements.append(element)
                continue
            open_elements.pop()
            yield element
            if element.tag == _TX and open_elements:
                open_elements[-1].remove(element)
    except DefusedXmlException as exc:
        raise BankFileError(
            f"pain.002 文件含有文档类型声明或实体定义，拒绝读取（{type(exc).__name__}）"
        ) from exc
    except ET.ParseError as exc:
        raise BankFileError(f"pain.002 文件格式错误：{exc}") from exc


class Pain002Format(BankFileFormat):
    """The pain.002.001.03 status report, read as a return file of a pay-out batch."""

    code = "pain002"
    encoding = "utf-8"

    def batch_lines(self, header: BatchHeader, rows: Iterable[BatchLine]) -> Iterator[str]:
        """Not a batch layout: batches go out as pain.001 (``payroll.pain001``)."""
        raise BankFileError("pain.002 是状态报告，不能作为代发批次文件")

    def read_return(self, lines: Iterator[str]) -> tuple[ReturnHeader, Iterator[ReturnLine]]:
        """The header (first pass) and the rows (second pass) of an open, seekable file."""
        if not isinstance(lines, io.TextIOBase) or not lines.seekable():
            raise BankFileError("pain.002 状态报告须从文件读取")
        batch_no = created = ""
        count = total = -1
        settled = 0
        for element in _elements(lines):
            tag = element.tag.removeprefix(_NS)
            if tag == "GrpHdr":
                created = _find(element, "CreDtTm")
            elif tag == "OrgnlGrpInfAndSts":
                batch_no = _find(element, "OrgnlMsgId")
                try:
                    count = int(_find(element, "OrgnlNbOfTxs"))
                    total = yuan_to_fen(_find(element, "OrgnlCtrlSum"))
                except (ValueError, ArithmeticError) as exc:
                    raise BankFileError(f"pain.002 原批次笔数或金额格式错误：{exc}") from exc
            elif tag == "TxInfAndSts" and _outcome(_find(element, "TxSts")) is Outcome.SUCCESS:
                settled += self._amount(element)
        if not batch_no or count < 0 or not created:
            raise BankFileError("pain.002 缺少原批次号、笔数、金额或报告时间")
        try:
            value_date = dt.datetime.fromisoformat(created).date()
        except ValueError as exc:
            raise BankFileError(f"pain.002 报告时间格式错误：{created}") from exc
        lines.seek(0)
        header = ReturnHeader(batch_no, count, total, settled, value_date)
        return header, self._rows(lines)

    @staticmethod
    def _amount(element: ET.Element) -> int:
        try:
            return yuan_to_fen(_find(element, "OrgnlTxRef/Amt/InstdAmt"))
        except (ValueError, ArithmeticError) as exc:
            raise BankFileError(
                f"pain.002 {_find(element, 'OrgnlEndToEndId')} 金额格式错误：{exc}"
            ) from exc

    def _rows(self, fh: io.TextIOBase) -> Iterator[ReturnLine]:
        line_no = 1
        for element in _elements(fh):
            if element.tag != _TX:
                continue
            line_no += 1
            outcome = _outcome(_find(element, "TxSts"))
            amount = self._amount(element)
            reason = " ".join(
                part
                for part in (
                    _find(element, "StsRsnInf/Rsn/Cd"),
                    _find(element, "StsRsnInf/AddtlInf"),
                )
                if part
            )
            yield ReturnLine(
                line_no=line_no,
                person_code="",
                name=_find(element, "OrgnlTxRef/Cdtr/Nm"),
                id_number="",
                amount_fen=amount,
                doc_no=_find(element, "OrgnlEndToEndId"),
                outcome=outcome,
                debited_fen=amount if outcome is Outcome.SUCCESS else 0,
                reason=reason,
            )

    def return_lines(self, header: ReturnHeader, rows: Iterable[ReturnLine]) -> Iterator[str]:
        """The report as a bank writes it (demo bank and tests): one payment per line."""
        statuses = {Outcome.SUCCESS: "ACSC", Outcome.FAILED: REJECTED}
        yield '<?xml version="1.0" encoding="UTF-8"?>'
        yield f'<Document xmlns="{NAMESPACE}"><CstmrPmtStsRpt>'
        yield (
            f"<GrpHdr><MsgId>STS{escape(header.batch_no)}</MsgId>"
            f"<CreDtTm>{header.value_date:%Y-%m-%d}T09:00:00</CreDtTm></GrpHdr>"
            f"<OrgnlGrpInfAndSts><OrgnlMsgId>{escape(header.batch_no)}</OrgnlMsgId>"
            "<OrgnlMsgNmId>pain.001.001.03</OrgnlMsgNmId>"
            f"<OrgnlNbOfTxs>{header.count}</OrgnlNbOfTxs>"
            f"<OrgnlCtrlSum>{fen_to_yuan(header.total_fen)}</OrgnlCtrlSum>"
            "</OrgnlGrpInfAndSts>"
            f"<OrgnlPmtInfAndSts><OrgnlPmtInfId>{escape(header.batch_no)}</OrgnlPmtInfId>"
        )
        for r in rows:
            reason = (
                f"<StsRsnInf><Rsn><Cd>AC04</Cd></Rsn><AddtlInf>{escape(r.reason)}</AddtlInf>"
                "</StsRsnInf>"
                if r.outcome is Outcome.FAILED
                else ""
            )
            yield (
                f"<TxInfAndSts><OrgnlEndToEndId>{escape(r.doc_no)}</OrgnlEndToEndId>"
                f"<TxSts>{statuses.get(r.outcome, 'PDNG')}</TxSts>{reason}"
                f'<OrgnlTxRef><Amt><InstdAmt Ccy="CNY">{fen_to_yuan(r.amount_fen)}</InstdAmt>'
                f"</Amt><Cdtr><Nm>{escape(r.name)}</Nm></Cdtr></OrgnlTxRef></TxInfAndSts>"
            )
        yield "</OrgnlPmtInfAndSts></CstmrPmtStsRpt></Document>"
