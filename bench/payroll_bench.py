"""The monthly payroll of N pensioners on PostgreSQL, against COPY of N payment rows.

Seeds one county of N pensioners (set-based SQL), then times in the same run: ``COPY`` of N
rows shaped like ``payroll_lines`` (the baseline), building the payroll, review and
approval, writing the bank files (pipe layout and pain.001), and importing the bank's
return file (1 % failures) with its ledger posting. Peak memory is this process's RSS.

    .venv/bin/python bench/payroll_bench.py [--rows 1000000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
from pathlib import Path

from sqlalchemy import Engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from backend.audit.service import Actor
from backend.banks.formats import Outcome, ReturnHeader, ReturnLine, get_format
from backend.db import make_session_factory, unit_of_work
from backend.orgs import service as orgs
from backend.orgs.permissions import Role
from backend.orgs.service import Principal
from backend.payroll import build, files, returns, service
from backend.payroll.models import Payroll
from backend.policy import service as policy
from bench.money_support import copy_rows, engine_for, machine, scratch_database, timed

COUNTY = "654226"
VILLAGE = "654226200200"
MONTH = dt.date(2026, 6, 1)


def seed_pensioners(engine: Engine, count: int) -> dict[str, Principal]:
    """N pensioners receiving 308.00 a month since 2026-06, and the three operators."""
    factory = make_session_factory(engine)
    principals = {}
    with unit_of_work(factory) as s:
        orgs.load_regions(session=s, path=orgs.DATA_DIR / "regions_654226.csv")
        policy.load_defaults(session=s, actor=Actor.system("bench"))
        version_id = policy.rules_on(session=s, region_code=VILLAGE, on=MONTH).version_id
        office = orgs.create_office(
            session=s, code="B-SB", name="基准县", region_code="654226000000", actor=Actor.system()
        )
        for username, role in (
            ("b_clerk", Role.CLERK),
            ("b_reviewer", Role.REVIEWER),
            ("b_admin", Role.COUNTY_ADMIN),
        ):
            op = orgs.create_operator(
                session=s,
                principal=None,
                actor=Actor.system(),
                username=username,
                full_name=username,
                role=role,
                office_id=office.id,
                password="Bench-Passw0rd!",
            )
            s.flush()
            principals[username] = Principal.of(op, Actor(operator_id=op.id, username=username))
    statements = [
        """INSERT INTO persons (id_number, name, gender, ethnicity, birth_date, hukou_region_code,
               county_code, is_student, in_employee_scheme, is_civil_servant, version,
               created_at, updated_at)
           SELECT '654226' || lpad(i::text, 12, '0'), '居民' || i, '1', '02', DATE '1966-05-10',
                  :village, :county, false, false, false, 1, now(), now()
           FROM generate_series(1, :n) AS i""",
        """INSERT INTO enrolments (person_id, region_code, county_code, status, enrolled_on,
               created_at)
           SELECT id, hukou_region_code, county_code, 'receiving', DATE '2010-01-01', now()
           FROM persons""",
        """INSERT INTO accounts (person_id, county_code, opened_on, created_at)
           SELECT id, county_code, DATE '2010-01-01', now() FROM persons""",
        """INSERT INTO account_entries (account_id, county_code, year, month, entry_date, source,
               amount_fen, created_at)
           SELECT id, county_code, 2024, 12, DATE '2024-12-31', s.source, s.amount, now()
           FROM accounts, (VALUES ('own', 1000000), ('government_subsidy', 390000))
                AS s(source, amount)""",
        """INSERT INTO benefit_applications (person_id, county_code, region_code, applied_on,
               start_month, contribution_years, balance_fen, policy_version_id, bank_code,
               bank_account, status, maker_id, created_at)
           SELECT id, county_code, hukou_region_code, DATE '2026-05-20', :month, 15, 1390000,
                  :version, CASE WHEN id % 2 = 0 THEN 'RCC' ELSE 'ABC' END,
                  '6230' || lpad(id::text, 12, '0'), 'approved', :maker, now()
           FROM persons""",
        """INSERT INTO pensions (person_id, application_id, account_id, county_code, region_code,
               bank_code, bank_account, status, start_month, status_since, certified_until,
               contribution_years, balance_fen, monthly_fen, created_at, updated_at)
           SELECT a.person_id, a.id, c.id, a.county_code, a.region_code, a.bank_code,
                  a.bank_account, 'receiving', :month, :month, DATE '2027-05-20', 15, 1390000,
                  30800, now(), now()
           FROM benefit_applications a JOIN accounts c ON c.person_id = a.person_id""",
        """INSERT INTO pension_computations (pension_id, county_code, from_month, minimum_fen,
               topup_fen, bonus_fen, account_fen, total_fen, contribution_years, balance_fen,
               divisor, policy_version_id, cause, created_at)
           SELECT id, county_code, :month, 14300, 3500, 3000, 10000, 30800, 15, 1390000, 139,
                  :version, 'award', now() FROM pensions""",
        # As the first payroll after each award leaves them: the newest computation noted,
        # in step with the county's payroll month (paid through May), and each draw proved
        # by the balance for as long as it lasts (2026-06 + 138 / 137 months), so the steady
        # state is measured, not what happens once per award.
        "UPDATE pensions p SET computation_id = c.id, paid_with_county = true"
        " FROM pension_computations c WHERE c.pension_id = p.id",
        "INSERT INTO payroll_counties (county_code, paid_through)"
        " VALUES (:county, DATE '2026-05-01')",
        """INSERT INTO pension_draws (pension_id, source, monthly_fen, covered_through)
           SELECT id, s.source, s.amount, 2026 * 12 + 5 + s.months FROM pensions,
                  (VALUES ('own', 7194, 138), ('government_subsidy', 2806, 137))
                  AS s(source, amount, months)""",
        "ANALYZE",
    ]
    params = {
        "n": count,
        "village": VILLAGE,
        "county": COUNTY,
        "month": MONTH,
        "version": version_id,
        "maker": principals["b_clerk"].operator_id,
    }
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement), params)
    return principals


def write_return(engine: Engine, batch: files.SentBatch, path: Path) -> None:
    """The bank's return file of a batch, streamed: every hundredth row fails."""
    fmt = get_format("pipe")
    with engine.connect() as conn:
        rows = conn.execution_options(yield_per=10000).execute(
            text(
                "SELECT person_id, name, id_number, amount_fen, doc_no FROM bank_batch_rows"
                " WHERE batch_id = :b ORDER BY id"
            ),
            {"b": batch.batch_id},
        )
        failed = 0

        def lines():
            nonlocal failed
            for n, (person_id, name, id_number, amount, doc_no) in enumerate(rows, start=2):
                if n % 100 == 0:
                    failed += amount
                    yield ReturnLine(
                        n,
                        str(person_id),
                        name,
                        id_number,
                        amount,
                        doc_no,
                        Outcome.FAILED,
                        0,
                        "账户已销户",
                    )
                else:
                    yield ReturnLine(
                        n,
                        str(person_id),
                        name,
                        id_number,
                        amount,
                        doc_no,
                        Outcome.SUCCESS,
                        amount,
                        "",
                    )

        failures = (batch.row_count + 1) // 100
        header = ReturnHeader(
            batch.batch_no,
            batch.row_count,
            batch.total_fen,
            batch.total_fen - failures * 30800,
            dt.date(2026, 6, 5),
        )
        with path.open("w", encoding=fmt.encoding, newline="") as fh:
            for line in fmt.return_lines(header, lines()):
                fh.write(line + "\r\n")


def main() -> None:
    """Seed, measure, print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    base = os.environ.get(
        "XNB_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    n = args.rows
    with scratch_database(base) as url, tempfile.TemporaryDirectory() as tmp:
        engine = engine_for(url)
        factory = make_session_factory(engine)
        principals: dict[str, Principal] = {}
        seeded = timed(lambda: principals.update(seed_pensioners(engine, n)))
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE bench_lines (LIKE payroll_lines INCLUDING DEFAULTS)"))
        columns = [
            "id",
            "payroll_id",
            "pension_id",
            "person_id",
            "county_code",
            "bank_code",
            "bank_account",
            "kind",
            "month",
            "amount_fen",
            "basic_fen",
            "account_fen",
            "computation_id",
            "policy_version_id",
            "state",
        ]
        copy = timed(
            lambda: copy_rows(
                engine,
                "bench_lines",
                columns,
                (
                    (
                        i,
                        1,
                        i,
                        i,
                        COUNTY,
                        "RCC",
                        f"6230{i:012d}",
                        "regular",
                        MONTH,
                        30800,
                        20800,
                        10000,
                        i,
                        1,
                        "built",
                    )
                    for i in range(1, n + 1)
                ),
            )
        )
        payroll: dict[str, int] = {}
        built = timed(
            lambda: payroll.update(
                id=build.build(
                    factory=factory, principal=principals["b_clerk"], month=MONTH, scope=COUNTY
                )
            )
        )

        def approve() -> None:
            with unit_of_work(factory) as s:
                service.review(
                    session=s, principal=principals["b_reviewer"], payroll_id=payroll["id"]
                )
            with unit_of_work(factory) as s:
                service.approve(
                    session=s, principal=principals["b_admin"], payroll_id=payroll["id"]
                )

        approved = timed(approve)
        sent: list[files.SentBatch] = []

        def send() -> None:
            with unit_of_work(factory) as s:
                sent.extend(
                    files.send(
                        session=s,
                        principal=principals["b_clerk"],
                        payroll_id=payroll["id"],
                        out_dir=Path(tmp),
                    )
                )

        written = timed(send)
        for batch in sent:
            write_return(engine, batch, Path(tmp) / f"{batch.batch_no}.return.txt")
        imported = timed(
            lambda: [
                returns.import_return(
                    factory=factory,
                    path=Path(tmp) / f"{b.batch_no}.return.txt",
                    actor=Actor.system("bench"),
                )
                for b in sent
            ]
        )
        with unit_of_work(factory) as s:
            final = s.get_one(Payroll, payroll["id"])
            status, lines_count, total = final.status, final.line_count, final.total_fen
        sizes = sum(b.pipe_path.stat().st_size + b.pain001_path.stat().st_size for b in sent)
    whole = built.seconds + approved.seconds + written.seconds
    print(f"machine: {machine()}")
    print(
        f"pensioners: {n:,}; payroll {status}, {lines_count:,} lines, {total / 100:,.2f} yuan;"
        f" {len(sent)} batches, files {sizes / (1 << 20):.0f} MiB; seeding {seeded.seconds:.1f} s"
    )
    print("| step | seconds | ratio to COPY | peak RSS MiB |")
    print("|---|---:|---:|---:|")
    for name, t in (
        ("COPY of N payment rows (baseline)", copy),
        ("build", built),
        ("review + approve", approved),
        ("bank files (pipe + pain.001)", written),
        ("return file import + ledger", imported),
    ):
        print(f"| {name} | {t.seconds:.1f} | {t.seconds / copy.seconds:.2f} | {t.peak_mib:.0f} |")
    print(
        f"| **build + approve + files** | {whole:.1f} | {whole / copy.seconds:.2f} | "
        f"{max(built.peak_mib, approved.peak_mib, written.peak_mib):.0f} |"
    )


if __name__ == "__main__":
    main()
