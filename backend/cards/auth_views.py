"""Online card authentication, protected-command cryptograms and personalisation under
``/api/v1/cards``. The key vault answers; no key leaves it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from backend.audit.reads import record_person_read
from backend.cards import authentication, personalisation
from backend.cards.schemas import (
    AnswerIn,
    AuthenticationOut,
    CardChallengeIn,
    CardOut,
    ChallengeIn,
    ChallengeOut,
    CodedChallengeIn,
    CommandOut,
    CryptogramOut,
    HolderOut,
    PersonalisationResultIn,
    PersonalisationResultOut,
    PinResetIn,
    PinResetResultIn,
    ScriptIn,
    ScriptOut,
)
from backend.deps import DbSession, IdempotencyKey, Requires
from backend.errors import DomainError, problem_body
from backend.idempotency import respond_once
from backend.keys.deps import Vault
from backend.orgs.permissions import Permission
from backend.orgs.service import Principal

router = APIRouter(tags=["card authentication"])

Authenticator = Annotated[Principal, Depends(Requires(Permission.CARD_AUTHENTICATE))]
CardCounter = Annotated[Principal, Depends(Requires(Permission.CARD_COUNTER))]
CardCentre = Annotated[Principal, Depends(Requires(Permission.CARD_PRODUCE))]


@router.post(
    "/cards/authentications/challenges",
    response_model=ChallengeOut,
    status_code=201,
    summary="申请卡片内部认证挑战数（一次性、短时有效）",
)
def challenge(
    body: ChallengeIn, session: DbSession, principal: Authenticator, vault: Vault
) -> ChallengeOut:
    """A single-use challenge for the card whose identification code the terminal read."""
    issued = authentication.issue_challenge(
        session=session,
        principal=principal,
        vault=vault,
        identification_code=body.identification_code,
    )
    return ChallengeOut(
        challenge_id=issued.id, challenge=issued.challenge, expires_at=issued.expires_at
    )


@router.post(
    "/cards/authentications",
    response_model=AuthenticationOut,
    summary="校验卡片的内部认证应答",
    responses={
        404: {"description": "challenge_unknown"},
        409: {
            "description": "challenge_used / challenge_expired / card_lost / card_replaced / "
            "card_cancelled / card_expired / card_not_active / holder_*"
        },
        422: {"description": "card_not_genuine（克隆卡或密钥错误）"},
    },
)
def authenticate(
    body: AnswerIn, session: DbSession, principal: Authenticator, vault: Vault, request: Request
) -> JSONResponse:
    """Genuine and usable → 200; otherwise a problem with its own code. Either way the
    challenge is spent and the attempt audited (so a replayed answer is refused)."""
    outcome = authentication.verify_answer(
        session=session,
        principal=principal,
        vault=vault,
        challenge_id=body.challenge_id,
        cryptogram=bytes.fromhex(body.cryptogram),
    )
    card = CardOut.model_validate(outcome.card).model_dump(mode="json") if outcome.card else None
    if outcome.refusal is not None:
        refusal = outcome.refusal
        error = DomainError(
            detail=refusal.detail,
            code=refusal.code,
            status=refusal.status,
            title="卡片认证未通过",
            extra={"authentic": outcome.authentic, "card_state": card and card["state"]},
        )
        return JSONResponse(
            problem_body(error, instance=request.url.path),
            status_code=refusal.status,
            media_type="application/problem+json",
        )
    assert outcome.card is not None
    if outcome.holder is not None:  # the card looked its holder up: one read of that person
        record_person_read(
            session=session,
            actor=principal.actor,
            person_id=outcome.card.person_id,
            via="card",
            detail={"card_id": outcome.card.id},
        )
    out = AuthenticationOut(
        authentic=True,
        may_use=True,
        card=CardOut.model_validate(outcome.card),
        holder=HolderOut.model_validate(outcome.holder) if outcome.holder else None,
    )
    return JSONResponse(out.model_dump(mode="json"))


@router.post(
    "/cards/{card_id}/external-authenticate",
    response_model=CryptogramOut,
    summary="计算外部认证密文（受保护的读写）",
)
def external_authenticate(
    card_id: int, body: CardChallengeIn, session: DbSession, principal: Authenticator, vault: Vault
) -> CryptogramOut:
    """The vault encrypts the card's challenge under the card's read key."""
    cryptogram = authentication.external_authenticate(
        session=session,
        principal=principal,
        vault=vault,
        card_id=card_id,
        challenge=bytes.fromhex(body.challenge),
    )
    return CryptogramOut(cryptogram=cryptogram.hex().upper())


@router.post(
    "/cards/external-authentications",
    response_model=CryptogramOut,
    summary="按卡片识别码计算外部认证密文（终端读取受保护信息）",
)
def external_authenticate_by_code(
    body: CodedChallengeIn, session: DbSession, principal: Authenticator, vault: Vault
) -> CryptogramOut:
    """For a terminal that read the card's identification code and holds no card key."""
    cryptogram = authentication.external_authenticate(
        session=session,
        principal=principal,
        vault=vault,
        identification_code=body.identification_code,
        challenge=bytes.fromhex(body.challenge),
    )
    return CryptogramOut(cryptogram=cryptogram.hex().upper())


@router.post("/cards/{card_id}/pin-reset", response_model=CommandOut, summary="柜面重置密码")
def pin_reset(
    card_id: int,
    body: PinResetIn,
    session: DbSession,
    principal: CardCounter,
    vault: Vault,
    key: IdempotencyKey,
    request: Request,
) -> JSONResponse:
    """The MAC-protected unblock command setting the holder's new PIN, after the ID check."""

    def action() -> tuple[int, object]:
        command = authentication.pin_reset_command(
            session=session,
            principal=principal,
            vault=vault,
            card_id=card_id,
            id_number=body.id_number,
            challenge=bytes.fromhex(body.challenge),
            new_pin=body.new_pin,
            identification_code=body.identification_code,
        )
        return 200, {"command": command.hex().upper()}

    # The PIN stays out of the stored request fingerprint's input.
    payload = body.model_dump(mode="json", exclude={"new_pin"})
    return respond_once(
        session=session,
        principal=principal,
        key=key,
        request=request,
        payload=payload,
        action=action,
    )


@router.post(
    "/cards/{card_id}/pin-reset/result",
    summary="柜面重置密码：卡片应答与新密码验证结果",
)
def pin_reset_result(
    card_id: int,
    body: PinResetResultIn,
    session: DbSession,
    principal: CardCounter,
    key: IdempotencyKey,
    request: Request,
) -> JSONResponse:
    """What the card answered to the unblock command and whether it then verified the new PIN."""

    def action() -> tuple[int, object]:
        authentication.record_pin_reset_result(
            session=session,
            principal=principal,
            card_id=card_id,
            card_answer=body.card_answer,
            verified=body.verified,
            entry=body.entry,
        )
        return 200, {"recorded": True}

    return respond_once(
        session=session,
        principal=principal,
        key=key,
        request=request,
        payload=body.model_dump(mode="json"),
        action=action,
    )


@router.post(
    "/cards/{card_id}/personalisation",
    response_model=ScriptOut,
    summary="取个人化脚本（制卡中心）",
)
def personalisation_script(
    card_id: int, body: ScriptIn, session: DbSession, principal: CardCentre, vault: Vault
) -> ScriptOut:
    """The MACed script for the chip in the station's reader, and a verification challenge."""
    out = personalisation.script(
        session=session,
        principal=principal,
        vault=vault,
        card_id=card_id,
        atr=bytes.fromhex(body.atr),
    )
    return ScriptOut(
        card_id=out.card.id,
        commands=out.commands,
        challenge_id=out.challenge.id,
        challenge=out.challenge.challenge,
    )


@router.post(
    "/cards/{card_id}/personalisation/result",
    response_model=PersonalisationResultOut,
    summary="报告个人化结果（成功→已个人化，失败→废卡）",
)
def personalisation_result(
    card_id: int,
    body: PersonalisationResultIn,
    session: DbSession,
    principal: CardCentre,
    vault: Vault,
    key: IdempotencyKey,
    request: Request,
) -> JSONResponse:
    """Read-back and key check right → personalised; anything else → spoiled."""

    def action() -> tuple[int, object]:
        result = personalisation.report_result(
            session=session,
            principal=principal,
            vault=vault,
            card_id=card_id,
            challenge_id=body.challenge_id,
            cryptogram=bytes.fromhex(body.cryptogram) if body.cryptogram else None,
            identification_code=body.identification_code,
            card_number=body.card_number,
            station_error=body.error,
        )
        out = PersonalisationResultOut(
            card=CardOut.model_validate(result.card),
            verified=result.verified,
            problems=result.problems,
        )
        return 200, out.model_dump(mode="json")

    return respond_once(
        session=session,
        principal=principal,
        key=key,
        request=request,
        payload=body.model_dump(mode="json"),
        action=action,
    )
