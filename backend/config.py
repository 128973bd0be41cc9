"""Process settings: ``XNB_*`` environment variables, optionally a TOML file.

The TOML file is named by ``XNB_CONFIG``; environment variables win over it.
Unsafe development defaults are refused when ``XNB_ENV=production``.
"""

from __future__ import annotations

import os
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

DEFAULT_SQLITE_URL = "sqlite:///var/xnb.db"
DEV_PKI_PASSPHRASE = "xnb-dev-ca-passphrase"
DEV_CARD_VAULT_PASSPHRASE = "xnb-dev-card-vault-passphrase"
DEV_RECEIPT_KEY_PASSPHRASE = "xnb-dev-receipt-key-passphrase"
DEV_AUDIT_CHECKPOINT_PASSPHRASE = "xnb-dev-audit-checkpoint-passphrase"
DEV_DATA_KEY_PASSPHRASE = "xnb-dev-data-key-passphrase"


class _TomlSource(PydanticBaseSettingsSource):
    """Reads the optional TOML file named by ``XNB_CONFIG`` (a flat table of settings)."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        path = os.environ.get("XNB_CONFIG")
        self._data: dict[str, Any] = {}
        if path:
            with Path(path).open("rb") as fh:
                self._data = tomllib.load(fh)

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return {k: v for k, v in self._data.items() if k in self.settings_cls.model_fields}


class Settings(BaseSettings):
    """Everything a backend process may be configured with."""

    model_config = SettingsConfigDict(env_prefix="XNB_", extra="ignore")

    env: Literal["dev", "test", "production"] = "dev"
    database_url: str = DEFAULT_SQLITE_URL
    database_echo: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    # Reverse proxies whose X-Forwarded-For/-Proto headers are believed (addresses or
    # networks, e.g. ["10.0.0.5"]); empty: the headers are ignored, whoever sends them.
    trusted_proxies: list[str] = Field(default_factory=list)
    # Operator sessions: short-lived bearer tokens with an idle and an absolute limit.
    session_idle_minutes: int = Field(default=30, ge=1, le=24 * 60)
    session_max_hours: int = Field(default=8, ge=1, le=24)
    login_max_failures: int = Field(default=5, ge=1, le=100)
    lockout_minutes: int = Field(default=15, ge=1)
    # Passwords of demo operators; only ever used by ``xnb demo`` in dev mode.
    demo_password: SecretStr = SecretStr("Demo-2026!")
    import_chunk_rows: int = Field(default=20_000, ge=100)
    # Largest CSV body ``POST /persons/import`` accepts (a province's file comes by CLI).
    import_max_mib: int = Field(default=256, ge=1)
    # Certificate authority: the issuing CA's key is stored encrypted under this passphrase.
    pki_passphrase: SecretStr = SecretStr(DEV_PKI_PASSPHRASE)
    # Base URL written into certificates for the CRL and the OCSP responder (plain HTTP on
    # purpose: relying parties fetch them without a client certificate).
    pki_public_url: str = "http://127.0.0.1:8000"
    pki_crl_hours: int = Field(default=24, ge=1, le=24 * 7)
    # With TLS on, the CRL and OCSP (and the CA chain) are also served over plain HTTP on
    # this port of the same host, so the URLs above work; 0 runs no such listener.
    pki_http_port: int = Field(default=8080, ge=0, le=65535)
    # HTTPS with client certificates: the server's chain and key, and the CA bundle that
    # client certificates must chain to.
    tls_certfile: Path | None = None
    tls_keyfile: Path | None = None
    tls_client_ca_file: Path | None = None
    # Plain HTTP without client certificates, for the demo and tests only.
    allow_insecure_http: bool = True
    # Operators must add the certificate factor to their password (two-factor log-in).
    login_requires_certificate: bool = False
    # Card master keys: the local key vault file, sealed under this passphrase.
    card_vault_path: Path = Path("var/keys/card-vault.json")
    card_vault_passphrase: SecretStr = SecretStr(DEV_CARD_VAULT_PASSPHRASE)
    # Receipt tokens: P-256 keys as encrypted PKCS#8 files <key id>.key.pem in this
    # directory; new receipts are signed with receipt_key_id, all keys still verify.
    receipt_key_dir: Path = Path("var/keys/receipts")
    receipt_key_id: str = Field(default="receipts-1", pattern=r"^[A-Za-z0-9_-]{1,32}$")
    receipt_key_passphrase: SecretStr = SecretStr(DEV_RECEIPT_KEY_PASSPHRASE)
    # Audit checkpoints (backend/audit/checkpoints.py): signed chain counts and heads appended
    # to this file outside the database (make it append-only); none: no checkpoints (dev).
    audit_checkpoint_path: Path | None = None
    audit_checkpoint_key_path: Path = Path("var/keys/audit-checkpoint.key")
    audit_checkpoint_passphrase: SecretStr = SecretStr(DEV_AUDIT_CHECKPOINT_PASSPHRASE)
    audit_checkpoint_every_records: int = Field(default=1000, ge=1)
    audit_checkpoint_every_minutes: int = Field(default=10, ge=1)
    # Personal data at rest: the data key ring (AES-GCM keys by version, the lookup key),
    # sealed under this passphrase; created on first use outside production.
    data_key_path: Path = Path("var/keys/data-keys.json")
    data_key_passphrase: SecretStr = SecretStr(DEV_DATA_KEY_PASSPHRASE)
    # Where the card master keys and the CA's signing keys live: "file" (the sealed vault
    # file above, CA keys encrypted in the database) or "pkcs11" (a hardware security
    # module: the module, the token's label and its user PIN, from a file or XNB_PKCS11_PIN).
    key_store: Literal["file", "pkcs11"] = "file"
    pkcs11_module: Path = Path("/usr/lib/softhsm/libsofthsm2.so")
    pkcs11_token_label: str = Field(default="xnb", min_length=1, max_length=32)
    pkcs11_pin: SecretStr | None = None
    pkcs11_pin_file: Path | None = None
    # Requests per minute per client address (token bucket; backend/web_security.py): to
    # log-in, to the public endpoints (receipt check, CA chain, CRL, OCSP, enrolment) and
    # to a kiosk's certification. Past them: 429 with Retry-After.
    rate_limit_login_per_minute: int = Field(default=30, ge=1)
    rate_limit_public_per_minute: int = Field(default=60, ge=1)
    rate_limit_kiosk_per_minute: int = Field(default=120, ge=1)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _TomlSource(settings_cls), file_secret_settings)

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        if self.env == "production":
            if self.database_url.startswith("sqlite"):
                raise ValueError("production needs PostgreSQL: set XNB_DATABASE_URL")
            if self.host not in ("127.0.0.1", "::1", "localhost") and self.port == 8000:
                raise ValueError("production must not serve plain HTTP on the default port")
            if self.allow_insecure_http:
                raise ValueError("production refuses plain HTTP: set XNB_ALLOW_INSECURE_HTTP=false")
            if not (self.tls_certfile and self.tls_keyfile and self.tls_client_ca_file):
                raise ValueError(
                    "production needs XNB_TLS_CERTFILE, XNB_TLS_KEYFILE and XNB_TLS_CLIENT_CA_FILE"
                )
            if self.pki_passphrase.get_secret_value() == DEV_PKI_PASSPHRASE:
                raise ValueError("production needs its own XNB_PKI_PASSPHRASE")
            if not self.login_requires_certificate:
                raise ValueError(
                    "production needs two-factor log-in: XNB_LOGIN_REQUIRES_CERTIFICATE"
                )
            if self.key_store == "pkcs11" and not (self.pkcs11_pin or self.pkcs11_pin_file):
                raise ValueError("the HSM needs its PIN: set XNB_PKCS11_PIN_FILE")
            if (
                self.key_store == "file"
                and self.card_vault_passphrase.get_secret_value() == DEV_CARD_VAULT_PASSPHRASE
            ):
                raise ValueError("production needs its own XNB_CARD_VAULT_PASSPHRASE")
            if self.receipt_key_passphrase.get_secret_value() == DEV_RECEIPT_KEY_PASSPHRASE:
                raise ValueError("production needs its own XNB_RECEIPT_KEY_PASSPHRASE")
            if self.audit_checkpoint_path is None:
                raise ValueError("production needs audit checkpoints: XNB_AUDIT_CHECKPOINT_PATH")
            if (
                self.audit_checkpoint_passphrase.get_secret_value()
                == DEV_AUDIT_CHECKPOINT_PASSPHRASE
            ):
                raise ValueError("production needs its own XNB_AUDIT_CHECKPOINT_PASSPHRASE")
            if self.data_key_passphrase.get_secret_value() == DEV_DATA_KEY_PASSPHRASE:
                raise ValueError("production needs its own XNB_DATA_KEY_PASSPHRASE")
        return self

    @property
    def tls_enabled(self) -> bool:
        """True when the server certificate and key are configured (serve HTTPS + mTLS)."""
        return bool(self.tls_certfile and self.tls_keyfile)

    @property
    def is_sqlite(self) -> bool:
        """True when the embedded SQLite database is in use."""
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (read once)."""
    return Settings()
