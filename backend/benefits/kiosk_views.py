"""Self-service survival certification by a kiosk under ``/api/v1/benefits/kiosk``.

Only a registered, active kiosk may call these (its client certificate; in the insecure
development mode the ``X-XNB-Device`` header names it); no operator logs in. The rules
are in :mod:`backend.benefits.kiosk`.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, field_validator

from backend.benefits import kiosk
from backend.benefits.schemas import CertificationOut
from backend.benefits.survival_rules import FaceCheck, FaceOutcome
from backend.cards.schemas import AnswerIn, ChallengeIn, ChallengeOut
from backend.deps import AppSettings, ClientCertificate, DbSession, IdempotencyKey, RequestActor
from backend.errors import DomainError, PermissionDenied, invalid, problem_body
from backend.keys.deps import Vault
from backend.receipts import service as receipts
from national_codes.id_number import IdNumberError, parse_id_number
from receipts import mask_id_number

router = APIRouter(prefix="/kiosk", tags=["kiosk"])


def _kiosk(
    request: Request, session: DbSession, actor: RequestActor, identity: ClientCertificate
) -> kiosk.Kiosk:
    """The calling kiosk: its device certificate, or (development mode only) its header."""
    if identity is not None:
        if identity.kind != "device":
            raise PermissionDenied(
                detail="只有自助终端的设备证书可以办理自助资格认证",
                code="kiosk_required",
                audit_refusal=True,
            )
        name: str | None = identity.name
    else:
        name = request.headers.get("X-XNB-Device")
    return kiosk.kiosk_of(
        session=session, name=name, label=actor.device or "", address=actor.address
    )


CallingKiosk = Annotated[kiosk.Kiosk, Depends(_kiosk)]


class FaceCheckIn(BaseModel):
    """The kiosk's face comparison: the live face against the ID card photo."""

    outcome: FaceOutcome
    score: Annotated[int, Field(ge=0, le=100)]
    device: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$")]


class KioskCertificationIn(AnswerIn):
    """The card's answer to a kiosk challenge, the ID number read from the ID card, and the
    face comparison (``null`` from a kiosk without the device: refused where policy needs it)."""

    id_number: Annotated[str, Field(min_length=18, max_length=18)]
    face: FaceCheckIn | None = None

    @field_validator("id_number")
    @classmethod
    def _valid_id_number(cls, value: str) -> str:
        try:
            return parse_id_number(value).value
        except IdNumberError as exc:
            raise ValueError(str(exc)) from exc


class ReceiptOut(BaseModel):
    """The signed token and number for the kiosk's printed receipt."""

    receipt_number: str
    token: str


class KioskAnswerOut(BaseModel):
    """What the kiosk may show the resident: masked identity and the pension's dates."""

    name: str
    name_masked: str
    id_number_masked: str
    pension_status: str
    certified_until: dt.date | None
    certification: CertificationOut | None = None
    receipt: ReceiptOut | None = None
    replayed: bool = False


def _answer(outcome: kiosk.Outcome) -> KioskAnswerOut:
    person, pension = outcome.person, outcome.pension
    assert person is not None and pension is not None
    return KioskAnswerOut(
        name=person.name,
        name_masked=person.name[:1] + "*" * (len(person.name) - 1),
        id_number_masked=mask_id_number(person.id_number),
        pension_status=pension.status,
        certified_until=pension.certified_until,
        certification=(
            CertificationOut.model_validate(outcome.certification)
            if outcome.certification
            else None
        ),
        replayed=outcome.replayed,
    )


def _refused(request: Request, refusal: kiosk.Refusal) -> JSONResponse:
    # Returned, not raised: the spent challenge and the audit record must be committed.
    error = DomainError(
        detail=refusal.detail, code=refusal.code, status=refusal.status, title="自助认证未通过"
    )
    return JSONResponse(
        problem_body(error, instance=request.url.path),
        status_code=refusal.status,
        media_type="application/problem+json",
    )


@router.post(
    "/challenges",
    response_model=ChallengeOut,
    status_code=201,
    summary="自助终端：申请卡片内部认证挑战数",
)
def challenge(
    body: ChallengeIn, session: DbSession, calling: CallingKiosk, vault: Vault
) -> ChallengeOut:
    """A single-use challenge for the card in the kiosk's reader."""
    issued = kiosk.challenge(
        session=session,
        kiosk=calling,
        vault=vault,
        identification_code=body.identification_code.upper(),
    )
    return ChallengeOut(
        challenge_id=issued.id, challenge=issued.challenge, expires_at=issued.expires_at
    )


@router.post(
    "/authentications",
    response_model=KioskAnswerOut,
    summary="自助终端：社保卡在线认证（不认证资格）",
)
def authenticate(
    body: AnswerIn, session: DbSession, calling: CallingKiosk, vault: Vault, request: Request
) -> JSONResponse:
    """Genuine, usable, the holder a pensioner of the kiosk's region → 200; else a problem."""
    outcome = kiosk.authenticate(
        session=session,
        kiosk=calling,
        vault=vault,
        challenge_id=body.challenge_id,
        cryptogram=bytes.fromhex(body.cryptogram),
    )
    if outcome.refusal is not None:
        return _refused(request, outcome.refusal)
    return JSONResponse(_answer(outcome).model_dump(mode="json"))


@router.post(
    "/certifications",
    response_model=KioskAnswerOut,
    status_code=201,
    summary="自助终端：社保卡与身份证一致时办理领取资格认证",
)
def certify(
    body: KioskCertificationIn,
    session: DbSession,
    settings: AppSettings,
    calling: CallingKiosk,
    vault: Vault,
    key: IdempotencyKey,
    request: Request,
) -> JSONResponse:
    """Certify the holder when the card answered and the ID card is the holder's (201), with
    a signed receipt token; a retry with the same key and challenge returns the first answer."""
    if not key or len(key) > 128:
        raise invalid(
            "Idempotency-Key", "状态变更请求必须携带不超过128个字符的 Idempotency-Key", "required"
        )
    outcome = kiosk.certify(
        session=session,
        kiosk=calling,
        vault=vault,
        challenge_id=body.challenge_id,
        cryptogram=bytes.fromhex(body.cryptogram),
        id_number=body.id_number,
        face=(
            FaceCheck(outcome=body.face.outcome, score=body.face.score, device=body.face.device)
            if body.face
            else None
        ),
        idempotency_key=key,
        receipt_number=receipts.new_receipt_number(dt.datetime.now(dt.UTC)),
    )
    if outcome.refusal is not None:
        return _refused(request, outcome.refusal)
    assert outcome.certification is not None and outcome.receipt_number is not None
    # The certification's one receipt: a replay (or a counter asking later) gets the same.
    receipt, _ = receipts.issue(
        session=session,
        settings=settings,
        fact=receipts.certification_fact(
            session=session,
            certification=outcome.certification,
            receipt_number=outcome.receipt_number,
        ),
        actor=calling.actor,
        operator_id=None,
    )
    out = _answer(outcome)
    out.receipt = ReceiptOut(receipt_number=receipt.receipt_number, token=receipt.token)
    return JSONResponse(out.model_dump(mode="json"), status_code=201)
