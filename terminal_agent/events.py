"""Device events: published from device threads, delivered to every WebSocket listener.

Device watchers run in plain threads; listeners are asyncio queues of the local API's
event loop. ``publish`` hands an event to each listener's loop thread-safely and
keeps the last few for the status page and the support bundle.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
from collections import deque
from typing import Any

log = logging.getLogger(__name__)

#: Events a listener may have waiting before it counts as gone (a stuck browser tab).
LISTENER_BACKLOG = 256


class EventBus:
    """Fan-out of device events to asyncio listeners; remembers the recent ones."""

    def __init__(self, *, history: int = 100) -> None:
        self._lock = threading.Lock()
        self._listeners: set[tuple[asyncio.AbstractEventLoop, asyncio.Queue[dict[str, Any]]]] = (
            set()
        )
        self.recent: deque[dict[str, Any]] = deque(maxlen=history)

    def publish(self, event_type: str, **fields: Any) -> dict[str, Any]:
        """Send ``{"type": event_type, "at": now, **fields}`` to every listener."""
        event = {"type": event_type, "at": dt.datetime.now(dt.UTC).isoformat(), **fields}
        log.info("event %s %s", event_type, fields)
        with self._lock:
            self.recent.append(event)
            listeners = list(self._listeners)
        for loop, queue in listeners:
            try:
                loop.call_soon_threadsafe(_offer, queue, event)
            except RuntimeError:
                # The listener's loop has closed: it will never read again.
                self.unsubscribe(loop, queue)
        return event

    def subscribe(self) -> tuple[asyncio.AbstractEventLoop, asyncio.Queue[dict[str, Any]]]:
        """A new listener on the running event loop."""
        entry = (asyncio.get_running_loop(), asyncio.Queue[dict[str, Any]](LISTENER_BACKLOG))
        with self._lock:
            self._listeners.add(entry)
        return entry

    def unsubscribe(
        self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[dict[str, Any]]
    ) -> None:
        """Stop delivering to a listener."""
        with self._lock:
            self._listeners.discard((loop, queue))


def _offer(queue: asyncio.Queue[dict[str, Any]], event: dict[str, Any]) -> None:
    if queue.full():
        # Keep the newest: a listener that fell behind wants the current state.
        queue.get_nowait()
    queue.put_nowait(event)
