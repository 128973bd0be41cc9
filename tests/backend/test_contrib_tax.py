"""Tax-bureau results: imported once, totals checked, exceptions listed; duplicate refunds."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import func, select

from backend.accounts.models import AccountEntry
from backend.audit.service import Actor
from backend.contributions import service as contrib
from backend.contributions.taximport import import_tax_file
from backend.db import unit_of_work
from backend.ledger import service as ledger
from backend.orgs.models import Operator
from backend.orgs.service import Principal
from tests.backend.money_world import add_resident, load_basics
from tests.conftest import World

YEAR = dt.date.today().year
ACTOR = Actor.system("test")


def _principal(session, world: World, username: str) -> Principal:
    return Principal.of(session.get(Operator, world.operator_ids[username]), ACTOR)


@pytest.fixture
def assessed(world: World, session_factory):
    with unit_of_work(session_factory) as s:
        load_basics(s, regions=False)
        clerk = _principal(s, world, "clerk_county")
        people = [add_resident(s, sequence=201 + 2 * i, name=f"纳税人{i}") for i in range(3)]
        ids = [
            contrib.assess(
                session=s, principal=clerk, person_id=p.id, year=YEAR, grade_fen=20000
            ).id
            for p in people
        ]
        return {"people": [(p.id_number, p.name) for p in people], "assessments": ids}


def _write(path: Path, rows: list[tuple[str, str, int, str, str]], total: str | None = None):
    amount = sum(int(float(r[3]) * 100) for r in rows)
    head = (
        f"H|国家税务总局和布克赛尔县税务局|654226|{len(rows)}|"
        f"{total or f'{amount // 100}.{amount % 100:02d}'}|{YEAR}0410"
    )
    path.write_text(
        "\r\n".join([head, *("|".join(map(str, r)) for r in rows)]) + "\r\n", encoding="gb18030"
    )
    return path


def test_tax_file_is_applied_once_with_exceptions(assessed, session_factory, tmp_path):
    (id1, n1), (id2, n2), _ = assessed["people"]
    path = _write(
        tmp_path / "tax.txt",
        [
            (id1, n1, YEAR, "200.00", "SW001"),
            (id2, n2, YEAR, "150.00", "SW002"),
            (id2, n2, YEAR - 5, "100.00", "SW003"),  # no assessment for that year
            (id1, n1, YEAR, "200.00", "SW001"),  # same receipt twice
        ],
    )
    with unit_of_work(session_factory) as s:
        result = import_tax_file(session=s, path=path, actor=ACTOR)
    assert (result.status, result.applied_rows, result.exception_rows) == ("applied", 2, 2)
    assert result.applied_fen == 35000
    with unit_of_work(session_factory) as s:
        again = import_tax_file(session=s, path=path, actor=ACTOR)
        assert again.already_imported
        assert (
            s.scalar(select(func.sum(AccountEntry.amount_fen)).where(AccountEntry.source == "own"))
            == 35000
        )
        assert ledger.check(session=s).ok


def test_tax_file_with_wrong_total_is_rejected(assessed, session_factory, tmp_path):
    (id1, n1), *_ = assessed["people"]
    path = _write(tmp_path / "bad.txt", [(id1, n1, YEAR, "200.00", "SW009")], total="999.00")
    with unit_of_work(session_factory) as s:
        result = import_tax_file(session=s, path=path, actor=ACTOR)
    assert result.status == "rejected"
    with unit_of_work(session_factory) as s:
        assert s.scalar(select(func.count(AccountEntry.id))) == 0


def test_paid_twice_counter_and_tax_then_refund_of_the_excess(
    world: World, assessed, session_factory, tmp_path
):
    (id1, n1), *_ = assessed["people"]
    assessment_id = assessed["assessments"][0]
    with unit_of_work(session_factory) as s:
        contrib.collect(
            session=s, principal=_principal(s, world, "clerk_county"), assessment_id=assessment_id
        )
        import_tax_file(
            session=s,
            actor=ACTOR,
            path=_write(tmp_path / "t.txt", [(id1, n1, YEAR, "200.00", "SW100")]),
        )
    with unit_of_work(session_factory) as s:
        refund = contrib.request_refund(
            session=s,
            principal=_principal(s, world, "clerk_county"),
            assessment_id=assessment_id,
            reason="duplicate",
        )
        assert refund.amount_fen == 20000
        with pytest.raises(Exception) as exc:
            contrib.decide_refund(
                session=s,
                principal=_principal(s, world, "clerk_county"),
                refund_id=refund.id,
                approve=True,
            )
        assert getattr(exc.value, "code", "") == "permission_denied"
    with unit_of_work(session_factory) as s:
        contrib.decide_refund(
            session=s,
            principal=_principal(s, world, "reviewer_county"),
            refund_id=refund.id,
            approve=True,
        )
    with unit_of_work(session_factory) as s:
        sources = dict(
            s.execute(
                select(AccountEntry.source, func.sum(AccountEntry.amount_fen)).group_by(
                    AccountEntry.source
                )
            ).all()
        )
        # Paid 400 for a 200 grade; 200 back; the year stays settled with its subsidy.
        assert sources == {"own": 40000, "refund": -20000, "government_subsidy": 4500}
        assert ledger.check(session=s).ok
