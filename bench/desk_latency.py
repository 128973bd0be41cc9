"""Benchmark: how long a clerk waits at the desk, measured in the browser.

Run: ``.venv/bin/python bench/desk_latency.py --residents 200000 --runs 40``

A fresh PostgreSQL database (``--admin-url``, default the test server) gets a county of
``--residents`` seeded residents (``xnb seed``'s generator), the shipped policy, a county
clerk, and the demo generation-3 card's holder with the card registered. The real backend
(uvicorn, 127.0.0.1) and a real agent (simulated card reader with that card, pty ID
scanner, capture printer) serve headless Chromium at 1366×768 on the desk (/desk/).

Measured in the page with the Performance API, from the key press (a capturing keydown
listener stamps ``performance.now()``) to the first animation frame in which the result
is in the DOM:

* find by ID number — Enter in the ID number field → the workspace shows the person;
* find by name — Enter in the name form (exact name, birth year) → the results table;
* card read — F2 → the card holder's workspace (device time included: the simulated
  reader's APDUs, the online authentication round trip);
* ID card read — F3 → the workspace (device time included: the pty scanner at 115200 Bd);
* collect — Enter on the collect form → the confirmation (assessment + collection; the
  receipt prints after it).

Against: the same API calls made directly with httpx from Python (no page): the search,
the person's reads the workspace makes, and assess + collect. Results: p50/p95 in ms, to
``bench/results/desk_latency.md``; other helpers share the machine (load printed).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from backend import migrations  # noqa: E402
from backend.audit.service import Actor  # noqa: E402
from backend.config import Settings  # noqa: E402
from backend.db import make_engine, make_session_factory, unit_of_work  # noqa: E402
from backend.keys import LocalKeyVault  # noqa: E402
from backend.orgs import service as orgs  # noqa: E402
from backend.orgs.permissions import Role  # noqa: E402
from backend.policy import service as policy  # noqa: E402
from backend.registry.models import Enrolment, Person  # noqa: E402
from backend.seed.service import seed_residents  # noqa: E402
from card_services.demo import demo_personalisation_data  # noqa: E402

PASSWORD = "Bench-Passw0rd!"
PORTS = (18710, 18711)
MARK = """
window.__deskBench = { t0: null };
document.addEventListener("keydown", (e) => {
  if (["Enter", "F2", "F3"].includes(e.key)) window.__deskBench.t0 = performance.now();
}, true);
"""
# Resolves with ms from the stamped key press to the first frame where the selector's
# text contains the expected text.
WAIT = """
const [selector, expected, done] = arguments;
const check = () => {
  const el = document.querySelector(selector);
  if (el && el.textContent.includes(expected)) {
    done(performance.now() - window.__deskBench.t0);
  } else {
    requestAnimationFrame(check);
  }
};
requestAnimationFrame(check);
"""


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def fresh_database(admin_url: str) -> str:
    name = f"xnb_desk_bench_{uuid.uuid4().hex[:8]}"
    with create_engine(admin_url, isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    migrations.upgrade(url)
    return url


def drop_database(admin_url: str, url: str) -> None:
    name = make_url(url).database
    with create_engine(admin_url, isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def build_world(url: str, residents: int, directory: Path) -> tuple[Settings, int]:
    """Seed the county; office, clerk, policy; the demo card's holder with the card."""
    settings = Settings(
        env="test",
        database_url=url,
        receipt_key_dir=directory / "receipts",
        card_vault_path=directory / "card-vault.json",
    )
    LocalKeyVault.create(
        settings.card_vault_path,
        passphrase=settings.card_vault_passphrase.get_secret_value(),
        province_code="65",
        demo_keys=True,
        scrypt_n=2**10,
    )
    engine = make_engine(url)
    factory = make_session_factory(engine)
    started = time.perf_counter()
    with unit_of_work(factory) as session:
        seed_residents(session=session, county="654226", residents=residents, seed=7)
    print(f"seeded {residents} residents in {time.perf_counter() - started:.1f} s", flush=True)
    demo = demo_personalisation_data(generation=3, sequence=3)
    with unit_of_work(factory) as session:
        policy.load_defaults(session=session, actor=Actor.system())
        office = orgs.create_office(
            session=session,
            code="654226-SB",
            name="和布克赛尔县社保中心",
            region_code="654226000000",
            actor=Actor.system(),
        )
        orgs.create_operator(
            session=session,
            principal=None,
            actor=Actor.system(),
            username="bench_clerk",
            full_name="测试经办员",
            role=Role.CLERK,
            office_id=office.id,
            password=PASSWORD,
        )
        holder = Person(
            id_number=demo.holder.social_security_number,
            name=demo.holder.name,
            gender="1",
            ethnicity="02",
            birth_date=demo.holder.birth_date,
            hukou_region_code="654226100200",
            county_code="654226",
        )
        session.add(holder)
        session.flush()
        session.add(
            Enrolment(
                person_id=holder.id,
                region_code="654226100200",
                county_code="654226",
                status="receiving",
                enrolled_on=dt.date(2010, 1, 1),
            )
        )
        holder_id = holder.id
    from tests.backend.card_support import add_card

    add_card(
        factory,
        holder_id,
        state="active",
        identification_code=demo.basic.identification_code.hex().upper(),
        card_number=demo.basic.card_number,
    )
    engine.dispose()
    return settings, holder_id


def sample(url: str, count: int) -> list[dict[str, Any]]:
    """Paying residents of working age with a unique name and birth year."""
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT p.id FROM persons p JOIN enrolments e ON e.person_id = p.id "
                "WHERE e.status = 'paying' AND e.ended_on IS NULL ORDER BY random() LIMIT :n"
            ),
            {"n": count * 3},
        ).all()
    engine.dispose()
    engine = make_engine(url)
    factory = make_session_factory(engine)
    out = []
    with factory() as session:
        for (person_id,) in rows:
            p = session.get(Person, person_id)
            assert p is not None
            out.append(
                {"id": p.id, "id_number": p.id_number, "name": p.name, "year": p.birth_date.year}
            )
    engine.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--residents", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument(
        "--admin-url",
        default=os.environ.get(
            "XNB_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument("--keep", action="store_true", help="keep the database")
    args = parser.parse_args()

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    from device_drivers.id_scanner import IdCard
    from terminal_agent.agent import bootstrap
    from terminal_agent.api import create_api
    from tests.terminal_agent.support import ServerThread, agent_config

    url = fresh_database(args.admin_url)
    directory = Path(tempfile.mkdtemp(prefix="desk-bench-"))
    try:
        settings, holder_id = build_world(url, args.residents, directory)
        people = sample(url, args.runs)
        from backend.app import create_app

        backend_port, agent_port = PORTS
        base = f"http://127.0.0.1:{backend_port}"
        with ServerThread(create_app(settings), backend_port):
            config = agent_config(
                directory,
                port=agent_port,
                backend_url=base,
                allowed_origin=base,
                card_reader={
                    "kind": "simulator",
                    "simulator_cards": [3],
                    "authentication": "online",
                    "verifier": "backend",
                },
                id_scanner={"kind": "simulator", "profile": "simulator", "simulator_card": None},
            )
            agent = bootstrap(config)
            agent.start()
            with ServerThread(create_api(agent), agent_port):
                options = webdriver.ChromeOptions()
                for a in (
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--window-size=1366,768",
                    "--lang=zh-CN",
                ):
                    options.add_argument(a)
                driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
                driver.set_script_timeout(30)
                try:
                    page = measure_page(
                        driver, base, agent_port, people, holder_id, agent, By, Keys, IdCard
                    )
                finally:
                    driver.quit()
                    agent.close()
            direct = measure_direct(base, people, holder_id)
        report(args, page, direct)
    finally:
        if not args.keep:
            drop_database(args.admin_url, url)


def measure_page(driver, base, agent_port, people, holder_id, agent, By, Keys, IdCard):
    driver.get(f"{base}/desk/?agent=http://127.0.0.1:{agent_port}")
    time.sleep(1)
    driver.find_element(By.NAME, "username").send_keys("bench_clerk")
    driver.find_element(By.NAME, "password").send_keys(PASSWORD, Keys.ENTER)
    time.sleep(2)
    driver.execute_script(MARK)
    times: dict[str, list[float]] = {k: [] for k in ("id", "name", "card", "idcard", "collect")}

    def go(route: str, ready: str) -> None:
        # The previous resident's card is emptied so that a wait sees only the new one.
        driver.execute_script(
            f"location.hash = {route!r}; document.getElementById('resident')?.replaceChildren()"
        )
        deadline = time.monotonic() + 10
        while not driver.find_elements(By.CSS_SELECTOR, ready):
            if time.monotonic() > deadline:
                raise TimeoutError(ready)
            time.sleep(0.02)

    def wait(selector: str, expected: str) -> float:
        try:
            return float(driver.execute_async_script(WAIT, selector, expected))
        except Exception:
            driver.save_screenshot(str(ROOT / "var" / "desk-bench-failed.png"))
            raise

    for i, p in enumerate(people[: len(people) // 3]):
        # find by ID number
        go("#/find", "#find-id input[name=id_number]")
        field = driver.find_element(By.CSS_SELECTOR, "#find-id input[name=id_number]")
        field.send_keys(p["id_number"])
        field.send_keys(Keys.ENTER)
        times["id"].append(wait("#p-name", p["name"]))
        # find by name
        go("#/find", "#find-name input[name=name]")
        driver.find_element(By.CSS_SELECTOR, "#find-name input[name=name]").send_keys(p["name"])
        year = driver.find_element(By.CSS_SELECTOR, "#find-name input[name=birth_year]")
        year.send_keys(str(p["year"]))
        year.send_keys(Keys.ENTER)
        times["name"].append(wait("#find-results tbody", p["name"]))
        # card read (F2)
        go("#/find", "#find-id")
        driver.find_element(By.TAG_NAME, "body").send_keys(Keys.F2)
        times["card"].append(wait("#check-card", "社保卡已认证"))
        # ID card read (F3)
        go("#/find", "#find-id")
        q = people[len(people) // 3 + i]
        assert agent.scanner_simulator is not None
        number = q["id_number"]
        agent.scanner_simulator.place(
            IdCard(
                name=q["name"],
                gender="1" if int(number[16]) % 2 else "2",
                ethnicity="01",
                birth_date=dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14])),
                address="新疆和布克赛尔县",
                id_number=number,
                issuing_authority="和布克赛尔县公安局",
                valid_from=dt.date(2015, 1, 1),
                valid_to=None,
            )
        )
        driver.find_element(By.TAG_NAME, "body").send_keys(Keys.F3)
        times["idcard"].append(wait("#p-name", q["name"]))
        agent.scanner_simulator.lift()
        # collect (this year, lowest grade)
        c = people[2 * len(people) // 3 + i]
        go(f"#/person/{c['id']}/collect", "#grades input[type=radio]")
        driver.find_element(By.CSS_SELECTOR, "#grades input[type=radio]").send_keys(Keys.ENTER)
        times["collect"].append(wait(".view > .message.ok", "已收取"))
        print(
            f"run {i + 1}: " + ", ".join(f"{k} {v[-1]:.0f}" for k, v in times.items()), flush=True
        )
    return times


def measure_direct(
    base: str, people: list[dict[str, Any]], holder_id: int
) -> dict[str, list[float]]:
    login = httpx.post(
        f"{base}/api/v1/auth/login", json={"username": "bench_clerk", "password": PASSWORD}
    )
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    year = dt.date.today().year
    times: dict[str, list[float]] = {"id": [], "name": [], "collect": []}
    with httpx.Client(base_url=f"{base}/api/v1", headers=headers) as client:
        for p in people[: len(people) // 3]:
            t = time.perf_counter()
            found = client.post(
                "/persons/search", json={"id_number": p["id_number"], "limit": 1}
            ).json()
            pid = found["items"][0]["id"]
            client.get(f"/persons/{pid}")
            client.get(f"/persons/{pid}/statement", params={"year": year})
            times["id"].append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            client.post(
                "/persons/search",
                json={
                    "name": p["name"],
                    "birth_year": p["year"],
                    "name_match": "exact",
                    "limit": 20,
                },
            )
            times["name"].append((time.perf_counter() - t) * 1000)
        # collect: new people (the page's ones are assessed already): next year's… use a
        # past year as make-up is not allowed for most; assess and collect a fresh person
        # of the sample's tail for this year when the page did not.
        for p in people[len(people) // 3 : 2 * len(people) // 3]:
            t = time.perf_counter()
            a = client.post(
                "/contributions/assessments",
                json={"person_id": p["id"], "year": year, "grade_fen": 10000},
                headers={"Idempotency-Key": uuid.uuid4().hex},
            )
            if a.status_code != 201:
                continue
            client.post(
                "/contributions/collections",
                json={"assessment_id": a.json()["id"]},
                headers={"Idempotency-Key": uuid.uuid4().hex},
            )
            times["collect"].append((time.perf_counter() - t) * 1000)
    return times


def report(
    args: argparse.Namespace, page: dict[str, list[float]], direct: dict[str, list[float]]
) -> None:
    names = {
        "id": "find by ID number (Enter → workspace)",
        "name": "find by name + birth year (Enter → table)",
        "card": "card read F2 (device + online authentication → workspace)",
        "idcard": "ID card read F3 (pty scanner → workspace)",
        "collect": "collect (Enter → confirmation)",
    }
    lines = [
        f"# Desk latency, {args.residents:,} residents on PostgreSQL ({dt.date.today()})",
        "",
        f"`bench/desk_latency.py --residents {args.residents} --runs {args.runs}`; "
        f"1-minute load average at the end {os.getloadavg()[0]:.2f} (machine shared).",
        "",
        "| step | page p50 ms | page p95 ms | API p50 ms | API p95 ms | n |",
        "|---|---|---|---|---|---|",
    ]
    for key, label in names.items():
        values = page[key]
        api = direct.get(key, [])
        api_cols = f"{statistics.median(api):.0f} | {percentile(api, 95):.0f}" if api else "— | —"
        lines.append(
            f"| {label} | {statistics.median(values):.0f} | {percentile(values, 95):.0f} | "
            f"{api_cols} | {len(values)} |"
        )
    text_out = "\n".join(lines) + "\n"
    print(text_out)
    out = ROOT / "bench" / "results" / "desk_latency.md"
    out.write_text(text_out, encoding="utf-8")


if __name__ == "__main__":
    random.seed(7)
    main()
