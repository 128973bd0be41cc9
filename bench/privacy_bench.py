"""Benchmark: what encrypting personal data and auditing reads cost, before and after.

Run: ``.venv/bin/python bench/privacy_bench.py --rows 100000 --before /path/to/old/tree``

``--before`` is a copy of the source tree without field encryption and read auditing
(e.g. ``git archive 22818ba | tar -x -C /tmp/old``); the same measurements run against
it and against this tree, each in its own subprocess and its own fresh PostgreSQL
database (``PYTHONPATH`` puts the tree first):

* ``xnb seed --residents N`` (generate, validate, stage, households, persons, enrolments);
* ``xnb persons import`` of an N-row CSV written by the seed generator (another seed);
* ``GET /api/v1/persons/{id}`` through the ASGI app in process (no network), median and
  95th percentile over ``--reads`` random persons, after 50 warm-up reads.

Per-row costs are seconds ÷ rows. Other engineers share the machine: the 1-minute load
average is printed with each figure. Results go to ``bench/results/privacy.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
XNB_MODULE = "import sys; from xnb.cli import main; sys.argv[0] = 'xnb'; main()"

# Runs inside the tree under test: a county's operator, log-in, timed reads of persons.
_READS = r"""
import json, random, statistics, sys, time
from fastapi.testclient import TestClient
from sqlalchemy import select
from backend.app import create_app
from backend.audit.service import Actor
from backend.config import Settings
from backend.db import unit_of_work
from backend.orgs import service as orgs
from backend.orgs.permissions import Role
from backend.registry.models import Person

url, count = sys.argv[1], int(sys.argv[2])
app = create_app(Settings(env="test", database_url=url))
with TestClient(app) as client:
    factory = app.state.session_factory
    with unit_of_work(factory) as s:
        office = orgs.create_office(session=s, code="654226-SB", name="县社保中心",
                                    region_code="654226000000", actor=Actor.system())
        orgs.create_operator(session=s, principal=None, actor=Actor.system(),
                             username="bench", full_name="bench", role=Role.CLERK,
                             office_id=office.id, password="Bench-Passw0rd!")
        ids = list(s.scalars(select(Person.id)))
    token = client.post("/api/v1/auth/login",
                        json={"username": "bench", "password": "Bench-Passw0rd!"}).json()
    headers = {"Authorization": "Bearer " + token["access_token"]}
    rng = random.Random(7)
    for _ in range(50):
        assert client.get(f"/api/v1/persons/{rng.choice(ids)}", headers=headers).status_code == 200
    times = []
    for _ in range(count):
        started = time.perf_counter()
        r = client.get(f"/api/v1/persons/{rng.choice(ids)}", headers=headers)
        times.append(time.perf_counter() - started)
        assert r.status_code == 200, r.text
    times.sort()
    print(json.dumps({"median_ms": 1000 * statistics.median(times),
                      "p95_ms": 1000 * times[int(0.95 * len(times))]}))
"""


# This tree only: the same reads with and without the audit record, interleaved in blocks
# of 50 so that load changes hit both alike; the difference is what the audit adds.
_AUDIT_AB = r"""
import json, random, statistics, sys, time
import backend.registry.service._common as common
from fastapi.testclient import TestClient
from sqlalchemy import select
from backend.app import create_app
from backend.config import Settings
from backend.registry.models import Person

url, count = sys.argv[1], int(sys.argv[2])
app = create_app(Settings(env="test", database_url=url))
audited = common.record_person_read
with TestClient(app) as client:
    with app.state.session_factory() as s:
        ids = list(s.scalars(select(Person.id)))
    token = client.post("/api/v1/auth/login",
                        json={"username": "bench", "password": "Bench-Passw0rd!"}).json()
    headers = {"Authorization": "Bearer " + token["access_token"]}
    rng = random.Random(11)
    times = {True: [], False: []}
    for block in range(2 * count // 50):
        audit = block % 2 == 0
        common.record_person_read = audited if audit else (lambda **kwargs: None)
        for _ in range(50):
            started = time.perf_counter()
            r = client.get(f"/api/v1/persons/{rng.choice(ids)}", headers=headers)
            assert r.status_code == 200
            times[audit].append(time.perf_counter() - started)
    print(json.dumps({"audited_median_ms": 1000 * statistics.median(times[True]),
                      "unaudited_median_ms": 1000 * statistics.median(times[False])}))
"""


def _env(tree: Path, database_url: str, keys: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(tree),
        "XNB_DATABASE_URL": database_url,
        "XNB_DATA_KEY_PATH": str(keys),
    }


def _run(args: list[str], env: dict[str, str], cwd: Path) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{args} failed:\n{done.stdout}\n{done.stderr}")
    return seconds, done.stdout


def _fresh_database(admin_url: str, tree: Path, env: dict[str, str]) -> str:
    name = f"xnb_bench_{uuid.uuid4().hex[:8]}"
    with create_engine(admin_url, isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    upgrade = f"from backend import migrations; migrations.upgrade({url!r})"
    _run([sys.executable, "-c", upgrade], env, tree)
    _run([sys.executable, "-c", XNB_MODULE, "orgs", "load"], {**env, "XNB_DATABASE_URL": url}, tree)
    return url


def _drop(admin_url: str, url: str) -> None:
    name = make_url(url).database
    with create_engine(admin_url, isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def measure(tree: Path, rows: int, reads: int, admin_url: str, work: Path) -> dict[str, float]:
    """Seed, import and read figures of one source tree."""
    keys = work / f"keys-{uuid.uuid4().hex[:6]}.json"
    env = _env(tree, "", keys)
    figures: dict[str, float] = {}
    csv_path = work / "import.csv"
    if not csv_path.exists():
        seed_csv = [sys.executable, "-c", XNB_MODULE, "seed", "--residents", str(rows)]
        _run([*seed_csv, "--seed", "2", "--csv", str(csv_path)], env, ROOT)
    url = _fresh_database(admin_url, tree, env)
    try:
        env["XNB_DATABASE_URL"] = url
        figures["load_before_seed"] = os.getloadavg()[0]
        seconds, _ = _run(
            [sys.executable, "-c", XNB_MODULE, "seed", "--residents", str(rows)], env, tree
        )
        figures["seed_s"] = seconds
        _, out = _run([sys.executable, "-c", _READS, url, str(reads)], env, tree)
        figures.update(json.loads(out.strip().splitlines()[-1]))
        if tree == ROOT:
            _, out = _run([sys.executable, "-c", _AUDIT_AB, url, str(reads)], env, tree)
            figures.update(json.loads(out.strip().splitlines()[-1]))
    finally:
        _drop(admin_url, url)
    url = _fresh_database(admin_url, tree, env)
    try:
        env["XNB_DATABASE_URL"] = url
        seconds, _ = _run(
            [sys.executable, "-c", XNB_MODULE, "persons", "import", str(csv_path)], env, tree
        )
        figures["import_s"] = seconds
        seconds, _ = _run(
            [sys.executable, "-c", XNB_MODULE, "persons", "import", str(csv_path)], env, tree
        )
        figures["reimport_s"] = seconds
        figures["load_after"] = os.getloadavg()[0]
    finally:
        _drop(admin_url, url)
    return figures


def main() -> None:
    """Command line of the bench."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--reads", type=int, default=500)
    parser.add_argument("--before", type=Path, required=True, help="source tree to compare")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get(
            "XNB_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument(
        "--before-figures", type=json.loads, help="figures of an earlier run of --before (JSON)"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "privacy.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="xnb-bench-") as tmp:
        before = args.before_figures or measure(
            args.before.resolve(), args.rows, args.reads, args.pg_url, Path(tmp)
        )
        print("before", before, flush=True)
        after = measure(ROOT, args.rows, args.reads, args.pg_url, Path(tmp))
        print("after", after, flush=True)
    rows = args.rows
    lines = [
        "# Bench: personal data encrypted at rest, reads audited",
        "",
        f"Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC by `bench/privacy_bench.py "
        f"--rows {rows} --reads {args.reads}` on PostgreSQL (same machine, 2 cores shared "
        "with other engineers' runs). Before: the tree without field encryption and read "
        "audit; after: this tree. Each figure in a fresh database.",
        "",
        "| measure | before | after | after ÷ before |",
        "|---|---:|---:|---:|",
    ]
    for key, label, scale, unit in (
        ("seed_s", "`xnb seed` per row", 1e6 / rows, "µs"),
        ("import_s", "`xnb persons import` per row", 1e6 / rows, "µs"),
        ("reimport_s", "re-import (all present) per row", 1e6 / rows, "µs"),
        ("median_ms", "`GET /persons/{id}` median", 1.0, "ms"),
        ("p95_ms", "`GET /persons/{id}` 95th percentile", 1.0, "ms"),
    ):
        b, a = before[key] * scale, after[key] * scale
        lines.append(f"| {label} | {b:.1f} {unit} | {a:.1f} {unit} | {a / b:.2f} |")
    if "audited_median_ms" in after:
        added = after["audited_median_ms"] - after["unaudited_median_ms"]
        lines += [
            "",
            "The read audit alone (this tree, the same reads with the `person.read` record "
            "and with it switched off, interleaved in blocks of 50): median "
            f"{after['audited_median_ms']:.2f} ms audited, "
            f"{after['unaudited_median_ms']:.2f} ms not: **{added:+.2f} ms** per "
            "`GET /persons/{id}`.",
        ]
    lines += [
        "",
        f"Load average (1 min) before/after each run: before {before['load_before_seed']:.1f}"
        f" → {before['load_after']:.1f}; after {after['load_before_seed']:.1f} → "
        f"{after['load_after']:.1f}.",
        "",
    ]
    args.out.write_text("\n".join(lines), encoding="utf-8")
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
