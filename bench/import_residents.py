"""Benchmark: ``xnb persons import`` against a bare PostgreSQL ``COPY`` of the same file.

Run: ``.venv/bin/python bench/import_residents.py --rows 1000000``

For each size (the requested one and, for the memory comparison, a smaller one) it
writes a synthetic CSV with the seed generator, creates a fresh database, times
(a) ``COPY`` of the file into a bare table with the same columns and no indexes, and
(b) ``xnb persons import`` of the file in a subprocess (peak RSS measured on that
process), then a second import of the same file (everything already present). The
database is dropped at the end. Other engineers share the machine, so the 1-minute load
average is noted before the COPY and after the import of each size. Results go to
``bench/results/import.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from backend import migrations  # noqa: E402
from backend.orgs import service as orgs  # noqa: E402
from backend.seed.generator import ResidentGenerator, villages_from_file, write_csv  # noqa: E402

XNB = str(Path(sys.executable).with_name("xnb"))
BASELINE_DDL = """
CREATE TABLE bench_baseline (
    id_number varchar(18), name varchar(50), gender varchar(1), ethnicity varchar(2),
    birth_date date, hukou_region_code varchar(12), address varchar(200), phone varchar(20),
    household_number varchar(32), relationship_code varchar(2), is_student boolean,
    in_employee_scheme boolean, is_civil_servant boolean
)"""
# Runs a command and prints the peak RSS (kB) of it and its descendants: a fresh parent
# per measurement, so one run's peak never hides in another's.
_PEAK_RSS = (
    "import resource, subprocess, sys; "
    "rc = subprocess.run(sys.argv[1:]).returncode; "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, rc, file=sys.stderr)"
)


@dataclass
class Result:
    """Figures of one size."""

    rows: int
    file_mb: float
    generate_s: float
    copy_s: float
    import_s: float
    import_rss_mb: float
    reimport_s: float
    reimport_rss_mb: float
    load_start: float
    load_end: float

    @property
    def ratio(self) -> float:
        """Import time over the COPY baseline."""
        return self.import_s / self.copy_s


def timed_import(csv_path: Path, database_url: str) -> tuple[float, float]:
    """Run ``xnb persons import`` in a subprocess; return (seconds, peak RSS in MB)."""
    env = {**os.environ, "XNB_DATABASE_URL": database_url, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _PEAK_RSS, XNB, "persons", "import", str(csv_path)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    peak_kb, rc = done.stderr.strip().splitlines()[-1].split()
    if rc != "0":
        raise SystemExit(f"import failed:\n{done.stdout}\n{done.stderr}")
    print(done.stdout.strip())
    return seconds, int(peak_kb) / 1024


def baseline_copy(csv_path: Path, conninfo: str) -> float:
    """COPY the file into a bare table; return the seconds taken."""
    with psycopg.connect(conninfo) as conn:
        conn.execute(BASELINE_DDL)
        conn.commit()
        started = time.perf_counter()
        with (
            conn.cursor() as cur,
            cur.copy("COPY bench_baseline FROM STDIN WITH (FORMAT csv, HEADER true)") as copy,
            csv_path.open("rb") as fh,
        ):
            while chunk := fh.read(1 << 20):
                copy.write(chunk)
        conn.commit()
        seconds = time.perf_counter() - started
        conn.execute("DROP TABLE bench_baseline")
        conn.commit()
    return seconds


def run_size(rows: int, admin_url: str, workdir: Path) -> Result:
    """Generate, COPY, import and re-import ``rows`` residents in a fresh database."""
    csv_path = workdir / f"residents_{rows}.csv"
    started = time.perf_counter()
    villages = villages_from_file(orgs.DATA_DIR / "regions_654226.csv", "654226")
    write_csv(
        csv_path, ResidentGenerator(county="654226", villages=villages, seed=1).residents(rows)
    )
    generate_s = time.perf_counter() - started
    name = f"xnb_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name)
    database_url = url.render_as_string(hide_password=False)
    conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        migrations.upgrade(database_url)
        env = {**os.environ, "XNB_DATABASE_URL": database_url, "PYTHONPATH": str(ROOT)}
        subprocess.run([XNB, "orgs", "load"], env=env, check=True, capture_output=True)
        load_start = os.getloadavg()[0]
        copy_s = baseline_copy(csv_path, conninfo)
        import_s, import_rss = timed_import(csv_path, database_url)
        load_end = os.getloadavg()[0]
        reimport_s, reimport_rss = timed_import(csv_path, database_url)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    return Result(
        rows=rows,
        file_mb=csv_path.stat().st_size / 2**20,
        generate_s=generate_s,
        copy_s=copy_s,
        import_s=import_s,
        import_rss_mb=import_rss,
        reimport_s=reimport_s,
        reimport_rss_mb=reimport_rss,
        load_start=load_start,
        load_end=load_end,
    )


def machine_note(admin_url: str) -> list[str]:
    """Cores, memory, versions."""
    free = subprocess.run(["free", "-h"], capture_output=True, text=True, check=False).stdout
    with create_engine(admin_url).connect() as conn:
        pg_version = conn.execute(text("SHOW server_version")).scalar()
    return [
        f"- `nproc`: {os.cpu_count()}; Python {platform.python_version()}; "
        f"PostgreSQL {pg_version} on the same machine",
        "- `free -h`:",
        "",
        "```",
        free.rstrip(),
        "```",
    ]


def write_report(results: list[Result], admin_url: str, path: Path) -> None:
    """Write the markdown results file."""
    lines = [
        "# Bench: CSV import of residents",
        "",
        f"Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC by `bench/import_residents.py`.",
        "Baseline: `COPY … FROM STDIN (FORMAT csv)` of the same file into a bare table with",
        "the same columns and no indexes. Import: `xnb persons import FILE` in a subprocess",
        "(parse, decode, validate every row with `validate_person`, COPY into staging,",
        "whole-file checks, households and persons set-based, one audit record) against the",
        "migrated schema with all its indexes; re-import: the same file again (every row",
        "already present). Peak RSS is the import process's `ru_maxrss`. Load: the",
        "1-minute load average before the COPY and after the import (2 cores; other",
        "engineers' test runs share the machine).",
        "",
        "| rows | file MB | COPY baseline s | import s | ratio | import peak RSS MB "
        "| re-import s | re-import peak RSS MB | load |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.rows:,} | {r.file_mb:.0f} | {r.copy_s:.2f} | {r.import_s:.1f} | "
            f"{r.ratio:.1f} | {r.import_rss_mb:.0f} | {r.reimport_s:.1f} | "
            f"{r.reimport_rss_mb:.0f} | {r.load_start:.1f} → {r.load_end:.1f} |"
        )
    lines += ["", "Machine:", "", *machine_note(admin_url), ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")


def main() -> None:
    """Command line of the bench."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=200_000, help="second size for memory")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get(
            "XNB_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "import.md")
    args = parser.parse_args()
    sizes = sorted({args.small, args.rows}) if args.small else [args.rows]
    results = []
    with tempfile.TemporaryDirectory(prefix="xnb-bench-") as tmp:
        for rows in sizes:
            result = run_size(rows, args.pg_url, Path(tmp))
            print(
                f"{rows:,} rows: COPY {result.copy_s:.2f}s, import {result.import_s:.1f}s "
                f"(ratio {result.ratio:.1f}, peak RSS {result.import_rss_mb:.0f} MB), "
                f"re-import {result.reimport_s:.1f}s, "
                f"load {result.load_start:.1f} → {result.load_end:.1f}"
            )
            results.append(result)
    write_report(results, args.pg_url, args.out)
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
