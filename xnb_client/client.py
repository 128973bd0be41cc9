"""A small HTTPS client of the backend: mutual TLS with the device certificate, the
two-factor operator log-in, device enrolment and certificate renewal.

The transport is injectable (``transport=``), so tests can run this code against the
app in process as well as against a real server.
"""

from __future__ import annotations

import datetime as dt
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from xnb_client.keys import PrivateKey, certificate_fingerprint, sign_challenge


class BackendError(Exception):
    """A refusal from the backend, with its stable problem code."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(f"[{status} {code}] {detail}")
        self.status = status
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class LoginSession:
    """A logged-in operator session."""

    token: str
    expires_at: dt.datetime
    factors: list[str]
    operator_id: int


def tls_context(
    *,
    ca_file: Path | None,
    client_cert: Path | None = None,
    client_key: Path | None = None,
    key_password: str | None = None,
) -> ssl.SSLContext:
    """A client TLS context trusting the CA chain, presenting the device certificate if given."""
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    if client_cert is not None:
        context.load_cert_chain(str(client_cert), str(client_key or client_cert), key_password)
    return context


class BackendClient:
    """Calls the backend as one device (the client certificate of every connection)."""

    def __init__(
        self,
        base_url: str,
        *,
        ca_file: Path | None = None,
        client_cert: Path | None = None,
        client_key: Path | None = None,
        key_password: str | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 10.0,
    ) -> None:
        verify: ssl.SSLContext | bool = True
        if base_url.startswith("https://"):
            verify = tls_context(
                ca_file=ca_file,
                client_cert=client_cert,
                client_key=client_key,
                key_password=key_password,
            )
        self.device_fingerprint = (
            certificate_fingerprint(client_cert.read_bytes()) if client_cert else None
        )
        self._http = httpx.Client(
            base_url=base_url, verify=verify, transport=transport, timeout=timeout
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> BackendClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise BackendError(0, "transport_error", str(exc)) from exc
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = {}
            raise BackendError(
                response.status_code,
                body.get("code", "http_error"),
                body.get("detail", response.text[:200]),
            )
        return response.json()

    def login(
        self,
        *,
        username: str,
        password: str,
        certificate_pem: bytes | None = None,
        private_key: PrivateKey | None = None,
    ) -> LoginSession:
        """Log in with the password and, when given, the operator certificate's signature."""
        body: dict[str, Any] = {"username": username, "password": password}
        if certificate_pem is not None and private_key is not None:
            challenge = self._call("POST", "/api/v1/auth/challenge", json={"username": username})
            body |= {
                "challenge_id": challenge["challenge_id"],
                "certificate_pem": certificate_pem.decode(),
                # Signed over our own view of the device: a relay with another client
                # certificate gets a signature the backend will not accept.
                "signature": sign_challenge(
                    private_key,
                    username=username,
                    nonce_hex=challenge["nonce"],
                    device_fingerprint=self.device_fingerprint,
                ),
            }
        out = self._call("POST", "/api/v1/auth/login", json=body)
        return LoginSession(
            token=out["access_token"],
            expires_at=dt.datetime.fromisoformat(out["expires_at"]),
            factors=out["factors"],
            operator_id=out["operator_id"],
        )

    def me(self, session: LoginSession) -> dict[str, Any]:
        """Who the backend says the session belongs to."""
        result: dict[str, Any] = self._call(
            "GET", "/api/v1/auth/me", headers={"Authorization": f"Bearer {session.token}"}
        )
        return result

    def enrol(self, *, token: str, csr_pem: str) -> dict[str, Any]:
        """Exchange a one-time enrolment token and a CSR for a device certificate."""
        result: dict[str, Any] = self._call(
            "POST", "/pki/enrol", json={"token": token, "csr_pem": csr_pem}
        )
        return result

    def renew(self, *, csr_pem: str) -> dict[str, Any]:
        """A new certificate for the holder of this connection's client certificate."""
        result: dict[str, Any] = self._call(
            "POST", "/api/v1/certificates/renew", json={"csr_pem": csr_pem}
        )
        return result
