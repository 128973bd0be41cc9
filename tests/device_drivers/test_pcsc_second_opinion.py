"""A second opinion from tools nobody here wrote (pcsc-tools, OpenSC), and the ``xnb card``
command line driving the emulator and a PC/SC read."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from card_services import CardClient, CommandApdu

from .conftest import PcscRig, _missing

pytestmark = pytest.mark.pcsc

SELECT_SSSE = "00 A4 04 00 0F 73 78 31 2E 73 68 2E C9 E7 BB E1 B1 A3 D5 CF 00"
READ_EF05_RECORD_1 = "00 B2 01 2C 12"
READ_EF05_RECORD_7 = "00 B2 07 2C 0B"
#: opensc-tool dumps up to 16 bytes a line as "XX " groups, then the ASCII column.
HEX_COLUMN = re.compile(r"^((?:[0-9A-F]{2} ){1,16})")


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        _missing(f"{name} is not installed")
    assert path is not None
    return path


def test_pcsc_scan_shows_the_virtual_card_atr(rig: PcscRig) -> None:
    rig.fresh_card(generation=3)
    atr = rig.slot_atr()
    assert atr is not None
    result = subprocess.run(
        [_tool("pcsc_scan"), "-n", "-t", "2"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert "Virtual PCD 00 00" in result.stdout
    assert f"ATR: {atr.hex(' ').upper()}" in result.stdout


def _opensc_responses(output: str) -> list[bytes]:
    """Parse opensc-tool's ``Received (SW1=0x90, SW2=0x00):`` blocks into data + SW."""
    responses: list[bytes] = []
    lines = output.splitlines()
    for index, line in enumerate(lines):
        if not line.startswith("Received (SW1="):
            continue
        sw = bytes.fromhex(line[len("Received (SW1=0x") :][:2] + line.split("SW2=0x")[1][:2])
        data = bytearray()
        for follow in lines[index + 1 :]:
            if follow.startswith(("Sending:", "Received")) or not follow.strip():
                break
            hex_column = HEX_COLUMN.match(follow)
            assert hex_column is not None, follow
            data += bytes.fromhex(hex_column.group(1))
        responses.append(bytes(data) + sw)
    return responses


def test_opensc_tool_gets_the_same_answers_as_our_driver(rig: PcscRig) -> None:
    rig.fresh_card(generation=3)
    apdus = [SELECT_SSSE, READ_EF05_RECORD_1, READ_EF05_RECORD_7]
    args = [_tool("opensc-tool"), "-r", "0", "-c", "default"]
    for apdu in apdus:
        args += ["-s", apdu]
    result = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    theirs = _opensc_responses(result.stdout)
    with rig.reader.connect() as connection:
        client = CardClient(connection)
        ours = [
            client.send(CommandApdu.from_bytes(bytes.fromhex(apdu)), check=False).to_bytes()
            for apdu in apdus
        ]
    assert theirs == ours
    assert ours[2] == bytes.fromhex("0709") + b"X00000003" + b"\x90\x00"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _xnb(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "xnb", "card", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_card_cli_emulates_inserts_reads_and_removes(rig: PcscRig, tmp_path: Path) -> None:
    control = str(_free_port())
    emulator = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "xnb",
            "card",
            "emulate",
            "--deck",
            str(tmp_path / "deck"),
            "--vpcd-port",
            "35964",
            "--control-port",
            control,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert emulator.stdout is not None
        assert "virtual card deck" in emulator.stdout.readline()
        listed = json.loads(_xnb("list", "--control-port", control).stdout)
        assert {c["label"] for c in listed["cards"]} >= {"demo-gen2", "blank-gen3"}
        assert _xnb("insert", "demo-gen2", "--control-port", control).returncode == 0
        rig.reader.wait_for_card(timeout=10, name="Virtual PCD 00 01")
        read = _xnb("read", "--reader", "Virtual PCD 00 01")
        assert read.returncode == 0, read.stderr
        assert json.loads(read.stdout)["ef05"]["card_number"] == "X00000002"
        assert _xnb("remove", "--control-port", control).returncode == 0
        failed = _xnb("insert", "no-such-card", "--control-port", control)
        assert failed.returncode == 1
        assert "no card" in failed.stdout
    finally:
        assert emulator.stdin is not None
        emulator.stdin.write("quit\n")
        emulator.stdin.close()
        emulator.wait(timeout=20)
    assert (tmp_path / "deck" / "demo-gen2.json").exists()
