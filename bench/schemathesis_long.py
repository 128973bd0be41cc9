"""The long schemathesis run: every phase, many examples, every role and no log-in.

Run: ``.venv/bin/python bench/schemathesis_long.py [--examples 25] [--residents 1000]
[--database-url URL]``. Seeds a county (the demo's offices and operators, residents, the
CA and demo card keys) in a fresh SQLite database in a temporary directory (or the
PostgreSQL database named, which must be empty), serves it with ``xnb serve`` on
127.0.0.1 (ports 18600–18699), and runs schemathesis over the whole OpenAPI document as
each role of ``ROLES`` and without log-in: phases examples, coverage (boundary and
invalid values of every parameter, deterministic) and fuzzing (``--examples`` per
operation), with the checks of the CI test (no 5xx; every 4xx/5xx a problem document
with a stable code). The short version is tests/backend/test_schemathesis.py.

Writes ``bench/results/schemathesis.md`` (operations, requests, seconds and failures per
role) and prints schemathesis's report of any failure.
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.backend.schemathesis_support import (
    ROLES,
    free_port,
    run_schemathesis,
    running_backend,
    seed_county,
)

RESULTS = Path(__file__).parent / "results" / "schemathesis.md"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=25, help="fuzzing examples per operation")
    parser.add_argument("--residents", type=int, default=1000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="xnb-schemathesis-"))
    database_url = args.database_url or f"sqlite:///{workdir / 'xnb.db'}"
    started = time.monotonic()
    seed_county(database_url, workdir, residents=args.residents)
    seeded = time.monotonic() - started
    rows = []
    failed = False
    with running_backend(database_url, workdir, port=free_port()) as base:
        for role in (*ROLES, None):
            code, figures, output = run_schemathesis(
                base,
                workdir,
                role=role,
                max_examples=args.examples,
                phases="examples,coverage,fuzzing",
            )
            failed = failed or code != 0
            rows.append((figures, "none" if code == 0 else "see the run's output"))
            print(figures, "exit", code, flush=True)
            if code != 0:
                print(output[-20000:])
    total_requests = sum(int(str(f["requests"])) for f, _ in rows)
    total_seconds = sum(float(str(f["seconds"])) for f, _ in rows)
    database = "PostgreSQL" if database_url.startswith("postgresql") else "SQLite"
    lines = [
        "# schemathesis, long run",
        "",
        f"{dt.date.today():%Y-%m-%d}, {platform.node()} ({platform.machine()}, "
        f"{platform.python_implementation()} {platform.python_version()}), {database}, "
        f"{args.residents} residents (seeded in {seeded:.0f} s), phases examples + coverage "
        f"+ fuzzing with {args.examples} fuzzing examples per operation, one worker, "
        "the backend in one uvicorn process.",
        "",
        "| role | operations | requests | seconds | failures |",
        "|---|---:|---:|---:|---|",
        *(
            f"| {f['role']} | {f['operations']} | {f['requests']} | {f['seconds']} | {fail} |"
            for f, fail in rows
        ),
        f"| **all** | | **{total_requests}** | **{total_seconds:.0f}** | "
        f"{'**failures**' if failed else 'none'} |",
        "",
    ]
    RESULTS.write_text("\n".join(lines))
    print(RESULTS.read_text())
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
