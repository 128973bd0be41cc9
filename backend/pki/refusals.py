"""Refusals that must be audited although the request's transaction rolls back.

For callers that own the transaction (views, commands): on a domain error the work is
rolled back, one audit record naming the specific reason is written and committed,
and the error goes on to the one problem handler.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from backend.audit.service import Actor, record
from backend.errors import DomainError


@contextmanager
def audited_refusal(
    session: Session,
    *,
    actor: Actor,
    action: str,
    object_type: str | None = None,
    object_id: str | int | None = None,
) -> Iterator[None]:
    """Run the block; if it raises a domain error, audit the refusal with its code."""
    try:
        yield
    except DomainError as error:
        session.rollback()
        record(
            session=session,
            actor=actor,
            action=action,
            object_type=object_type,
            object_id=object_id,
            result="denied",
            detail={"reason": error.code, "detail": error.detail},
        )
        session.commit()
        raise
