"""The yearly interest run over N accounts, against COPY of N account entries.

Normally run through ``bench/contrib_return_import.py --interest`` (the accounts then hold
the return file's entries and subsidies); alone: ``.venv/bin/python bench/interest_run.py
[--rows N]`` seeds N accounts with one entry each and times the run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from backend.accounts.interest import run_interest
from backend.db import make_session_factory
from bench.money_support import (
    YEAR,
    copy_rows,
    engine_for,
    scratch_database,
    seed_county,
    timed,
)


def measure_interest(engine: Engine, factory: sessionmaker[Session], rows: int) -> str:
    """Time COPY of N entry rows and the interest run; one report line."""
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE bench_entries (LIKE account_entries)"))
    columns = [
        "id",
        "account_id",
        "county_code",
        "year",
        "month",
        "entry_date",
        "source",
        "amount_fen",
        "created_at",
    ]
    now = dt.datetime.now(dt.UTC)
    copy_time = timed(
        lambda: copy_rows(
            engine,
            "bench_entries",
            columns,
            (
                (i, i, "654226", YEAR, 12, dt.date(YEAR, 12, 31), "interest", 123, now)
                for i in range(1, rows + 1)
            ),
        )
    )
    print(f"COPY {rows} entries: {copy_time.seconds:.1f} s", flush=True)
    summary: list[Any] = []
    run_time = timed(lambda: summary.append(run_interest(factory=factory, year=YEAR)))
    print(f"interest run: {run_time.seconds:.1f} s, {summary[0].rows} accounts", flush=True)
    return (
        f"| interest run ({rows:,} accounts, {summary[0].rows:,} credited) | "
        f"{copy_time.seconds:.1f} s | {run_time.seconds:.1f} s | "
        f"{run_time.seconds / copy_time.seconds:.1f} | {run_time.peak_mib:.0f} MiB "
        f"(COPY {copy_time.peak_mib:.0f} MiB) |"
    )


def main() -> None:
    """Command line: seed N accounts with one March entry each, then measure."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    base = os.environ.get(
        "XNB_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    with scratch_database(base) as url:
        engine = engine_for(url)
        seed_county(engine, args.rows)
        with engine.begin() as conn:
            conn.execute(
                text("""
                INSERT INTO account_entries (account_id, county_code, year, month, entry_date,
                    source, amount_fen, created_at)
                SELECT id, county_code, :y, 3, make_date(:y, 3, 1), 'own', 30000, now()
                FROM accounts"""),
                {"y": YEAR},
            )
        print(measure_interest(engine, make_session_factory(engine), args.rows))
        engine.dispose()


if __name__ == "__main__":
    main()
