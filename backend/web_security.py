"""Security headers on every response and rate limits on the endpoints anyone can reach.

Two pieces of ASGI middleware, installed by :func:`install` in the app factory:

* :class:`SecurityHeaders` — on every answer: ``X-Content-Type-Options: nosniff``,
  ``Referrer-Policy: no-referrer``, ``X-Frame-Options: DENY`` and a
  ``Content-Security-Policy`` with ``frame-ancestors 'none'`` (pages keep their own
  policy in a ``<meta>`` tag, which cannot carry frame-ancestors; every other answer
  gets ``default-src 'none'``); ``Cache-Control: no-store`` on every API answer (they
  carry personal data: no browser or proxy may keep a copy) unless the route chose its
  own caching; ``Strict-Transport-Security`` on answers sent over TLS.
* :class:`RateLimits` — log-in, the public API (receipt check, residents' queries), the
  public CA service and the kiosk are limited per client address by a token bucket
  (``rate_limit_*_per_minute`` settings); past the limit the answer is
  ``429 rate_limited`` (problem+json) with ``Retry-After`` in whole seconds.

The buckets live in the process. ``xnb serve`` runs one process (every listener in one
event loop), so the limit is exact there; a deployment that runs *k* backend processes
behind one address gets up to *k* times the figure and should divide the settings by *k*
(docs/security.md).
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.config import Settings

HSTS: Final = b"max-age=31536000; includeSubDomains"
PAGE_CSP: Final = b"frame-ancestors 'none'"
API_CSP: Final = b"default-src 'none'; frame-ancestors 'none'"
#: Answers under these paths may carry personal data: never cached.
NO_STORE_PREFIXES: Final = ("/api/", "/bank/")
#: At most this many client addresses are remembered per limit (least recent dropped).
MAX_TRACKED_CLIENTS: Final = 50_000


class SecurityHeaders:
    """Adds the security headers (module doc) to every HTTP answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        over_tls = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = _secured(
                    list(message.get("headers", [])), path=path, over_tls=over_tls
                )
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _secured(
    headers: list[tuple[bytes, bytes]], *, path: str, over_tls: bool
) -> list[tuple[bytes, bytes]]:
    present = {name.lower() for name, _ in headers}
    content_type = next((v for n, v in headers if n.lower() == b"content-type"), b"")
    added = [
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"x-frame-options", b"DENY"),
        (
            b"content-security-policy",
            PAGE_CSP if content_type.startswith(b"text/html") else API_CSP,
        ),
    ]
    if path.startswith(NO_STORE_PREFIXES):
        added.append((b"cache-control", b"no-store"))
    if over_tls:
        added.append((b"strict-transport-security", HSTS))
    return headers + [(name, value) for name, value in added if name not in present]


@dataclass(frozen=True)
class Limit:
    """``per_minute`` requests per client address to paths starting with ``prefixes``."""

    name: str
    prefixes: tuple[str, ...]
    per_minute: int


def limits_of(settings: Settings) -> list[Limit]:
    """The limited endpoint groups and their figures from the settings.

    Everything anyone may call without an operator's log-in lives under
    ``/api/v1/public/`` (the receipt check), ``/12333/`` (the residents' web query: its
    sign-in sends text messages) or ``/pki/`` and is limited here; a public endpoint
    elsewhere needs its prefix added.
    """
    return [
        Limit(
            "login",
            ("/api/v1/auth/login", "/api/v1/auth/challenge"),
            settings.rate_limit_login_per_minute,
        ),
        Limit("public_api", ("/api/v1/public/",), settings.rate_limit_public_per_minute),
        Limit("query_web", ("/12333/",), settings.rate_limit_public_per_minute),
        Limit("public_pki", ("/pki/",), settings.rate_limit_public_per_minute),
        Limit("kiosk", ("/api/v1/benefits/kiosk/",), settings.rate_limit_kiosk_per_minute),
    ]


class TokenBuckets:
    """Token buckets per client address: ``per_minute`` tokens, refilled continuously."""

    def __init__(self, per_minute: int) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self._state: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, client: str, now: float) -> float:
        """0 when a token was taken; otherwise the seconds until one is available."""
        with self._lock:
            tokens, stamp = self._state.pop(client, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - stamp) * self.rate)
            wait = 0.0
            if tokens >= 1.0:
                tokens -= 1.0
            else:
                wait = (1.0 - tokens) / self.rate
            self._state[client] = (tokens, now)
            while len(self._state) > MAX_TRACKED_CLIENTS:
                self._state.popitem(last=False)
            return wait


class RateLimits:
    """Answers ``429 rate_limited`` once a client address exceeds a limit (module doc)."""

    def __init__(self, app: ASGIApp, limits: Iterable[Limit]) -> None:
        self.app = app
        self.limits = [(limit, TokenBuckets(limit.per_minute)) for limit in limits]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope.get("path", "")
            for limit, buckets in self.limits:
                if path.startswith(limit.prefixes):
                    client = scope.get("client")
                    wait = buckets.take(client[0] if client else "-", time.monotonic())
                    if wait > 0:
                        await _too_many(send, limit=limit, path=path, wait=wait)
                        return
                    break
        await self.app(scope, receive, send)


async def _too_many(send: Send, *, limit: Limit, path: str, wait: float) -> None:
    retry_after = max(1, math.ceil(wait))
    body: dict[str, Any] = {
        "type": "urn:xnb:error:rate_limited",
        "title": "请求过于频繁",
        "status": 429,
        "code": "rate_limited",
        "detail": f"请求过于频繁，请{retry_after}秒后再试",
        "instance": path,
        "limit": limit.name,
        "per_minute": limit.per_minute,
    }
    payload = json.dumps(body, ensure_ascii=False).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 429,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(payload)).encode()),
                (b"retry-after", str(retry_after).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def install(app: Any, settings: Settings) -> None:
    """Rate limits inside, security headers outside (so a 429 carries the headers too)."""
    app.add_middleware(RateLimits, limits=limits_of(settings))
    app.add_middleware(SecurityHeaders)
