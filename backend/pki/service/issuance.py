"""Signing: a template built from the holder's record, checked against its profile, signed
by the issuing CA and stored in the inventory.
"""

from __future__ import annotations

import datetime as dt
import ipaddress

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    CertificatePublicKeyTypes,
)
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from sqlalchemy.orm import Session

from backend.audit.service import Actor, record
from backend.config import Settings
from backend.db import utcnow
from backend.errors import invalid
from backend.pki import profiles
from backend.pki.keystore import KeyStore
from backend.pki.models import Certificate
from backend.pki.profiles import Profile, Template
from backend.pki.service._shared import _refuse_violations, _serial_hex
from backend.pki.service.ca import ISSUING_KEY_LABEL, fingerprint, issuing_ca, load_certificate
from backend.pki.service.holders import Holder, server_holder

ORGANISATION = "xnb"

_KEY_USAGE_FLAGS = profiles.KEY_USAGES

_EKU_OIDS = {
    "client_auth": ExtendedKeyUsageOID.CLIENT_AUTH,
    "server_auth": ExtendedKeyUsageOID.SERVER_AUTH,
}

# Certificates start a little in the past so a client with a slow clock accepts them.
_BACKDATE = dt.timedelta(minutes=5)


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
    if public_url and issuer is not None and not template.ca:
        crl_name = _serial_hex(issuer.serial_number)
        builder = builder.add_extension(
            x509.CRLDistributionPoints(
                [
                    x509.DistributionPoint(
                        # Each issuing CA has its own CRL (two during a rotation's overlap).
                        [x509.UniformResourceIdentifier(f"{public_url}/pki/crl/{crl_name}")],
                        None,
                        None,
                        None,
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
