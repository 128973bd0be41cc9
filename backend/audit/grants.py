"""The PostgreSQL privileges of the application's database role.

The backend connects as a role that may not rewrite history: on the audit records it may
only ``INSERT`` and ``SELECT``; on the chain heads, ``INSERT``, ``SELECT`` and ``UPDATE``
of the head's two hash columns (appending moves the head), never ``DELETE``; the schema
version it may only read. Every other table gets ``SELECT, INSERT, UPDATE, DELETE``; no
``TRUNCATE``, no DDL (migrations run as the owner, ``xnb db upgrade``). So a leaked
application password cannot delete audit records, and the head alone cannot hide a
truncation (the checkpoints, ``backend.audit.checkpoints``, catch a head moved back).

``xnb db grant-app-role <role>`` runs these statements as the owner; run it again after
every ``xnb db upgrade`` (new tables).
"""

from __future__ import annotations

import re

from backend.errors import invalid

_ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
#: Tables whose rows are never changed or removed by the application.
APPEND_ONLY = ("audit_records",)


def app_role_statements(role: str) -> list[str]:
    """The GRANT and REVOKE statements that give ``role`` what the backend needs, no more."""
    if not _ROLE_NAME.match(role):
        raise invalid("role", "角色名只能包含小写字母、数字和下划线，以字母或下划线开头")
    quoted = f'"{role}"'
    append_only = ", ".join(APPEND_ONLY)
    return [
        f"GRANT USAGE ON SCHEMA public TO {quoted}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {quoted}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {quoted}",
        f"REVOKE UPDATE, DELETE, TRUNCATE ON {append_only} FROM {quoted}",
        f"REVOKE UPDATE, DELETE, TRUNCATE ON audit_chain_heads FROM {quoted}",
        f"GRANT UPDATE (prev_hash, hash) ON audit_chain_heads TO {quoted}",
        f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON alembic_version FROM {quoted}",
    ]
