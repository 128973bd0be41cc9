"""Certificate signing requests as a device, an operator or a bank submits them: a CSR
is refused with ``InvalidInput`` (a field error naming the CSR) or checked against the
profile into violations — never another exception.

Besides text and mangled PEM, CSRs are *validly self-signed* around hostile content: any
common name, any subject alternative names, and extensions whose bytes are garbage under
a known identifier (a client signs whatever it likes with its own key, so the signature
check does not stop them).
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtensionOID, NameOID
from hypothesis import given
from hypothesis import strategies as st

from backend.errors import InvalidInput
from backend.pki.service.csr import check_request, parse_csr
from backend.pki.service.holders import Holder
from tests.fuzz.support import fuzz

KEY = ec.generate_private_key(ec.SECP256R1())
HOLDER = Holder(
    kind="device",
    name="ws-hbk-1",
    common_name="ws-hbk-1",
    organisational_unit="654226100-SB",
    uris={"device": "ws-hbk-1", "office": "654226100-SB", "region": "654226100000"},
)
PROFILES = ("device", "operator", "bank", "server")

ascii_text = st.text(st.characters(max_codepoint=127), max_size=40)
general_name = st.one_of(
    ascii_text.map(x509.UniformResourceIdentifier),
    st.sampled_from(("urn:xnb:device:ws-hbk-1", "urn:xnb:office:x", "urn:xnb:")).map(
        x509.UniformResourceIdentifier
    ),
    ascii_text.map(x509.DNSName),
    st.from_regex(r"[a-z0-9]{1,10}@[a-z0-9]{1,10}", fullmatch=True).map(x509.RFC822Name),
    st.integers(0, 2**32 - 1).map(lambda n: x509.IPAddress(ipaddress.IPv4Address(n))),
)
garbage_extension = st.tuples(
    st.sampled_from(
        (
            ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
            ExtensionOID.KEY_USAGE,
            ExtensionOID.EXTENDED_KEY_USAGE,
            ExtensionOID.BASIC_CONSTRAINTS,
        )
    ),
    st.binary(max_size=40),
).map(lambda t: x509.UnrecognizedExtension(t[0], t[1]))


def _signed_csr(common_name: str | None, names: list[x509.GeneralName], extra: list) -> str:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)] if common_name else []
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attributes))
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    for extension in extra:
        if names and extension.oid == ExtensionOID.SUBJECT_ALTERNATIVE_NAME:
            continue
        with contextlib.suppress(ValueError):  # the builder refuses a duplicate
            builder = builder.add_extension(extension, critical=False)
    csr = builder.sign(KEY, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def _check(pem: str, profile: str) -> None:
    try:
        csr = parse_csr(pem)
    except InvalidInput:
        return
    check_request(csr=csr, profile_name=profile, holder=HOLDER)


@fuzz
@given(
    st.none() | st.text(min_size=1, max_size=64),
    st.lists(general_name, max_size=5),
    st.lists(garbage_extension, max_size=2, unique_by=lambda e: e.oid),
    st.sampled_from(PROFILES),
)
def test_validly_signed_csrs_with_hostile_content(
    common_name: str | None, names: list[x509.GeneralName], extra: list, profile: str
) -> None:
    try:
        pem = _signed_csr(common_name, names, extra)
    except ValueError:
        return  # the library itself will not encode it: no client can send it either
    _check(pem, profile)


@fuzz
@given(st.binary(max_size=600), st.sampled_from(PROFILES))
def test_pem_around_any_bytes(der: bytes, profile: str) -> None:
    body = base64.encodebytes(der).decode()
    _check(
        f"-----BEGIN CERTIFICATE REQUEST-----\n{body}-----END CERTIFICATE REQUEST-----\n", profile
    )


@fuzz
@given(st.text(max_size=400))
def test_any_text(text: str) -> None:
    _check(text, "device")


def test_a_signed_csr_with_a_garbage_name_extension_is_refused_as_malformed() -> None:
    """Found by the fuzzer: this raised ValueError from the name check (a 500)."""
    garbage = x509.UnrecognizedExtension(ExtensionOID.SUBJECT_ALTERNATIVE_NAME, b"\x30\x05")
    pem = _signed_csr("ws-hbk-1", [], [garbage])
    try:
        parse_csr(pem)
    except InvalidInput as refused:
        assert refused.code == "csr_malformed"
        assert refused.fields[0].field == "csr"
    else:
        raise AssertionError("a CSR whose extension cannot be decoded was accepted")
