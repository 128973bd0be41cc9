"""The key ceremony: create the vault, rotate a family's keys, publish check values.

Run on the server console by the security administrator; every step is audited with
the check values it produced (never the keys).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session, sessionmaker

from backend.audit.service import Actor, record
from backend.config import Settings
from backend.db import unit_of_work
from backend.errors import Conflict, PermissionDenied
from backend.keys import fields, stores
from backend.keys.local import DEFAULT_SCRYPT_N
from backend.keys.vault import KeyCheckValue, KeyFamily, KeyVault, VaultError


def _kcv_detail(values: list[KeyCheckValue]) -> list[str]:
    return [f"{v.family.value} v{v.version} {v.key_name} {v.kcv}" for v in values]


def init_vault(
    *,
    session: Session,
    settings: Settings,
    actor: Actor,
    province_code: str,
    demo_keys: bool = False,
    scrypt_n: int = DEFAULT_SCRYPT_N,
) -> KeyVault:
    """Generate the province's master keys (version 1 of each family) into a new vault
    (the sealed file or the HSM, as configured)."""
    if demo_keys and settings.env == "production":
        raise PermissionDenied(detail="生产环境不得使用公开的演示密钥", code="demo_keys_refused")
    try:
        vault = stores.create_configured(
            settings, province_code=province_code, demo_keys=demo_keys, scrypt_n=scrypt_n
        )
    except VaultError as exc:
        raise Conflict(detail=str(exc), code="key_vault_exists") from exc
    record(
        session=session,
        actor=actor,
        action="keys.init",
        object_type="key_vault",
        object_id=province_code,
        detail={
            "demo_keys": demo_keys,
            "store": settings.key_store,
            "kcv": _kcv_detail(vault.key_check_values()),
        },
    )
    return vault


def open_configured(*, settings: Settings) -> KeyVault:
    """Open the configured vault, translating vault errors to a domain conflict."""
    try:
        return stores.open_configured(settings)
    except VaultError as exc:
        raise Conflict(detail=str(exc), code="key_vault_unavailable") from exc


def rotate(
    *, session: Session, settings: Settings, actor: Actor, family: KeyFamily
) -> KeyCheckValue:
    """Make a new version of one family's issuer keys the active one; old ones stay."""
    vault = open_configured(settings=settings)
    try:
        version = vault.rotate(family)
    except VaultError as exc:
        raise Conflict(detail=str(exc), code="key_vault_unavailable") from exc
    values = [v for v in vault.key_check_values() if v.family == family and v.version == version]
    record(
        session=session,
        actor=actor,
        action="keys.rotate",
        object_type="key_vault",
        object_id=vault.province_code,
        detail={"family": family.value, "version": version, "kcv": _kcv_detail(values)},
    )
    return next(v for v in values if v.key_name == "internal_auth")


def check_values(*, session: Session, settings: Settings, actor: Actor) -> list[KeyCheckValue]:
    """Every key check value (for comparison with the card factory's and the PSAMs')."""
    try:
        values = open_configured(settings=settings).key_check_values()
    except VaultError as exc:
        raise Conflict(detail=str(exc), code="key_vault_unavailable") from exc
    record(
        session=session,
        actor=actor,
        action="keys.kcv_export",
        object_type="key_vault",
        detail={"count": len(values)},
    )
    return values


def init_data_keys(*, session: Session, settings: Settings, actor: Actor) -> None:
    """Create the personal-data key ring file (refused when it exists)."""
    try:
        ring = fields.DataKeyRing.create(
            settings.data_key_path, passphrase=settings.data_key_passphrase.get_secret_value()
        )
    except VaultError as exc:
        raise Conflict(detail=str(exc), code="data_keys_exist") from exc
    record(
        session=session,
        actor=actor,
        action="keys.data_init",
        object_type="data_keys",
        detail={"versions": ring.versions},
    )


def rotate_data_key(*, session: Session, settings: Settings, actor: Actor) -> int:
    """Add a personal-data key version and make it active (older ones keep decrypting)."""
    try:
        ring = fields.DataKeyRing.open(
            settings.data_key_path, passphrase=settings.data_key_passphrase.get_secret_value()
        )
    except VaultError as exc:
        raise Conflict(detail=str(exc), code="data_keys_unavailable") from exc
    version = ring.rotate()
    fields.use(ring)
    record(
        session=session,
        actor=actor,
        action="keys.data_rotate",
        object_type="data_keys",
        detail={"version": version, "versions": ring.versions},
    )
    return version


def rewrap_personal_data(
    *,
    factory: sessionmaker[Session],
    actor: Actor,
    chunk_rows: int = 5000,
    progress: Callable[[fields.RewrapCount], None] | None = None,
) -> list[fields.RewrapCount]:
    """Re-encrypt stored personal data under the active data key; the run is audited."""
    from backend.models import Base  # every table: this is a root-level maintenance step

    try:
        counts = fields.rewrap(
            factory=factory, metadata=Base.metadata, chunk_rows=chunk_rows, progress=progress
        )
    except VaultError as exc:
        raise Conflict(detail=str(exc), code="data_keys_unavailable") from exc
    with unit_of_work(factory) as session:
        record(
            session=session,
            actor=actor,
            action="keys.data_rewrap",
            object_type="data_keys",
            detail={
                "version": fields.ring().active_version,
                "tables": {c.table: c.values_rewrapped for c in counts},
            },
        )
    return counts
