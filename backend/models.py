"""Imports every domain's models so ``Base.metadata`` knows all tables (migrations, tests)."""

from backend.audit.models import AuditRecord
from backend.auth.models import OperatorSession
from backend.db import Base
from backend.idempotency import IdempotencyRecord
from backend.orgs.models import Office, Operator, Region
from backend.registry.models import Enrolment, EnrolmentEvent, Household, Person, PersonChange

__all__ = [
    "AuditRecord",
    "Base",
    "Enrolment",
    "EnrolmentEvent",
    "Household",
    "IdempotencyRecord",
    "Office",
    "Operator",
    "OperatorSession",
    "Person",
    "PersonChange",
    "Region",
]
