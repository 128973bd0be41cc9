"""schemathesis over the whole OpenAPI document of a running backend, as several roles.

A real ``xnb serve`` (uvicorn, one process) over a seeded county (the demo's offices and
operators, 200 residents, the CA and the card keys); schemathesis generates requests for
every operation from the schema — the schema's examples and random valid and invalid
data — and checks each answer: no server error, and every 4xx/5xx an RFC 9457
``application/problem+json`` document with a stable ``code`` and its status
(tests/backend/schemathesis_hooks.py). Bounded here (two examples per operation and
phase); ``bench/schemathesis_long.py`` runs every phase with many more, its figures in
docs/security.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.backend.schemathesis_support import (
    free_port,
    run_schemathesis,
    running_backend,
    seed_county,
)

#: Who calls: a township clerk, a county reviewer, the province administrator, nobody.
CI_ROLES = ("clerk_xzg", "reviewer_county", "admin_province", None)
CI_EXAMPLES = 2


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The seeded backend's base URL and its working directory."""
    workdir = tmp_path_factory.mktemp("schemathesis")
    database_url = f"sqlite:///{workdir / 'xnb.db'}"
    seed_county(database_url, workdir, residents=200)
    with running_backend(database_url, workdir, port=free_port()) as base:
        yield base, workdir


@pytest.mark.parametrize("role", CI_ROLES, ids=lambda r: r or "anonymous")
def test_no_server_error_and_every_refusal_is_a_problem_document(
    backend: tuple[str, Path], role: str | None
) -> None:
    base, workdir = backend
    code, figures, output = run_schemathesis(
        base, workdir, role=role, max_examples=CI_EXAMPLES, phases="examples,fuzzing"
    )
    assert figures["operations"] and figures["requests"], figures
    assert code == 0, f"{figures}\n{output[-12000:]}"
