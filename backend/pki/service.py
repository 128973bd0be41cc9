"""The certificate authority: hierarchy, issuance against profiles, enrolment, revocation,
CRL, OCSP, inventory, and the identity behind a client certificate.

Services take keyword-only arguments and never commit. Every check runs before the
first change, so a refusal leaves nothing behind but the audit record the caller
writes (see ``backend.pki.refusals``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import secrets
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    CertificatePublicKeyTypes,
)
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from backend.audit.service import Actor, record
from backend.auth.models import OperatorSession
from backend.config import Settings
from backend.db import utcnow
from backend.errors import (
    AuthenticationFailed,
    Conflict,
    FieldError,
    InvalidInput,
    NotFound,
    PermissionDenied,
    invalid,
)
from backend.orgs.models import Office, Operator
from backend.pki import profiles
from backend.pki.keystore import KeyStore
from backend.pki.models import (
    BankPartner,
    Certificate,
    CertificateRequest,
    Crl,
    Device,
    EnrolmentToken,
)
from backend.pki.profiles import Profile, Template, Violation

if TYPE_CHECKING:
    from backend.orgs.service import Principal

ISSUING_KEY_LABEL = "issuing-ca"
ROOT_KEY_LABEL = "root-ca"
ORGANISATION = "xnb"
DEVICE_KINDS = ("workstation", "kiosk", "card_centre")
REVOCATION_REASONS: dict[str, x509.ReasonFlags] = {
    "unspecified": x509.ReasonFlags.unspecified,
    "key_compromise": x509.ReasonFlags.key_compromise,
    "ca_compromise": x509.ReasonFlags.ca_compromise,
    "affiliation_changed": x509.ReasonFlags.affiliation_changed,
    "superseded": x509.ReasonFlags.superseded,
    "cessation_of_operation": x509.ReasonFlags.cessation_of_operation,
}
_KEY_USAGE_FLAGS = profiles.KEY_USAGES
_EKU_OIDS = {
    "client_auth": ExtendedKeyUsageOID.CLIENT_AUTH,
    "server_auth": ExtendedKeyUsageOID.SERVER_AUTH,
}
# Certificates start a little in the past so a client with a slow clock accepts them.
_BACKDATE = dt.timedelta(minutes=5)


def fingerprint(certificate: x509.Certificate) -> str:
    """SHA-256 of the DER encoding, lower-case hex (how certificates are looked up)."""
    return certificate.fingerprint(hashes.SHA256()).hex()


def _serial_hex(serial: int) -> str:
    return format(serial, "x")


def load_certificate(row: Certificate) -> x509.Certificate:
    """The ``x509`` object of an inventory row."""
    return _parse_pem(row.pem)


@lru_cache(maxsize=64)
def _parse_pem(pem: str) -> x509.Certificate:
    # CA certificates are parsed on every signature and OCSP answer; they rarely change.
    return x509.load_pem_x509_certificate(pem.encode())


# ---- holders: the names a certificate must carry --------------------------------------


@dataclass(frozen=True)
class Holder:
    """Who a certificate is for and therefore which names it carries."""

    kind: str
    name: str
    common_name: str
    organisational_unit: str | None
    uris: dict[str, str]
    region_code: str | None = None
    operator_id: int | None = None
    device_id: int | None = None
    bank_id: int | None = None
    dns_names: list[str] = field(default_factory=list)
    ip_addresses: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        """``kind:name``, as stored in the inventory and shown in the audit log."""
        return f"{self.kind}:{self.name}"


def operator_holder(operator: Operator) -> Holder:
    """An operator: user name, office code and the office's region code."""
    office = operator.office
    return Holder(
        kind="operator",
        name=operator.username,
        common_name=operator.username,
        organisational_unit=office.code,
        uris={"operator": operator.username, "office": office.code, "region": office.region_code},
        region_code=office.region_code,
        operator_id=operator.id,
    )


def device_holder(device: Device, office: Office) -> Holder:
    """A workstation, kiosk or card-centre station of an office."""
    return Holder(
        kind="device",
        name=device.name,
        common_name=device.name,
        organisational_unit=office.code,
        uris={"device": device.name, "office": office.code, "region": device.region_code},
        region_code=device.region_code,
        device_id=device.id,
    )


def bank_holder(bank: BankPartner) -> Holder:
    """A partner bank, known by its code."""
    return Holder(
        kind="bank",
        name=bank.code,
        common_name=bank.code,
        organisational_unit=None,
        uris={"bank": bank.code},
        bank_id=bank.id,
    )


def server_holder(*, hosts: list[str]) -> Holder:
    """The backend itself: the first host is the common name; IPs and DNS names split."""
    ips, dns = [], []
    for host in hosts:
        try:
            ips.append(str(ipaddress.ip_address(host)))
        except ValueError:
            dns.append(host)
    return Holder(
        kind="server",
        name=hosts[0],
        common_name=hosts[0],
        organisational_unit=None,
        uris={},
        dns_names=dns,
        ip_addresses=ips,
    )


# ---- signing -------------------------------------------------------------------------


def _refuse_violations(violations: list[Violation], *, where: str) -> None:
    if violations:
        raise InvalidInput(
            detail="；".join(v.message for v in violations),
            code=violations[0].code,
            fields=[FieldError(where, v.message, v.code) for v in violations],
        )


def _name(common_name: str, organisational_unit: str | None) -> x509.Name:
    attributes = [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANISATION),
    ]
    if organisational_unit:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, organisational_unit))
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


def template_for(
    *,
    profile: Profile,
    holder: Holder,
    public_key: CertificatePublicKeyTypes,
    now: dt.datetime,
    lifetime_days: int | None = None,
) -> Template:
    """The certificate a profile gives a holder (checked separately before signing)."""
    return Template(
        profile=profile.name,
        common_name=holder.common_name,
        organisational_unit=holder.organisational_unit,
        uris=dict(holder.uris),
        public_key=public_key,
        not_before=now - _BACKDATE,
        not_after=now - _BACKDATE + dt.timedelta(days=lifetime_days or profile.lifetime_days),
        key_usage=profile.key_usage,
        extended_key_usage=profile.extended_key_usage,
        ca=profile.ca,
        dns_names=list(holder.dns_names),
        ip_addresses=list(holder.ip_addresses),
    )


def _sign(
    *,
    template: Template,
    profile: Profile,
    issuer: x509.Certificate | None,
    issuer_key: CertificateIssuerPrivateKeyTypes,
    public_url: str | None,
) -> x509.Certificate:
    """Check ``template`` against ``profile`` and sign it; ``issuer=None`` self-signs."""
    _refuse_violations(profiles.check(profile, template), where="certificate")
    subject = _name(template.common_name, template.organisational_unit)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject if issuer else subject)
        .public_key(template.public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(template.not_before)
        .not_valid_after(template.not_after)
        .add_extension(
            x509.BasicConstraints(ca=template.ca, path_length=profile.path_length), critical=True
        )
        .add_extension(
            x509.KeyUsage(
                **{u: u in template.key_usage for u in _KEY_USAGE_FLAGS},
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(template.public_key), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), False
        )
    )
    if template.extended_key_usage:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([_EKU_OIDS[u] for u in sorted(template.extended_key_usage)]),
            critical=False,
        )
    names: list[x509.GeneralName] = [
        x509.UniformResourceIdentifier(profiles.uri(kind, value))
        for kind, value in template.uris.items()
    ]
    names += [x509.DNSName(d) for d in template.dns_names]
    names += [x509.IPAddress(ipaddress.ip_address(a)) for a in template.ip_addresses]
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    if public_url and not template.ca:
        builder = builder.add_extension(
            x509.CRLDistributionPoints(
                [
                    x509.DistributionPoint(
                        [x509.UniformResourceIdentifier(f"{public_url}/pki/crl")], None, None, None
                    )
                ]
            ),
            critical=False,
        ).add_extension(
            x509.AuthorityInformationAccess(
                [
                    x509.AccessDescription(
                        x509.oid.AuthorityInformationAccessOID.OCSP,
                        x509.UniformResourceIdentifier(f"{public_url}/pki/ocsp"),
                    )
                ]
            ),
            critical=False,
        )
    return builder.sign(issuer_key, _signature_hash(issuer_key))


def _signature_hash(key: CertificateIssuerPrivateKeyTypes) -> hashes.SHA256 | None:
    return (
        hashes.SHA256() if isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) else None
    )


def _store(
    *,
    session: Session,
    certificate: x509.Certificate,
    profile: str,
    holder: Holder,
    issuer_id: int | None,
    key_label: str | None = None,
    renewed_from_id: int | None = None,
) -> Certificate:
    row = Certificate(
        serial=_serial_hex(certificate.serial_number),
        fingerprint=fingerprint(certificate),
        issuer_id=issuer_id,
        profile=profile,
        subject=certificate.subject.rfc4514_string()[:255],
        holder=holder.label[:128],
        operator_id=holder.operator_id,
        device_id=holder.device_id,
        bank_id=holder.bank_id,
        region_code=holder.region_code,
        key_label=key_label,
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        state="valid",
        renewed_from_id=renewed_from_id,
        pem=certificate.public_bytes(serialization.Encoding.PEM).decode(),
    )
    session.add(row)
    session.flush()
    return row


# ---- the hierarchy -------------------------------------------------------------------


def issuing_ca(*, session: Session) -> Certificate:
    """The province's online issuing CA (the newest valid one)."""
    row = session.scalar(
        select(Certificate)
        .where(Certificate.profile == "issuing_ca", Certificate.state == "valid")
        .order_by(Certificate.id.desc())
        .limit(1)
    )
    if row is None:
        raise NotFound(detail="尚未建立签发CA，请先运行 xnb ca init", code="ca_missing")
    return row


def chain_pem(*, session: Session) -> str:
    """The issuing CA followed by its root, PEM (what relying parties trust)."""
    ca = issuing_ca(session=session)
    root = session.get(Certificate, ca.issuer_id) if ca.issuer_id else None
    return ca.pem + (root.pem if root else "")


def init_hierarchy(
    *,
    session: Session,
    keys: KeyStore,
    root_keys: KeyStore,
    settings: Settings,
    province_code: str,
    algorithm: str = "ec-p256",
    actor: Actor,
) -> tuple[Certificate, Certificate]:
    """The key ceremony: an offline-style root and the province's issuing CA signed by it."""
    if session.scalar(select(Certificate).where(Certificate.profile == "issuing_ca")):
        raise Conflict(detail="签发CA已存在", code="ca_exists")
    if len(province_code) != 2 or not province_code.isdigit():
        raise invalid("province_code", "省级区划代码应为2位数字")
    now = utcnow()
    root_key = root_keys.generate(label=ROOT_KEY_LABEL, algorithm=algorithm)
    root_holder = Holder(
        kind="ca",
        name="root",
        common_name=f"xnb 根CA {province_code}",
        organisational_unit=None,
        uris={},
    )
    root_profile = profiles.get("root_ca")
    root_cert = _sign(
        template=template_for(
            profile=root_profile, holder=root_holder, public_key=root_key.public_key(), now=now
        ),
        profile=root_profile,
        issuer=None,
        issuer_key=root_key,
        public_url=None,
    )
    root_row = _store(
        session=session,
        certificate=root_cert,
        profile="root_ca",
        holder=root_holder,
        issuer_id=None,
        key_label=ROOT_KEY_LABEL,
    )
    issuing_key = keys.generate(label=ISSUING_KEY_LABEL, algorithm=algorithm)
    issuing_holder = Holder(
        kind="ca",
        name=f"issuing-{province_code}",
        common_name=f"xnb 签发CA {province_code}",
        organisational_unit=None,
        uris={},
        region_code=province_code.ljust(12, "0"),
    )
    issuing_profile = profiles.get("issuing_ca")
    issuing_cert = _sign(
        template=template_for(
            profile=issuing_profile,
            holder=issuing_holder,
            public_key=issuing_key.public_key(),
            now=now,
        ),
        profile=issuing_profile,
        issuer=root_cert,
        issuer_key=root_key,
        public_url=None,
    )
    issuing_row = _store(
        session=session,
        certificate=issuing_cert,
        profile="issuing_ca",
        holder=issuing_holder,
        issuer_id=root_row.id,
        key_label=ISSUING_KEY_LABEL,
    )
    for row in (root_row, issuing_row):
        record(
            session=session,
            actor=actor,
            action="pki.ca_init",
            object_type="certificate",
            object_id=row.id,
            detail={"serial": row.serial, "profile": row.profile, "algorithm": algorithm},
        )
    generate_crl(session=session, keys=keys, settings=settings)
    return root_row, issuing_row


def _issue(
    *,
    session: Session,
    keys: KeyStore,
    settings: Settings,
    profile_name: str,
    holder: Holder,
    public_key: CertificatePublicKeyTypes,
    actor: Actor,
    renewed_from_id: int | None = None,
    lifetime_days: int | None = None,
) -> Certificate:
    ca_row = issuing_ca(session=session)
    ca_cert = load_certificate(ca_row)
    profile = profiles.get(profile_name)
    now = utcnow()
    template = template_for(
        profile=profile, holder=holder, public_key=public_key, now=now, lifetime_days=lifetime_days
    )
    # Never outlive the issuer: a relying party would reject the tail of the validity.
    template.not_after = min(template.not_after, ca_cert.not_valid_after_utc)
    certificate = _sign(
        template=template,
        profile=profile,
        issuer=ca_cert,
        issuer_key=keys.signing_key(label=ca_row.key_label or ISSUING_KEY_LABEL),
        public_url=settings.pki_public_url.rstrip("/"),
    )
    row = _store(
        session=session,
        certificate=certificate,
        profile=profile_name,
        holder=holder,
        issuer_id=ca_row.id,
        renewed_from_id=renewed_from_id,
    )
    record(
        session=session,
        actor=actor,
        action="pki.issue",
        object_type="certificate",
        object_id=row.id,
        detail={
            "serial": row.serial,
            "profile": profile_name,
            "holder": holder.label,
            "not_after": row.not_after.isoformat(),
            "renewed_from": renewed_from_id,
        },
    )
    return row


# ---- certificate signing requests -----------------------------------------------------


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


# ---- devices and one-time tokens ------------------------------------------------------


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _require_scope(principal: Principal | None, region_code: str | None, what: str) -> None:
    if principal is None:  # server console
        return
    if region_code is None:
        if len(principal.scope.prefix) > 2:
            raise PermissionDenied(detail=f"只有省级管理员可管理{what}", code="scope_too_narrow")
        return
    if not principal.scope.covers(region_code):
        raise NotFound(detail=f"{what}不存在", code="not_found", audit_refusal=True)


def register_device(
    *,
    session: Session,
    principal: Principal | None,
    name: str,
    kind: str,
    office_id: int,
    actor: Actor,
) -> Device:
    """Record a device of an office in the administrator's scope."""
    if kind not in DEVICE_KINDS:
        raise invalid("kind", f"设备类型应为 {', '.join(DEVICE_KINDS)} 之一")
    if not profiles._URI_VALUE["device"].match(name):
        raise invalid("name", "设备名称只能包含字母、数字、点、横线和下划线，最长64位")
    office = session.get(Office, office_id)
    if office is None:
        raise NotFound(detail=f"经办机构{office_id}不存在", code="office_not_found")
    _require_scope(principal, office.region_code, "经办机构")
    if session.scalar(select(Device).where(Device.name == name)):
        raise Conflict(detail=f"设备{name}已存在", code="device_exists")
    device = Device(name=name, kind=kind, office_id=office.id, region_code=office.region_code)
    session.add(device)
    session.flush()
    record(
        session=session,
        actor=actor,
        action="pki.device_register",
        object_type="device",
        object_id=device.id,
        detail={"name": name, "kind": kind, "office": office.code},
    )
    return device


def issue_enrolment_token(
    *,
    session: Session,
    principal: Principal | None,
    device_id: int,
    valid_hours: int,
    actor: Actor,
) -> tuple[EnrolmentToken, str]:
    """A one-time token fixing the device identity; returns the row and the token itself."""
    device = session.get(Device, device_id)
    if device is None:
        raise NotFound(detail=f"设备{device_id}不存在", code="device_not_found")
    _require_scope(principal, device.region_code, "设备")
    if not device.is_active:
        raise Conflict(detail=f"设备{device.name}已停用", code="device_inactive")
    token = secrets.token_urlsafe(24)
    row = EnrolmentToken(
        token_hash=_token_hash(token),
        device_id=device.id,
        issued_by=principal.operator_id if principal else None,
        expires_at=utcnow() + dt.timedelta(hours=valid_hours),
    )
    session.add(row)
    session.flush()
    record(
        session=session,
        actor=actor,
        action="pki.token_issue",
        object_type="device",
        object_id=device.id,
        detail={"device": device.name, "expires_at": row.expires_at.isoformat()},
    )
    return row, token


def enrol_device(
    *, session: Session, keys: KeyStore, settings: Settings, token: str, csr_pem: str, actor: Actor
) -> Certificate:
    """Exchange a one-time token and a CSR for the device's certificate."""
    row = session.scalar(
        select(EnrolmentToken).where(EnrolmentToken.token_hash == _token_hash(token))
    )
    if row is None:
        raise AuthenticationFailed(detail="注册令牌无效", code="token_unknown")
    if row.used_at is not None:
        raise AuthenticationFailed(detail="注册令牌已使用过", code="token_used")
    if row.expires_at <= utcnow():
        raise AuthenticationFailed(detail="注册令牌已过期", code="token_expired")
    device = session.get(Device, row.device_id)
    assert device is not None  # foreign key
    if not device.is_active:
        raise AuthenticationFailed(detail=f"设备{device.name}已停用", code="device_inactive")
    office = session.get(Office, device.office_id)
    assert office is not None  # foreign key
    holder = device_holder(device, office)
    csr = _checked_csr(csr_pem, "device", holder)
    cert = _issue(
        session=session,
        keys=keys,
        settings=settings,
        profile_name="device",
        holder=holder,
        public_key=csr.public_key(),
        actor=Actor(username=actor.username, device=holder.label, address=actor.address),
    )
    row.used_at = utcnow()
    row.certificate_id = cert.id
    return cert


# ---- operators and banks: CSR approved by an administrator -----------------------------


def register_bank(
    *, session: Session, principal: Principal | None, code: str, name: str, actor: Actor
) -> BankPartner:
    """Record a partner bank (province-level administrators only)."""
    _require_scope(principal, None, "合作银行")
    if not profiles._URI_VALUE["bank"].match(code):
        raise invalid("code", "银行代码只能包含字母、数字、点、横线和下划线，最长16位")
    if session.scalar(select(BankPartner).where(BankPartner.code == code)):
        raise Conflict(detail=f"银行{code}已存在", code="bank_exists")
    bank = BankPartner(code=code, name=name)
    session.add(bank)
    session.flush()
    record(
        session=session,
        actor=actor,
        action="pki.bank_register",
        object_type="bank",
        object_id=bank.id,
        detail={"code": code},
    )
    return bank


def _holder_of_request(session: Session, req: CertificateRequest) -> Holder:
    if req.operator_id is not None:
        operator = session.get(Operator, req.operator_id)
        assert operator is not None  # foreign key
        return operator_holder(operator)
    bank = session.get(BankPartner, req.bank_id)
    assert bank is not None  # foreign key
    return bank_holder(bank)


def submit_request(
    *,
    session: Session,
    principal: Principal | None,
    profile_name: str,
    csr_pem: str,
    operator_id: int | None = None,
    bank_code: str | None = None,
    actor: Actor,
) -> CertificateRequest:
    """Queue an operator's or a bank's CSR for approval; its names are checked now."""
    if profile_name == "operator" and operator_id is not None:
        operator = session.get(Operator, operator_id)
        if operator is None:
            raise NotFound(detail=f"操作员{operator_id}不存在", code="operator_not_found")
        own = principal is not None and principal.operator_id == operator_id
        if not own:
            _require_scope(principal, operator.office.region_code, "操作员")
        holder = operator_holder(operator)
        req = CertificateRequest(
            profile="operator", operator_id=operator.id, region_code=operator.office.region_code
        )
    elif profile_name == "bank" and bank_code:
        _require_scope(principal, None, "合作银行")
        bank = session.scalar(select(BankPartner).where(BankPartner.code == bank_code))
        if bank is None:
            raise NotFound(detail=f"银行{bank_code}不存在", code="bank_not_found")
        holder = bank_holder(bank)
        req = CertificateRequest(profile="bank", bank_id=bank.id, region_code="000000000000")
    else:
        raise invalid(
            "profile", "证书请求只用于操作员（须给出 operator_id）或银行（须给出 bank_code）"
        )
    _checked_csr(csr_pem, profile_name, holder)
    req.csr_pem = csr_pem
    req.requested_by = principal.operator_id if principal else None
    session.add(req)
    session.flush()
    record(
        session=session,
        actor=actor,
        action="pki.request_submit",
        object_type="request",
        object_id=req.id,
        detail={"profile": profile_name, "holder": holder.label},
    )
    return req


def get_request(
    *, session: Session, principal: Principal | None, request_id: int
) -> CertificateRequest:
    """One pending or decided request inside the administrator's scope."""
    req = session.get(CertificateRequest, request_id)
    if req is None:
        raise NotFound(detail=f"证书请求{request_id}不存在", code="request_not_found")
    _require_scope(principal, None if req.profile == "bank" else req.region_code, "证书请求")
    return req


def decide_request(
    *,
    session: Session,
    keys: KeyStore,
    settings: Settings,
    principal: Principal | None,
    request_id: int,
    approve: bool,
    actor: Actor,
) -> CertificateRequest:
    """Approve (issue the certificate) or reject a pending request."""
    req = get_request(session=session, principal=principal, request_id=request_id)
    if req.state != "pending":
        raise Conflict(detail=f"证书请求{request_id}已处理（{req.state}）", code="request_decided")
    if principal is not None and req.operator_id == principal.operator_id and approve:
        raise PermissionDenied(detail="不能批准自己的证书请求", code="self_approval")
    holder = _holder_of_request(session, req)
    req.decided_by = principal.operator_id if principal else None
    req.decided_at = utcnow()
    if not approve:
        req.state = "rejected"
        record(
            session=session,
            actor=actor,
            action="pki.request_reject",
            object_type="request",
            object_id=req.id,
            detail={"holder": holder.label},
        )
        return req
    csr = _checked_csr(req.csr_pem, req.profile, holder)
    cert = _issue(
        session=session,
        keys=keys,
        settings=settings,
        profile_name=req.profile,
        holder=holder,
        public_key=csr.public_key(),
        actor=actor,
    )
    req.state = "approved"
    req.certificate_id = cert.id
    return req


def issue_server_certificate(
    *,
    session: Session,
    keys: KeyStore,
    settings: Settings,
    hosts: list[str],
    public_key: CertificatePublicKeyTypes,
    actor: Actor,
) -> Certificate:
    """The backend's own TLS certificate (server console only)."""
    if not hosts:
        raise invalid("hosts", "至少需要一个主机名或IP地址")
    return _issue(
        session=session,
        keys=keys,
        settings=settings,
        profile_name="server",
        holder=server_holder(hosts=hosts),
        public_key=public_key,
        actor=actor,
    )


# ---- identity behind a client certificate ------------------------------------------------


@dataclass(frozen=True)
class ClientIdentity:
    """Who is at the other end of a mutually authenticated connection."""

    kind: str
    name: str
    certificate_id: int
    serial: str
    fingerprint: str
    region_code: str | None
    operator_id: int | None = None
    device_id: int | None = None
    bank_id: int | None = None

    @property
    def label(self) -> str:
        """``kind:name`` (recorded as the audit device)."""
        return f"{self.kind}:{self.name}"


def _refused(detail: str, code: str) -> AuthenticationFailed:
    return AuthenticationFailed(detail=detail, code=code, audit_refusal=True)


def check_presented(
    *, session: Session, certificate: x509.Certificate, now: dt.datetime | None = None
) -> Certificate:
    """The inventory row of a presented certificate that is ours, in validity and not revoked."""
    now = now or utcnow()
    row = session.scalar(
        select(Certificate).where(Certificate.fingerprint == fingerprint(certificate))
    )
    if row is None:
        raise _refused("客户端证书不是本CA签发的", "certificate_unknown")
    if row.state == "revoked":
        raise _refused(
            f"证书 {row.serial} 已吊销（{row.revocation_reason}）", "certificate_revoked"
        )
    if row.not_before > now:
        raise _refused(f"证书 {row.serial} 尚未生效", "certificate_not_yet_valid")
    if row.not_after <= now:
        raise _refused(f"证书 {row.serial} 已过期", "certificate_expired")
    return row


def identify(*, session: Session, certificate: x509.Certificate) -> ClientIdentity:
    """The known device, operator or bank behind a client certificate, or a refusal."""
    row = check_presented(session=session, certificate=certificate)
    if row.profile not in ("device", "operator", "bank"):
        raise _refused(f"{row.profile}证书不能用于客户端认证", "certificate_wrong_profile")
    active = True
    if row.operator_id is not None:
        operator = session.get(Operator, row.operator_id)
        active = operator is not None and operator.is_active
    elif row.device_id is not None:
        device = session.get(Device, row.device_id)
        active = device is not None and device.is_active
    elif row.bank_id is not None:
        bank = session.get(BankPartner, row.bank_id)
        active = bank is not None and bank.is_active
    if not active:
        raise _refused(f"证书持有者 {row.holder} 已停用", "holder_inactive")
    kind, _, name = row.holder.partition(":")
    return ClientIdentity(
        kind=kind,
        name=name,
        certificate_id=row.id,
        serial=row.serial,
        fingerprint=row.fingerprint,
        region_code=row.region_code,
        operator_id=row.operator_id,
        device_id=row.device_id,
        bank_id=row.bank_id,
    )


def renew(
    *,
    session: Session,
    keys: KeyStore,
    settings: Settings,
    identity: ClientIdentity,
    csr_pem: str,
    actor: Actor,
) -> Certificate:
    """A new certificate for the holder of the current one (presented over mutual TLS)."""
    current = session.get(Certificate, identity.certificate_id)
    assert current is not None  # identify() loaded it
    if current.state != "valid":
        raise _refused("已吊销的证书不能续期", "certificate_revoked")
    if current.operator_id is not None:
        operator = session.get(Operator, current.operator_id)
        assert operator is not None
        holder = operator_holder(operator)
    elif current.device_id is not None:
        device = session.get(Device, current.device_id)
        assert device is not None
        office = session.get(Office, device.office_id)
        assert office is not None
        holder = device_holder(device, office)
    else:
        bank = session.get(BankPartner, current.bank_id)
        assert bank is not None
        holder = bank_holder(bank)
    csr = _checked_csr(csr_pem, current.profile, holder)
    return _issue(
        session=session,
        keys=keys,
        settings=settings,
        profile_name=current.profile,
        holder=holder,
        public_key=csr.public_key(),
        actor=actor,
        renewed_from_id=current.id,
    )


# ---- revocation, CRL, OCSP -----------------------------------------------------------


def get_certificate(*, session: Session, principal: Principal | None, serial: str) -> Certificate:
    """One certificate by serial (hex), inside the administrator's scope."""
    row = session.scalar(select(Certificate).where(Certificate.serial == serial.lower()))
    if row is None:
        raise NotFound(detail=f"证书 {serial} 不存在", code="certificate_not_found")
    if principal is not None and not (
        len(principal.scope.prefix) <= 2
        or (row.region_code and principal.scope.covers(row.region_code))
    ):
        raise NotFound(
            detail=f"证书 {serial} 不存在", code="certificate_not_found", audit_refusal=True
        )
    return row


def revoke(
    *,
    session: Session,
    keys: KeyStore,
    settings: Settings,
    certificate: Certificate,
    reason: str,
    actor: Actor,
) -> Certificate:
    """Revoke with a reason; sessions bound to it end and the CRL is published again."""
    if reason not in REVOCATION_REASONS:
        raise invalid("reason", f"吊销原因应为 {', '.join(REVOCATION_REASONS)} 之一")
    if certificate.profile in ("root_ca", "issuing_ca"):
        raise PermissionDenied(detail="CA证书不能通过此接口吊销", code="ca_revocation_refused")
    if certificate.state == "revoked":
        raise Conflict(detail=f"证书 {certificate.serial} 已吊销", code="already_revoked")
    certificate.state = "revoked"
    certificate.revoked_at = utcnow()
    certificate.revocation_reason = reason
    session.execute(
        update(OperatorSession)
        .where(
            or_(
                OperatorSession.certificate_id == certificate.id,
                OperatorSession.device_fingerprint == certificate.fingerprint,
            ),
            OperatorSession.revoked_at.is_(None),
        )
        .values(revoked_at=certificate.revoked_at)
    )
    record(
        session=session,
        actor=actor,
        action="pki.revoke",
        object_type="certificate",
        object_id=certificate.id,
        detail={"serial": certificate.serial, "holder": certificate.holder, "reason": reason},
    )
    generate_crl(session=session, keys=keys, settings=settings)
    return certificate


def generate_crl(*, session: Session, keys: KeyStore, settings: Settings) -> Crl:
    """Sign and store a new CRL of the issuing CA (on every revocation and on schedule)."""
    ca_row = issuing_ca(session=session)
    ca_cert = load_certificate(ca_row)
    ca_key = keys.signing_key(label=ca_row.key_label or ISSUING_KEY_LABEL)
    number = (
        session.scalar(select(func.max(Crl.number)).where(Crl.issuer_id == ca_row.id)) or 0
    ) + 1
    now = utcnow()
    next_update = now + dt.timedelta(hours=settings.pki_crl_hours)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(now)
        .next_update(next_update)
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
    )
    revoked = session.scalars(
        select(Certificate).where(
            Certificate.issuer_id == ca_row.id, Certificate.state == "revoked"
        )
    )
    for row in revoked:
        assert row.revoked_at is not None and row.revocation_reason is not None
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(int(row.serial, 16))
            .revocation_date(row.revoked_at)
            .add_extension(x509.CRLReason(REVOCATION_REASONS[row.revocation_reason]), False)
            .build()
        )
    crl = builder.sign(ca_key, hashes.SHA256())
    entry = Crl(
        issuer_id=ca_row.id,
        number=number,
        this_update=now,
        next_update=next_update,
        der=crl.public_bytes(serialization.Encoding.DER),
    )
    session.add(entry)
    session.flush()
    return entry


def latest_crl(*, session: Session) -> Crl:
    """The newest CRL of the current issuing CA."""
    ca_row = issuing_ca(session=session)
    crl = session.scalar(
        select(Crl).where(Crl.issuer_id == ca_row.id).order_by(Crl.number.desc()).limit(1)
    )
    if crl is None:
        raise NotFound(detail="尚未发布CRL", code="crl_missing")
    return crl


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


# ---- inventory -----------------------------------------------------------------------


def search(
    *,
    session: Session,
    principal: Principal | None,
    text: str | None = None,
    profile: str | None = None,
    state: str | None = None,
    expiring_within_days: int | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[int, list[Certificate]]:
    """Issued certificates by subject/holder/serial text, profile, state or near expiry."""
    query = select(Certificate)
    if principal is not None and len(principal.scope.prefix) > 2:
        query = query.where(Certificate.region_code.startswith(principal.scope.prefix))
    if text:
        like = f"%{text.lower()}%"
        query = query.where(
            or_(
                func.lower(Certificate.subject).like(like),
                func.lower(Certificate.holder).like(like),
                Certificate.serial == text.lower(),
            )
        )
    if profile:
        query = query.where(Certificate.profile == profile)
    if state:
        query = query.where(Certificate.state == state)
    if expiring_within_days is not None:
        now = utcnow()
        query = query.where(
            Certificate.state == "valid",
            Certificate.not_after > now,
            Certificate.not_after <= now + dt.timedelta(days=expiring_within_days),
        )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    order = Certificate.not_after if expiring_within_days is not None else Certificate.id.desc()
    rows = session.scalars(query.order_by(order).offset(offset).limit(limit)).all()
    return total, list(rows)


def verify_issued(*, session: Session, certificate: x509.Certificate) -> None:
    """Refuse a certificate whose signature is not the current issuing CA's."""
    ca_cert = load_certificate(issuing_ca(session=session))
    try:
        certificate.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature) as exc:
        raise _refused("证书不是本CA签发的", "certificate_foreign_ca") from exc
