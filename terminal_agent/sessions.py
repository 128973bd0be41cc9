"""Who may call the local API: per-session secrets for the pages, held by the agent.

Headers prove nothing about the caller: any program on the workstation can send
``Origin: <the counter page's origin>`` or ``Sec-Fetch-Site: same-origin``. So every route
that reads personal data or changes anything needs a secret the caller can only have
come by legitimately:

* **operator session** — the counter page, after its operator logged in, sends the
  operator's session token to ``POST /v1/session``; the agent asks the backend (over
  mutual TLS, as this workstation) whose session it is, and returns a fresh random secret
  bound to that operator and expiring with the backend session. A program without an
  operator's log-in (password and certificate at the backend) never gets one.
* **kiosk session** — the kiosk page is served by the agent itself, so the page and a
  local program are indistinguishable by what they send; the secret therefore reaches
  the kiosk's browser outside HTTP: at each start the agent writes the launch address
  ``http://127.0.0.1:PORT/kiosk/#session=<secret>`` to a file only the agent's user can
  read (``0600``), from which the kiosk's browser is started. The fragment never travels
  in a request or a log line. A kiosk session may only use the kiosk's routes.
* **pairing token** — a configured local program (support tools, the demo) presents the
  token from the configuration file.

The agent keeps only a SHA-256 of each secret, in memory: a restart ends every session
(the counter page registers again on the first refusal; the kiosk's browser restarts
with the agent and reads the new launch address).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import secrets
import threading
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

#: The request header carrying a page's session secret.
SESSION_HEADER = "x-xnb-agent-session"
#: WebSocket subprotocols: browsers cannot set headers on a WebSocket, so the page offers
#: ``xnb.events`` and ``xnb-session.<secret>``; the agent accepts ``xnb.events`` (the
#: secret is never echoed back, and never put in the URL).
EVENTS_PROTOCOL = "xnb.events"
SESSION_PROTOCOL_PREFIX = "xnb-session."


class SessionKind(StrEnum):
    """Whose secret it is, which decides the routes it opens."""

    OPERATOR = "operator"  # the counter page of a logged-in operator: all but /v1/kiosk/…
    KIOSK = "kiosk"  # the kiosk page: the kiosk routes, status, readers and events only
    PAIRED = "paired"  # a local program with the configuration's pairing token: all


@dataclass(frozen=True)
class AgentSession:
    """One open session: its kind, the operator (for the counter page) and its end."""

    kind: SessionKind
    operator: str | None = None
    expires_at: dt.datetime | None = None


PAIRED = AgentSession(SessionKind.PAIRED)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class AgentSessions:
    """The open sessions, by a hash of their secret."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[str, AgentSession] = {}

    def open(self, session: AgentSession) -> str:
        """Open ``session``; return its secret (shown once, kept only as a hash)."""
        secret = secrets.token_urlsafe(32)
        with self._lock:
            self._open[_digest(secret)] = session
        return secret

    def find(self, secret: str, *, now: dt.datetime | None = None) -> AgentSession | None:
        """The open, unexpired session of ``secret``, or None (an expired one is closed)."""
        key = _digest(secret)
        with self._lock:
            session = self._open.get(key)
            if session is None:
                return None
            if session.expires_at is not None and session.expires_at <= (
                now or dt.datetime.now(dt.UTC)
            ):
                del self._open[key]
                return None
            return session

    def close(self, secret: str) -> bool:
        """End the session of ``secret``; False when there was none."""
        with self._lock:
            return self._open.pop(_digest(secret), None) is not None


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by the agent's user only (file 0600, a directory
    the agent creates 0700), replacing the file in one step."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(descriptor, 0o600)
        os.write(descriptor, text.encode())
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    os.replace(partial, path)
