"""``/api/v1/persons/{id}/…`` documents as A4 PDF: the annual statement and the
contribution certificate. Each download is an issue under a new receipt number (signed
token in its QR code), audited; nothing in the books changes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Response

from backend.deps import AppSettings, DbSession, Requires
from backend.orgs.permissions import Permission
from backend.orgs.service import Principal
from backend.statements import pdf, service

router = APIRouter(tags=["statements"])
Reader = Annotated[Principal, Depends(Requires(Permission.CONTRIBUTION_READ))]
_PDF: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/pdf": {}}, "description": "A4 PDF"}
}


def _pdf(content: bytes, filename: str) -> Response:
    return Response(
        content,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f"inline; filename={filename}",
            "Cache-Control": "no-store",
        },
    )


@router.get(
    "/persons/{person_id}/statements/{year}.pdf",
    response_class=Response,
    responses=_PDF,
    summary="打印个人账户对账单（A4 PDF）",
)
def statement_pdf(
    person_id: int,
    year: Annotated[int, Path(ge=2009, le=2100)],
    session: DbSession,
    settings: AppSettings,
    principal: Reader,
) -> Response:
    """Opening balance, entries by date and source, interest with its rate and convention,
    closing balance by source, pension paid in the year, QR of a signed token."""
    annual = service.annual_statement(
        session=session, settings=settings, principal=principal, person_id=person_id, year=year
    )
    return _pdf(pdf.statement_pdf(annual), f"statement-{year}-{annual.issue.receipt_number}.pdf")


@router.get(
    "/persons/{person_id}/contribution-certificate.pdf",
    response_class=Response,
    responses=_PDF,
    summary="打印缴费证明（A4 PDF）",
)
def certificate_pdf(
    person_id: int, session: DbSession, settings: AppSettings, principal: Reader
) -> Response:
    """Enrolment, every settled contribution year, years counted, the account balance."""
    certificate = service.contribution_certificate(
        session=session, settings=settings, principal=principal, person_id=person_id
    )
    return _pdf(
        pdf.certificate_pdf(certificate), f"certificate-{certificate.issue.receipt_number}.pdf"
    )
