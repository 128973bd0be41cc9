"""ID card read over a pseudo-terminal, and receipt rendering.

Run: ``.venv/bin/python bench/devices_bench.py [--reads 50] [--receipts 50]``. Writes
``bench/results/devices.md``.

* **ID card read**: find → select → read of a synthetic card by the real pyserial
  driver against the pty simulator at 115200 baud, timed end to end (the card is lifted
  and put back between reads). A pty moves bytes at memory speed whatever the baud
  rate, so the run is done twice: with the simulator answering at once ("pty speed")
  and with the simulator pacing its replies at the line rate ("paced", ten bit times
  per byte, as a UART would). Both are reported as a ratio to the theoretical transfer
  time of the same bytes (requests and replies) at 115200 baud 8N1.
* **Receipt rendering**: every layout rendered to ESC/POS bytes for an 80 mm and a
  58 mm profile, against python-escpos' own ``Dummy.text`` of the same text lines in
  the same run (the baseline: what printing the text alone costs in the library).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from escpos.printer import Dummy  # noqa: E402

from device_drivers.id_scanner import PtyScannerSimulator, protocol  # noqa: E402
from device_drivers.id_scanner.idcard import encode_read_reply_data  # noqa: E402
from device_drivers.id_scanner.serial_port import SerialIdScanner  # noqa: E402
from device_drivers.id_scanner.simulator import synthetic_deck  # noqa: E402
from device_drivers.printer import decode_escpos, render_receipt  # noqa: E402
from firmware_profiles.printers import printer_profile  # noqa: E402
from firmware_profiles.scanners import scanner_profile  # noqa: E402
from tests.device_drivers.printer_support import every_layout  # noqa: E402

BAUD = 115200


def bytes_per_read() -> int:
    """Bytes on the line for one find → select → read (both directions)."""
    card = synthetic_deck(1)[0]
    requests = [
        protocol.encode_request(protocol.Request(c.cmd, c.para))
        for c in (protocol.FIND_CARD, protocol.SELECT_CARD, protocol.READ_TEXT_PHOTO)
    ]
    replies = [
        protocol.encode_reply(protocol.Reply(0, 0, 0x9F, bytes(4))),
        protocol.encode_reply(protocol.Reply(0, 0, 0x90, bytes(8))),
        protocol.encode_reply(protocol.Reply(0, 0, 0x90, encode_read_reply_data(card))),
    ]
    return sum(map(len, requests + replies))


def time_reads(reads: int, *, pace: bool) -> list[float]:
    """Seconds per end-to-end card read."""
    deck = synthetic_deck(10)
    timings = []
    with PtyScannerSimulator(pace=pace) as served:
        served.simulator.baudrate = BAUD
        with SerialIdScanner(served.port, profile=scanner_profile("simulator")) as scanner:
            for index in range(reads):
                served.simulator.place(deck[index % len(deck)])
                start = time.perf_counter()
                scanner.read_card()
                timings.append(time.perf_counter() - start)
                served.simulator.lift()
    return timings


def time_rendering(rounds: int) -> list[tuple[str, float, float, int]]:
    """(profile, ms per receipt rendered, ms per baseline, bytes) for each paper width."""
    receipts = every_layout()
    rows = []
    for profile_id in ("capture_80", "capture_58"):
        profile = printer_profile(profile_id)
        texts = [decode_escpos(render_receipt(r, profile)).lines for r in receipts]
        start = time.perf_counter()
        for _ in range(rounds):
            sizes = [len(render_receipt(r, profile)) for r in receipts]
        rendered = (time.perf_counter() - start) * 1000 / (rounds * len(receipts))
        start = time.perf_counter()
        for _ in range(rounds):
            for lines in texts:
                dummy = Dummy()
                dummy.text("\n".join(lines) + "\n")
        baseline = (time.perf_counter() - start) * 1000 / (rounds * len(texts))
        rows.append((profile_id, rendered, baseline, sum(sizes) // len(sizes)))
    return rows


def main() -> None:
    """Run both benchmarks and write the results file."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reads", type=int, default=50)
    parser.add_argument("--receipts", type=int, default=50)
    args = parser.parse_args()

    line_bytes = bytes_per_read()
    theoretical_ms = line_bytes * 10 / BAUD * 1000
    read_rows = []
    for label, pace in (("pty speed", False), ("paced at 115200", True)):
        timings = time_reads(args.reads, pace=pace)
        median_ms = statistics.median(timings) * 1000
        p95_ms = sorted(timings)[int(len(timings) * 0.95) - 1] * 1000
        read_rows.append((label, median_ms, p95_ms, median_ms / theoretical_ms))
    render_rows = time_rendering(args.receipts)

    lines = [
        "# Devices: ID card read and receipt rendering",
        "",
        f"Machine: {platform.platform()}, Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs (shared). Command: `.venv/bin/python bench/devices_bench.py "
        f"--reads {args.reads} --receipts {args.receipts}`.",
        "",
        "## ID card read over a pty (pyserial driver ↔ GA 467 simulator)",
        "",
        f"One read is find → select → read: {line_bytes} bytes on the line (requests and "
        f"replies), whose theoretical transfer time at {BAUD} baud 8N1 (10 bits a byte) is "
        f"**{theoretical_ms:.1f} ms**. A pty does not enforce the baud rate, so the first "
        "row is memory speed (the driver's own overhead); the second has the simulator "
        "send its replies at the line rate, as a real UART would. Target: ratio ≤ 1.5.",
        "",
        "| line | median ms | p95 ms | ratio to theoretical (median) |",
        "|---|---:|---:|---:|",
        *(
            f"| {label} | {med:.2f} | {p95:.2f} | {ratio:.3f} |"
            for label, med, p95, ratio in read_rows
        ),
        "",
        "A real scanner also spends 0.5–1 s reading the card over the air before it "
        "answers `30 01`; that time is the card's, not the line's, and is not simulated.",
        "",
        "## Receipt rendering",
        "",
        "Every layout (contribution, card issued, card loss, survival certification, pension "
        "statement) rendered to ESC/POS bytes; the baseline is python-escpos `Dummy.text` "
        "of the same text lines (text only: no barcode, QR code or image).",
        "",
        "| profile | ms per receipt | baseline ms | ratio | bytes per receipt |",
        "|---|---:|---:|---:|---:|",
        *(
            f"| {pid} | {ms:.2f} | {base:.2f} | {ms / base:.1f} | {size} |"
            for pid, ms, base, size in render_rows
        ),
        "",
        "`capture_58` has no native QR code, so its QR code and barcode are raster images "
        "(more bytes, more time); `capture_80` sends them as printer commands.",
        "",
    ]
    out = ROOT / "bench" / "results" / "devices.md"
    out.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
