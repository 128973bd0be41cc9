"""Keys, CSRs and the log-in signature, on the client's side."""

from __future__ import annotations

import base64

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
LOGIN_MESSAGE_PREFIX = b"xnb-operator-login-v1"


def new_private_key(algorithm: str = "ec-p256") -> PrivateKey:
    """A fresh key: ``ec-p256`` (default), ``rsa-2048`` or ``rsa-3072``."""
    if algorithm == "ec-p256":
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm in ("rsa-2048", "rsa-3072"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(algorithm[4:]))
    raise ValueError(f"unsupported key algorithm {algorithm!r}")


def private_key_pem(key: PrivateKey, passphrase: str | None = None) -> bytes:
    """PKCS#8 PEM, encrypted when a passphrase is given."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase.encode())
        if passphrase
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def load_private_key(pem: bytes, passphrase: str | None = None) -> PrivateKey:
    """An EC or RSA private key from PEM."""
    key = serialization.load_pem_private_key(pem, passphrase.encode() if passphrase else None)
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise ValueError("only EC and RSA keys are supported")
    return key


def make_csr(
    key: PrivateKey,
    *,
    common_name: str,
    uris: dict[str, str] | None = None,
    dns_names: list[str] | None = None,
) -> str:
    """A PEM CSR naming ``common_name`` and ``urn:xnb:<kind>:<value>`` URIs."""
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    )
    names: list[x509.GeneralName] = [
        x509.UniformResourceIdentifier(f"urn:xnb:{kind}:{value}")
        for kind, value in (uris or {}).items()
    ]
    names += [x509.DNSName(d) for d in dns_names or []]
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


def certificate_fingerprint(certificate_pem: bytes) -> str:
    """SHA-256 of a certificate's DER, lower-case hex (as the backend identifies it)."""
    return x509.load_pem_x509_certificate(certificate_pem).fingerprint(hashes.SHA256()).hex()


def challenge_message(*, username: str, nonce_hex: str, device_fingerprint: str | None) -> bytes:
    """The bytes the operator's key signs (must match ``backend.pki.login``)."""
    return b"\n".join(
        [
            LOGIN_MESSAGE_PREFIX,
            username.encode(),
            nonce_hex.encode(),
            (device_fingerprint or "").encode(),
        ]
    )


def sign_challenge(
    key: PrivateKey, *, username: str, nonce_hex: str, device_fingerprint: str | None
) -> str:
    """The base64 signature of a log-in challenge (ECDSA or RSA PKCS#1 v1.5, SHA-256)."""
    message = challenge_message(
        username=username, nonce_hex=nonce_hex, device_fingerprint=device_fingerprint
    )
    if isinstance(key, ec.EllipticCurvePrivateKey):
        signature = key.sign(message, ec.ECDSA(hashes.SHA256()))
    else:
        signature = key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode()
