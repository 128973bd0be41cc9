"""The certificate factor of operator log-in: a single-use challenge signed by the
operator's certificate key, bound to the device certificate of the connection.

The signed bytes (``challenge_message``) are the wire format shared with
``xnb_client.login``; a test checks both build the same bytes.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import secrets

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from sqlalchemy import update
from sqlalchemy.orm import Session

from backend.db import utcnow
from backend.errors import AuthenticationFailed
from backend.orgs.models import Operator
from backend.pki import profiles
from backend.pki.models import Certificate, LoginChallenge
from backend.pki.service import check_presented, verify_issued
from backend.pki.service.renewal import supersede_on_first_use

CHALLENGE_SECONDS = 120
MESSAGE_PREFIX = b"xnb-operator-login-v1"


def challenge_message(*, username: str, nonce_hex: str, device_fingerprint: str | None) -> bytes:
    """The exact bytes the operator's key signs."""
    return b"\n".join(
        [MESSAGE_PREFIX, username.encode(), nonce_hex.encode(), (device_fingerprint or "").encode()]
    )


def new_challenge(
    *, session: Session, username: str, device_fingerprint: str | None
) -> LoginChallenge:
    """A fresh nonce for one log-in (issued whether or not the user exists)."""
    now = utcnow()
    challenge = LoginChallenge(
        nonce=secrets.token_hex(32),
        username=username,
        device_fingerprint=device_fingerprint,
        created_at=now,
        expires_at=now + dt.timedelta(seconds=CHALLENGE_SECONDS),
    )
    session.add(challenge)
    session.flush()
    return challenge


def _failed(detail: str, code: str) -> AuthenticationFailed:
    return AuthenticationFailed(detail=detail, code=code)


def verify_proof(
    *,
    session: Session,
    operator: Operator,
    challenge_id: int,
    signature_b64: str,
    certificate_pem: str,
    device_fingerprint: str | None,
) -> Certificate:
    """Check the certificate factor; return the operator certificate it proved.

    Refusals carry a specific code: challenge_unknown, challenge_used, challenge_expired,
    challenge_device_mismatch, certificate_malformed, certificate_foreign_ca,
    certificate_unknown, certificate_revoked, certificate_expired, certificate_not_yet_valid,
    certificate_not_operator, certificate_wrong_operator, signature_invalid.
    """
    challenge = session.get(LoginChallenge, challenge_id)
    if challenge is None or challenge.username != operator.username:
        raise _failed("登录挑战不存在", "challenge_unknown")
    # Used up even when the rest fails: one challenge, one attempt. Conditional, so of
    # log-ins racing with one signed challenge exactly one gets past this line.
    used = session.execute(
        update(LoginChallenge)
        .where(LoginChallenge.id == challenge.id, LoginChallenge.used_at.is_(None))
        .values(used_at=utcnow())
        .returning(LoginChallenge.id)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    if used is None:
        raise _failed("登录挑战已使用过", "challenge_used")
    if challenge.expires_at <= utcnow():
        raise _failed("登录挑战已过期", "challenge_expired")
    if challenge.device_fingerprint != device_fingerprint:
        raise _failed("登录挑战不是在本终端上申请的", "challenge_device_mismatch")
    try:
        certificate = x509.load_pem_x509_certificate(certificate_pem.encode())
    except ValueError as exc:
        raise _failed("操作员证书格式错误", "certificate_malformed") from exc
    verify_issued(session=session, certificate=certificate)
    row = check_presented(session=session, certificate=certificate)
    if row.profile != "operator":
        raise _failed("所出示的不是操作员证书", "certificate_not_operator")
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    uris = dict(
        p
        for p in map(profiles.parse_uri, names.get_values_for_type(x509.UniformResourceIdentifier))
        if p
    )
    if row.operator_id != operator.id or uris.get("operator") != operator.username:
        raise _failed("证书不属于该操作员", "certificate_wrong_operator")
    try:
        signature = base64.b64decode(signature_b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _failed("签名不是有效的Base64", "signature_invalid") from exc
    message = challenge_message(
        username=operator.username, nonce_hex=challenge.nonce, device_fingerprint=device_fingerprint
    )
    public_key = certificate.public_key()
    try:
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
        elif isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
        else:
            raise InvalidSignature
    except InvalidSignature as exc:
        raise _failed(
            "挑战签名验证失败：签名不是由该证书的私钥生成的", "signature_invalid"
        ) from exc
    supersede_on_first_use(session=session, certificate_id=row.id)
    return row
