"""Who is calling the bank API: the partner bank behind the client certificate."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header
from sqlalchemy import bindparam, select

from backend.deps import AppSettings, ClientCertificate, DbSession
from backend.errors import AuthenticationFailed, PermissionDenied
from backend.pki.models import BankPartner

_BANK_BY_CODE = select(BankPartner).where(BankPartner.code == bindparam("code"))


def current_bank(
    session: DbSession,
    settings: AppSettings,
    identity: ClientCertificate,
    dev_bank: Annotated[
        str | None, Header(alias="X-XNB-Bank", description="仅开发模式（无TLS）：银行代码")
    ] = None,
) -> BankPartner:
    """The active partner bank of the client certificate; anyone else is refused.

    Without mutual TLS (development and tests only; production refuses plain HTTP) the
    bank names itself in ``X-XNB-Bank``.
    """
    bank: BankPartner | None
    if identity is not None:
        if identity.kind != "bank" or identity.bank_id is None:
            raise PermissionDenied(detail="只有合作银行的证书可以调用银行接口", code="not_a_bank")
        bank = session.get(BankPartner, identity.bank_id)
    elif settings.allow_insecure_http and dev_bank:
        bank = session.scalar(_BANK_BY_CODE, {"code": dev_bank})
    else:
        bank = None
    if bank is None or not bank.is_active:
        raise AuthenticationFailed(
            detail="未识别的合作银行", code="bank_unknown", audit_refusal=True
        )
    return bank


CurrentBank = Annotated[BankPartner, Depends(current_bank)]
