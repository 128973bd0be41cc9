"""Serving HTTPS with client certificates, and reading the peer certificate per request.

The TLS layer (``ssl.CERT_OPTIONAL``) checks that a presented client certificate
chains to the CA bundle and is within its validity; a connection without one is
accepted so that health checks, the CRL and the OCSP responder stay reachable.
Everything else — in the inventory, not revoked, holder active — is checked per
request by ``backend.deps`` on the API paths.

uvicorn does not put the peer certificate in the ASGI scope, so ``TlsHttpProtocol``
adds the ASGI TLS extension (``scope["extensions"]["tls"]``) per connection.

With TLS on, the CRL and OCSP URLs written into certificates (plain HTTP: relying parties
fetch them before they can trust anything) would point at nothing, so a second uvicorn
server in the same process listens on plain HTTP (``pki_http_port``, same host) and
serves the same app through ``RelyingPartyPaths``: the CA chain, the CRL and OCSP, and
nothing else. Device enrolment is not among them: its one-time token is a secret and
travels over HTTPS only.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Any

from cryptography import x509
from starlette.responses import JSONResponse
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from backend.config import Settings
from backend.errors import NotFound, problem_body

log = logging.getLogger("xnb.mtls")
TLS_EXTENSION = "tls"
_ALERT_RECORD = 21  # TLS record content type of an alert (RFC 8446 §5.1)


def peer_certificate(scope: Any) -> x509.Certificate | None:
    """The client certificate of the request's connection, if it presented one."""
    tls = scope.get("extensions", {}).get(TLS_EXTENSION)
    if not tls or not tls.get("client_cert_chain"):
        return None
    certificate: x509.Certificate | None = tls.get("_xnb_certificate")
    if certificate is None:
        certificate = x509.load_pem_x509_certificate(tls["client_cert_chain"][0].encode())
        tls["_xnb_certificate"] = certificate
    return certificate


class TlsHttpProtocol(HttpToolsProtocol):
    """uvicorn's HTTP protocol that adds the ASGI TLS extension to every request's scope."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Read the peer certificate once per connection and wrap the app to pass it on."""
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is None:
            return
        der = ssl_object.getpeercert(binary_form=True)
        chain = [ssl.DER_cert_to_PEM_cert(der)] if der else []
        cipher = ssl_object.cipher()
        extension: dict[str, Any] = {
            "server_cert": None,
            "client_cert_chain": chain,
            "client_cert_name": None,
            "client_cert_error": None,
            "tls_version": ssl_object.version(),
            "cipher_suite": cipher[0] if cipher else None,
        }
        inner = self.app

        async def with_tls(scope: Any, receive: Any, send: Any) -> None:
            scope.setdefault("extensions", {})[TLS_EXTENSION] = dict(extension)
            await inner(scope, receive, send)

        self.app = with_tls


def _log_alert(
    _conn: Any, direction: str, _version: Any, content_type: Any, msg_type: Any, _data: bytes
) -> None:
    # Python exposes no certificate-verification callback; the alert the server sends
    # names why a handshake failed (unknown_ca, certificate_expired, bad_certificate…).
    if direction == "write" and content_type == _ALERT_RECORD:
        log.warning(
            "TLS handshake refused: alert %s sent to the client",
            getattr(msg_type, "name", msg_type),
        )


def server_context(settings: Settings) -> ssl.SSLContext:
    """TLS 1.2+ server context: our certificate, client certificates optional but verified."""
    if not (settings.tls_certfile and settings.tls_keyfile and settings.tls_client_ca_file):
        raise ValueError("TLS needs XNB_TLS_CERTFILE, XNB_TLS_KEYFILE and XNB_TLS_CLIENT_CA_FILE")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(
        settings.tls_certfile,
        settings.tls_keyfile,
        password=settings.pki_passphrase.get_secret_value(),
    )
    context.load_verify_locations(cafile=str(settings.tls_client_ca_file))
    context.verify_mode = ssl.CERT_OPTIONAL
    context._msg_callback = _log_alert  # type: ignore[attr-defined]
    return context


def _proxy_options(settings: Settings) -> dict[str, Any]:
    # uvicorn believes X-Forwarded-* from 127.0.0.1 by default: any local process could then
    # claim another address (audit, rate limits) or scheme. Only configured proxies count.
    if not settings.trusted_proxies:
        return {"proxy_headers": False}
    return {"proxy_headers": True, "forwarded_allow_ips": list(settings.trusted_proxies)}


def uvicorn_config(app: Any, settings: Settings, *, host: str, port: int, **kwargs: Any) -> Any:
    """The uvicorn configuration: HTTPS with client certificates, or flagged plain HTTP."""
    import uvicorn

    kwargs = _proxy_options(settings) | kwargs

    if settings.tls_enabled:
        context = server_context(settings)
        return uvicorn.Config(
            app,
            host=host,
            port=port,
            http=TlsHttpProtocol,
            ssl_context_factory=lambda _config, _default: context,
            **kwargs,
        )
    if not settings.allow_insecure_http:
        raise ValueError(
            "no TLS configured and plain HTTP is not allowed (XNB_ALLOW_INSECURE_HTTP)"
        )
    log.warning(
        "INSECURE DEVELOPMENT MODE: plain HTTP without client certificates on %s:%s", host, port
    )
    return uvicorn.Config(app, host=host, port=port, **kwargs)


class RelyingPartyPaths:
    """The app as the plain-HTTP listener serves it: only ``/pki/ca.pem``, ``/pki/crl`` (and
    ``/pki/crl/{issuer}``) and ``/pki/ocsp`` (POST, and GET ``/pki/ocsp/{request}``); every
    other path is 404."""

    PATHS = ("/pki/ca.pem", "/pki/crl", "/pki/ocsp")

    def __init__(self, app: Any) -> None:
        self._app = app

    def _allowed(self, path: str) -> bool:
        return path in self.PATHS or path.startswith(("/pki/ocsp/", "/pki/crl/"))

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Pass allowed HTTP requests to the app; answer the rest with a problem 404."""
        if scope["type"] != "http" or self._allowed(scope["path"]):
            await self._app(scope, receive, send)
            return
        error = NotFound(
            detail="此端口仅提供 CA 证书链、CRL 与 OCSP；其余接口请使用 HTTPS",
            code="not_on_plain_http",
        )
        response = JSONResponse(
            problem_body(error, instance=scope["path"]),
            status_code=error.status,
            media_type="application/problem+json",
        )
        await response(scope, receive, send)


def uvicorn_configs(
    app: Any, settings: Settings, *, host: str, port: int, **kwargs: Any
) -> list[Any]:
    """The API listener and, with TLS on and ``pki_http_port`` set, the plain-HTTP one."""
    import uvicorn

    configs = [uvicorn_config(app, settings, host=host, port=port, **kwargs)]
    if settings.tls_enabled and settings.pki_http_port:
        log.info(
            "CRL and OCSP over plain HTTP on %s:%s (no other paths)", host, settings.pki_http_port
        )
        # lifespan off: the app's start-up and shut-down run once, with the API listener.
        configs.append(
            uvicorn.Config(
                RelyingPartyPaths(app),
                host=host,
                port=settings.pki_http_port,
                lifespan="off",
                **(_proxy_options(settings) | kwargs),
            )
        )
    return configs


async def serve_all(servers: list[Any]) -> None:
    """Run uvicorn servers in one event loop; when one stops, stop the others.

    Each server installs the same signal handlers, so only the last one started sees
    Ctrl-C or SIGTERM; the others follow it here.
    """
    tasks = [asyncio.create_task(server.serve()) for server in servers]
    await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for server in servers:
        server.should_exit = True
    await asyncio.gather(*tasks)
