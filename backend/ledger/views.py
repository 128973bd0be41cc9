"""The fund's books under ``/api/v1``: invariant check and balances."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from backend.deps import DbSession, Requires
from backend.ledger import service
from backend.ledger.chart import CHART
from backend.orgs.permissions import Permission
from backend.orgs.service import Principal

router = APIRouter(prefix="/ledger", tags=["ledger"])
Reader = Annotated[Principal, Depends(Requires(Permission.LEDGER_READ))]


class CheckOut(BaseModel):
    """The books' invariants: totals and every problem found."""

    ok: bool
    entries: int
    debit_fen: int
    credit_fen: int
    individual_total_fen: int
    problems: list[str]


class BalanceOut(BaseModel):
    """A ledger account's balance in a county, on its normal side."""

    county_code: str
    account_code: str
    account_name: str
    balance_fen: int


def _counties(principal: Principal) -> str:
    """The county-code prefix of the books an operator sees: a township's staff see their
    county's books (the fund is kept by county), a county its own, the province all."""
    return principal.scope.prefix[:6]


@router.get("/check", response_model=CheckOut, summary="账簿平衡检查")
def check(session: DbSession, principal: Reader) -> CheckOut:
    """Σdebits = Σcredits per entry and overall; control account = individual accounts;
    over the counties of the operator's scope only."""
    report = service.check(session=session, county_prefix=_counties(principal))
    return CheckOut(
        ok=report.ok,
        entries=report.entries,
        debit_fen=report.debit_fen,
        credit_fen=report.credit_fen,
        individual_total_fen=report.individual_total_fen,
        problems=report.problems,
    )


@router.get("/balances", response_model=list[BalanceOut], summary="科目余额")
def balances(session: DbSession, principal: Reader) -> list[BalanceOut]:
    """Balances of the operator's counties."""
    return [
        BalanceOut(
            county_code=county, account_code=code, account_name=CHART[code].name, balance_fen=amount
        )
        for (county, code), amount in sorted(
            service.balances(session=session, county_prefix=_counties(principal)).items()
        )
    ]
