"""Helpers shared by the contribution, account, ledger, withholding and interest tests."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from backend.audit.service import Actor
from backend.orgs import service as orgs
from backend.policy import service as policy
from backend.registry.codes import EnrolmentStatus
from backend.registry.models import Enrolment, Person

VILLAGE = "654226200200"  # 夏孜盖村, in the xzg township office's scope
OTHER_TOWNSHIP_VILLAGE = "654226100200"
EMIN_VILLAGE = "654221100200"
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def id_number(region6: str, birth: dt.date, sequence: int) -> str:
    """A valid GB 11643 ID number."""
    first17 = f"{region6}{birth:%Y%m%d}{sequence:03d}"
    total = sum(int(c) * w for c, w in zip(first17, _WEIGHTS, strict=True))
    return first17 + "10X98765432"[total % 11]


def load_basics(session: Session, *, regions: bool = True) -> None:
    """Region tree (unless the world fixture loaded it) and the shipped policy versions."""
    if regions:
        orgs.load_regions(session=session, path=orgs.DATA_DIR / "regions_654226.csv")
    policy.load_defaults(session=session, actor=Actor.system())


def add_resident(
    session: Session,
    *,
    sequence: int,
    village: str = VILLAGE,
    birth: dt.date = dt.date(1980, 5, 1),
    name: str = "巴特尔",
    enrolled_on: dt.date = dt.date(2010, 1, 1),
) -> Person:
    """An enrolled (paying) resident."""
    person = Person(
        id_number=id_number(village[:6], birth, sequence),
        name=name,
        gender="1" if sequence % 2 else "2",
        ethnicity="02",
        birth_date=birth,
        hukou_region_code=village,
        county_code=village[:6],
    )
    session.add(person)
    session.flush()
    session.add(
        Enrolment(
            person_id=person.id,
            region_code=village,
            county_code=village[:6],
            status=EnrolmentStatus.PAYING.value,
            enrolled_on=enrolled_on,
        )
    )
    session.flush()
    return person
