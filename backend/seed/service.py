"""Loading a synthetic county into the database through the importer's set-based path."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import asdict, dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.audit.service import Actor, record
from backend.errors import InvalidInput
from backend.orgs import service as orgs
from backend.orgs.models import Region
from backend.registry.codes import EnrolmentStatus
from backend.registry.eligibility import age_on, check_eligibility, load_rules
from backend.registry.importer import PersonLoader
from backend.registry.validation import validate_person
from backend.seed.generator import AS_OF, ResidentGenerator, Village

ENROLMENT_REASON = "合成数据（xnb seed）"


@dataclass
class SeedReport:
    """What one seed run generated and stored."""

    county: str
    seed: int
    residents: int = 0
    imported: int = 0
    already_present: int = 0
    households_created: int = 0
    enrolled: int = 0


def county_villages(*, session: Session, county: str) -> list[Village]:
    """The county's villages from the region tree, loading the shipped tree if it is absent."""
    query = (
        select(Region.code, Region.name)
        .where(Region.level == 5, Region.code.startswith(county))
        .order_by(Region.code)
    )
    rows = session.execute(query).all()
    if not rows:
        orgs.load_regions(session=session, path=orgs.DATA_DIR / "regions_654226.csv")
        rows = session.execute(query).all()
    if not rows:
        raise InvalidInput(detail=f"区划树中没有县{county}的村（社区）", code="unknown_county")
    return [Village(code, name) for code, name in rows]


def seed_residents(
    *,
    session: Session,
    county: str,
    residents: int,
    seed: int,
    actor: Actor | None = None,
    as_of: dt.date = AS_OF,
    progress: Callable[[int], None] | None = None,
    chunk_rows: int = 20_000,
) -> SeedReport:
    """Generate ``residents`` people of ``county`` and store them with their enrolments.

    Every row goes through ``validate_person``; eligible adults who chose to enrol get an
    enrolment (paying, or receiving from pension age) checked by the enrolment rules.
    Running again with the same seed adds nobody: stored ID numbers are skipped.
    """
    villages = county_villages(session=session, county=county)
    known = {v.code for v in villages}
    rules = load_rules()
    generator = ResidentGenerator(county=county, villages=villages, seed=seed, as_of=as_of)
    report = SeedReport(county=county, seed=seed)
    with PersonLoader(session) as loader:
        for line, resident in enumerate(generator.residents(residents), start=2):
            person, errors = validate_person(resident.row, known_villages=known, today=as_of)
            if person is None:
                raise RuntimeError(f"generated resident {resident.row} is invalid: {errors}")
            status: str | None = None
            enrolled_on = resident.enrolled_on
            if enrolled_on is not None and not check_eligibility(person, enrolled_on, rules):
                version = rules.in_force(as_of)
                pension_age = version.pension_age if version else 60
                receiving = age_on(person.birth_date, as_of) >= pension_age
                status = (EnrolmentStatus.RECEIVING if receiving else EnrolmentStatus.PAYING).value
            loader.add(line, person, enrol_status=status, enrolled_on=enrolled_on)
            report.residents += 1
            if progress and report.residents % chunk_rows == 0:
                progress(report.residents)
        loader.finish_staging()
        loader.count_present()
        counts = loader.apply()
        report.enrolled = loader.enrol(reason=ENROLMENT_REASON)
    report.imported = counts.imported
    report.already_present = counts.already_present
    report.households_created = counts.households_created
    record(
        session=session,
        actor=actor or Actor.system("seed"),
        action="seed.generate",
        object_type="county",
        object_id=county,
        detail=asdict(report),
    )
    return report
