"""Persons, households, enrolment and personal-data changes, always inside the operator's scope.

Every function that loads an object checks the principal's region scope; an object
outside it looks exactly like one that does not exist (``NotFound``), and the
refusal is audited. Functions never commit: the request owns the transaction.

One module per subject; they import one way only: ``persons`` → ``households`` →
``changes`` → ``_common``, and ``enrolments`` → ``_common``.
"""

from backend.registry.service._common import get_person, read_person
from backend.registry.service.changes import (
    DIRECT_FIELDS,
    REVIEWED_FIELDS,
    ChangeOutcome,
    ChangeStatus,
    approve_change,
    change_person,
    list_changes,
    reject_change,
)
from backend.registry.service.enrolments import (
    TRANSITIONS,
    allowed_transitions,
    change_enrolment_status,
    enrol,
    get_enrolment,
    list_enrolments,
)
from backend.registry.service.households import (
    HEAD_OF_HOUSEHOLD,
    add_member,
    create_household,
    get_household,
    list_households,
    read_household,
    remove_member,
)
from backend.registry.service.persons import (
    NAME_SCAN_LIMIT,
    PersonPage,
    PersonSearch,
    create_person,
    search_persons,
)

__all__ = [
    "DIRECT_FIELDS",
    "HEAD_OF_HOUSEHOLD",
    "NAME_SCAN_LIMIT",
    "REVIEWED_FIELDS",
    "TRANSITIONS",
    "ChangeOutcome",
    "ChangeStatus",
    "PersonPage",
    "PersonSearch",
    "add_member",
    "allowed_transitions",
    "approve_change",
    "change_enrolment_status",
    "change_person",
    "create_household",
    "create_person",
    "enrol",
    "get_enrolment",
    "get_household",
    "get_person",
    "list_changes",
    "list_enrolments",
    "list_households",
    "read_household",
    "read_person",
    "reject_change",
    "remove_member",
    "search_persons",
]
