"""Lists of people from other agencies matched against the pensioners, once per file.

Death lists (public security, civil affairs, cremation) and the employee agency's list of
its pensioners share the steps: the file's SHA-256 makes a second import change nothing;
its rows are staged in bulk and matched with one join (``registry.matching``); the list is
recorded (``person_lists``) with what it matched; each matched pensioner without an open
case gets one, opened by the caller's ``open_case``; one audit record says what it did.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from backend.audit.service import Actor, record
from backend.benefits.models import Pension
from backend.benefits.service import PensionStatus
from backend.registry import matching
from backend.registry.models import Person
from backend.transfers.models import PersonList

#: Opens the case of one match: (the list, the pension, the date on the list's row).
OpenCase = Callable[[PersonList, Pension, dt.date], object]


def import_pensioner_list(
    *,
    session: Session,
    path: Path,
    layout: matching.ListLayout,
    kind: str,
    source: str,
    has_case: ColumnElement[bool],
    open_case: OpenCase,
    actor: Actor,
    accept_valid: bool,
) -> matching.ListResult:
    """Match a list against pensions not terminated and open a case for each new match.

    ``has_case`` is an ``EXISTS`` over ``Person`` telling a match that already has an open
    case. A bad row rejects the whole file (field by field) unless ``accept_valid``.
    """
    sha = matching.file_sha256(path)
    if session.scalar(select(PersonList.id).where(PersonList.sha256 == sha)):
        return matching.ListResult(0, 0, 0, already_imported=True)
    report = matching.stage_list(
        session=session, path=path, layout=layout, accept_valid=accept_valid
    )
    found = session.execute(
        matching.listed_persons()
        .add_columns(Pension.id, has_case)
        .join(Pension, Pension.person_id == Person.id)
        .where(Pension.status != PensionStatus.TERMINATED)
        .order_by(matching.staged.c.line)
    ).all()
    matching.drop_stage(session=session)
    listed = PersonList(
        sha256=sha,
        kind=kind,
        source=source,
        file_name=path.name[:200],
        row_count=report.rows,
        rejected_rows=report.rows - report.staged,
        matched=len(found),
        opened=0,
    )
    session.add(listed)
    session.flush()
    for _, _, listed_on, pension_id, known in found:
        if not known:
            open_case(listed, session.get_one(Pension, pension_id), listed_on)
            listed.opened += 1
    session.flush()
    record(
        session=session,
        actor=actor,
        action=f"{kind}.list_import",
        object_type="person_list",
        object_id=listed.id,
        detail={
            "source": source,
            "sha256": sha,
            "rows": listed.row_count,
            "rejected_rows": listed.rejected_rows,
            "matched": listed.matched,
            "opened": listed.opened,
        },
    )
    return matching.ListResult(
        listed.row_count, listed.matched, listed.opened, rejected_rows=listed.rejected_rows
    )
