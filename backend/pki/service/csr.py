"""Certificate signing requests: parsed, self-signature checked, names and key held to
the profile and to the holder.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.x509.oid import NameOID

from backend.errors import FieldError, InvalidInput
from backend.pki import profiles
from backend.pki.profiles import Violation
from backend.pki.service._shared import _refuse_violations
from backend.pki.service.holders import Holder


def _invalid(field_name: str, message: str, code: str) -> InvalidInput:
    """An ``InvalidInput`` whose top-level code is the specific reason."""
    return InvalidInput(
        detail=f"{field_name}: {message}", code=code, fields=[FieldError(field_name, message, code)]
    )


def parse_csr(csr_pem: str) -> x509.CertificateSigningRequest:
    """A CSR whose self-signature holds, or ``InvalidInput`` saying what is wrong."""
    try:
        csr = x509.load_pem_x509_csr(csr_pem.encode())
    except ValueError as exc:
        raise _invalid("csr", "证书请求(CSR)格式错误，无法解析", "csr_malformed") from exc
    try:
        valid = csr.is_signature_valid
    except Exception as exc:  # unsupported algorithms surface as several exception types
        raise _invalid("csr", "证书请求的签名算法不受支持", "csr_bad_signature") from exc
    if not valid:
        raise _invalid("csr", "证书请求的自签名无效", "csr_bad_signature")
    try:
        # Names and extensions are decoded lazily: a client may sign any bytes under a
        # known extension, so decode them here, where a failure is the client's fault.
        _ = csr.subject, csr.extensions
    except (ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType) as exc:
        raise _invalid("csr", "证书请求的名称或扩展格式错误，无法解析", "csr_malformed") from exc
    return csr


def _csr_names(
    csr: x509.CertificateSigningRequest,
) -> tuple[str | None, dict[str, str], list[str], list[str], list[str]]:
    cns = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    common_name = str(cns[0].value) if cns else None
    uris: dict[str, str] = {}
    foreign: list[str] = []
    dns: list[str] = []
    ips: list[str] = []
    try:
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return common_name, uris, dns, ips, foreign
    for value in san.get_values_for_type(x509.UniformResourceIdentifier):
        parsed = profiles.parse_uri(value)
        if parsed is None or parsed[0] in uris:
            foreign.append(value)
        else:
            uris[parsed[0]] = parsed[1]
    dns = list(san.get_values_for_type(x509.DNSName))
    ips = [str(a) for a in san.get_values_for_type(x509.IPAddress)]
    foreign += [str(v) for v in san.get_values_for_type(x509.RFC822Name)]
    return common_name, uris, dns, ips, foreign


def check_request(
    *, csr: x509.CertificateSigningRequest, profile_name: str, holder: Holder
) -> list[Violation]:
    """Every way a CSR's names and key break the profile or do not name ``holder``."""
    profile = profiles.get(profile_name)
    common_name, uris, dns, ips, foreign = _csr_names(csr)
    found = profiles.check_names(
        profile, uris={**holder.uris, **uris}, dns_names=dns, ip_addresses=ips
    )
    if foreign:
        found.append(Violation("name_not_allowed", f"不允许的名称：{', '.join(foreign)}"))
    if common_name is not None and common_name != holder.common_name:
        found.append(
            Violation("name_mismatch", f"CN “{common_name}” 与持有者 “{holder.common_name}” 不符")
        )
    for kind, value in uris.items():
        if kind in holder.uris and holder.uris[kind] != value:
            found.append(
                Violation("name_mismatch", f"名称 {profiles.uri(kind, value)} 与持有者不符")
            )
    public_key = csr.public_key()
    if profiles.key_type(public_key) not in profile.key_types:
        found.append(
            Violation(
                "key_type_not_allowed",
                f"不接受 {profiles.key_type(public_key)} 密钥，"
                f"允许：{', '.join(sorted(profile.key_types))}",
            )
        )
    return found


def _checked_csr(csr_pem: str, profile_name: str, holder: Holder) -> x509.CertificateSigningRequest:
    csr = parse_csr(csr_pem)
    _refuse_violations(
        check_request(csr=csr, profile_name=profile_name, holder=holder), where="csr"
    )
    return csr
