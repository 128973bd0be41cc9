"""The OCSP responder (RFC 6960), signed by the issuing CA, with a response cache.

A signed response per (issuer, serial, hash algorithm) is kept in a per-process LRU cache
and served again until shortly before its nextUpdate (RFC 5019 style pre-produced
responses). A hit still reads the certificate's state, one indexed query, and is used
only if that state is the one the response states; so a revocation committed by any
process changes the very next answer, and a revocation rolled back changes nothing.
A request carrying a nonce gets a freshly signed response that echoes it and is never
cached (RFC 6960 §4.4.1); requests without one (RFC 5019 clients, GET) share the cache.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509 import ocsp
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.config import Settings
from backend.db import utcnow
from backend.pki.keystore import KeyStore
from backend.pki.models import Certificate
from backend.pki.service._shared import _serial_hex
from backend.pki.service.ca import ISSUING_KEY_LABEL, issuing_ca, issuing_cas, load_certificate
from backend.pki.service.revocation import REVOCATION_REASONS

# How long a response is valid (its nextUpdate), and how long before that the cache stops
# handing it out, so a relying party never receives one about to go stale.
RESPONSE_VALIDITY = dt.timedelta(hours=1)
REFRESH_MARGIN = dt.timedelta(minutes=5)
# About 0.5 kB per ECDSA-signed response: 10 000 entries stay near 5 MB per process.
CACHE_ENTRIES = 10_000


@dataclass(frozen=True)
class OcspAnswer:
    """A DER OCSP response and what HTTP caching needs to know about it."""

    der: bytes
    this_update: dt.datetime | None = None
    next_update: dt.datetime | None = None
    cacheable: bool = False  # successful and without a nonce: the same bytes suit anyone

    @property
    def etag(self) -> str:
        """A strong entity tag: the SHA-256 of the response bytes, quoted."""
        return f'"{hashlib.sha256(self.der).hexdigest()}"'


_CacheKey = tuple[bytes, bytes, str, int]


@dataclass(frozen=True)
class _Cached:
    answer: OcspAnswer
    issuer_id: int
    status: ocsp.OCSPCertStatus
    reuse_until: dt.datetime


class ResponseCache:
    """Signed responses per (issuer hashes, hash algorithm, serial): bounded LRU, thread-safe."""

    def __init__(self, max_entries: int) -> None:
        self._max_entries = max_entries
        self._entries: OrderedDict[_CacheKey, _Cached] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: _CacheKey, *, now: dt.datetime) -> _Cached | None:
        """The entry if it may still be reused (an outdated one is dropped)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if now >= entry.reuse_until:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry

    def put(self, key: _CacheKey, entry: _Cached) -> None:
        """Store an entry, evicting the least recently used beyond the bound."""
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        """How many responses are held."""
        with self._lock:
            return len(self._entries)


response_cache = ResponseCache(CACHE_ENTRIES)


def _key_bits(public_key: CertificatePublicKeyTypes) -> bytes:
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return public_key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)


_OCSP_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


def _unsuccessful(status: ocsp.OCSPResponseStatus) -> OcspAnswer:
    return OcspAnswer(
        ocsp.OCSPResponseBuilder.build_unsuccessful(status).public_bytes(serialization.Encoding.DER)
    )


def _status(state: str | None) -> ocsp.OCSPCertStatus:
    if state is None:
        return ocsp.OCSPCertStatus.UNKNOWN
    return ocsp.OCSPCertStatus.REVOKED if state == "revoked" else ocsp.OCSPCertStatus.GOOD


def ocsp_answer(
    *, session: Session, keys: KeyStore, settings: Settings, request_der: bytes
) -> OcspAnswer:
    """An RFC 6960 response to a DER request — good, revoked or unknown, signed by the
    issuing CA — from the cache when the status it states still holds."""
    try:
        request = ocsp.load_der_ocsp_request(request_der)
        algorithm = _OCSP_HASHES[request.hash_algorithm.name]
    except (ValueError, KeyError):
        return _unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
    nonce = next((e.value for e in request.extensions if isinstance(e.value, x509.OCSPNonce)), None)
    key: _CacheKey = (
        request.issuer_name_hash,
        request.issuer_key_hash,
        request.hash_algorithm.name,
        request.serial_number,
    )
    now = utcnow()
    if nonce is None and (cached := response_cache.get(key, now=now)) is not None:
        state = session.scalar(
            select(Certificate.state).where(
                Certificate.serial == _serial_hex(request.serial_number),
                Certificate.issuer_id == cached.issuer_id,
            )
        )
        if _status(state) == cached.status:
            return cached.answer

    def digest(data: bytes) -> bytes:
        h = hashes.Hash(algorithm())
        h.update(data)
        return h.finalize()

    # Each valid issuing CA answers for its own certificates (two during a rotation).
    issuing_ca(session=session)  # none at all: the usual ca_missing
    for ca_row in issuing_cas(session=session):
        ca_cert = load_certificate(ca_row)
        if request.issuer_key_hash == digest(_key_bits(ca_cert.public_key())) and (
            request.issuer_name_hash == digest(ca_cert.subject.public_bytes())
        ):
            break
    else:
        return _unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED)
    row = session.scalar(
        select(Certificate).where(
            Certificate.serial == _serial_hex(request.serial_number),
            Certificate.issuer_id == ca_row.id,
        )
    )
    status = _status(row.state if row is not None else None)
    revoked_at: dt.datetime | None = None
    reason: x509.ReasonFlags | None = None
    if row is not None and status == ocsp.OCSPCertStatus.REVOKED:
        revoked_at = row.revoked_at
        reason = REVOCATION_REASONS[row.revocation_reason or "unspecified"]
    # Whole seconds: the response encodes no fraction, and HTTP dates name the same instant.
    this_update = now.replace(microsecond=0)
    next_update = this_update + RESPONSE_VALIDITY
    builder = (
        ocsp.OCSPResponseBuilder()
        .add_response_by_hash(
            issuer_name_hash=request.issuer_name_hash,
            issuer_key_hash=request.issuer_key_hash,
            serial_number=request.serial_number,
            algorithm=algorithm(),
            cert_status=status,
            this_update=this_update,
            next_update=next_update,
            revocation_time=revoked_at,
            revocation_reason=reason,
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, ca_cert)
    )
    if nonce is not None:
        builder = builder.add_extension(nonce, critical=False)
    ca_key = keys.signing_key(label=ca_row.key_label or ISSUING_KEY_LABEL)
    answer = OcspAnswer(
        builder.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER),
        this_update=this_update,
        next_update=next_update,
        cacheable=nonce is None,
    )
    if answer.cacheable:
        response_cache.put(
            key,
            _Cached(answer, ca_row.id, status, reuse_until=next_update - REFRESH_MARGIN),
        )
    return answer
