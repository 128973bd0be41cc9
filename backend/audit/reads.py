"""Who read whose personal data: one audit record per person opened or looked up.

A person opened (detail page, statement, pension, a card's holder) or looked up by ID
number or card is one ``person.read`` record naming the person (never batched, never
sampled); a list search is one ``person.search`` record with its criteria and the number
found. Each is a single INSERT in the request's own transaction (``audit.service.record``),
so a read that fails leaves no record and a record cannot be lost after a read succeeded.
Values that identify someone are masked in the record: the ID number keeps its first six
and last four characters, a name its first character.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from backend.audit.service import Actor, record


def mask_name(name: str) -> str:
    """A name as the audit log keeps a search for it: the first character, then stars."""
    name = name.strip()
    return name[:1] + "*" * max(len(name) - 1, 1)


def record_person_read(
    *,
    session: Session,
    actor: Actor,
    person_id: int | None,
    via: str,
    detail: dict[str, Any] | None = None,
) -> None:
    """One person's data was read (``via``: ``detail``, ``id_number``, ``statement``, …).

    ``person_id`` is None when a look-up found nobody (the record still shows the attempt).
    """
    record(
        session=session,
        actor=actor,
        action="person.read",
        object_type="person",
        object_id=person_id,
        detail={"via": via, **(detail or {})},
    )


def record_person_search(
    *, session: Session, actor: Actor, criteria: dict[str, Any], found: int
) -> None:
    """A list search: its (masked) criteria and how many persons it found."""
    record(
        session=session,
        actor=actor,
        action="person.search",
        object_type="person",
        detail={"criteria": criteria, "found": found},
    )
