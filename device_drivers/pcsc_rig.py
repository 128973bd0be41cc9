"""Test and bench rig: a private ``pcscd --foreground`` with the vpcd driver.

Debian's pcscd always uses ``/run/pcscd/pcscd.comm`` and vpcd always listens on
35963/35964, so one rig serves a whole test session. The rig starts pcscd only when
none is running and stops only what it started.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import IO, Final

PCSCD_SOCKET: Final = Path("/run/pcscd/pcscd.comm")
VPCD_DRIVER: Final = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")
VPCD_CONFIG: Final = Path("/etc/reader.conf.d/vpcd")


class RigUnavailableError(RuntimeError):
    """pcscd or vpcd is not installed, or pcscd would not start."""


def rig_problem() -> str | None:
    """Why the PC/SC rig cannot run here, or ``None`` when it can."""
    if shutil.which("pcscd") is None:
        return "pcscd is not installed (Debian package pcscd)"
    if not VPCD_DRIVER.exists() or not VPCD_CONFIG.exists():
        return "vpcd is not installed (Debian package vsmartcard-vpcd)"
    try:
        import smartcard.scard  # noqa: F401
    except ImportError:
        return "pyscard is not installed (pip install pyscard)"
    return None


def pcscd_running() -> bool:
    """Whether some pcscd answers on its socket."""
    if not PCSCD_SOCKET.exists():
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1)
        try:
            probe.connect(str(PCSCD_SOCKET))
        except OSError:
            return False
    return True


class PcscdProcess:
    """A pcscd this process started (or an already running one it will leave alone)."""

    def __init__(self, *, log_path: Path | None = None) -> None:
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.adopted = False

    @property
    def owned(self) -> bool:
        """Whether this object started the pcscd it controls."""
        return self._process is not None

    def start(self, *, timeout: float = 10.0) -> None:
        """Start pcscd in the foreground unless one is already running."""
        problem = rig_problem()
        if problem:
            raise RigUnavailableError(problem)
        if pcscd_running():
            self.adopted = True
            return
        if self.log_path is not None:
            self._log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            ["pcscd", "--foreground"],
            stdout=self._log or subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while not pcscd_running():
            if self._process.poll() is not None:
                raise RigUnavailableError(f"pcscd exited with {self._process.returncode}")
            if time.monotonic() > deadline:
                self.stop()
                raise RigUnavailableError(f"pcscd did not come up within {timeout} s")
            time.sleep(0.05)

    def stop(self, *, timeout: float = 10.0) -> None:
        """Stop the pcscd this object started."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=timeout)
        if self._log is not None:
            self._log.close()
            self._log = None

    def restart(self) -> None:
        """Stop and start again (only a pcscd this object owns)."""
        if self.adopted:
            raise RigUnavailableError("will not restart a pcscd this rig did not start")
        self.stop()
        deadline = time.monotonic() + 10
        while pcscd_running() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.start()
