"""The fund's chart of accounts (pure data) and the balance rule of a journal entry.

Individual accounts are a subsidiary ledger: ``account_entries`` hold every
person's entries; account 2101 is their control account, so its balance per
county must equal the sum of that county's individual account entries.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    """Account classes of the fund's books."""

    ASSET = "asset"
    LIABILITY = "liability"
    REVENUE = "revenue"
    EXPENSE = "expense"


@dataclass(frozen=True)
class LedgerAccount:
    """One account of the chart."""

    code: str
    name: str
    kind: Kind

    @property
    def debit_normal(self) -> bool:
        """Assets and expenses grow on the debit side."""
        return self.kind in (Kind.ASSET, Kind.EXPENSE)


INCOME_BANK = "1001"
EXPENDITURE_BANK = "1002"
FISCAL_SPECIAL = "1003"
SUBSIDY_RECEIVABLE = "1101"
COLLECTIVE_RECEIVABLE = "1102"
INDIVIDUAL_ACCOUNTS = "2101"
INTEREST_EXPENSE = "5101"
OVERPAYMENT_RECEIVABLE = "1201"
GOVERNMENT_BASIC_PENSION = "4101"
BASIC_PENSION_EXPENSE = "5201"
FUNERAL_GRANT_EXPENSE = "5202"
TRANSFER_CLEARING = "2201"
RETAINED_SUBSIDY = "4102"

CHART: dict[str, LedgerAccount] = {
    a.code: a
    for a in (
        LedgerAccount(INCOME_BANK, "收入户存款", Kind.ASSET),
        LedgerAccount(EXPENDITURE_BANK, "支出户存款", Kind.ASSET),
        LedgerAccount(FISCAL_SPECIAL, "财政专户存款", Kind.ASSET),
        LedgerAccount(SUBSIDY_RECEIVABLE, "应收财政补贴（缴费补贴及政府代缴）", Kind.ASSET),
        LedgerAccount(COLLECTIVE_RECEIVABLE, "应收集体补助及捐助", Kind.ASSET),
        LedgerAccount(INDIVIDUAL_ACCOUNTS, "个人账户（控制账户）", Kind.LIABILITY),
        LedgerAccount(TRANSFER_CLEARING, "个人账户转移待结算", Kind.LIABILITY),
        LedgerAccount(INTEREST_EXPENSE, "个人账户记息支出", Kind.EXPENSE),
        LedgerAccount(OVERPAYMENT_RECEIVABLE, "应收多发待遇", Kind.ASSET),
        LedgerAccount(GOVERNMENT_BASIC_PENSION, "财政补助收入（基础养老金）", Kind.REVENUE),
        LedgerAccount(RETAINED_SUBSIDY, "个人账户政府补贴清退留存", Kind.REVENUE),
        LedgerAccount(BASIC_PENSION_EXPENSE, "基础养老金支出", Kind.EXPENSE),
        LedgerAccount(FUNERAL_GRANT_EXPENSE, "丧葬补助金支出", Kind.EXPENSE),
    )
}

# Accounts whose normal balance may never turn to the other side.
NEVER_NEGATIVE = (
    INCOME_BANK,
    EXPENDITURE_BANK,
    FISCAL_SPECIAL,
    SUBSIDY_RECEIVABLE,
    COLLECTIVE_RECEIVABLE,
    INDIVIDUAL_ACCOUNTS,
    OVERPAYMENT_RECEIVABLE,
)


@dataclass(frozen=True)
class Line:
    """One side of a journal entry: a debit or a credit (never both) in fen."""

    account_code: str
    debit_fen: int = 0
    credit_fen: int = 0

    def reversed(self) -> Line:
        """The same amount on the other side."""
        return Line(self.account_code, debit_fen=self.credit_fen, credit_fen=self.debit_fen)


def debit(account_code: str, amount_fen: int) -> Line:
    """A debit line."""
    return Line(account_code, debit_fen=amount_fen)


def credit(account_code: str, amount_fen: int) -> Line:
    """A credit line."""
    return Line(account_code, credit_fen=amount_fen)


def balance_errors(lines: Iterable[Line]) -> list[str]:
    """Why a set of lines is not a valid entry (empty list when it is)."""
    lines = list(lines)
    errors = []
    if not lines:
        errors.append("分录没有明细行")
    for line in lines:
        if line.account_code not in CHART:
            errors.append(f"科目{line.account_code}不在科目表内")
        if line.debit_fen < 0 or line.credit_fen < 0:
            errors.append(f"科目{line.account_code}金额为负")
        if (line.debit_fen == 0) == (line.credit_fen == 0):
            errors.append(f"科目{line.account_code}须且只能在借方或贷方记一个非零金额")
    debits = sum(line.debit_fen for line in lines)
    credits = sum(line.credit_fen for line in lines)
    if debits != credits:
        errors.append(f"借贷不平：借方{debits}分，贷方{credits}分")
    return errors
