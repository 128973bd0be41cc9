"""Every route of the app × every kind of caller: who is let in, who is told "not found",
who is refused, who must log in — and no answer carries another township's resident.

The table below has one row per route (method and path, as ``app.routes`` lists them).
A route without a row fails the test; the message lists the missing routes with the
outcomes seen this run as a starting row (check every cell is what the route *should*
do before pasting it).

Columns, left to right (the callers; the first four take the row's ``role``):

    A      the operator of township A (和布克赛尔镇, 654226100) — owns every seeded object
    B      the operator of township B (夏孜盖乡, 654226200)
    C      the operator of township C (和什托洛盖镇, 654226101: its code shares "6542261")
    cty    the operator of the county (654226)
    prov   the province administrator
    bank   a partner bank on the bank API (``X-XNB-Bank``, its certificate in production)
    kiosk  township A's self-service kiosk (``X-XNB-Device``, its certificate in production)
    card   the county's card-centre operator
    anon   no log-in at all

Cells: ``ok`` (let in: any answer but 401/403/404 and never 5xx — a 409 or 422 for the
XX (outside the scope, looks missing),
``403`` (no permission), ``401`` (no or wrong credentials). ``role`` is ``clerk`` or
``reviewer``: which operator of A, B, C and the county calls.

Path parameters name objects of township A that ``seed`` creates (by parameter name,
``PATH_OVERRIDES`` per route); a parameter it does not seed names nothing (``MISSING``),
so the route's permitted callers expect 404 and its row shows authentication and
permission only — seed the object to make the row show the scope too. Bodies come from
``BODIES`` (``{}`` when the route has none there): enough to pass validation, and where
the scope is decided by an identifier in the body, naming township A's object.

To add a route: add its row to ``TABLE``; seed the object its path names in ``seed``;
if its scope is decided by the body, add the body to ``BODIES``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fastapi.routing
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.audit.service import Actor
from backend.config import Settings
from backend.contributions.models import Assessment
from backend.db import unit_of_work
from backend.keys import LocalKeyVault
from backend.orgs import service as orgs
from backend.orgs.permissions import Role
from backend.pki.service import issuing_ca, register_bank, register_device
from backend.policy.models import PolicyVersion
from backend.registry.models import Enrolment, Person
from tests.backend.benefits_support import APPLIED_ON, BANK, add_candidate
from tests.backend.card_support import add_card
from tests.backend.money_world import add_resident, load_basics
from tests.backend.pki_support import enrol_device, init_ca
from tests.backend.registry_support import person_body
from tests.conftest import PASSWORD, World

ACTORS = ("A", "B", "C", "cty", "prov", "bank", "kiosk", "card", "anon")
OUTCOMES = ("ok", "404", "403", "401")

VILLAGES = {"A": "654226100200", "B": "654226200200", "C": "654226101200"}
C_OFFICE = ("654226101-SB", "和什托洛盖镇社保所", "654226101000")
#: The operator each caller logs in as, by the row's role.
USERS = {
    "clerk": {"A": "clerk_hbk", "B": "clerk_xzg", "C": "clerk_hst", "cty": "clerk_county"},
    "reviewer": {
        "A": "reviewer_hbk",
        "B": "reviewer_xzg",
        "C": "reviewer_hst",
        "cty": "reviewer_county",
    },
}
BANK_CODE = "MATRIX-BANK"
KIOSK = "kiosk-hbk-1"
#: Recognisable residents, one per township: no answer to another township may name them.
SENTINEL_NAMES = {"A": "哨兵甲", "B": "哨兵乙", "C": "哨兵丙"}
#: Which townships' residents must not appear in an answer to each caller.
MUST_NOT_SEE = {
    "A": ("B", "C"),
    "B": ("A", "C"),
    "C": ("A", "B"),
    "kiosk": ("B", "C"),
    "bank": ("A", "B", "C"),
    "anon": ("A", "B", "C"),
}
MISSING = 987654  # an identifier no seeded object has
#: A payee account change of township A's pensioner (the sentinel's own account).
NEW_BANK = {
    "bank_code": "ABC",
    "bank_account": "6228480000000001",
    "account_holder": SENTINEL_NAMES["A"],
    "reason": "原存折遗失",
}
PATH_PARAMETER = re.compile(r"\{(\w+)(?::[^}]*)?\}")

TABLE = """
# method path                                                     role     A    B    C    cty  prov bank kiosk card anon
GET    /healthz                                                   clerk    ok   ok   ok   ok   ok   ok   ok   ok   ok
GET    /readyz                                                    clerk    ok   ok   ok   ok   ok   ok   ok   ok   ok
GET    /counter                                                   clerk    ok   ok   ok   ok   ok   ok   ok   ok   ok
GET    /counter/                                                  clerk    ok   ok   ok   ok   ok   ok   ok   ok   ok
POST   /api/v1/auth/challenge                                     clerk    ok   ok   ok   ok   ok   ok   ok   ok   ok
POST   /api/v1/auth/login                                         clerk    ok   ok   ok   ok   ok   ok   ok   ok   ok
POST   /api/v1/auth/logout                                        clerk    ok   ok   ok   ok   ok   401  401  ok   401
GET    /api/v1/auth/me                                            clerk    ok   ok   ok   ok   ok   401  401  ok   401
GET    /api/v1/orgs/regions                                       clerk    ok   ok   ok   ok   ok   401  401  ok   401
GET    /api/v1/orgs/offices                                       clerk    ok   ok   ok   ok   ok   401  401  ok   401
POST   /api/v1/orgs/offices                                       clerk    403  403  403  403  ok   401  401  403  401
GET    /api/v1/operators                                          clerk    403  403  403  403  ok   401  401  403  401
POST   /api/v1/operators                                          clerk    403  403  403  403  ok   401  401  403  401
GET    /api/v1/operators/{operator_id}                            clerk    403  403  403  403  ok   401  401  403  401
PATCH  /api/v1/operators/{operator_id}                            clerk    403  403  403  403  ok   401  401  403  401
POST   /api/v1/operators/{operator_id}/unlock                     clerk    403  403  403  403  403  401  401  403  401
POST   /api/v1/persons/import                                     clerk    ok   ok   ok   ok   403  401  401  403  401
POST   /api/v1/persons                                            clerk    ok   ok   ok   ok   403  401  401  403  401
GET    /api/v1/persons                                            clerk    ok   ok   ok   ok   ok   401  401  ok   401
POST   /api/v1/persons/search                                     clerk    ok   ok   ok   ok   ok   401  401  ok   401
GET    /api/v1/persons/{person_id}                                clerk    ok   404  404  ok   ok   401  401  ok   401
PATCH  /api/v1/persons/{person_id}                                clerk    ok   404  404  ok   403  401  401  403  401
GET    /api/v1/person-changes                                     clerk    ok   ok   ok   ok   ok   401  401  ok   401
POST   /api/v1/person-changes/{change_id}/approve                 reviewer ok   404  404  ok   403  401  401  403  401
POST   /api/v1/person-changes/{change_id}/reject                  reviewer ok   404  404  ok   403  401  401  403  401
POST   /api/v1/enrolments                                         clerk    ok   404  404  ok   403  401  401  403  401
GET    /api/v1/enrolments                                         clerk    ok   ok   ok   ok   ok   401  401  ok   401
GET    /api/v1/enrolments/{enrolment_id}                          clerk    ok   404  404  ok   ok   401  401  ok   401
POST   /api/v1/enrolments/{enrolment_id}/status                   clerk    ok   404  404  ok   403  401  401  403  401
POST   /api/v1/households                                         clerk    ok   ok   ok   ok   403  401  401  403  401
GET    /api/v1/households                                         clerk    ok   ok   ok   ok   ok   401  401  ok   401
GET    /api/v1/households/{household_id}                          clerk    ok   404  404  ok   ok   401  401  ok   401
POST   /api/v1/households/{household_id}/members                  clerk    ok   404  404  ok   403  401  401  403  401
DELETE /api/v1/households/{household_id}/members/{person_id}      clerk    ok   404  404  404  403  401  401  403  401  # cty: A removed the member first
GET    /api/v1/registry/codes                                     clerk    ok   ok   ok   ok   ok   401  401  ok   401
POST   /api/v1/registry/eligibility                               clerk    ok   ok   ok   ok   ok   401  401  ok   401
GET    /api/v1/audit                                              clerk    403  403  403  403  403  401  401  403  401
GET    /api/v1/audit/verify                                       clerk    403  403  403  403  403  401  401  403  401
GET    /api/v1/cards/lifecycle                                    clerk    ok   ok   ok   ok   ok   401  401  ok   401
POST   /api/v1/cards                                              clerk    ok   404  404  ok   403  401  401  403  401
GET    /api/v1/cards                                              clerk    ok   ok   ok   ok   ok   401  401  ok   401
GET    /api/v1/cards/{card_id}                                    clerk    ok   404  404  ok   ok   401  401  ok   401
POST   /api/v1/cards/{card_id}/actions/{action}                   clerk    ok   404  404  ok   403  401  401  403  401
POST   /api/v1/cards/batches                                      clerk    403  403  403  403  403  401  401  ok   401
GET    /api/v1/cards/batches/{batch_id}                           clerk    403  403  403  403  403  401  401  ok   401
POST   /api/v1/cards/batches/{batch_id}/export                    clerk    403  403  403  403  403  401  401  ok   401
GET    /api/v1/cards/batches/{batch_id}/factory-file              clerk    403  403  403  403  403  401  401  ok   401
POST   /api/v1/cards/batches/{batch_id}/return                    clerk    403  403  403  403  403  401  401  ok   401
POST   /api/v1/cards/authentications/challenges                   clerk    ok   ok   ok   ok   403  401  401  ok   401  # any card may prove itself; the holder is shown in scope only
POST   /api/v1/cards/authentications                              clerk    404  404  404  404  403  401  401  404  401
POST   /api/v1/cards/{card_id}/external-authenticate              clerk    ok   404  404  ok   403  401  401  ok   401
POST   /api/v1/cards/external-authentications                     clerk    ok   404  404  ok   403  401  401  ok   401
POST   /api/v1/cards/{card_id}/pin-reset                          clerk    ok   404  404  ok   403  401  401  403  401
POST   /api/v1/cards/{card_id}/pin-reset/result                   clerk    ok   404  404  ok   403  401  401  403  401
POST   /api/v1/cards/{card_id}/personalisation                    clerk    403  403  403  403  403  401  401  ok   401
POST   /api/v1/cards/{card_id}/personalisation/result             clerk    403  403  403  403  403  401  401  ok   401
GET    /api/v1/policy/versions                                    clerk    ok   ok   ok   ok   ok   401  401  ok   401
GET    /api/v1/policy/versions/{version_id}                       clerk    ok   ok   ok   ok   ok   401  401  ok   401
GET    /api/v1/policy/rules                                       clerk    ok   ok   ok   ok   ok   401  401  ok   401
POST   /api/v1/policy/versions                                    clerk    403  403  403  403  ok   401  401  403  401
POST   /api/v1/policy/versions/{version_id}/approve               clerk    403  403  403  403  404  401  401  403  401
POST   /api/v1/policy/versions/{version_id}/reject                clerk    403  403  403  403  404  401  401  403  401
POST   /api/v1/contributions/assessments                          clerk    ok   404  404  ok   403  401  401  403  401
GET    /api/v1/contributions/assessments/{assessment_id}          clerk    ok   404  404  ok   403  401  401  403  401
GET    /api/v1/persons/{person_id}/assessments                    clerk    ok   404  404  ok   403  401  401  403  401
GET    /api/v1/persons/{person_id}/refunds                        clerk    ok   404  404  ok   403  401  401  403  401
POST   /api/v1/contributions/collections                          clerk    ok   404  404  ok   403  401  401  403  401
POST   /api/v1/contributions/collections/{collection_id}/reversal reviewer ok   404  404  ok   403  401  401  403  401
POST   /api/v1/contributions/refunds                              clerk    ok   404  404  ok   403  401  401  403  401
POST   /api/v1/contributions/refunds/{refund_id}/approve          reviewer ok   404  404  ok   403  401  401  403  401
POST   /api/v1/contributions/refunds/{refund_id}/reject           reviewer ok   404  404  ok   403  401  401  403  401
GET    /api/v1/contributions/day-close                            clerk    ok   ok   ok   ok   403  401  401  403  401
POST   /api/v1/contributions/day-close                            reviewer ok   ok   ok   ok   403  401  401  403  401
GET    /api/v1/contributions/quote                                clerk    ok   ok   ok   ok   403  401  401  403  401
GET    /api/v1/persons/{person_id}/statement                      clerk    ok   404  404  ok   403  401  401  403  401
GET    /api/v1/persons/{person_id}/statements/{year}.pdf          clerk    ok   404  404  ok   403  401  401  403  401
PUT    /api/v1/persons/{person_id}/query-password                 clerk    ok   404  404  ok   403  401  401  403  401
GET    /api/v1/persons/{person_id}/query-password                 clerk    ok   404  404  ok   ok   401  401  ok   401
GET    /api/v1/persons/{person_id}/contribution-certificate.pdf   clerk    ok   404  404  ok   403  401  401  403  401
GET    /api/v1/ledger/check                                       clerk    403  403  403  403  ok   401  401  403  401
GET    /api/v1/ledger/balances                                    clerk    403  403  403  403  ok   401  401  403  401
GET    /api/v1/statistics/indicators                              reviewer ok   ok   ok   ok   ok   401  401  403  401
GET    /api/v1/statistics/groups                                  reviewer ok   ok   ok   ok   ok   401  401  403  401
POST   /api/v1/statistics/reports                                 reviewer ok   404  404  ok   ok   401  401  403  401
GET    /api/v1/statistics/reports                                 reviewer ok   ok   ok   ok   ok   401  401  403  401
GET    /api/v1/statistics/reports/{report_id}                     reviewer ok   404  404  ok   ok   401  401  403  401
POST   /api/v1/statistics/reports/{report_id}/sign                reviewer 403  403  403  403  ok   401  401  403  401
GET    /api/v1/statistics/reports/{report_id}/verify              reviewer ok   404  404  ok   ok   401  401  403  401
GET    /api/v1/statistics/reports/{report_id}/xlsx                reviewer ok   404  404  ok   ok   401  401  403  401
GET    /api/v1/supervision/findings                               reviewer 403  403  403  403  ok   401  401  403  401
GET    /api/v1/supervision/findings/{finding_id}                  reviewer 403  403  403  403  404  401  401  403  401
GET    /api/v1/supervision/runs                                   reviewer 403  403  403  403  ok   401  401  403  401
POST   /api/v1/benefits/deaths                                    clerk    ok   404  404  ok   403  401  401  403  401
GET    /api/v1/benefits/deaths                                    clerk    ok   ok   ok   ok   ok   401  401  403  401
POST   /api/v1/benefits/deaths/{case_id}/confirm                  reviewer ok   404  404  ok   403  401  401  403  401
POST   /api/v1/benefits/deaths/{case_id}/reject                   reviewer ok   404  404  ok   403  401  401  403  401
GET    /api/v1/benefits/overpayments                              clerk    ok   ok   ok   ok   ok   401  401  403  401
GET    /api/v1/benefits/overpayments/{overpayment_id}             clerk    404  404  404  404  404  401  401  403  401
POST   /api/v1/benefits/overpayments/{overpayment_id}/repayments  clerk    404  404  404  404  403  401  401  403  401
POST   /api/v1/benefits/kiosk/challenges                          clerk    403  403  403  403  403  403  ok   403  403
POST   /api/v1/benefits/kiosk/authentications                     clerk    403  403  403  403  403  403  404  403  403
POST   /api/v1/benefits/kiosk/certifications                      clerk    403  403  403  403  403  403  404  403  403
GET    /api/v1/benefits/persons/{person_id}/qualification         clerk    ok   404  404  ok   ok   401  401  403  401
POST   /api/v1/benefits/applications                              clerk    ok   404  404  ok   403  401  401  403  401
GET    /api/v1/benefits/applications                              clerk    ok   ok   ok   ok   ok   401  401  403  401
POST   /api/v1/benefits/applications/{application_id}/approve     reviewer ok   404  404  ok   403  401  401  403  401
POST   /api/v1/benefits/applications/{application_id}/reject      reviewer ok   404  404  ok   403  401  401  403  401
GET    /api/v1/benefits/pensions/{person_id}                      clerk    ok   404  404  ok   ok   401  401  403  401
POST   /api/v1/benefits/pensions/{person_id}/certifications       clerk    ok   404  404  ok   403  401  401  403  401
PUT    /api/v1/benefits/pensions/{person_id}/bank                 clerk    ok   404  404  ok   403  401  401  403  401
GET    /api/v1/benefits/bank-changes                              clerk    ok   ok   ok   ok   ok   401  401  403  401
GET    /api/v1/benefits/bank-changes/{bank_change_id}             clerk    ok   404  404  ok   ok   401  401  403  401
POST   /api/v1/benefits/bank-changes/{bank_change_id}/approve     reviewer ok   404  404  ok   403  401  401  403  401
POST   /api/v1/benefits/bank-changes/{bank_change_id}/reject      reviewer ok   404  404  ok   403  401  401  403  401
GET    /api/v1/payroll/payrolls                                   clerk    ok   ok   ok   ok   ok   401  401  403  401
GET    /api/v1/payroll/payrolls/{payroll_id}                      clerk    404  404  404  404  404  401  401  403  401
GET    /api/v1/payroll/payrolls/{payroll_id}/lines                clerk    404  404  404  404  404  401  401  403  401
GET    /api/v1/payroll/payrolls/{payroll_id}/exclusions           clerk    404  404  404  404  404  401  401  403  401
POST   /api/v1/payroll/payrolls/{payroll_id}/review               reviewer 404  404  404  404  403  401  401  403  401
POST   /api/v1/payroll/payrolls/{payroll_id}/approve              clerk    403  403  403  403  404  401  401  403  401
POST   /api/v1/transfers                                          clerk    ok   404  404  ok   403  401  401  403  401
POST   /api/v1/transfers/employee-scheme/years                    clerk    ok   404  404  ok   403  401  401  403  401
POST   /api/v1/transfers/employee-scheme/in                       clerk    ok   404  404  ok   403  401  401  403  401
POST   /api/v1/transfers/employee-scheme/out                      clerk    ok   404  404  ok   403  401  401  403  401
GET    /api/v1/transfers/double-pensions                          clerk    ok   ok   ok   ok   ok   401  401  403  401
GET    /api/v1/transfers/double-pensions/{case_id}                clerk    404  404  404  404  404  401  401  403  401
POST   /api/v1/transfers/double-pensions/{case_id}/confirm        reviewer 404  404  404  404  403  401  401  403  401
POST   /api/v1/transfers/double-pensions/{case_id}/reject         reviewer 404  404  404  404  403  401  401  403  401
GET    /api/v1/inbox                                              clerk    ok   ok   ok   ok   ok   401  401  ok   401
POST   /api/v1/receipts                                           clerk    404  404  404  404  403  401  401  403  401
GET    /api/v1/certificates                                       clerk    403  403  403  403  ok   401  401  403  401
GET    /api/v1/certificates/{serial}                              clerk    403  403  403  403  ok   401  401  403  401
POST   /api/v1/certificates/{serial}/revoke                       clerk    403  403  403  403  403  401  401  403  401
POST   /api/v1/certificates/renew                                 clerk    401  401  401  401  401  401  401  401  401
POST   /api/v1/devices                                            clerk    403  403  403  403  403  401  401  403  401
POST   /api/v1/devices/{device_id}/tokens                         clerk    403  403  403  403  403  401  401  403  401
POST   /api/v1/banks                                              clerk    403  403  403  403  403  401  401  403  401
POST   /api/v1/certificate-requests                               clerk    403  403  403  403  403  401  401  403  401
POST   /api/v1/certificate-requests/{request_id}/approve          clerk    403  403  403  403  403  401  401  403  401
POST   /api/v1/certificate-requests/{request_id}/reject           clerk    403  403  403  403  403  401  401  403  401
GET    /pki/ca.pem                                                clerk    ok   ok   ok   ok   ok   ok   ok   ok   ok
GET    /pki/crl                                                   clerk    ok   ok   ok   ok   ok   ok   ok   ok   ok
GET    /pki/crl/{issuer_serial}                                   clerk    ok   ok   ok   ok   ok   ok   ok   ok   ok
POST   /pki/ocsp                                                  clerk    ok   ok   ok   ok   ok   ok   ok   ok   ok
GET    /pki/ocsp/{encoded:path}                                   clerk    ok   ok   ok   ok   ok   ok   ok   ok   ok
POST   /pki/enrol                                                 clerk    401  401  401  401  401  401  401  401  401
POST   /bank/v1/payouts/authorize                                 clerk    401  401  401  401  401  ok   401  401  401
POST   /bank/v1/payouts/{authorisation_code}/confirm              clerk    401  401  401  401  401  404  401  401  401
POST   /bank/v1/payouts/{authorisation_code}/void                 clerk    401  401  401  401  401  404  401  401  401
POST   /api/v1/public/receipts/verify                             clerk    ok   ok   ok   ok   ok   ok   ok   ok   ok
GET    /12333/                                                    clerk    ok   ok   ok   ok   ok   ok   ok   ok   ok
POST   /12333/code                                                clerk    ok   ok   ok   ok   ok   ok   ok   ok   ok
POST   /12333/login                                               clerk    401  401  401  401  401  401  401  401  401
POST   /12333/logout                                              clerk    ok   ok   ok   ok   ok   ok   ok   ok   ok
GET    /12333/me                                                  clerk    ok   ok   ok   ok   ok   ok   ok   ok   ok
GET    /12333/statements/{year}.pdf                               clerk    ok   ok   ok   ok   ok   ok   ok   ok   ok
"""  # noqa: E501


@dataclass
class Seeded:
    """The seeded world: objects of township A by path parameter, sentinels by township."""

    objects: dict[str, Any] = field(default_factory=dict)
    id_numbers: dict[str, str] = field(default_factory=dict)


def _path_values(seeded: Seeded, route: str) -> dict[str, Any]:
    values = dict(seeded.objects)
    values.update(PATH_OVERRIDES.get(route, {}))
    return values


PATH_OVERRIDES: dict[str, dict[str, Any]] = {
    # ``case_id`` names the seeded death case; no double-pension case is seeded.
    "GET /api/v1/transfers/double-pensions/{case_id}": {"case_id": MISSING},
    "POST /api/v1/transfers/double-pensions/{case_id}/confirm": {"case_id": MISSING},
    "POST /api/v1/transfers/double-pensions/{case_id}/reject": {"case_id": MISSING},
    "POST /api/v1/cards/{card_id}/actions/{action}": {"action": "report_temporary_loss"},
    "GET /pki/ocsp/{encoded:path}": {"encoded": "MAA"},
}


def _a(**fields: Any) -> Callable[[Seeded], dict[str, Any]]:
    """A body naming township A's objects: ``person_id="person_id"`` → the seeded id."""

    def body(seeded: Seeded) -> dict[str, Any]:
        return {
            name: seeded.objects[value]
            if isinstance(value, str) and value in seeded.objects
            else value()
            if callable(value)
            else value
            for name, value in fields.items()
        }

    return body


def _unique() -> str:
    return uuid.uuid4().hex[:12]


HEX8 = "00" * 8
ZERO_HANDLE = "0" * 32
#: Route → the JSON body it is sent (default ``{}``): enough to pass validation, so the
#: scope and permission checks behind it are what answers.
BODIES: dict[str, Callable[[Seeded], Any]] = {
    "POST /api/v1/statistics/reports": _a(
        period=lambda: f"{dt.date.today():%Y-%m}", region_code="654226100000"
    ),
    "POST /api/v1/orgs/offices": _a(
        code=lambda: f"M-{_unique()}", name="矩阵测试所", region_code="654226100000"
    ),
    "POST /api/v1/operators": _a(
        username=lambda: f"m{_unique()}",
        full_name="矩阵",
        role="clerk",
        office_id="office_id",
        password=PASSWORD,
    ),
    "POST /api/v1/persons": lambda s: person_body(hukou_region_code=VILLAGES["A"]),
    "POST /api/v1/persons/search": lambda s: {"id_number": s.id_numbers["A"]},
    "POST /api/v1/enrolments": _a(person_id="person_id"),
    "POST /api/v1/enrolments/{enrolment_id}/status": _a(status="paying", reason="矩阵"),
    "POST /api/v1/households": _a(
        household_number=lambda: f"M{_unique()}", region_code=VILLAGES["A"]
    ),
    "POST /api/v1/households/{household_id}/members": _a(
        person_id="person_id", relationship_code="02"
    ),
    "POST /api/v1/cards": _a(person_id="person_id", bank_code="RCC"),
    "POST /api/v1/cards/batches": _a(region_prefix="654226100"),
    "POST /api/v1/cards/batches/{batch_id}/return": _a(content="H|x|0\nT|0|00\n"),
    "POST /api/v1/cards/authentications/challenges": _a(identification_code="identification_code"),
    "POST /api/v1/cards/authentications": _a(challenge_id=ZERO_HANDLE, cryptogram=HEX8),
    "POST /api/v1/cards/{card_id}/external-authenticate": _a(challenge=HEX8),
    "POST /api/v1/cards/external-authentications": _a(
        identification_code="identification_code", challenge=HEX8
    ),
    "POST /api/v1/cards/{card_id}/pin-reset/result": lambda s: {
        "card_answer": "9000",
        "verified": True,
        "entry": "keyboard",
    },
    "POST /api/v1/cards/{card_id}/pin-reset": lambda s: {
        "challenge": HEX8,
        "id_number": s.id_numbers["A"],
        "new_pin": "246810",
    },
    "POST /api/v1/cards/{card_id}/personalisation": _a(atr="3B00"),
    "POST /api/v1/cards/{card_id}/personalisation/result": _a(challenge_id=ZERO_HANDLE),
    "POST /api/v1/contributions/assessments": _a(person_id="person_id", year=2026, grade_fen=10000),
    "POST /api/v1/contributions/collections": _a(assessment_id="assessment_id"),
    "POST /api/v1/contributions/collections/{collection_id}/reversal": _a(reason="矩阵"),
    "POST /api/v1/contributions/refunds": _a(assessment_id="assessment_id", reason="duplicate"),
    "POST /api/v1/contributions/day-close": _a(business_date="2026-05-20"),
    "POST /api/v1/benefits/deaths": _a(person_id="person_id", died_on="2026-05-25"),
    "POST /api/v1/benefits/overpayments/{overpayment_id}/repayments": _a(
        amount_fen=1, receipt_no="R1"
    ),
    "POST /api/v1/benefits/kiosk/challenges": _a(identification_code="identification_code"),
    "POST /api/v1/benefits/kiosk/authentications": _a(challenge_id=ZERO_HANDLE, cryptogram=HEX8),
    "POST /api/v1/benefits/kiosk/certifications": lambda s: {
        "challenge_id": ZERO_HANDLE,
        "cryptogram": HEX8,
        "id_number": s.id_numbers["A"],
    },
    "POST /api/v1/benefits/applications": _a(person_id="person_id", **BANK),
    "POST /api/v1/benefits/pensions/{person_id}/certifications": _a(
        method="counter", documents_seen=["id_card"]
    ),
    "PUT /api/v1/benefits/pensions/{person_id}/bank": _a(**NEW_BANK),
    "POST /api/v1/benefits/bank-changes/{bank_change_id}/reject": _a(reason="户名不符"),
    "POST /api/v1/contributions/refunds/{refund_id}/reject": _a(reason="未重复缴费"),
    "POST /api/v1/benefits/deaths/{case_id}/reject": _a(reason="本人仍健在"),
    "POST /api/v1/transfers/double-pensions/{case_id}/reject": _a(reason="未领职工养老金"),
    "POST /api/v1/transfers": _a(person_id="person_id"),
    "POST /api/v1/transfers/employee-scheme/years": _a(
        person_id="person_id", agency="矩阵", years=[2001]
    ),
    "POST /api/v1/transfers/employee-scheme/in": _a(person_id="person_id", balance_fen=1),
    "POST /api/v1/transfers/employee-scheme/out": _a(person_id="person_id"),
    "POST /api/v1/receipts": _a(kind="contribution", fact_id=MISSING),
    "POST /api/v1/certificates/{serial}/revoke": _a(reason="key_compromise"),
    "POST /api/v1/certificates/renew": _a(csr_pem="not a CSR"),
    "POST /api/v1/devices": _a(
        name=lambda: f"m-{_unique()}", kind="workstation", office_id="office_id"
    ),
    "POST /api/v1/banks": _a(code=lambda: f"M{_unique()[:8]}", name="矩阵银行"),
    "POST /api/v1/certificate-requests": _a(
        profile="operator", csr_pem="not a CSR", operator_id="operator_id"
    ),
    "POST /pki/enrol": _a(token="not-a-token", csr_pem="not a CSR"),
    "POST /bank/v1/payouts/authorize": _a(
        bank_transaction_id=lambda: _unique(),
        card_number="card_number",
        amount_fen=100,
        channel="branch",
        terminal_id="T1",
    ),
    "POST /api/v1/public/receipts/verify": _a(token="XNBR1.e30.AAAA"),
    "PUT /api/v1/persons/{person_id}/query-password": _a(password="258036"),
}
#: Route → its query string.
QUERIES: dict[str, dict[str, Any]] = {
    "GET /api/v1/persons/{person_id}/statement": {"year": 2024},
}

#: Routes that end the caller's session: each call logs in afresh.
FRESH_LOGIN = {"POST /api/v1/auth/logout"}


@dataclass(frozen=True)
class Row:
    """What each caller should get from one route."""

    role: str
    expected: dict[str, str]


def parse_table(text: str) -> dict[str, Row]:
    """``TABLE`` as route → row; a malformed line fails with its text."""
    rows: dict[str, Row] = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        method, path, role, *cells = line.split("#", 1)[0].split()
        assert role in USERS and len(cells) == len(ACTORS), f"bad row: {line!r}"
        assert all(c in OUTCOMES for c in cells), f"bad cell in row: {line!r}"
        key = f"{method} {path}"
        assert key not in rows, f"route twice in the table: {key}"
        rows[key] = Row(role, dict(zip(ACTORS, cells, strict=True)))
    return rows


def app_routes(client: TestClient) -> list[tuple[str, str]]:
    """(method, path) of every API route of the app (documentation pages left out)."""
    routes: list[tuple[str, str]] = []
    for context in fastapi.routing.iter_route_contexts(client.app.routes):  # type: ignore[attr-defined]
        if isinstance(context.original_route, fastapi.routing.APIRoute) and context.path:
            routes += [(method, context.path) for method in sorted(context.methods or ())]
    return routes


def outcome(status: int) -> str:
    """The table's word for an HTTP status."""
    if status >= 500:
        return f"{status}"
    return str(status) if status in (401, 403, 404) else "ok"


# -- the seeded world ------------------------------------------------------------------


def _api(world: World, method: str, path: str, user: str, body: Any = None) -> Any:
    r = world.client.request(method, path, json=body, headers=world.headers(user))
    assert r.status_code < 300, f"seeding {method} {path}: {r.status_code} {r.text}"
    return r.json()


def seed(
    world: World, factory: sessionmaker[Session], settings: Settings, tmp_path: Path
) -> Seeded:
    """Township C's office and operators, a card centre, a bank, a kiosk, the CA, the card
    keys, the sentinels and one object of township A for every path parameter it can fill."""
    seeded = Seeded()
    world.client.app.state.key_vault = LocalKeyVault.create(  # type: ignore[attr-defined]
        tmp_path / "vault.json",
        passphrase="matrix vault passphrase",
        province_code="65",
        demo_keys=True,
        scrypt_n=2**10,
    )
    init_ca(factory, settings, tmp_path / "root")
    actor = Actor.system()
    with unit_of_work(factory) as s:
        load_basics(s, regions=False)
        code, name, region = C_OFFICE
        office_c = orgs.create_office(
            session=s, code=code, name=name, region_code=region, actor=actor
        )
        for username, role, office_id in (
            ("clerk_hst", Role.CLERK, office_c.id),
            ("reviewer_hst", Role.REVIEWER, office_c.id),
            ("card_centre", Role.CARD_CENTRE, world.offices["county"].id),
            ("clerk_hbk_target", Role.CLERK, world.offices["hbk"].id),
        ):
            op = orgs.create_operator(
                session=s,
                principal=None,
                actor=actor,
                username=username,
                full_name=username,
                role=role,
                office_id=office_id,
                password=PASSWORD,
            )
            world.operator_ids[username] = op.id
        register_bank(session=s, principal=None, code=BANK_CODE, name="矩阵测试银行", actor=actor)
        kiosk = register_device(
            session=s,
            principal=None,
            name=KIOSK,
            kind="kiosk",
            office_id=world.offices["hbk"].id,
            actor=actor,
        )
        sentinels = {
            town: add_candidate(s, sequence=n, village=VILLAGES[town], name=SENTINEL_NAMES[town])
            for n, town in ((71, "A"), (73, "B"), (75, "C"))
        }
        second_a = add_candidate(s, sequence=77, village=VILLAGES["A"], name=SENTINEL_NAMES["A"])
        for town, person_id in sentinels.items():
            seeded.id_numbers[town] = s.get_one(Person, person_id).id_number
        person_a = sentinels["A"]
        seeded.objects.update(
            person_id=person_a,
            operator_id=world.operator_ids["clerk_hbk_target"],
            device_id=kiosk.id,
            enrolment_id=s.scalar(select(Enrolment.id).where(Enrolment.person_id == person_a)),
            assessment_id=s.scalar(
                select(Assessment.id).where(Assessment.person_id == person_a).limit(1)
            ),
            version_id=s.scalar(select(PolicyVersion.id).limit(1)),
            year=2024,
        )
    card = add_card(factory, person_a, state="active")
    seeded.objects.update(
        card_id=card.id,
        identification_code=card.identification_code,
        card_number=card.card_number,
        office_id=world.offices["hbk"].id,
    )
    add_card(factory, second_a, state="applied")
    batch = _api(
        world, "POST", "/api/v1/cards/batches", "card_centre", {"region_prefix": "654226100"}
    )
    seeded.objects["batch_id"] = batch["id"]
    application = _api(
        world,
        "POST",
        "/api/v1/benefits/applications",
        "clerk_hbk",
        {"person_id": person_a, "applied_on": APPLIED_ON.isoformat(), **BANK},
    )
    seeded.objects["application_id"] = application["id"]
    _api(
        world,
        "POST",
        f"/api/v1/benefits/applications/{application['id']}/approve",
        "reviewer_hbk",
        {},
    )
    bank_change = _api(
        world, "PUT", f"/api/v1/benefits/pensions/{person_a}/bank", "clerk_hbk", NEW_BANK
    )
    seeded.objects["bank_change_id"] = bank_change["id"]
    household = _api(
        world,
        "POST",
        "/api/v1/households",
        "clerk_hbk",
        {"household_number": "654226100200-0071", "region_code": VILLAGES["A"]},
    )
    seeded.objects["household_id"] = household["id"]
    _api(
        world,
        "POST",
        f"/api/v1/households/{household['id']}/members",
        "clerk_hbk",
        {"person_id": second_a, "relationship_code": "01"},
    )
    change = _api(world, "PATCH", f"/api/v1/persons/{second_a}", "clerk_hbk", {"name": "改名甲"})
    seeded.objects["change_id"] = change["pending"][0]["id"]
    seeded.objects["serial"] = enrol_device(world.client, world, name="ws-hbk-matrix").serial
    with unit_of_work(factory) as s:
        seeded.objects["issuer_serial"] = issuing_ca(session=s).serial
        payer = add_resident(
            s, sequence=79, village=VILLAGES["A"], birth=dt.date(1990, 3, 1), name="哨兵甲"
        ).id
    assessment = _api(
        world,
        "POST",
        "/api/v1/contributions/assessments",
        "clerk_hbk",
        {"person_id": payer, "year": dt.date.today().year, "grade_fen": 50000},
    )
    collection = _api(
        world,
        "POST",
        "/api/v1/contributions/collections",
        "clerk_hbk",
        {"assessment_id": assessment["id"]},
    )
    refund = _api(
        world,
        "POST",
        "/api/v1/contributions/refunds",
        "clerk_hbk",
        {"assessment_id": assessment["id"], "reason": "employee_overlap"},
    )
    death = _api(
        world,
        "POST",
        "/api/v1/benefits/deaths",
        "clerk_hbk",
        {"person_id": person_a, "died_on": "2026-11-20"},
    )
    seeded.objects.update(
        collection_id=collection["id"], refund_id=refund["id"], case_id=death["id"]
    )
    report = _api(
        world,
        "POST",
        "/api/v1/statistics/reports",
        "reviewer_hbk",
        {"period": f"{dt.date.today():%Y-%m}", "region_code": "654226100000"},
    )
    seeded.objects["report_id"] = report["id"]
    return seeded


# -- calling one route as one caller ---------------------------------------------------


def _headers(world: World, actor: str, role: str, *, fresh: bool) -> dict[str, str]:
    base = {"Idempotency-Key": uuid.uuid4().hex}
    if actor in USERS[role] or actor in ("prov", "card"):
        user = USERS[role].get(actor) or {"prov": "admin_province", "card": "card_centre"}[actor]
        token = _fresh_token(world, user) if fresh else world.token(user)
        return {**base, "Authorization": f"Bearer {token}", "X-XNB-Device": "matrix-workstation"}
    if actor == "bank":
        return {**base, "X-XNB-Bank": BANK_CODE}
    if actor == "kiosk":
        return {**base, "X-XNB-Device": KIOSK}
    return base


def _fresh_token(world: World, user: str) -> str:
    """A session of its own (for routes that end it), not the one the other rows use."""
    r = world.client.post("/api/v1/auth/login", json={"username": user, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def _call(world: World, seeded: Seeded, route: str, actor: str, role: str) -> tuple[int, str]:
    method, path = route.split(" ", 1)
    values = _path_values(seeded, route)
    url = PATH_PARAMETER.sub(lambda m: str(values.get(m.group(1), MISSING)), path)
    body = BODIES[route](seeded) if route in BODIES else ({} if method != "GET" else None)
    r = world.client.request(
        method,
        url,
        params=QUERIES.get(route),
        json=body,
        headers=_headers(world, actor, role, fresh=route in FRESH_LOGIN),
    )
    return r.status_code, r.text


def _leaks(text: str, actor: str, seeded: Seeded) -> list[str]:
    found = []
    for town in MUST_NOT_SEE.get(actor, ()):
        for marker in (SENTINEL_NAMES[town], seeded.id_numbers[town]):
            if marker in text or json.dumps(marker)[1:-1] in text:
                found.append(f"{town}:{marker}")
    return found


# About 1,200 requests: on PostgreSQL only (the production database; the scope checks are
# the same SQL on both), to keep the run near half a minute.
@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_every_route_answers_every_caller_as_the_table_says(
    world: World, session_factory: sessionmaker[Session], settings: Settings, tmp_path: Path
):
    rows = parse_table(TABLE)
    seeded = seed(world, session_factory, settings, tmp_path)
    routes = app_routes(world.client)
    keys = [f"{method} {path}" for method, path in routes]
    stale = sorted(set(rows) - set(keys))
    missing = [key for key in keys if key not in rows]
    mismatches: list[str] = []
    leaks: list[str] = []
    suggestions: list[str] = []
    own_seen: set[str] = set()  # the leak check is live: each township sees its own
    for key in keys:
        row = rows.get(key) or Row("clerk", {})
        seen: dict[str, str] = {}
        for actor in ACTORS:
            status, text = _call(world, seeded, key, actor, row.role)
            seen[actor] = outcome(status)
            want = row.expected.get(actor)
            if want is not None and seen[actor] != want:
                mismatches.append(f"{key} as {actor} ({row.role}): {status}, table says {want}")
            elif status >= 500:
                mismatches.append(f"{key} as {actor}: {status} {text[:200]}")
            leaked = _leaks(text, actor, seeded)
            if leaked:
                leaks.append(f"{key} as {actor}: {', '.join(leaked)}")
            if actor in SENTINEL_NAMES and SENTINEL_NAMES[actor] in text:
                own_seen.add(actor)
        if key not in rows:
            method, path = key.split(" ", 1)
            cells = " ".join(f"{seen[a]:<4}" for a in ACTORS)
            suggestions.append(f"{method:<6} {path:<58} {row.role:<9} {cells}")
    problems = []
    if missing:
        problems.append(
            "routes without a row in TABLE (tests/backend/test_scope_matrix.py). Add a row "
            "for each; this run saw the cells below — check every one is what the route "
            "should do (a township seeing another's object must be 404), and add the "
            "object to seed() or the body to BODIES if the route needs one:\n"
            + "\n".join(suggestions)
        )
    if stale:
        problems.append("rows for routes the app no longer has:\n" + "\n".join(stale))
    if mismatches:
        problems.append("answers that differ from the table:\n" + "\n".join(mismatches))
    if leaks:
        problems.append("answers naming another township's resident:\n" + "\n".join(leaks))
    assert not problems, "\n\n".join(problems)
    assert own_seen == set(SENTINEL_NAMES), (
        f"sentinels never seen by their own township: {own_seen}"
    )
