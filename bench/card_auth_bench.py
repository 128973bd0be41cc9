"""Online card authentication and the bank payout check, on the real stack.

Run: ``XNB_BENCH_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:5432/postgres
.venv/bin/python bench/card_auth_bench.py [--rounds 200]``. Creates (and drops) its own
PostgreSQL database, starts the backend with uvicorn on a free 127.0.0.1 port, pcscd +
vpcd with a demo card, and times in the same run:

* ``verify``: the vault's INTERNAL AUTHENTICATE check alone, per second (one core);
* ``round trip``: challenge from the backend → INTERNAL AUTHENTICATE on the card through
  pyscard/pcscd/vpcd → answer checked by the backend (median, p99 ms);
* ``authorize``: ``POST /bank/v1/payouts/authorize`` per second with 4 client threads,
  as a ratio to ``GET /healthz`` on the same server (the minimal endpoint).

Writes ``bench/results/card_lifecycle.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import socket
import statistics
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import uvicorn
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from backend import migrations  # noqa: E402
from backend.app import create_app  # noqa: E402
from backend.audit.service import Actor  # noqa: E402
from backend.cards.models import Card  # noqa: E402
from backend.config import Settings  # noqa: E402
from backend.db import make_engine, make_session_factory, unit_of_work  # noqa: E402
from backend.keys import LocalKeyVault  # noqa: E402
from backend.orgs import service as orgs  # noqa: E402
from backend.orgs.permissions import Role  # noqa: E402
from backend.pki.models import BankPartner  # noqa: E402
from backend.registry.models import Enrolment, Person  # noqa: E402
from card_services import CardClient, commands, read_basic_data  # noqa: E402
from card_services.demo import demo_personalisation_data, demo_personalised_card  # noqa: E402
from device_drivers.card_emulator import CardDeck  # noqa: E402
from device_drivers.card_reader import open_pcsc_reader  # noqa: E402
from device_drivers.pcsc_rig import PcscdProcess  # noqa: E402

READER = "Virtual PCD 00 00"
PASSWORD = "Bench-Passw0rd!"
BANK = "BENCH-BANK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _world(url: str, vault: LocalKeyVault) -> str:
    """Regions, a clerk, a bank and one active demo card; returns the card number."""
    factory = make_session_factory(make_engine(url))
    data = demo_personalisation_data(generation=3, sequence=3)
    with unit_of_work(factory) as s:
        orgs.load_regions(session=s, path=orgs.DATA_DIR / "regions_654226.csv")
        office = orgs.create_office(
            session=s, code="B-SB", name="bench", region_code="654226100000", actor=Actor.system()
        )
        orgs.create_operator(
            session=s,
            principal=None,
            actor=Actor.system(),
            username="clerk",
            full_name="clerk",
            role=Role.CLERK,
            office_id=office.id,
            password=PASSWORD,
        )
        s.add(BankPartner(code=BANK, name="bench bank"))
        person = Person(
            id_number="65422619580101002X",
            name="巴特尔",
            gender="1",
            ethnicity="02",
            birth_date=dt.date(1958, 1, 1),
            hukou_region_code="654226100200",
            county_code="654226",
        )
        s.add(person)
        s.flush()
        s.add(
            Enrolment(
                person_id=person.id,
                region_code="654226100200",
                county_code="654226",
                status="receiving",
                enrolled_on=dt.date(2012, 1, 1),
            )
        )
        s.add(
            Card(
                person_id=person.id,
                social_security_number=person.id_number,
                generation=3,
                region_code="654226100200",
                county_code="654226",
                bank_code=BANK,
                state="active",
                card_number=data.basic.card_number,
                identification_code=data.basic.identification_code.hex().upper(),
                key_version=1,
                issue_date=dt.date(2024, 1, 1),
                expiry_date=dt.date(2034, 1, 1),
            )
        )
    del vault
    return data.basic.card_number


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def _throughput(call, seconds: float, threads: int = 4) -> float:
    deadline = time.perf_counter() + seconds
    counts = [0] * threads

    def worker(i: int) -> None:
        while time.perf_counter() < deadline:
            call()
            counts[i] += 1

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(worker, range(threads)))
    return sum(counts) / (time.perf_counter() - started)


def main() -> None:
    """Run the benchmark and write the results file."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    base = os.environ.get(
        "XNB_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    name = f"xnb_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    workdir = Path(tempfile.mkdtemp(prefix="xnb-bench-"))
    pcscd = PcscdProcess(log_path=workdir / "pcscd.log")
    deck = None
    server = None
    try:
        migrations.upgrade(url)
        vault = LocalKeyVault.create(
            workdir / "vault.json",
            passphrase="bench vault passphrase",
            province_code="65",
            demo_keys=True,
            scrypt_n=2**10,
        )
        card_number = _world(url, vault)
        app = create_app(Settings(env="test", database_url=url))
        app.state.key_vault = vault
        port = _free_port()
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        )
        threading.Thread(target=server.run, daemon=True).start()
        while not server.started:
            time.sleep(0.05)
        http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
        token = http.post(
            "/api/v1/auth/login", json={"username": "clerk", "password": PASSWORD}
        ).json()["access_token"]
        http.headers["Authorization"] = f"Bearer {token}"

        # 1. the vault alone
        code = demo_personalisation_data(generation=3, sequence=3).basic.identification_code
        challenge = bytes(16)
        n, started = 0, time.perf_counter()
        while time.perf_counter() - started < 3:
            vault.verify_internal_authenticate(
                generation=3,
                key_version=1,
                identification_code=code,
                challenge=challenge,
                cryptogram=bytes(16),
            )
            n += 1
        verify_rate = n / (time.perf_counter() - started)

        # 2. round trip through pcscd + vpcd and the backend on loopback
        pcscd.start()
        deck = CardDeck(workdir / "cards", slots=1)
        deck.add(demo_personalised_card(label="bench", generation=3, serial=3))
        deck.insert("bench")
        reader = open_pcsc_reader()
        reader.wait_for_card(timeout=10, name=READER)
        round_trips = []
        with reader.connect(name=READER) as connection:
            identification = read_basic_data(connection).identification_code.hex()
            client = CardClient(connection)
            for _ in range(args.rounds):
                t0 = time.perf_counter()
                issued = http.post(
                    "/api/v1/cards/authentications/challenges",
                    json={"identification_code": identification},
                ).json()
                answer = client.send(
                    commands.internal_authenticate(bytes.fromhex(issued["challenge"]))
                ).data
                r = http.post(
                    "/api/v1/cards/authentications",
                    json={"challenge_id": issued["challenge_id"], "cryptogram": answer.hex()},
                )
                assert r.status_code == 200, r.text
                round_trips.append((time.perf_counter() - t0) * 1000)

        # 3. bank authorize vs the minimal endpoint, same server, same run
        bank = httpx.Client(
            base_url=f"http://127.0.0.1:{port}", headers={"X-XNB-Bank": BANK}, timeout=30
        )

        def authorize() -> None:
            body = {
                "bank_transaction_id": uuid.uuid4().hex,
                "card_number": card_number,
                "amount_fen": 15000,
                "channel": "village_point",
                "terminal_id": "BENCH",
            }
            assert (
                bank.post("/bank/v1/payouts/authorize", json=body).json()["decision"] == "approved"
            )

        health_rate = _throughput(lambda: bank.get("/healthz"), args.seconds)
        authorize_rate = _throughput(authorize, args.seconds)
        latencies = []
        for _ in range(100):
            t0 = time.perf_counter()
            authorize()
            latencies.append((time.perf_counter() - t0) * 1000)
    finally:
        if server is not None:
            server.should_exit = True
        if deck is not None:
            deck.close()
        pcscd.stop()
        time.sleep(0.5)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    machine = (
        f"{platform.machine()}, {os.cpu_count()} CPUs ({platform.python_version()}), PostgreSQL"
    )
    rt_median, rt_p99 = statistics.median(round_trips), _percentile(round_trips, 99)
    au_median, au_p99 = statistics.median(latencies), _percentile(latencies, 99)
    lines = [
        "# Card authentication and bank payout check",
        "",
        f"`bench/card_auth_bench.py`, {dt.date.today()}, {machine};",
        "one uvicorn worker on 127.0.0.1; the 2 cores are shared with other work, so",
        "absolute figures are noisy — the ratio is the point.",
        "",
        "| measure | result |",
        "|---|---|",
        f"| vault INTERNAL AUTHENTICATE check (SM4, 2 levels) | {verify_rate:,.0f} /s, one core |",
        f"| online authentication round trip, challenge → card via pcscd + vpcd → verify "
        f"({args.rounds} rounds) | median {rt_median:.1f} ms, p99 {rt_p99:.1f} ms |",
        f"| `POST /bank/v1/payouts/authorize`, 4 client threads | {authorize_rate:,.0f} /s |",
        f"| `GET /healthz` (minimal endpoint, same server, same run) | {health_rate:,.0f} /s |",
        f"| authorize / minimal endpoint | **{authorize_rate / health_rate:.2f}** (target ≥ 0.3) |",
        f"| authorize latency, one client | median {au_median:.1f} ms, p99 {au_p99:.1f} ms |",
        "",
    ]
    out = ROOT / "bench" / "results" / "card_lifecycle.md"
    out.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
