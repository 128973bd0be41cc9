"""Shared by the contribution and interest benchmarks: a scratch PostgreSQL database, a
synthetic county of N assessed residents with withholding mandates, and peak-memory
sampling. Each benchmark times its job against ``COPY`` of the same number of rows."""

from __future__ import annotations

import os
import platform
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psutil
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from backend import migrations
from backend.audit.service import Actor
from backend.db import make_engine, make_session_factory, unit_of_work
from backend.orgs import service as orgs
from backend.policy import service as policy

COUNTY = "654226"
VILLAGE = "654226200200"
YEAR = 2025


@contextmanager
def scratch_database(base_url: str) -> Iterator[str]:
    """A new migrated PostgreSQL database, dropped afterwards."""
    name = f"xnb_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(base_url).set(database=name).render_as_string(hide_password=False)
    try:
        migrations.upgrade(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def seed_county(engine: Engine, residents: int) -> None:
    """N enrolled residents with accounts, a 300-yuan assessment for YEAR and a mandate."""
    factory = make_session_factory(engine)
    with unit_of_work(factory) as s:
        orgs.load_regions(session=s, path=orgs.DATA_DIR / "regions_654226.csv")
        policy.load_defaults(session=s, actor=Actor.system("bench"))
        version_id = policy.rules_on(
            session=s, region_code=VILLAGE, on=__import__("datetime").date(YEAR, 12, 31)
        ).version_id
    with engine.begin() as conn:
        conn.execute(
            text("""
            INSERT INTO persons (id_number, name, gender, ethnicity, birth_date,
                hukou_region_code, county_code, is_student, in_employee_scheme,
                is_civil_servant, version, created_at, updated_at)
            SELECT '654226' || lpad(i::text, 12, '0'), '居民' || i, '1', '02', DATE '1980-01-01',
                   :village, :county, false, false, false, 1, now(), now()
            FROM generate_series(1, :n) AS i"""),
            {"n": residents, "village": VILLAGE, "county": COUNTY},
        )
        conn.execute(
            text("""
            INSERT INTO accounts (person_id, county_code, opened_on, created_at)
            SELECT id, county_code, DATE '2015-01-01', now() FROM persons""")
        )
        conn.execute(
            text("""
            INSERT INTO contribution_assessments (person_id, county_code, region_code, year,
                grade_fen, own_due_fen, hardship_paid_fen, government_subsidy_fen,
                collective_fen, donation_fen, is_make_up, policy_version_id, paid_fen,
                settled, created_at)
            SELECT id, county_code, hukou_region_code, :year, 30000, 30000, 0, 5000, 0, 0,
                   false, :version, 0, false, now() FROM persons"""),
            {"year": YEAR, "version": version_id},
        )
        conn.execute(
            text("""
            INSERT INTO withholding_mandates (person_id, bank_code, county_code, active,
                created_at)
            SELECT id, 'BENCH', county_code, true, now() FROM persons""")
        )
        conn.execute(text("ANALYZE"))


class PeakMemory:
    """Samples this process's resident memory while a block runs."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._process = psutil.Process()

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._process.memory_info().rss)
            time.sleep(0.05)

    @contextmanager
    def watch(self) -> Iterator[PeakMemory]:
        """Sample until the block ends."""
        self.peak = self._process.memory_info().rss
        thread = threading.Thread(target=self._sample, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join()

    @property
    def mib(self) -> float:
        """The peak in MiB."""
        return self.peak / (1 << 20)


@dataclass
class Timed:
    """Seconds and peak memory of one measured step."""

    seconds: float
    peak_mib: float


def timed(action: Callable[[], Any]) -> Timed:
    """Run ``action``, measuring wall time and this process's peak memory."""
    memory = PeakMemory()
    with memory.watch():
        start = time.perf_counter()
        action()
        seconds = time.perf_counter() - start
    return Timed(seconds, memory.mib)


def copy_rows(engine: Engine, table: str, columns: list[str], rows: Iterator[tuple]) -> None:
    """COPY rows into a table (the baseline)."""
    raw: Any = engine.raw_connection()
    try:
        with raw.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as cp:
            for row in rows:
                cp.write_row(row)
        raw.commit()
    finally:
        raw.close()


def machine() -> str:
    """One line about where the numbers were taken."""
    return (
        f"{platform.node()}: {platform.processor() or platform.machine()}, "
        f"{psutil.cpu_count()} cores (shared), {psutil.virtual_memory().total >> 30} GiB, "
        f"PostgreSQL via {os.environ.get('XNB_BENCH_POSTGRES_URL', 'default URL')}"
    )


def engine_for(url: str) -> Engine:
    """An engine on the scratch database."""
    return make_engine(url)
