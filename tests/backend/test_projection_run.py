"""The projection started from the live registry and accounts, on the command line."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

from typer.testing import CliRunner

from backend.config import get_settings
from backend.db import unit_of_work
from backend.statistics.population import starting_population
from tests.backend.benefits_support import three_pensioners
from tests.backend.money_world import add_resident
from tests.conftest import World


def test_projection_starts_from_the_registry_and_runs_from_the_command_line(
    world: World, session_factory, tmp_path: Path, database_url: str, monkeypatch
):
    three_pensioners(world, session_factory)  # born 1966, 10,000 + 3,900 yuan (one 50)
    with unit_of_work(session_factory) as s:
        add_resident(s, sequence=201, birth=dt.date(1990, 4, 1))
        add_resident(s, sequence=203, birth=dt.date(2015, 4, 1), enrolled_on=dt.date(2031, 5, 1))
    with unit_of_work(session_factory) as s:
        start, entrants = starting_population(
            session=s, prefix="654226", on=dt.date(2026, 12, 31), years=10
        )
    # Three pensioners aged 60 (men and women by sequence parity) and one payer of 36.
    assert start.people() == 4
    assert {age for _, age in start.alive} == {60, 36}
    assert start.money() == 2 * 1_390_000 + 5000
    assert sum(start.account_pension_fen.values()) > 0
    # The child born 2015 joins at 16, in 2031.
    assert entrants == {2031: {"1": Decimal(1)}}

    good = tmp_path / "scenario.toml"
    good.write_text('start_year = 2027\nyears = 10\ninterest_rate = "0.02"\n', encoding="utf-8")
    bad = tmp_path / "bad.toml"
    bad.write_text(
        "start_year = 2027\nyears = 200\ninterest_rate = -0.5\nfoo = 1\n", encoding="utf-8"
    )
    monkeypatch.setenv("XNB_DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        from xnb.cli import app

        result = CliRunner().invoke(
            app, ["projection", "run", "--scenario", str(good), "--region", "654226"]
        )
        assert result.exit_code == 0, result.output
        assert "死亡率表未经确认" in result.output
        lines = [line for line in result.output.splitlines() if line[:4].isdigit()]
        assert [line.split()[0] for line in lines] == [str(y) for y in range(2027, 2037)]
        result = CliRunner().invoke(
            app, ["projection", "run", "--scenario", str(bad), "--region", "654226"]
        )
        assert result.exit_code == 2
        for field in ("years", "interest_rate", "foo"):
            assert f"  {field}: " in result.output
    finally:
        get_settings.cache_clear()
