"""Outbox replay throughput against raw SQLite inserts of the same rows, in the same run.

Replay of one operation is: read the oldest pending row, hand it to the sender, and
commit its new state (WAL, ``synchronous=FULL``: one fsync). The sender answers at
once (in process), so the figure is the outbox's own cost, not the network's or the
backend's. Baselines: the same rows inserted into a bare SQLite table with the same
pragmas, one transaction per row (the same durability per operation) and all in one
transaction (the ceiling). A second replay goes over HTTP to a minimal backend that
records idempotency keys, to show where the time goes in practice.

    .venv/bin/python bench/agent_outbox.py --operations 2000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, Header, Request

from terminal_agent.backend_client import BackendLink
from terminal_agent.outbox import BackendAnswer, Outbox

RESULTS = Path(__file__).parent / "results" / "agent.md"


class InstantBackend:
    """Answers 201 to everything, in process."""

    def send(
        self, method: str, path: str, *, body: Any, idempotency_key: str, authorization: str | None
    ) -> BackendAnswer:
        return BackendAnswer(201, {"ok": True})


def rows(count: int) -> list[dict[str, Any]]:
    """The operations: registrations of synthetic residents (the size of a real one)."""
    return [
        {
            "id_number": f"654226195{n:09d}",
            "name": "巴特尔·孟克",
            "ethnicity": "02",
            "hukou_region_code": "654226100200",
            "address": "新疆和布克赛尔蒙古自治县和布克赛尔镇1号",
        }
        for n in range(count)
    ]


def fill(outbox: Outbox, operations: list[dict[str, Any]], tag: str) -> float:
    start = time.perf_counter()
    for n, body in enumerate(operations):
        outbox.add(
            operation="person.register",
            method="POST",
            path="/api/v1/persons",
            body=body,
            idempotency_key=f"{tag}-{n}",
            authorization="Bearer x" * 4,
        )
    return time.perf_counter() - start


def raw_inserts(path: Path, operations: list[dict[str, Any]], *, per_row: bool) -> float:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE t (seq INTEGER PRIMARY KEY, key TEXT UNIQUE, body TEXT)")
    start = time.perf_counter()
    if not per_row:
        db.execute("BEGIN")
    for n, body in enumerate(operations):
        if per_row:
            db.execute("BEGIN")
        db.execute("INSERT INTO t (key, body) VALUES (?, ?)", (f"k{n}", json.dumps(body)))
        if per_row:
            db.execute("COMMIT")
    if not per_row:
        db.execute("COMMIT")
    elapsed = time.perf_counter() - start
    db.close()
    return elapsed


def key_recorder() -> FastAPI:
    """A minimal backend: records each idempotency key once, answers the first result."""
    app = FastAPI()
    seen: dict[str, int] = {}

    @app.post("/api/v1/persons", status_code=201)
    async def register(request: Request, idempotency_key: str = Header()) -> dict[str, int]:
        await request.body()
        seen.setdefault(idempotency_key, len(seen) + 1)
        return {"id": seen[idempotency_key]}

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def http_replay(directory: Path, operations: list[dict[str, Any]]) -> float:
    config = uvicorn.Config(key_recorder(), host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    outbox = Outbox(directory / "http.db")
    fill(outbox, operations, "http")
    link = BackendLink(f"http://127.0.0.1:{port}", device_id="bench")
    start = time.perf_counter()
    assert outbox.replay(link) == len(operations)
    elapsed = time.perf_counter() - start
    link.close()
    outbox.close()
    server.should_exit = True
    thread.join(timeout=10)
    return elapsed


def main() -> None:
    """Run the benchmark and write ``bench/results/agent.md``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--operations", type=int, default=2000)
    count = parser.parse_args().operations
    operations = rows(count)
    with tempfile.TemporaryDirectory(dir=os.environ.get("XNB_BENCH_DIR")) as temporary:
        directory = Path(temporary)
        outbox = Outbox(directory / "outbox.db")
        store = fill(outbox, operations, "local")
        start = time.perf_counter()
        assert outbox.replay(InstantBackend()) == count
        replay = time.perf_counter() - start
        outbox.close()
        per_row = raw_inserts(directory / "raw1.db", operations, per_row=True)
        one_tx = raw_inserts(directory / "raw2.db", operations, per_row=False)
        over_http = http_replay(directory, operations[: max(count // 4, 1)])
        http_count = max(count // 4, 1)

    def rate(n: int, seconds: float) -> float:
        return n / seconds

    baseline = rate(count, per_row)
    lines = [
        "# Agent: offline outbox replay",
        "",
        f"Machine: {platform.platform()}, Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs (shared). Command: "
        f"`.venv/bin/python bench/agent_outbox.py --operations {count}`. "
        "Database files in the system temporary directory (set `XNB_BENCH_DIR` to "
        "measure the workstation's own disk: fsync cost is the disk's).",
        "",
        "All SQLite files use WAL and `synchronous=FULL`. The baseline is a bare insert of "
        "the same rows (key + JSON body), one transaction per row: the same durability the "
        "outbox gives each operation.",
        "",
        "| what | operations | ops/s | ratio to raw per-row inserts |",
        "|---|---:|---:|---:|",
        f"| raw SQLite insert, one transaction per row (baseline) | {count} | "
        f"{baseline:,.0f} | 1.00 |",
        f"| raw SQLite insert, one transaction for all | {count} | "
        f"{rate(count, one_tx):,.0f} | {rate(count, one_tx) / baseline:.2f} |",
        f"| outbox store (`add`) | {count} | {rate(count, store):,.0f} | "
        f"{rate(count, store) / baseline:.2f} |",
        f"| **outbox replay, sender answering in process** | {count} | "
        f"**{rate(count, replay):,.0f}** | **{rate(count, replay) / baseline:.2f}** |",
        f"| outbox replay over HTTP to a minimal key-recording backend | {http_count} | "
        f"{rate(http_count, over_http):,.0f} | {rate(http_count, over_http) / baseline:.2f} |",
        "",
        "Replay commits one state change per operation (read the oldest pending row, send, "
        "mark sent), so it runs near the per-row insert rate; batching several operations "
        "into one commit would trade the exactly-once bookkeeping's simplicity for speed "
        "that a counter (a few operations a minute, a backlog of hours at most) does not need.",
        "",
    ]
    RESULTS.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
