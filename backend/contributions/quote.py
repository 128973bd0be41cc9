"""What a year would cost at each grade, before anything is assessed (the counter shows it
to the resident): own part, government subsidy, hardship payment — computed by the same
rules and checks as ``service.assess``."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session

from backend.contributions.service import year_terms
from backend.orgs.permissions import Permission
from backend.orgs.service import Principal
from backend.policy.rules import AssessmentAmounts
from backend.policy.rules import assess as compute


@dataclass(frozen=True)
class HardshipChoice:
    """A hardship group of the rules: whose lowest grade the government pays (share)."""

    code: str
    label: str


@dataclass(frozen=True)
class Quote:
    """Every grade of the year's rules with what it costs and brings."""

    person_id: int
    year: int
    make_up: bool
    policy_version_id: int
    options: list[AssessmentAmounts]
    hardship_groups: list[HardshipChoice]


def quote(
    *,
    session: Session,
    principal: Principal,
    person_id: int,
    year: int,
    hardship_group: str | None = None,
    today: dt.date | None = None,
) -> Quote:
    """The grades of a person's year; refused exactly as the assessment would be."""
    principal.require(Permission.CONTRIBUTION_COLLECT)
    terms = year_terms(
        session=session,
        principal=principal,
        person_id=person_id,
        year=year,
        today=today or dt.date.today(),
    )
    options = [
        compute(terms.rules, grade_fen=grade, hardship_group=hardship_group, make_up=terms.make_up)
        for grade in terms.rules.grades_fen
    ]
    return Quote(
        person_id=terms.person.id,
        year=year,
        make_up=terms.make_up,
        policy_version_id=terms.version_id,
        options=options,
        hardship_groups=[
            HardshipChoice(g.code, g.label) for g in terms.rules.hardship_groups.values()
        ],
    )
