"""``/bank/v1``: payout authorisation for partner banks (their own cards only)."""

from __future__ import annotations

from fastapi import APIRouter

from backend.deps import DbSession
from backend.partners import service
from backend.partners.deps import CurrentBank
from backend.partners.models import PayoutAuthorisation
from backend.partners.schemas import AuthorizationOut, AuthorizeIn

router = APIRouter(prefix="/bank/v1", tags=["bank payouts"])


def _out(authorisation: PayoutAuthorisation, repeated: bool) -> AuthorizationOut:
    reason = authorisation.reason_code
    return AuthorizationOut(
        authorisation_code=authorisation.authorisation_code,
        bank_transaction_id=authorisation.bank_transaction_id,
        decision=authorisation.decision,
        reason_code=reason,
        reason=service.DECLINE_LABELS.get(reason) if reason else None,
        state=authorisation.state,
        amount_fen=authorisation.amount_fen,
        expires_at=authorisation.expires_at,
        repeated=repeated,
    )


@router.post(
    "/payouts/authorize",
    response_model=AuthorizationOut,
    summary="支付前授权：卡是否可以支付",
    responses={409: {"description": "transaction_id_reused"}},
)
def authorize(body: AuthorizeIn, session: DbSession, bank: CurrentBank) -> AuthorizationOut:
    """Approved with an authorisation code, or declined with a reason code (card lost,
    cancelled, replaced, expired or not active; holder dead, suspended or unknown; amount
    over the policy's limit). Repeating a transaction id returns the first answer."""
    authorisation, repeated = service.authorize(
        session=session,
        bank=bank,
        request=service.PayoutRequest(
            bank_transaction_id=body.bank_transaction_id,
            card_number=body.card_number,
            amount_fen=body.amount_fen,
            channel=body.channel,
            terminal_id=body.terminal_id,
        ),
    )
    return _out(authorisation, repeated)


@router.post(
    "/payouts/{authorisation_code}/confirm",
    response_model=AuthorizationOut,
    summary="确认已支付",
    responses={409: {"description": "authorisation_resolved / authorisation_expired"}},
)
def confirm(authorisation_code: str, session: DbSession, bank: CurrentBank) -> AuthorizationOut:
    """The bank paid out: the approval is used up (a repeat returns the same answer)."""
    authorisation, repeated = service.resolve(
        session=session, bank=bank, authorisation_code=authorisation_code, to_state="confirmed"
    )
    return _out(authorisation, repeated)


@router.post(
    "/payouts/{authorisation_code}/void",
    response_model=AuthorizationOut,
    summary="撤销授权（未支付）",
    responses={409: {"description": "authorisation_resolved / authorisation_expired"}},
)
def void(authorisation_code: str, session: DbSession, bank: CurrentBank) -> AuthorizationOut:
    """The bank did not pay out: the approval is cancelled (a repeat returns the same)."""
    authorisation, repeated = service.resolve(
        session=session, bank=bank, authorisation_code=authorisation_code, to_state="voided"
    )
    return _out(authorisation, repeated)
