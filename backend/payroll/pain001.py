"""ISO 20022 ``pain.001.001.03`` (customer credit transfer initiation), written as a stream.

One message per bank batch: the group header carries the message id, the number of
transactions and the control sum (yuan), one payment information block names the fund's
expenditure account as debtor, and each payment is one ``CdtTrfTxInf`` whose end-to-end
id is the batch row's document number, so the bank's status report maps back to it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from xml.sax.saxutils import escape

from backend.policy.rules import fen_to_yuan

NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"


@dataclass(frozen=True)
class Debtor:
    """The paying fund account and its bank."""

    name: str
    account: str
    bank_code: str


@dataclass(frozen=True)
class Transfer:
    """One credit transfer to a pensioner."""

    end_to_end_id: str
    amount_fen: int
    creditor_name: str
    creditor_account: str
    remittance: str


def _text(value: str, limit: int) -> str:
    return escape(value[:limit])


def document(
    *,
    message_id: str,
    created_at: dt.datetime,
    count: int,
    total_fen: int,
    execution_date: dt.date,
    debtor: Debtor,
    transfers: Iterable[Transfer],
) -> Iterator[str]:
    """The message as text pieces; ``count`` and ``total_fen`` must match ``transfers``."""
    total = fen_to_yuan(total_fen)
    yield '<?xml version="1.0" encoding="UTF-8"?>\n'
    yield f'<Document xmlns="{NAMESPACE}"><CstmrCdtTrfInitn>'
    yield (
        f"<GrpHdr><MsgId>{_text(message_id, 35)}</MsgId>"
        f"<CreDtTm>{created_at.astimezone(dt.UTC):%Y-%m-%dT%H:%M:%S}</CreDtTm>"
        f"<NbOfTxs>{count}</NbOfTxs><CtrlSum>{total}</CtrlSum>"
        f"<InitgPty><Nm>{_text(debtor.name, 140)}</Nm></InitgPty></GrpHdr>"
    )
    yield (
        f"<PmtInf><PmtInfId>{_text(message_id, 35)}</PmtInfId><PmtMtd>TRF</PmtMtd>"
        f"<NbOfTxs>{count}</NbOfTxs><CtrlSum>{total}</CtrlSum>"
        f"<ReqdExctnDt>{execution_date:%Y-%m-%d}</ReqdExctnDt>"
        f"<Dbtr><Nm>{_text(debtor.name, 140)}</Nm></Dbtr>"
        f"<DbtrAcct><Id><Othr><Id>{_text(debtor.account, 34)}</Id></Othr></Id>"
        "<Ccy>CNY</Ccy></DbtrAcct>"
        f"<DbtrAgt><FinInstnId><Othr><Id>{_text(debtor.bank_code, 35)}</Id></Othr>"
        "</FinInstnId></DbtrAgt><ChrgBr>SLEV</ChrgBr>"
    )
    for t in transfers:
        yield (
            f"<CdtTrfTxInf><PmtId><EndToEndId>{_text(t.end_to_end_id, 35)}</EndToEndId></PmtId>"
            f'<Amt><InstdAmt Ccy="CNY">{fen_to_yuan(t.amount_fen)}</InstdAmt></Amt>'
            f"<Cdtr><Nm>{_text(t.creditor_name, 140)}</Nm></Cdtr>"
            f"<CdtrAcct><Id><Othr><Id>{_text(t.creditor_account, 34)}</Id></Othr></Id></CdtrAcct>"
            f"<RmtInf><Ustrd>{_text(t.remittance, 140)}</Ustrd></RmtInf></CdtTrfTxInf>\n"
        )
    yield "</PmtInf></CstmrCdtTrfInitn></Document>\n"
