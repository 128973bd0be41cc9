"""The OCSP responder (RFC 6960), signed by the issuing CA."""

from __future__ import annotations

import datetime as dt

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
from backend.pki.service.ca import ISSUING_KEY_LABEL, issuing_ca, load_certificate
from backend.pki.service.revocation import REVOCATION_REASONS


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


def ocsp_response(
    *, session: Session, keys: KeyStore, settings: Settings, request_der: bytes
) -> bytes:
    """An RFC 6960 response to a DER request: good, revoked or unknown, signed by the CA."""
    try:
        request = ocsp.load_der_ocsp_request(request_der)
        algorithm = _OCSP_HASHES[request.hash_algorithm.name]
    except (ValueError, KeyError):
        return ocsp.OCSPResponseBuilder.build_unsuccessful(
            ocsp.OCSPResponseStatus.MALFORMED_REQUEST
        ).public_bytes(serialization.Encoding.DER)
    ca_row = issuing_ca(session=session)
    ca_cert = load_certificate(ca_row)

    def digest(data: bytes) -> bytes:
        h = hashes.Hash(algorithm())
        h.update(data)
        return h.finalize()

    if request.issuer_key_hash != digest(_key_bits(ca_cert.public_key())) or (
        request.issuer_name_hash != digest(ca_cert.subject.public_bytes())
    ):
        return ocsp.OCSPResponseBuilder.build_unsuccessful(
            ocsp.OCSPResponseStatus.UNAUTHORIZED
        ).public_bytes(serialization.Encoding.DER)
    row = session.scalar(
        select(Certificate).where(
            Certificate.serial == _serial_hex(request.serial_number),
            Certificate.issuer_id == ca_row.id,
        )
    )
    now = utcnow()
    status = ocsp.OCSPCertStatus.UNKNOWN
    revoked_at: dt.datetime | None = None
    reason: x509.ReasonFlags | None = None
    if row is not None and row.state == "revoked":
        status = ocsp.OCSPCertStatus.REVOKED
        revoked_at = row.revoked_at
        reason = REVOCATION_REASONS[row.revocation_reason or "unspecified"]
    elif row is not None:
        status = ocsp.OCSPCertStatus.GOOD
    builder = (
        ocsp.OCSPResponseBuilder()
        .add_response_by_hash(
            issuer_name_hash=request.issuer_name_hash,
            issuer_key_hash=request.issuer_key_hash,
            serial_number=request.serial_number,
            algorithm=algorithm(),
            cert_status=status,
            this_update=now,
            next_update=now + dt.timedelta(hours=1),
            revocation_time=revoked_at,
            revocation_reason=reason,
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, ca_cert)
    )
    for extension in request.extensions:
        if isinstance(extension.value, x509.OCSPNonce):
            builder = builder.add_extension(extension.value, critical=False)
    ca_key = keys.signing_key(label=ca_row.key_label or ISSUING_KEY_LABEL)
    return builder.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)
