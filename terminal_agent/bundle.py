"""The support bundle: logs, the configuration with secrets removed, and device states.

A technician asks the counter for one file. The bundle never holds the outbox
database (it carries operators' session tokens) or any secret from the configuration.
"""

from __future__ import annotations

import datetime as dt
import json
import platform
import sqlite3
import zipfile
from pathlib import Path
from typing import Any

import httpx

from terminal_agent import __version__
from terminal_agent.api import PAIRING_HEADER
from terminal_agent.config import AgentConfig


def _running_agent_status(config: AgentConfig) -> dict[str, Any]:
    """Ask the running agent for its status; say why when it does not answer."""
    headers = {}
    if config.pairing_token is not None:
        headers[PAIRING_HEADER] = config.pairing_token.get_secret_value()
    url = f"http://127.0.0.1:{config.port}/v1/status"
    try:
        response = httpx.get(url, headers=headers, timeout=5.0)
    except httpx.HTTPError as exc:
        return {"running": False, "error": f"{type(exc).__name__}: {exc}"}
    return {"running": True, "http_status": response.status_code, "status": response.json()}


def _outbox_counts(path: Path) -> dict[str, Any]:
    """Counts per state, read without changing the file (it may belong to a stopped agent)."""
    if not path.exists():
        return {"exists": False}
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            counts = dict(db.execute("SELECT state, count(*) FROM operations GROUP BY state"))
    except sqlite3.DatabaseError as exc:
        return {"exists": True, "error": str(exc)}
    return {"exists": True, "schema_version": version, "counts": counts}


def make_bundle(config: AgentConfig, out: Path) -> Path:
    """Write the support bundle zip to ``out`` and return its path."""
    out.parent.mkdir(parents=True, exist_ok=True)
    summary = {
        "created_at": dt.datetime.now(dt.UTC).isoformat(),
        "agent_version": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("summary.json", json.dumps(summary, ensure_ascii=False, indent=1))
        bundle.writestr("config.json", json.dumps(config.redacted(), ensure_ascii=False, indent=1))
        bundle.writestr(
            "devices.json",
            json.dumps(_running_agent_status(config), ensure_ascii=False, indent=1),
        )
        bundle.writestr(
            "outbox.json",
            json.dumps(_outbox_counts(config.outbox.path), ensure_ascii=False, indent=1),
        )
        for log_file in sorted(config.log.path.parent.glob(config.log.path.name + "*")):
            bundle.write(log_file, f"logs/{log_file.name}")
    return out
