"""Imports every domain's models so ``Base.metadata`` knows all tables (migrations, tests)."""

from backend.accounts.models import Account, AccountEntry
from backend.audit.models import AuditRecord
from backend.auth.models import OperatorSession
from backend.banks.models import (
    BankBatch,
    BankBatchRow,
    BankReturnFile,
    BankReturnRow,
    WithholdingMandate,
)
from backend.benefits.models import (
    Application,
    Computation,
    DeathCase,
    PayeeBankChange,
    Pension,
    PensionDraw,
    SurvivalCertification,
)
from backend.cards.models import Card, CardBatch, CardChallenge, CardEvent
from backend.contributions.models import (
    Assessment,
    Collection,
    Refund,
    TaxResultFile,
    TaxResultRow,
)
from backend.db import Base
from backend.idempotency import IdempotencyRecord
from backend.ledger.models import JobChunk, JobRun, JournalEntry, JournalLine
from backend.orgs.models import Office, Operator, Region
from backend.partners.models import PayoutAuthorisation
from backend.payroll.models import CalendarMonth, Payroll, PayrollExclusion, PayrollLine
from backend.pki.models import (
    BankPartner,
    CaKey,
    Certificate,
    CertificateRequest,
    Crl,
    Device,
    EnrolmentToken,
    LoginChallenge,
)
from backend.policy.models import PolicyVersion
from backend.query.models import QueryCode, QueryPassword, QueryWebSession
from backend.receipts.models import IssuedReceipt
from backend.registry.models import Enrolment, EnrolmentEvent, Household, Person, PersonChange
from backend.statistics.models import StatisticsReport
from backend.supervision.models import Finding, Run, RunChunk, ThresholdVersion
from backend.transfers.models import Transfer

__all__ = [
    "Account",
    "AccountEntry",
    "Application",
    "Assessment",
    "AuditRecord",
    "BankBatch",
    "BankBatchRow",
    "BankPartner",
    "BankReturnFile",
    "BankReturnRow",
    "Base",
    "CaKey",
    "CalendarMonth",
    "Card",
    "CardBatch",
    "CardChallenge",
    "CardEvent",
    "Certificate",
    "CertificateRequest",
    "Collection",
    "Computation",
    "Crl",
    "DeathCase",
    "Device",
    "Enrolment",
    "EnrolmentEvent",
    "EnrolmentToken",
    "Finding",
    "Household",
    "IdempotencyRecord",
    "IssuedReceipt",
    "JobChunk",
    "JobRun",
    "JournalEntry",
    "JournalLine",
    "LoginChallenge",
    "Office",
    "Operator",
    "OperatorSession",
    "PayeeBankChange",
    "PayoutAuthorisation",
    "Payroll",
    "PayrollExclusion",
    "PayrollLine",
    "Pension",
    "PensionDraw",
    "Person",
    "PersonChange",
    "PolicyVersion",
    "QueryCode",
    "QueryPassword",
    "QueryWebSession",
    "Refund",
    "Region",
    "Run",
    "RunChunk",
    "StatisticsReport",
    "SurvivalCertification",
    "TaxResultFile",
    "TaxResultRow",
    "ThresholdVersion",
    "Transfer",
    "WithholdingMandate",
]
