"""Holders: who a certificate is for, and therefore the names it must carry."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from backend.orgs.models import Office, Operator
from backend.pki.models import BankPartner, Device


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
