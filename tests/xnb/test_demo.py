"""The README's main job: ``xnb demo`` prepares everything and walks a counter visit."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_demo_builds_the_county_prints_logins_and_saves_receipts(tmp_path: Path):
    env = {
        "XNB_DATABASE_URL": f"sqlite:///{tmp_path}/var/xnb.db",
        "PATH": "/usr/bin:/bin",
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "xnb",
            "demo",
            "--no-serve",
            "--residents",
            "300",
            "--port",
            str(_free_port()),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "账簿检查通过" in out
    assert "clerk_xzg" in out and "审计管理员" in out
    previews = sorted((tmp_path / "var" / "receipts").glob("receipt-*.png"))
    assert len(previews) == 2
    assert all(p.stat().st_size > 1000 for p in previews)
    assert all(str(p) in out for p in previews)
