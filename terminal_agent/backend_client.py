"""The agent's link to the backend: httpx, mutual TLS with the device certificate.

The agent reaches the backend only over HTTP(S). Every submission carries the
idempotency key the agent generated for it, the operator's session token the page
passed on, and the device id. The TLS context is ``xnb_client``'s (the same
device-certificate handling as the CLI); this link differs from ``xnb_client.BackendClient``
in returning every answer as data (the outbox decides on status codes) and in sending
idempotency keys. The transport is injectable (``transport=``).
"""

from __future__ import annotations

import datetime as dt
import logging
import ssl
import threading
from typing import Any

import httpx

from terminal_agent.config import TlsSettings
from terminal_agent.outbox import BackendAnswer, BackendUnreachableError
from xnb_client.client import tls_context

log = logging.getLogger(__name__)


class BackendLink:
    """Calls the backend as this workstation."""

    def __init__(
        self,
        base_url: str,
        *,
        device_id: str,
        tls: TlsSettings | None = None,
        timeout: float = 5.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        verify: ssl.SSLContext | bool = True
        if base_url.startswith("https://"):
            settings = tls or TlsSettings()
            verify = tls_context(
                ca_file=settings.ca_file,
                client_cert=settings.client_cert,
                client_key=settings.client_key,
                key_password=(
                    settings.key_password.get_secret_value() if settings.key_password else None
                ),
            )
        self.base_url = base_url
        self.device_id = device_id
        # The last known reachability (None: not probed yet), for a status that never waits.
        self._state_lock = threading.Lock()
        self._reachable: bool | None = None
        self._checked_at: dt.datetime | None = None
        self._http = httpx.Client(
            base_url=base_url,
            verify=verify,
            transport=transport,
            timeout=timeout,
            headers={"X-XNB-Device": device_id},
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: dict[str, str] | None = None,
        idempotency_key: str | None = None,
        authorization: str | None = None,
    ) -> BackendAnswer:
        """One call; any answer is returned, no answer is ``BackendUnreachableError``."""
        headers = {}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        if authorization:
            headers["Authorization"] = authorization
        try:
            response = self._http.request(method, path, json=body, params=params, headers=headers)
        except httpx.HTTPError as exc:
            self._note(reachable=False)
            raise BackendUnreachableError(f"后台服务无法连接：{exc}") from exc
        try:
            content: Any = response.json()
        except ValueError:
            content = {"detail": response.text[:500]}
        return BackendAnswer(response.status_code, content)

    def send(
        self,
        method: str,
        path: str,
        *,
        body: Any,
        idempotency_key: str,
        authorization: str | None,
    ) -> BackendAnswer:
        """Submit one state change with its idempotency key (the outbox's sender)."""
        return self.request(
            method, path, body=body, idempotency_key=idempotency_key, authorization=authorization
        )

    def probe(self) -> bool:
        """Ask the health check now (waits up to the timeout) and remember the outcome."""
        try:
            reachable = self.request("GET", "/healthz").status == 200
        except BackendUnreachableError:
            reachable = False
        self._note(reachable=reachable)
        return reachable

    def _note(self, *, reachable: bool) -> None:
        with self._state_lock:
            self._reachable = reachable
            self._checked_at = dt.datetime.now(dt.UTC)

    def state(self) -> dict[str, object]:
        """The last known reachability and when it was learnt; never calls the backend."""
        with self._state_lock:
            checked = self._checked_at.isoformat() if self._checked_at else None
            return {"reachable": self._reachable, "checked_at": checked}
