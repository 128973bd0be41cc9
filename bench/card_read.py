"""Card read and authentication through pcscd + vpcd, against a bare pyscard loop.

Run: ``.venv/bin/python bench/card_read.py [--rounds 200]``. Starts its own pcscd (or
uses a running one) and the virtual card emulator in a subprocess, then times:

* ``read``: SELECT SSSE, EF05 by record, EXTERNAL AUTHENTICATE, EF06 by tag (gen 3);
* ``auth``: EF05, INTERNAL AUTHENTICATE, GET CHALLENGE, EXTERNAL AUTHENTICATE;

each through ``card_services`` + the PC/SC driver, and the same APDU bytes (recorded
from the driver run, T=0 GET RESPONSEs included) sent by a bare ``SCardTransmit`` loop in
the same run. Writes ``bench/results/card_read.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from smartcard import scard

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from card_services import (  # noqa: E402
    CardChannel,
    MasterKeyVerifier,
    authenticate_card,
    read_basic_data,
    read_holder_data,
)
from card_services.demo import DEMO_MASTER_KEYS  # noqa: E402
from card_services.replay import RecordingChannel  # noqa: E402
from device_drivers.card_reader import open_pcsc_reader  # noqa: E402
from device_drivers.pcsc_rig import PcscdProcess  # noqa: E402

READER = "Virtual PCD 00 00"


def read_card(connection: CardChannel) -> None:
    """The library's read of EF05 + EF06 on a generation-3 card."""
    basic = read_basic_data(connection)
    read_holder_data(connection, basic=basic, verifier=MasterKeyVerifier(DEMO_MASTER_KEYS))


def authenticate(connection: CardChannel) -> None:
    """The library's mutual authentication."""
    authenticate_card(connection, MasterKeyVerifier(DEMO_MASTER_KEYS))


def time_rounds(action: Callable[[], None], rounds: int) -> list[float]:
    """Milliseconds per round."""
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        action()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def bare_loop(apdus: list[bytes]) -> Callable[[], None]:
    """A plain pyscard loop over the same APDU bytes on its own card handle."""
    _, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    _, handle, protocol = scard.SCardConnect(
        context, READER, scard.SCARD_SHARE_SHARED, scard.SCARD_PROTOCOL_T0
    )
    commands = [list(apdu) for apdu in apdus]

    def run() -> None:
        for command in commands:
            scard.SCardTransmit(handle, protocol, command)

    return run


def main() -> None:
    """Run the benchmark and write the results table."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    pcscd = PcscdProcess()
    pcscd.start()
    deck = tempfile.mkdtemp(prefix="xnb-bench-cards-")
    emulator = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from device_drivers.cli import card_app; card_app()",
            "emulate",
            "--deck",
            deck,
            "--insert",
            "demo-gen3",
            "--control-port",
            "35997",
        ],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        driver = open_pcsc_reader()
        driver.wait_for_card(timeout=15, name=READER)
        rows = []
        with driver.connect(name=READER) as connection:
            for name, operation in (
                ("read EF05 + EF06", read_card),
                ("authenticate", authenticate),
            ):
                recorder = RecordingChannel(connection)
                operation(recorder)
                apdus = [exchange.command for exchange in recorder.exchanges]
                baseline = bare_loop(apdus)
                library_run = partial(operation, connection)
                time_rounds(library_run, args.rounds // 10)  # warm-up
                ours, bare = [], []
                for _ in range(args.rounds):
                    ours += time_rounds(library_run, 1)
                    bare += time_rounds(baseline, 1)
                rows.append((name, len(apdus), statistics.median(ours), statistics.median(bare)))
    finally:
        assert emulator.stdin is not None
        emulator.stdin.write(b"quit\n")
        emulator.stdin.close()
        emulator.wait(timeout=20)
        pcscd.stop()
    lines = [
        "# Card read and authentication through pcscd + vpcd",
        "",
        f"Machine: {os.cpu_count()} cores, {platform.machine()}, Python "
        f"{platform.python_version()}, {platform.system()} {platform.release()}. "
        f"Rounds: {args.rounds}, medians. pcscd, the virtual card emulator (a separate "
        "process) and the benchmark share the machine.",
        "",
        "Baseline: a bare pyscard `SCardTransmit` loop sending the same APDU bytes "
        "(recorded from the library run, T=0 GET RESPONSEs included) in the same run.",
        "",
        "| operation | APDUs | xnb (ms) | bare pyscard (ms) | ratio (target ≤ 1.5) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, count, ours_ms, bare_ms in rows:
        lines.append(
            f"| {name} | {count} | {ours_ms:.2f} | {bare_ms:.2f} | {ours_ms / bare_ms:.2f} |"
        )
    output = ROOT / "bench" / "results" / "card_read.md"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(output.read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
