"""Certificate profiles as data, and the check every certificate passes before it is signed.

Pure: no database, no keys. ``check`` compares a ``Template`` (what is about to be
signed) with its ``Profile`` and returns every violation with a stable code.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes

PROFILES_FILE = Path(__file__).resolve().parent / "data" / "profiles.toml"
KEY_USAGES = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
)
EXTENDED_KEY_USAGES = ("client_auth", "server_auth")
URN_PREFIX = "urn:xnb:"
# What each URI name kind may hold: user names, device names, office and bank codes, regions.
_URI_VALUE = {
    "operator": re.compile(r"^[A-Za-z0-9_.-]{1,64}$"),
    "device": re.compile(r"^[A-Za-z0-9_.-]{1,64}$"),
    "office": re.compile(r"^[A-Za-z0-9_.-]{1,32}$"),
    "bank": re.compile(r"^[A-Za-z0-9_.-]{1,16}$"),
    "region": re.compile(r"^\d{12}$"),
}


@dataclass(frozen=True)
class Profile:
    """What one kind of certificate may contain."""

    name: str
    description: str
    ca: bool
    lifetime_days: int
    key_usage: frozenset[str]
    extended_key_usage: frozenset[str]
    san_uri: tuple[str, ...]
    key_types: frozenset[str]
    san_dns: bool = False
    san_ip: bool = False
    path_length: int | None = None
    # Renewal: from how many days before the end (None: this profile never renews), and
    # how long the predecessor may stay valid beside an unused successor.
    renewal_window_days: int | None = None
    supersede_grace_days: int = 0


@dataclass(frozen=True)
class Violation:
    """One way a certificate or request does not fit its profile."""

    code: str
    message: str


@dataclass
class Template:
    """Everything about a certificate except the issuer's signature."""

    profile: str
    common_name: str
    organisational_unit: str | None
    uris: dict[str, str]
    public_key: CertificatePublicKeyTypes
    not_before: dt.datetime
    not_after: dt.datetime
    key_usage: frozenset[str]
    extended_key_usage: frozenset[str]
    ca: bool = False
    dns_names: list[str] = field(default_factory=list)
    ip_addresses: list[str] = field(default_factory=list)


@lru_cache
def load(path: Path = PROFILES_FILE) -> dict[str, Profile]:
    """Every profile in the data file, by name."""
    with path.open("rb") as fh:
        raw = tomllib.load(fh)
    profiles = {}
    for name, data in raw.items():
        unknown = set(data["key_usage"]) - set(KEY_USAGES)
        unknown |= set(data["extended_key_usage"]) - set(EXTENDED_KEY_USAGES)
        unknown |= set(data["san_uri"]) - set(_URI_VALUE)
        if unknown:
            raise ValueError(f"profile {name} names unknown usages or names: {sorted(unknown)}")
        profiles[name] = Profile(
            name=name,
            description=data["description"],
            ca=data["ca"],
            lifetime_days=data["lifetime_days"],
            key_usage=frozenset(data["key_usage"]),
            extended_key_usage=frozenset(data["extended_key_usage"]),
            san_uri=tuple(data["san_uri"]),
            key_types=frozenset(data["key_types"]),
            san_dns=data.get("san_dns", False),
            san_ip=data.get("san_ip", False),
            path_length=data.get("path_length"),
            renewal_window_days=data.get("renewal_window_days"),
            supersede_grace_days=data.get("supersede_grace_days", 0),
        )
    return profiles


def get(name: str) -> Profile:
    """One profile by name (``KeyError`` when there is none)."""
    return load()[name]


def key_type(public_key: CertificatePublicKeyTypes) -> str:
    """The profile name of a key's type: ``ec-p256``, ``rsa-2048``, … or ``other``."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return "ec-p256" if isinstance(public_key.curve, ec.SECP256R1) else "ec-other"
    if isinstance(public_key, rsa.RSAPublicKey):
        return f"rsa-{public_key.key_size}"
    return "other"


def uri(kind: str, value: str) -> str:
    """A SAN URI of the xnb namespace, e.g. ``urn:xnb:region:654226100000``."""
    return f"{URN_PREFIX}{kind}:{value}"


def parse_uri(text: str) -> tuple[str, str] | None:
    """``(kind, value)`` of an xnb SAN URI, or None for any other URI."""
    if not text.startswith(URN_PREFIX) or ":" not in text[len(URN_PREFIX) :]:
        return None
    kind, value = text[len(URN_PREFIX) :].split(":", 1)
    return kind, value


def check_names(
    profile: Profile, *, uris: dict[str, str], dns_names: list[str], ip_addresses: list[str]
) -> list[Violation]:
    """Violations of the profile's naming rules (shared by requests and templates)."""
    found: list[Violation] = []
    for kind in profile.san_uri:
        if kind not in uris:
            found.append(Violation("name_missing", f"缺少名称 {uri(kind, '…')}"))
    for kind, value in uris.items():
        if kind not in profile.san_uri:
            found.append(Violation("name_not_allowed", f"{profile.name}证书不允许名称 {kind}"))
        elif not _URI_VALUE[kind].match(value):
            found.append(Violation("name_malformed", f"名称 {uri(kind, value)} 格式不正确"))
    if dns_names and not profile.san_dns:
        found.append(Violation("name_not_allowed", f"{profile.name}证书不允许DNS名称"))
    if ip_addresses and not profile.san_ip:
        found.append(Violation("name_not_allowed", f"{profile.name}证书不允许IP地址"))
    for address in ip_addresses:
        try:
            ipaddress.ip_address(address)
        except ValueError:
            found.append(Violation("name_malformed", f"IP地址 {address} 格式不正确"))
    return found


def check(profile: Profile, template: Template) -> list[Violation]:
    """Every way ``template`` breaks ``profile``; empty means it may be signed."""
    found = check_names(
        profile,
        uris=template.uris,
        dns_names=template.dns_names,
        ip_addresses=template.ip_addresses,
    )
    if template.profile != profile.name:
        found.append(Violation("profile_mismatch", "证书模板与规范不一致"))
    if not template.common_name or len(template.common_name) > 64:
        found.append(Violation("name_malformed", "主体名称CN为空或过长"))
    if key_type(template.public_key) not in profile.key_types:
        found.append(
            Violation(
                "key_type_not_allowed",
                f"{profile.name}证书不接受 {key_type(template.public_key)} 密钥，"
                f"允许：{', '.join(sorted(profile.key_types))}",
            )
        )
    if template.not_after <= template.not_before:
        found.append(Violation("validity_invalid", "有效期结束早于开始"))
    if template.not_after - template.not_before > dt.timedelta(days=profile.lifetime_days):
        found.append(
            Violation("lifetime_too_long", f"有效期超过规范上限 {profile.lifetime_days} 天")
        )
    if template.key_usage != profile.key_usage:
        found.append(Violation("key_usage_mismatch", "密钥用途与规范不符"))
    if template.extended_key_usage != profile.extended_key_usage:
        found.append(Violation("extended_key_usage_mismatch", "扩展密钥用途与规范不符"))
    if template.ca != profile.ca:
        found.append(Violation("basic_constraints_mismatch", "CA标志与规范不符"))
    return found
