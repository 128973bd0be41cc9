"""Survival certification at a self-service kiosk: the resident's card and ID card, no operator.

A kiosk is a registered device (``pki_devices.kind = 'kiosk'``) known by its client
certificate (mutual TLS; in the insecure development mode by ``X-XNB-Device``). It may do
one thing on its own: certify a pensioner alive, and only when, in the same request,

1. the card in the kiosk's reader answered a fresh, single-use challenge issued to a
   kiosk (purpose ``kiosk``) under the card's derived key — the card is genuine and is
   in the reader now;
2. the card may be used (not lost, cancelled, replaced, expired, holder not dead);
3. the ID number the kiosk's scanner read from the resident's ID card is the card
   holder's;
4. the holder has a pension in the kiosk's region that is not terminated;
5. the kiosk's face comparison device found the person in front of it alive and the same
   as the ID card photo — required when the policy in force says so
   (``kiosk_certification_requires_face``), and a comparison that was made must match
   whether required or not. The outcome, score and device are recorded on the
   certification, with the card and ID card as the documents seen.

Every answer is audited with the device, refusals included; the challenge is spent on
its first answer either way, so an answer cannot be replayed. A retry of the same
request with the same ``Idempotency-Key`` returns the first result, whatever challenge
it carries (found through the append-only audit record, keyed by a hash of the kiosk and
the key). Before certifying, the kiosk may ask the same checks without the ID card
(``authenticate``), to tell the resident early that the card is refused or that there is
no pension to certify.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.audit.models import AuditRecord
from backend.audit.service import Actor, record
from backend.benefits import survival
from backend.benefits.models import Pension, SurvivalCertification
from backend.benefits.service import PensionStatus
from backend.benefits.survival_rules import KIOSK_DOCUMENTS, FaceCheck, Method, kiosk_face_refusal
from backend.cards import authentication
from backend.cards.authentication import Refusal
from backend.cards.models import Card, CardChallenge
from backend.cards.service import UNUSABLE_LABELS, Unusable, why_unusable
from backend.errors import NotFound, PermissionDenied
from backend.keys.vault import KeyVault
from backend.orgs.permissions import Permission, Scope
from backend.pki.models import Device
from backend.policy import service as policy
from backend.registry.models import Person

PURPOSE: Final = "kiosk"
CERTIFY_ACTION: Final = "survival.kiosk_certify"
#: An enrolment suspended with the pension is no reason to refuse: certifying is how a
#: pensioner suspended for a lapsed certification resumes.
_ACCEPTED: Final = frozenset({Unusable.HOLDER_SUSPENDED})

NO_PENSION: Final = Refusal("pension_not_found", 404, "持卡人没有养老金待遇，无需资格认证")
TERMINATED: Final = Refusal("pension_terminated", 409, "待遇已终止，不能认证")
ID_MISMATCH: Final = Refusal("id_mismatch", 422, "身份证与社保卡不是同一人")
OUTSIDE: Final = Refusal("outside_region", 403, "此卡持卡人不在本终端服务的区域内")
FACE_REFUSALS: Final = {
    "face_required": Refusal("face_required", 422, "自助认证须进行人脸核验，本终端未提供"),
    "face_no_match": Refusal("face_no_match", 422, "人脸与身份证照片不是同一人"),
    "face_liveness_failed": Refusal("face_liveness_failed", 422, "未通过活体检测"),
}


@dataclass(frozen=True)
class Kiosk:
    """A registered, active kiosk acting on its own: its audit label, region and actor."""

    device_id: int
    label: str
    scope: Scope
    actor: Actor
    # The kiosk is no operator: certifications it records have no operator.
    operator_id: None = None

    def require(self, permission: Permission) -> None:
        """A kiosk may certify survival and nothing else."""
        if permission is not Permission.SURVIVAL_CERTIFY:
            raise PermissionDenied(detail="自助终端不能办理此业务", code="kiosk_not_allowed")


def kiosk_of(*, session: Session, name: str | None, label: str, address: str | None) -> Kiosk:
    """The active kiosk called ``name``, or 403 ``kiosk_required`` (audited)."""
    device = session.scalar(select(Device).where(Device.name == name)) if name else None
    if device is None or not device.is_active or device.kind != "kiosk":
        raise PermissionDenied(
            detail="只有已登记并启用的自助终端可以办理自助资格认证",
            code="kiosk_required",
            audit_refusal=True,
        )
    return Kiosk(
        device_id=device.id,
        label=label,
        scope=Scope.of_region(device.region_code),
        actor=Actor(device=label, address=address),
    )


def challenge(
    *,
    session: Session,
    kiosk: Kiosk,
    vault: KeyVault,
    identification_code: str,
    today: dt.date | None = None,
) -> CardChallenge:
    """A single-use challenge for the card in the kiosk's reader (kiosk purpose only)."""
    card = session.scalar(select(Card).where(Card.identification_code == identification_code))
    if card is None:
        raise NotFound(detail="此卡识别码不是本省签发的社保卡", code="card_unknown")
    return authentication.new_challenge(
        session=session,
        vault=vault,
        card=card,
        purpose=PURPOSE,
        operator_id=None,
        today=today or dt.date.today(),
    )


@dataclass(frozen=True)
class Outcome:
    """What the kiosk learns: a refusal, or the holder and the pension (and certification)."""

    refusal: Refusal | None
    person: Person | None = None
    pension: Pension | None = None
    certification: SurvivalCertification | None = None
    receipt_number: str | None = None
    replayed: bool = False


def _check_card(
    session: Session,
    kiosk: Kiosk,
    vault: KeyVault,
    challenge_id: str,
    cryptogram: bytes,
    today: dt.date,
) -> tuple[Refusal | None, Card | None, Person | None, Pension | None]:
    """Spend the challenge and check the card, its holder and the pension."""
    spent, refusal = authentication.spend_challenge(
        session=session, challenge_id=challenge_id, purpose=PURPOSE
    )
    card = session.get(Card, spent.card_id) if spent else None
    if refusal is None and card is not None:
        if card.key_version is None:
            refusal = authentication.CARD_NOT_PERSONALISED
        elif not vault.verify_internal_authenticate(
            generation=card.generation,
            key_version=card.key_version,
            identification_code=bytes.fromhex(card.identification_code or ""),
            challenge=bytes.fromhex(spent.challenge if spent else ""),
            cryptogram=cryptogram,
        ):
            refusal = authentication.CARD_NOT_GENUINE
    if refusal is None and card is not None:
        unusable = why_unusable(session=session, card=card, today=today)
        if unusable is not None and unusable not in _ACCEPTED:
            refusal = Refusal(unusable.value, 409, UNUSABLE_LABELS[unusable])
    if refusal is not None or card is None:
        return refusal, card, None, None
    if not kiosk.scope.covers(card.region_code):
        return OUTSIDE, card, None, None
    person = session.get(Person, card.person_id)
    pension = session.scalar(select(Pension).where(Pension.person_id == card.person_id))
    if person is None or pension is None:
        return NO_PENSION, card, person, None
    if pension.status == PensionStatus.TERMINATED:
        return TERMINATED, card, person, pension
    return None, card, person, pension


def authenticate(
    *,
    session: Session,
    kiosk: Kiosk,
    vault: KeyVault,
    challenge_id: str,
    cryptogram: bytes,
    today: dt.date | None = None,
) -> Outcome:
    """Is the card genuine, usable and its holder a pensioner here? Nothing is certified."""
    refusal, card, person, pension = _check_card(
        session, kiosk, vault, challenge_id, cryptogram, today or dt.date.today()
    )
    record(
        session=session,
        actor=kiosk.actor,
        action="card.authenticate",
        object_type="card",
        object_id=card.id if card else None,
        result="ok" if refusal is None else "denied",
        detail={"challenge_id": challenge_id, "code": refusal.code if refusal else "ok"},
    )
    return Outcome(refusal=refusal, person=person, pension=pension)


def _request_id(kiosk: Kiosk, idempotency_key: str) -> str:
    """The audit object id of one kiosk request: its key, bound to the kiosk."""
    return hashlib.sha256(f"{kiosk.label}\n{idempotency_key}".encode()).hexdigest()


def _first_answer(session: Session, kiosk: Kiosk, request_id: str) -> Outcome | None:
    """The certification this kiosk already made under this key, if any."""
    entry = session.scalar(
        select(AuditRecord).where(
            AuditRecord.action == CERTIFY_ACTION,
            AuditRecord.object_type == "kiosk_request",
            AuditRecord.object_id == request_id,
            AuditRecord.result == "ok",
            AuditRecord.device == kiosk.label,
        )
    )
    if entry is None:
        return None
    detail = json.loads(entry.detail)
    certification = session.get(SurvivalCertification, detail["certification_id"])
    pension = session.get(Pension, certification.pension_id) if certification else None
    person = session.get(Person, pension.person_id) if pension else None
    return Outcome(
        refusal=None,
        person=person,
        pension=pension,
        certification=certification,
        receipt_number=detail.get("receipt_number"),
        replayed=True,
    )


def certify(
    *,
    session: Session,
    kiosk: Kiosk,
    vault: KeyVault,
    challenge_id: str,
    cryptogram: bytes,
    id_number: str,
    face: FaceCheck | None,
    idempotency_key: str,
    receipt_number: str,
    today: dt.date | None = None,
) -> Outcome:
    """Certify the card holder alive when the card, the ID card and (by policy) the face
    agree (module docstring)."""
    today = today or dt.date.today()
    request_id = _request_id(kiosk, idempotency_key)
    first = _first_answer(session, kiosk, request_id)
    if first is not None:
        return first
    refusal, card, person, pension = _check_card(
        session, kiosk, vault, challenge_id, cryptogram, today
    )
    if refusal is None and person is not None and person.id_number != id_number.upper():
        refusal = ID_MISMATCH
    if refusal is None and pension is not None:
        rules = policy.rules_on(session=session, region_code=pension.region_code, on=today).rules
        face_code = kiosk_face_refusal(required=rules.kiosk_certification_requires_face, face=face)
        refusal = FACE_REFUSALS[face_code] if face_code else None
    certification = None
    if refusal is None and person is not None:
        # The counter's rules apply unchanged (lock, terminated, resumption, audit record
        # with the kiosk as device); the kiosk stands in for the operator with the one
        # permission it has and no operator id.
        certification = survival.certify(
            session=session,
            principal=kiosk,
            person_id=person.id,
            method=Method.KIOSK,
            certified_on=today,
            device=kiosk.label,
            documents=KIOSK_DOCUMENTS,
            face=face,
        )
    record(
        session=session,
        actor=kiosk.actor,
        action=CERTIFY_ACTION,
        object_type="kiosk_request",
        object_id=request_id,
        result="ok" if refusal is None else "denied",
        detail={
            "code": refusal.code if refusal else "ok",
            "challenge_id": challenge_id,
            "card_id": card.id if card else None,
            "face": face.outcome.value if face else None,
            "face_device": face.device if face else None,
            "certification_id": certification.id if certification else None,
            "receipt_number": receipt_number if certification else None,
        },
    )
    return Outcome(
        refusal=refusal,
        person=person,
        pension=pension,
        certification=certification,
        receipt_number=receipt_number if certification else None,
    )
