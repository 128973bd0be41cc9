"""The agent's log: a rotating file (and the console), so a support bundle can collect it."""

from __future__ import annotations

import logging
import logging.handlers

from terminal_agent.config import LogSettings

FORMAT = "%(asctime)s %(levelname)s %(name)s %(threadName)s: %(message)s"


def setup_logging(settings: LogSettings, *, console: bool = True) -> logging.Handler:
    """Send every agent and driver log record to the rotating file; return its handler."""
    settings.path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(
        settings.path, maxBytes=settings.max_bytes, backupCount=settings.backups, encoding="utf-8"
    )
    handler.setFormatter(logging.Formatter(FORMAT))
    root = logging.getLogger()
    root.setLevel(settings.level)
    root.addHandler(handler)
    if console:
        stream = logging.StreamHandler()
        stream.setFormatter(logging.Formatter(FORMAT))
        root.addHandler(stream)
    return handler
