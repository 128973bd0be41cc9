"""The card-issuance centre's production batches and the card factory's files.

Collect the scope's applications into a batch (each card → in production), export the
factory data file, and import the factory's return file, which gives each card its
card number, identification code and chip ATR (→ produced).

File layout (UTF-8, ``|``-separated, one record per line)::

    H|<batch number>|<region prefix>|<rows>|<created YYYYMMDD>
    D|<card id>|<social security number>|<name>|<gender>|<ethnicity>|<birth YYYYMMDD>|
      <birthplace>|<generation>|<bank code>|<region code>            (data file)
    D|<card id>|<card number>|<identification code hex>|<ATR hex>   (return file)
    T|<rows>|<SHA-256 hex of every line above, each ending in \\n>

A batch is a few thousand cards, so rows are handled one by one through the lifecycle.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.audit.service import record
from backend.cards.lifecycle import CardAction, CardState
from backend.cards.models import Card, CardBatch
from backend.cards.policy import policy_on
from backend.cards.service import lock, move
from backend.db import utcnow
from backend.errors import Conflict, FieldError, InvalidInput, NotFound, invalid
from backend.orgs.permissions import Permission, Scope
from backend.orgs.service import Principal
from backend.registry.models import Person
from card_services import application_for_atr
from card_services.errors import CardError

CARD_NUMBER: Final = re.compile(r"^[A-Z0-9]{9}$")
HEX_32: Final = re.compile(r"^[0-9A-F]{32}$")
ATR_HEX: Final = re.compile(r"^([0-9A-F]{2}){8,33}$")
BATCH_LIMIT: Final = 5000


def get_batch(*, session: Session, principal: Principal, batch_id: int) -> CardBatch:
    """One batch whose region lies in the operator's scope."""
    principal.require(Permission.CARD_PRODUCE)
    batch = session.get(CardBatch, batch_id)
    if batch is None or not principal.scope.contains_scope(Scope(batch.region_prefix)):
        raise NotFound(
            detail=f"制卡批次{batch_id}不存在",
            code="batch_not_found",
            audit_refusal=batch is not None,
        )
    return batch


def collect(
    *,
    session: Session,
    principal: Principal,
    region_prefix: str,
    limit: int = BATCH_LIMIT,
    today: dt.date | None = None,
) -> CardBatch:
    """Put the scope's oldest applications under ``region_prefix`` into a new batch."""
    principal.require(Permission.CARD_PRODUCE)
    # The prefix must name the operator's own subtree: a shorter one padded with zeros
    # (a township card centre asking for "6542261") would reach the neighbours' cards.
    if not principal.scope.contains_scope(Scope(region_prefix)):
        raise NotFound(detail=f"区划{region_prefix}不在本机构辖区内", code="region_not_found")
    today = today or dt.date.today()
    cards = list(
        session.scalars(
            select(Card)
            .where(
                Card.state == CardState.APPLIED.value,
                Card.region_code.startswith(region_prefix),
            )
            .order_by(Card.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    if not cards:
        raise Conflict(detail=f"{region_prefix}没有待制卡的申请", code="no_applications")
    batch = CardBatch(
        batch_number=f"pending-{utcnow().timestamp()}",
        region_prefix=region_prefix,
        state="collected",
        card_count=len(cards),
        created_by=principal.operator_id,
        created_at=utcnow(),
    )
    session.add(batch)
    session.flush()
    batch.batch_number = f"ZK{today:%Y%m%d}{batch.id:06d}"
    for card in cards:
        move(
            session=session,
            card=card,
            action=CardAction.START_PRODUCTION,
            actor=principal.actor,
            operator_id=principal.operator_id,
            today=today,
            detail={"batch": batch.batch_number},
        )
        card.batch_id = batch.id
    record(
        session=session,
        actor=principal.actor,
        action="card_batch.collect",
        object_type="card_batch",
        object_id=batch.id,
        detail={"batch_number": batch.batch_number, "cards": len(cards)},
    )
    session.flush()
    return batch


def _with_trailer(lines: list[str]) -> str:
    body = "".join(f"{line}\n" for line in lines)
    digest = hashlib.sha256(body.encode()).hexdigest()
    return body + f"T|{len(lines) - 1}|{digest}\n"


def factory_file(*, session: Session, batch: CardBatch) -> str:
    """The factory data file of a batch: the same bytes every time it is asked for."""
    rows = session.execute(
        select(Card, Person)
        .join(Person, Person.id == Card.person_id)
        .where(Card.batch_id == batch.id)
        .order_by(Card.id)
    ).all()
    lines = [f"H|{batch.batch_number}|{batch.region_prefix}|{len(rows)}|{batch.created_at:%Y%m%d}"]
    for card, person in rows:
        lines.append(
            "|".join(
                [
                    "D",
                    str(card.id),
                    card.social_security_number,
                    person.name,
                    person.gender,
                    person.ethnicity,
                    f"{person.birth_date:%Y%m%d}",
                    person.hukou_region_code[:6],
                    str(card.generation),
                    card.bank_code,
                    card.region_code,
                ]
            )
        )
    return _with_trailer(lines)


def export(*, session: Session, principal: Principal, batch_id: int) -> tuple[CardBatch, str]:
    """Mark the batch sent to the factory (once) and return its data file."""
    batch = get_batch(session=session, principal=principal, batch_id=batch_id)
    content = factory_file(session=session, batch=batch)
    if batch.state == "collected":
        batch.state = "exported"
        batch.exported_at = utcnow()
        batch.export_sha256 = hashlib.sha256(content.encode()).hexdigest()
        record(
            session=session,
            actor=principal.actor,
            action="card_batch.export",
            object_type="card_batch",
            object_id=batch.id,
            detail={"sha256": batch.export_sha256, "cards": batch.card_count},
        )
    return batch, content


@dataclass
class ReturnReport:
    """What one import of a return file did, row by row."""

    batch_number: str
    sha256: str
    rows: int = 0
    produced: int = 0
    already: int = 0
    rejects: list[dict[str, Any]] = field(default_factory=list)
    repeated: bool = False


def _parse(content: str) -> tuple[list[str], list[str]]:
    """Check the trailer's count and checksum; return the header and data lines."""
    lines = content.splitlines()
    if len(lines) < 2 or not lines[-1].startswith("T|") or not lines[0].startswith("H|"):
        raise invalid("content", "回盘文件须以H行开头、以T行结尾", "bad_layout")
    _, count, digest = [*lines[-1].split("|"), "", ""][:3]
    body = "".join(f"{line}\n" for line in lines[:-1])
    if hashlib.sha256(body.encode()).hexdigest() != digest.lower():
        raise invalid("content", "回盘文件校验和不符：文件不完整或被修改", "checksum_mismatch")
    if not count.isdigit() or int(count) != len(lines) - 2:
        raise invalid("content", f"回盘文件T行记录数{count}与实际行数{len(lines) - 2}不符", "count")
    return lines[0].split("|"), lines[1:-1]


def import_return(
    *,
    session: Session,
    principal: Principal,
    batch_id: int,
    content: str,
    accept_valid: bool = False,
    today: dt.date | None = None,
) -> ReturnReport:
    """Import the factory's return file: all rows or none, unless ``accept_valid``.

    The same file again changes nothing and answers the first report.
    """
    today = today or dt.date.today()
    batch = get_batch(session=session, principal=principal, batch_id=batch_id)
    sha256 = hashlib.sha256(content.encode()).hexdigest()
    if batch.return_sha256 == sha256 and batch.return_report:
        return ReturnReport(**(json.loads(batch.return_report) | {"repeated": True}))
    if batch.state == "collected":
        raise Conflict(detail="批次尚未发送卡厂，不能导入回盘", code="batch_not_exported")
    header, rows = _parse(content)
    if len(header) < 2 or header[1] != batch.batch_number:
        raise invalid(
            "content", f"回盘文件属于批次{header[1:2]}，不是{batch.batch_number}", "batch"
        )
    report = ReturnReport(batch_number=batch.batch_number, sha256=sha256, rows=len(rows))
    cards = {c.id: c for c in session.scalars(select(Card).where(Card.batch_id == batch.id))}
    seen_numbers: set[str] = set()
    seen_codes: set[str] = set()
    accepted: list[tuple[Card, str, str, str]] = []
    for line_no, line in enumerate(rows, start=2):
        problem, parsed = _check_row(session, cards, line, seen_numbers, seen_codes)
        if problem:
            report.rejects.append({"line": line_no, **problem})
        elif parsed is None:
            report.already += 1
        else:
            accepted.append(parsed)
    if report.rejects and not accept_valid:
        raise InvalidInput(
            detail=f"回盘文件有{len(report.rejects)}行错误，未导入任何数据",
            code="return_file_rejected",
            fields=[
                FieldError(f"line {r['line']}", r["message"], r["code"]) for r in report.rejects
            ],
            extra={"rejects": report.rejects},
        )
    validity = policy_on(today).card_validity_years
    for card, number, code, atr in accepted:
        lock(session=session, card=card)
        card.card_number, card.identification_code, card.atr = number, code, atr
        card.issue_date = today
        card.expiry_date = today.replace(year=today.year + validity)
        move(
            session=session,
            card=card,
            action=CardAction.PRODUCE,
            actor=principal.actor,
            operator_id=principal.operator_id,
            today=today,
            detail={"card_number": number},
        )
        report.produced += 1
    batch.state = "returned"
    batch.returned_at = utcnow()
    batch.return_sha256 = sha256
    batch.return_report = json.dumps(asdict(report), ensure_ascii=False)
    record(
        session=session,
        actor=principal.actor,
        action="card_batch.return_import",
        object_type="card_batch",
        object_id=batch.id,
        detail={
            "sha256": sha256,
            "produced": report.produced,
            "already": report.already,
            "rejected": len(report.rejects),
        },
    )
    session.flush()
    return report


def _reject(card_id: str, code: str, message: str) -> dict[str, Any]:
    return {"card_id": card_id, "code": code, "message": message}


def _check_row(
    session: Session,
    cards: dict[int, Card],
    line: str,
    seen_numbers: set[str],
    seen_codes: set[str],
) -> tuple[dict[str, Any] | None, tuple[Card, str, str, str] | None]:
    """A reject, or nothing (already imported with the same values), or the row to apply."""
    fields = line.split("|")
    if len(fields) != 5 or fields[0] != "D":
        return _reject("", "bad_row", "数据行应为 D|卡ID|卡号|卡识别码|ATR"), None
    _, card_id, number, code, atr = (f.strip().upper() for f in fields)
    card = cards.get(int(card_id)) if card_id.isdigit() else None
    if card is None:
        return _reject(card_id, "unknown_card", f"卡{card_id}不属于本批次"), None
    if not CARD_NUMBER.match(number):
        return _reject(card_id, "bad_card_number", f"卡号{number}应为9位字母或数字"), None
    if not HEX_32.match(code) or not code.startswith(card.county_code):
        return _reject(
            card_id, "bad_identification_code", "卡识别码应为32位十六进制，以发卡地区开头"
        ), None
    if not ATR_HEX.match(atr):
        return _reject(card_id, "bad_atr", "ATR应为十六进制"), None
    try:
        generation = application_for_atr(bytes.fromhex(atr)).generation
    except CardError:
        generation = None
    if generation != card.generation:
        return _reject(card_id, "wrong_chip", f"芯片ATR不是第{card.generation}代社保卡"), None
    if card.state != CardState.IN_PRODUCTION.value:
        if (card.card_number, card.identification_code, card.atr) == (number, code, atr):
            return None, None
        return _reject(card_id, "already_produced", f"卡{card_id}已按其他数据回盘"), None
    if number in seen_numbers or code in seen_codes:
        return _reject(card_id, "duplicate_in_file", "卡号或卡识别码在文件中重复"), None
    clash = session.scalar(
        select(Card.id).where(
            (Card.card_number == number) | (Card.identification_code == code), Card.id != card.id
        )
    )
    if clash is not None:
        return _reject(card_id, "duplicate", f"卡号或卡识别码已被卡{clash}使用"), None
    seen_numbers.add(number)
    seen_codes.add(code)
    return None, (card, number, code, atr)
