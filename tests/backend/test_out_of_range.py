"""Numbers past what a database column holds are bad input (422), never a server error.

Found by schemathesis (tests/backend/test_schemathesis.py): an identifier of 21 digits in
a path, a query's offset or a body reached the database driver and answered 500.
"""

from __future__ import annotations

import pytest

from tests.conftest import World

HUGE = 122924684680553168896


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", f"/api/v1/benefits/persons/{HUGE}/qualification", None),
        ("get", f"/api/v1/person-changes?offset={HUGE}", None),
        ("get", f"/api/v1/persons/{HUGE}", None),
        ("post", "/api/v1/cards", {"person_id": -HUGE, "bank_code": "ABC-XJ", "generation": 3}),
        ("post", "/api/v1/benefits/deaths", {"person_id": HUGE, "died_on": "2025-02-21"}),
    ],
)
def test_an_out_of_range_number_is_a_422_problem(
    world: World, method: str, path: str, body: dict[str, object] | None
):
    kwargs = {"json": body} if body is not None else {}
    r = getattr(world.client, method)(path, headers=world.headers("clerk_county"), **kwargs)
    assert r.status_code in (404, 422), r.text
    assert r.headers["content-type"] == "application/problem+json"
    if r.status_code == 422:
        assert r.json()["code"] in ("value_out_of_range", "invalid_input")
