"""Importing a withholding return file of N rows, against COPY of the same rows.

Run: ``.venv/bin/python bench/contrib_return_import.py [--rows 1000000]`` with
``XNB_BENCH_POSTGRES_URL`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``).
Creates and drops its own database. Seeds N assessed residents with mandates, exports
the batch, writes the bank's return file (98 % success, 1 % failed, 0.5 % partial,
0.5 % unknown), then times (a) parsing the file and COPYing its rows into an empty
table of the same shape and (b) ``import_return`` (load, totals check, exceptions,
batch rows, account entries, assessment totals, subsidies, books). With
``--interest`` it then times the interest run over the N accounts (see
``interest_run.py``). Writes ``bench/results/contributions.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
from pathlib import Path

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from backend.audit.service import Actor
from backend.banks import withholding
from backend.banks.formats import Outcome, PipeFormat, ReturnHeader, ReturnLine
from backend.db import make_session_factory, unit_of_work
from bench.money_support import (
    COUNTY,
    YEAR,
    copy_rows,
    engine_for,
    machine,
    scratch_database,
    seed_county,
    timed,
)

RESULTS = Path(__file__).resolve().parent / "results" / "contributions.md"


def write_return(path: Path, batch_no: str, rows: list[tuple[int, str, str, int, str]]) -> None:
    """The bank's answer, streamed."""

    def outcome(i: int, amount: int) -> tuple[Outcome, int, str]:
        if i % 200 == 7:
            return Outcome.PARTIAL, amount // 2, "余额不足"
        if i % 200 == 9:
            return Outcome.UNKNOWN, 0, "超时"
        if i % 100 == 3:
            return Outcome.FAILED, 0, "账户余额不足"
        return Outcome.SUCCESS, amount, ""

    lines = []
    debited_total = 0
    for i, (person_id, name, id_number, amount, doc_no) in enumerate(rows):
        kind, debited, reason = outcome(i, amount)
        debited_total += debited
        lines.append(
            ReturnLine(
                i + 2, str(person_id), name, id_number, amount, doc_no, kind, debited, reason
            )
        )
    header = ReturnHeader(
        batch_no, len(lines), sum(r[3] for r in rows), debited_total, dt.date(YEAR, 5, 20)
    )
    with path.open("w", encoding="gb18030", newline="") as fh:
        for line in PipeFormat().return_lines(header, lines):
            fh.write(line + "\r\n")


def run(rows: int, base_url: str, with_interest: bool) -> list[str]:
    """Seed, export, answer, then time COPY and the import; returns report lines."""
    report = []
    with scratch_database(base_url) as url, tempfile.TemporaryDirectory() as tmp:
        engine = engine_for(url)
        factory = make_session_factory(engine)
        print(f"seeding {rows} residents …", flush=True)
        seed_county(engine, rows)
        with unit_of_work(factory) as s:
            batch, _ = withholding.export_withholding(
                session=s,
                bank_code="BENCH",
                county_code=COUNTY,
                year=YEAR,
                out_dir=Path(tmp),
                actor=Actor.system("bench"),
                on=dt.date(YEAR, 5, 10),
            )
            batch_no = batch.batch_no
        with engine.connect() as conn:
            batch_rows = [
                tuple(r)
                for r in conn.execute(
                    text(
                        "SELECT person_id, name, id_number, amount_fen, doc_no "
                        "FROM bank_batch_rows ORDER BY id"
                    )
                )
            ]
        path = Path(tmp) / "return.txt"
        write_return(path, batch_no, batch_rows)
        del batch_rows
        with engine.begin() as conn:
            conn.execute(
                text(
                    "CREATE TABLE bench_copy "
                    "(LIKE bank_return_rows INCLUDING DEFAULTS INCLUDING IDENTITY)"
                )
            )
        columns = [
            "return_file_id",
            "line_no",
            "person_code",
            "name",
            "id_number",
            "amount_fen",
            "doc_no",
            "outcome",
            "debited_fen",
            "reason",
        ]

        def baseline() -> None:
            with path.open(encoding="gb18030", newline="") as fh:
                _, parsed = PipeFormat().read_return(iter(fh))
                copy_rows(
                    engine,
                    "bench_copy",
                    columns,
                    (
                        (
                            0,
                            r.line_no,
                            r.person_code,
                            r.name,
                            r.id_number,
                            r.amount_fen,
                            r.doc_no,
                            r.outcome.value,
                            r.debited_fen,
                            r.reason or None,
                        )
                        for r in parsed
                    ),
                )

        print("COPY baseline …", flush=True)
        copy_time = timed(baseline)
        print(f"  {copy_time.seconds:.1f} s", flush=True)
        print("import_return …", flush=True)
        result: list[withholding.ImportResult] = []
        import_time = timed(
            lambda: result.append(
                withholding.import_return(
                    factory=factory, path=path, actor=Actor.system("bench"), chunk_rows=50_000
                )
            )
        )
        print(f"  {import_time.seconds:.1f} s", flush=True)
        assert result[0].status == "applied", result[0]
        report.append(
            f"| return-file import ({rows:,} rows) | {copy_time.seconds:.1f} s | "
            f"{import_time.seconds:.1f} s | {import_time.seconds / copy_time.seconds:.1f} | "
            f"{import_time.peak_mib:.0f} MiB (COPY {copy_time.peak_mib:.0f} MiB) |"
        )
        if with_interest:
            from bench.interest_run import measure_interest

            report.append(measure_interest(engine, factory, rows))
        engine.dispose()
    return report


def _load() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


def write_results(lines: list[str], rows: int, load: tuple[str, str]) -> None:
    """Record the figures."""
    RESULTS.write_text(
        "# Contributions: withholding return import and yearly interest\n\n"
        f"Machine: {machine()}. Run on {dt.date.today()}, {rows:,} rows, one process.\n"
        f"Load average (1 / 5 / 15 min) at the start: {load[0]}, at the end: {load[1]} "
        "(the 2 cores are shared with other engineers).\n"
        "Ratio = job time ÷ COPY of the same number of rows in the same run (target ≤ 3).\n"
        "Peak memory is the resident memory of the benchmark process (client side) during "
        "the step; the PostgreSQL server's memory is not included.\n\n"
        "| job | COPY baseline | job | ratio | peak memory |\n|---|---|---|---|---|\n"
        + "\n".join(lines)
        + "\n",
        encoding="utf-8",
    )


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--interest", action="store_true", help="also time the interest run")
    args = parser.parse_args()
    base = os.environ.get(
        "XNB_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    load_at_start = _load()
    lines = run(args.rows, base, args.interest)
    write_results(lines, args.rows, (load_at_start, _load()))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
