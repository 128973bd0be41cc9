"""The CA's keys in a PKCS#11 token (``XNB_KEY_STORE=pkcs11``): ECDSA P-256 key pairs
generated inside, the private half sensitive and never extractable, every signature
(certificates, CRLs, OCSP responses) made by the token.

:class:`TokenSigningKey` is a ``cryptography`` EC private key whose ``sign`` asks the
token, so the certificate, CRL and OCSP builders use it as they use a key in memory.
The hash is computed here and the token signs the digest (``CKM_ECDSA``), which every
PKCS#11 module offers; the token's raw ``r || s`` becomes the DER signature X.509 needs.
"""

from __future__ import annotations

from typing import Any, NoReturn

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils

from backend.config import Settings
from backend.errors import Conflict, InvalidInput, NotFound
from backend.keys.pkcs11_token import Token, TokenConfig, TokenError, token_for

_PREFIX = "xnb-ca:"


def _p11() -> Any:
    import pkcs11

    return pkcs11


def _unavailable(exc: TokenError) -> Conflict:
    return Conflict(detail=f"CA私钥不可用：{exc}", code="ca_key_unavailable")


class TokenSigningKey(ec.EllipticCurvePrivateKey):
    """A P-256 private key that lives in the token; only ``sign`` and ``public_key`` work."""

    def __init__(self, token: Token, label: str, public_key: ec.EllipticCurvePublicKey) -> None:
        self._token = token
        self._label = label
        self._public_key = public_key

    def __repr__(self) -> str:
        return f"TokenSigningKey({self._label!r} in {self._token!r})"

    def sign(
        self,
        data: bytes | bytearray | memoryview,
        signature_algorithm: ec.EllipticCurveSignatureAlgorithm,
    ) -> bytes:
        """ECDSA over ``data`` by the token, DER-encoded."""
        algorithm = signature_algorithm.algorithm
        if isinstance(algorithm, utils.Prehashed):
            raise TypeError("the token signs data, not pre-hashed digests")
        digest = hashes.Hash(algorithm)
        digest.update(data)
        message = digest.finalize()
        p11 = _p11()

        def sign(session: Any) -> bytes:
            key = self._token.find(
                session, label=self._label, object_class=p11.ObjectClass.PRIVATE_KEY
            )
            if key is None:
                raise TokenError(f"令牌中没有CA私钥 {self._label}")
            return bytes(key.sign(message, mechanism=p11.Mechanism.ECDSA))

        try:
            raw = self._token.run(sign)
        except TokenError as exc:
            raise _unavailable(exc) from exc
        half = len(raw) // 2
        return utils.encode_dss_signature(
            int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big")
        )

    def public_key(self) -> ec.EllipticCurvePublicKey:
        """The public half, read from the token when the key was opened."""
        return self._public_key

    @property
    def curve(self) -> ec.EllipticCurve:
        """P-256."""
        return self._public_key.curve

    @property
    def key_size(self) -> int:
        """256."""
        return self._public_key.key_size

    def exchange(self, algorithm: ec.ECDH, peer_public_key: ec.EllipticCurvePublicKey) -> bytes:
        """Refused: a CA key only signs."""
        self._refuse("ECDH")

    def private_numbers(self) -> ec.EllipticCurvePrivateNumbers:
        """Refused: the private value never leaves the token."""
        self._refuse("private_numbers")

    def private_bytes(
        self,
        encoding: serialization.Encoding,
        format: serialization.PrivateFormat,
        encryption_algorithm: serialization.KeySerializationEncryption,
    ) -> bytes:
        """Refused: the private value never leaves the token."""
        self._refuse("private_bytes")

    def __copy__(self) -> TokenSigningKey:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> TokenSigningKey:
        return self

    def _refuse(self, what: str) -> NoReturn:
        raise TypeError(f"{what}: the CA key {self._label} stays in the HSM")


class Pkcs11KeyStore:
    """CA keys by label in a token (the :class:`backend.pki.keystore.KeyStore` protocol)."""

    def __init__(self, token: Token) -> None:
        self._token = token

    @classmethod
    def from_settings(cls, settings: Settings) -> Pkcs11KeyStore:
        """The store on the configured token."""
        try:
            return cls(token_for(TokenConfig.from_settings(settings)))
        except TokenError as exc:
            raise _unavailable(exc) from exc

    def generate(self, *, label: str, algorithm: str) -> TokenSigningKey:
        """Generate a P-256 key pair in the token; refuse an existing label."""
        if algorithm != "ec-p256":
            raise InvalidInput(
                detail=f"硬件密码模块中的CA密钥只支持 ec-p256，不支持 {algorithm}",
                code="key_algorithm_unsupported",
            )
        p11 = _p11()
        from pkcs11.util.ec import encode_named_curve_parameters

        name = _PREFIX + label

        def generate(session: Any) -> bytes:
            if self._token.find(session, label=name, object_class=p11.ObjectClass.PRIVATE_KEY):
                raise Conflict(detail=f"CA密钥 {label} 已存在", code="ca_key_exists")
            parameters = session.create_domain_parameters(
                p11.KeyType.EC,
                {p11.Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")},
                local=True,
            )
            public, _ = parameters.generate_keypair(
                store=True,
                label=name,
                public_template={p11.Attribute.VERIFY: True},
                private_template={
                    p11.Attribute.SENSITIVE: True,
                    p11.Attribute.EXTRACTABLE: False,
                    p11.Attribute.PRIVATE: True,
                    p11.Attribute.SIGN: True,
                    p11.Attribute.DECRYPT: False,
                    p11.Attribute.DERIVE: False,
                    p11.Attribute.UNWRAP: False,
                },
            )
            return bytes(public[p11.Attribute.EC_POINT])

        try:
            point = self._token.run(generate)
        except TokenError as exc:
            raise _unavailable(exc) from exc
        return TokenSigningKey(self._token, name, _public_key(point))

    def signing_key(self, *, label: str) -> TokenSigningKey:
        """The token's key of ``label`` (its public half read once per opening)."""
        p11 = _p11()
        name = _PREFIX + label

        def point(session: Any) -> bytes | None:
            public = self._token.find(session, label=name, object_class=p11.ObjectClass.PUBLIC_KEY)
            return None if public is None else bytes(public[p11.Attribute.EC_POINT])

        try:
            found = self._token.run(point)
        except TokenError as exc:
            raise _unavailable(exc) from exc
        if found is None:
            raise NotFound(
                detail=f"硬件密码模块中没有CA密钥 {label}，请先运行 xnb ca init", code="ca_missing"
            )
        return TokenSigningKey(self._token, name, _public_key(found))


def _public_key(ec_point: bytes) -> ec.EllipticCurvePublicKey:
    # CKA_EC_POINT is the uncompressed point wrapped in a DER OCTET STRING (04 41 04 …).
    point = ec_point[2:] if ec_point[:1] == b"\x04" and len(ec_point) == 67 else ec_point
    return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
