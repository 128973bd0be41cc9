"""Receipt signing keys, signing and verification, and receipts of business facts.

``issue_for_fact`` is what ``POST /receipts`` does: the operator names a fact — a counter
collection, a survival certification, a card event, a year's pension statement, a year's
account statement, the contribution certificate of a person or the office's signed day
close (日结单) — and the
receipt's person and amount are taken from the fact itself, after the operator's scope
and permission for that business are checked. One fact has one receipt
(``issued_receipts`` unique on kind and fact): asking again returns the same token.

Keys are P-256, one file per key id in ``receipt_key_dir`` (``<kid>.key.pem``,
PKCS#8 encrypted under ``receipt_key_passphrase``), kept by the CA's
:class:`~backend.pki.keystore.FileKeyStore`. New receipts are signed with
``receipt_key_id``; every key in the directory stays valid for verification, so a
key can be rotated while receipts already in residents' hands keep verifying. The
signing key is created on first use when missing.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.accounts.models import Account, AccountEntry
from backend.audit.service import Actor, record
from backend.benefits import service as benefits
from backend.benefits.models import Pension, SurvivalCertification
from backend.cards import service as cards
from backend.cards.lifecycle import CardAction
from backend.cards.models import CardEvent
from backend.config import Settings
from backend.contributions import day_close
from backend.contributions import service as contributions
from backend.contributions.models import Assessment
from backend.errors import Conflict, NotFound, invalid
from backend.orgs.permissions import Permission
from backend.orgs.service import Principal
from backend.payroll.models import PayrollLine
from backend.pki.keystore import FileKeyStore
from backend.receipts.models import IssuedReceipt
from backend.registry.models import Person
from backend.registry.service import get_person
from receipts import (
    EcdsaReceiptSigner,
    KeyRingVerifier,
    ReceiptClaims,
    ReceiptKind,
    mask_id_number,
)

log = logging.getLogger(__name__)
_KEY_SUFFIX = ".key.pem"


def _store(settings: Settings) -> FileKeyStore:
    return FileKeyStore(
        settings.receipt_key_dir, settings.receipt_key_passphrase.get_secret_value()
    )


def _ec_key(key: object, key_id: str) -> ec.EllipticCurvePrivateKey:
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise Conflict(detail=f"收据签名密钥 {key_id} 不是 P-256 密钥", code="receipt_key_invalid")
    return key


def signer(settings: Settings) -> EcdsaReceiptSigner:
    """The signer of new receipts (its key created on first use)."""
    key_id = settings.receipt_key_id
    store = _store(settings)
    if not (settings.receipt_key_dir / f"{key_id}{_KEY_SUFFIX}").exists():
        log.warning("creating receipt signing key %s in %s", key_id, settings.receipt_key_dir)
        try:
            store.generate(label=key_id, algorithm="ec-p256")
        except Conflict as exc:  # a concurrent request created it first: use that one
            if exc.code != "ca_key_exists":
                raise
    return EcdsaReceiptSigner(
        key_id=key_id, private_key=_ec_key(store.signing_key(label=key_id), key_id)
    )


def verifier(settings: Settings) -> KeyRingVerifier:
    """A verifier holding the public half of every receipt key in the directory."""
    store = _store(settings)
    public_keys = {}
    for path in sorted(settings.receipt_key_dir.glob(f"*{_KEY_SUFFIX}")):
        key_id = path.name.removesuffix(_KEY_SUFFIX)
        public_keys[key_id] = _ec_key(store.signing_key(label=key_id), key_id).public_key()
    return KeyRingVerifier(public_keys)


def verify_token(*, settings: Settings, token: str) -> ReceiptClaims:
    """The claims of a genuine token; ``ReceiptTokenError`` (with its code) otherwise."""
    return verifier(settings).verify(token)


def new_receipt_number(now: dt.datetime) -> str:
    """A receipt number for the barcode: ``R`` + the Beijing date + 8 random hex digits."""
    beijing = now.astimezone(dt.timezone(dt.timedelta(hours=8)))
    return f"R{beijing:%Y%m%d}{secrets.token_hex(4).upper()}"


def sign_receipt(
    *,
    settings: Settings,
    kind: ReceiptKind,
    id_number: str | None,
    amount_fen: int | None,
    receipt_number: str | None,
    now: dt.datetime | None = None,
    holder: str | None = None,
) -> tuple[str, ReceiptClaims]:
    """Sign the claims of one receipt (for a person by ``id_number``, else for ``holder``,
    e.g. an office); return the token and what it vouches for."""
    issued_at = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0)
    receipt_signer = signer(settings)
    claims = ReceiptClaims(
        receipt_number=receipt_number or new_receipt_number(issued_at),
        kind=kind,
        amount_fen=amount_fen,
        person=mask_id_number(id_number) if id_number else holder or "",
        issued_at=issued_at,
        key_id=receipt_signer.key_id,
    )
    return receipt_signer.sign(claims), claims


# The card events a receipt may be printed for, by receipt kind.
_CARD_EVENTS = {
    ReceiptKind.CARD_ISSUED: frozenset({CardAction.ISSUE.value}),
    ReceiptKind.CARD_LOSS: frozenset(
        {CardAction.REPORT_LOSS.value, CardAction.REPORT_TEMPORARY_LOSS.value}
    ),
}


@dataclass(frozen=True)
class Fact:
    """What a receipt may vouch for, read from the business record itself."""

    kind: ReceiptKind
    key: str
    person: Person | None  # none for a day close, which is the office's
    county_code: str
    amount_fen: int | None
    receipt_number: str | None  # the business's own number (a collection's 收据号)
    holder: str | None = None  # who it is for when no person: the office's code


def _missing(kind: ReceiptKind, fact_id: int) -> NotFound:
    return NotFound(detail=f"没有可出具收据的业务记录{fact_id}", code="fact_not_found")


def _person(session: Session, person_id: int) -> Person:
    person = session.get(Person, person_id)
    assert person is not None  # foreign key
    return person


def find_fact(
    *, session: Session, principal: Principal, kind: ReceiptKind, fact_id: int, year: int | None
) -> Fact:
    """The fact a receipt is asked for, in the operator's scope, by a role that does that
    business; ``NotFound`` for a missing or out-of-scope fact, ``PermissionDenied`` else."""
    if kind is ReceiptKind.CONTRIBUTION:
        principal.require(Permission.CONTRIBUTION_COLLECT)
        collection = contributions.get_collection(
            session=session, principal=principal, collection_id=fact_id
        )
        if collection.amount_fen <= 0 or collection.reverses_id is not None:
            raise Conflict(detail="冲正记录不出具缴费收据", code="fact_not_receiptable")
        if contributions.is_reversed(session=session, collection_id=collection.id):
            raise Conflict(detail=f"收款{collection.receipt_no}已冲正", code="already_reversed")
        assessment = session.get(Assessment, collection.assessment_id)
        assert assessment is not None  # foreign key
        return Fact(
            kind=kind,
            key=str(collection.id),
            person=_person(session, assessment.person_id),
            county_code=collection.county_code,
            amount_fen=collection.amount_fen,
            receipt_number=collection.receipt_no,
        )
    if kind is ReceiptKind.SURVIVAL:
        principal.require(Permission.SURVIVAL_CERTIFY)
        certification = session.get(SurvivalCertification, fact_id)
        if certification is None:
            raise _missing(kind, fact_id)
        pension = session.get(Pension, certification.pension_id)
        assert pension is not None  # foreign key
        benefits.get_pension(session=session, principal=principal, person_id=pension.person_id)
        return certification_fact(session=session, certification=certification)
    if kind in _CARD_EVENTS:
        principal.require(Permission.CARD_COUNTER)
        event = session.get(CardEvent, fact_id)
        if event is None or event.action not in _CARD_EVENTS[kind]:
            raise _missing(kind, fact_id)
        card = cards.get_card(session=session, principal=principal, card_id=event.card_id)
        return Fact(
            kind=kind,
            key=str(event.id),
            person=_person(session, card.person_id),
            county_code=card.county_code,
            amount_fen=None,
            receipt_number=None,
        )
    if kind is ReceiptKind.DAY_CLOSE:
        return _day_close_fact(session=session, principal=principal, day_close_id=fact_id)
    if kind in (ReceiptKind.ACCOUNT_STATEMENT, ReceiptKind.CONTRIBUTION_CERTIFICATE):
        return _account_fact(
            session=session, principal=principal, kind=kind, person_id=fact_id, year=year
        )
    # A year's pension statement: the pension (by its id) and the money paid in the year.
    principal.require(Permission.BENEFIT_READ)
    if year is None:
        raise invalid("year", "养老金对账单须指明年度", "required")
    found = session.get(Pension, fact_id)
    if found is None:
        raise _missing(kind, fact_id)
    pension = benefits.get_pension(session=session, principal=principal, person_id=found.person_id)
    paid = session.scalar(
        select(func.sum(PayrollLine.basic_fen + PayrollLine.account_fen)).where(
            PayrollLine.pension_id == pension.id,
            PayrollLine.state == "paid",
            PayrollLine.month >= dt.date(year, 1, 1),
            PayrollLine.month < dt.date(year + 1, 1, 1),
        )
    )
    if paid is None:
        raise NotFound(detail=f"{year}年没有已发放的养老金", code="fact_not_found")
    return Fact(
        kind=kind,
        key=f"{pension.id}/{year}",
        person=_person(session, pension.person_id),
        county_code=pension.county_code,
        amount_fen=int(paid),
        receipt_number=None,
    )


def _account_fact(
    *, session: Session, principal: Principal, kind: ReceiptKind, person_id: int, year: int | None
) -> Fact:
    """A person's account document: a year's statement (个人账户对账单, to the year's end) or
    the contribution certificate (缴费证明, to date). The fact is the account as of its
    newest entry, so a reprint of an unchanged document keeps its receipt number and a
    document printed after new entries is a new receipt; the amount is the balance shown."""
    principal.require(Permission.CONTRIBUTION_READ)
    if kind is ReceiptKind.ACCOUNT_STATEMENT and year is None:
        raise invalid("year", "个人账户对账单须指明年度", "required")
    person = get_person(session=session, principal=principal, person_id=person_id)
    return account_fact(session=session, person=person, kind=kind, year=year)


def account_fact(*, session: Session, person: Person, kind: ReceiptKind, year: int | None) -> Fact:
    """The account document's fact for a person already found (by an operator in scope, or
    the resident signed in to the 12333 web query)."""
    account = session.scalar(select(Account).where(Account.person_id == person.id))
    if account is None:
        raise NotFound(detail=f"{person.name}尚无个人账户", code="account_not_found")
    entries = select(func.max(AccountEntry.id), func.sum(AccountEntry.amount_fen)).where(
        AccountEntry.account_id == account.id
    )
    if year is not None and kind is ReceiptKind.ACCOUNT_STATEMENT:
        entries = entries.where(AccountEntry.entry_date < dt.date(year + 1, 1, 1))
    last_entry, balance = session.execute(entries).one()
    scope = f"{year}/" if kind is ReceiptKind.ACCOUNT_STATEMENT else ""
    return Fact(
        kind=kind,
        key=f"{person.id}/{scope}{last_entry or 0}",
        person=person,
        county_code=account.county_code,
        amount_fen=max(int(balance or 0), 0),
        receipt_number=None,
    )


def _day_close_fact(*, session: Session, principal: Principal, day_close_id: int) -> Fact:
    """An office's signed day (日结单): only a day the reviewer signed off, only of the
    operator's own office; the amount is the cash to deposit as signed."""
    close, office = day_close.signed_day(
        session=session, principal=principal, day_close_id=day_close_id
    )
    return Fact(
        kind=ReceiptKind.DAY_CLOSE,
        key=str(close.id),
        person=None,
        county_code=office.region_code[:6],
        amount_fen=close.deposit_fen,
        receipt_number=None,
        holder=office.code,
    )


def certification_fact(
    *, session: Session, certification: SurvivalCertification, receipt_number: str | None = None
) -> Fact:
    """The fact of a survival certification (its caller already checked, e.g. the kiosk that
    made it), under ``receipt_number`` if the business gave one."""
    pension = session.get(Pension, certification.pension_id)
    assert pension is not None  # foreign key
    return Fact(
        kind=ReceiptKind.SURVIVAL,
        key=str(certification.id),
        person=_person(session, pension.person_id),
        county_code=certification.county_code,
        amount_fen=None,
        receipt_number=receipt_number,
    )


def _issued(session: Session, kind: ReceiptKind, key: str) -> IssuedReceipt | None:
    return session.scalar(
        select(IssuedReceipt).where(IssuedReceipt.kind == kind.value, IssuedReceipt.fact == key)
    )


def issue_for_fact(
    *,
    session: Session,
    settings: Settings,
    principal: Principal,
    kind: ReceiptKind,
    fact_id: int,
    year: int | None = None,
) -> tuple[IssuedReceipt, bool]:
    """The receipt of a fact the operator names, signed on first request; (receipt, new)."""
    fact = find_fact(session=session, principal=principal, kind=kind, fact_id=fact_id, year=year)
    return issue(
        session=session,
        settings=settings,
        fact=fact,
        actor=principal.actor,
        operator_id=principal.operator_id,
    )


def issue(
    *, session: Session, settings: Settings, fact: Fact, actor: Actor, operator_id: int | None
) -> tuple[IssuedReceipt, bool]:
    """The receipt of a fact: signed and recorded the first time, the same one after that
    (also when two requests race: the unique index decides); (receipt, whether it is new)."""
    kind = fact.kind
    existing = _issued(session, kind, fact.key)
    if existing is None:
        token, claims = sign_receipt(
            settings=settings,
            kind=kind,
            id_number=fact.person.id_number if fact.person else None,
            amount_fen=fact.amount_fen,
            receipt_number=fact.receipt_number,
            holder=fact.holder,
        )
        receipt = IssuedReceipt(
            kind=kind.value,
            fact=fact.key,
            receipt_number=claims.receipt_number,
            person_id=fact.person.id if fact.person else None,
            county_code=fact.county_code,
            amount_fen=fact.amount_fen,
            token=token,
            operator_id=operator_id,
            issued_at=claims.issued_at,
        )
        try:
            with session.begin_nested():
                session.add(receipt)
        except IntegrityError:
            # Another request signed this fact first: theirs is the receipt.
            existing = _issued(session, kind, fact.key)
            if existing is None:
                raise
        else:
            record(
                session=session,
                actor=actor,
                action="receipt.signed",
                object_type="receipt",
                object_id=receipt.receipt_number,
                detail={"kind": kind.value, "fact": fact.key, "amount_fen": fact.amount_fen},
            )
            return receipt, True
    record(
        session=session,
        actor=actor,
        action="receipt.reissued",
        object_type="receipt",
        object_id=existing.receipt_number,
        detail={"kind": kind.value, "fact": fact.key},
    )
    return existing, False
