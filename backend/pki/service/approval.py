"""Operators and banks: a CSR submitted, then approved (or rejected) by an administrator."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.audit.service import Actor, record
from backend.config import Settings
from backend.db import utcnow
from backend.errors import Conflict, NotFound, PermissionDenied, invalid
from backend.orgs.models import Operator
from backend.orgs.permissions import Permission
from backend.pki import profiles
from backend.pki.keystore import KeyStore
from backend.pki.models import BankPartner, CertificateRequest
from backend.pki.service._shared import _require_scope
from backend.pki.service.csr import _checked_csr
from backend.pki.service.holders import Holder, bank_holder, operator_holder
from backend.pki.service.issuance import _issue

if TYPE_CHECKING:
    from backend.orgs.service import Principal


def register_bank(
    *, session: Session, principal: Principal | None, code: str, name: str, actor: Actor
) -> BankPartner:
    """Record a partner bank (province-level administrators only)."""
    _require_scope(principal, None, "合作银行")
    if not profiles._URI_VALUE["bank"].match(code):
        raise invalid("code", "银行代码只能包含字母、数字、点、横线和下划线，最长16位")
    if session.scalar(select(BankPartner).where(BankPartner.code == code)):
        raise Conflict(detail=f"银行{code}已存在", code="bank_exists")
    bank = BankPartner(code=code, name=name)
    session.add(bank)
    session.flush()
    record(
        session=session,
        actor=actor,
        action="pki.bank_register",
        object_type="bank",
        object_id=bank.id,
        detail={"code": code},
    )
    return bank


def _holder_of_request(session: Session, req: CertificateRequest) -> Holder:
    if req.operator_id is not None:
        operator = session.get(Operator, req.operator_id)
        assert operator is not None  # foreign key
        return operator_holder(operator)
    bank = session.get(BankPartner, req.bank_id)
    assert bank is not None  # foreign key
    return bank_holder(bank)


def submit_request(
    *,
    session: Session,
    principal: Principal | None,
    profile_name: str,
    csr_pem: str,
    operator_id: int | None = None,
    bank_code: str | None = None,
    actor: Actor,
) -> CertificateRequest:
    """Queue an operator's or a bank's CSR for approval; its names are checked now.

    An operator's CSR comes from that operator only: whoever submits a CSR holds its key,
    so an administrator submitting one for someone else would hold their factor. A bank's
    comes from a security administrator (``cert:manage``) of the province.
    """
    if profile_name == "operator" and operator_id is not None:
        if principal is not None and principal.operator_id != operator_id:
            raise PermissionDenied(
                detail="操作员证书请求只能由本人提交（私钥只在本人手中）", code="not_own_request"
            )
        operator = session.get(Operator, operator_id)
        if operator is None:
            raise NotFound(detail=f"操作员{operator_id}不存在", code="operator_not_found")
        holder = operator_holder(operator)
        req = CertificateRequest(
            profile="operator", operator_id=operator.id, region_code=operator.office.region_code
        )
    elif profile_name == "bank" and bank_code:
        if principal is not None:
            principal.require(Permission.CERT_MANAGE)
        _require_scope(principal, None, "合作银行")
        bank = session.scalar(select(BankPartner).where(BankPartner.code == bank_code))
        if bank is None:
            raise NotFound(detail=f"银行{bank_code}不存在", code="bank_not_found")
        holder = bank_holder(bank)
        req = CertificateRequest(profile="bank", bank_id=bank.id, region_code="000000000000")
    else:
        raise invalid(
            "profile", "证书请求只用于操作员（须给出 operator_id）或银行（须给出 bank_code）"
        )
    _checked_csr(csr_pem, profile_name, holder)
    req.csr_pem = csr_pem
    req.requested_by = principal.operator_id if principal else None
    session.add(req)
    session.flush()
    record(
        session=session,
        actor=actor,
        action="pki.request_submit",
        object_type="request",
        object_id=req.id,
        detail={"profile": profile_name, "holder": holder.label},
    )
    return req


def get_request(
    *, session: Session, principal: Principal | None, request_id: int
) -> CertificateRequest:
    """One pending or decided request inside the administrator's scope."""
    req = session.get(CertificateRequest, request_id)
    if req is None:
        raise NotFound(detail=f"证书请求{request_id}不存在", code="request_not_found")
    _require_scope(principal, None if req.profile == "bank" else req.region_code, "证书请求")
    return req


def decide_request(
    *,
    session: Session,
    keys: KeyStore,
    settings: Settings,
    principal: Principal | None,
    request_id: int,
    approve: bool,
    actor: Actor,
) -> CertificateRequest:
    """Approve (issue the certificate) or reject a pending request."""
    req = get_request(session=session, principal=principal, request_id=request_id)
    if req.state != "pending":
        raise Conflict(detail=f"证书请求{request_id}已处理（{req.state}）", code="request_decided")
    if (
        principal is not None
        and approve
        and principal.operator_id
        in (
            req.operator_id,
            req.requested_by,
        )
    ):
        # No one approves a request that would give them a factor, nor one they submitted.
        raise PermissionDenied(detail="不能批准自己的证书请求", code="self_approval")
    holder = _holder_of_request(session, req)
    req.decided_by = principal.operator_id if principal else None
    req.decided_at = utcnow()
    if not approve:
        req.state = "rejected"
        record(
            session=session,
            actor=actor,
            action="pki.request_reject",
            object_type="request",
            object_id=req.id,
            detail={"holder": holder.label},
        )
        return req
    csr = _checked_csr(req.csr_pem, req.profile, holder)
    cert = _issue(
        session=session,
        keys=keys,
        settings=settings,
        profile_name=req.profile,
        holder=holder,
        public_key=csr.public_key(),
        actor=actor,
    )
    req.state = "approved"
    req.certificate_id = cert.id
    return req
