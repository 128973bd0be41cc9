"""The agent's configuration: one TOML file, checked field by field before anything starts.

``xnb agent --config agent.toml`` reads it; ``bootstrap()`` turns it into devices,
a backend client and an outbox. Unknown keys are refused (a typo is an error, never a
silently ignored setting), and the local API may only listen on the loopback address.
"""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

DEFAULT_PORT = 17800
LOOPBACK_HOSTS = ("127.0.0.1", "::1")


class AgentConfigError(ValueError):
    """The agent configuration file is missing, unreadable or wrong."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TlsSettings(_Section):
    """Mutual TLS towards the backend: the CA chain to trust and the device certificate."""

    ca_file: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    key_password: SecretStr | None = None


class CardReaderSettings(_Section):
    """Which card reader: PC/SC (pcscd, real or vpcd) or an in-process simulator."""

    kind: Literal["pcsc", "simulator", "none"] = "pcsc"
    # Part of the PC/SC reader name to use (default: the first with a card in it).
    reader: str | None = None
    # Who answers the card's challenges on a read (EXTERNAL AUTHENTICATE for protected
    # holder data): ``backend`` asks the backend's key vault with the operator's session
    # (the workstation holds no card key); ``demo`` holds the public demo keys, for demo
    # cards only, and is the one setting that allows a local authentication.
    verifier: Literal["backend", "demo"] = "backend"
    # How /v1/card/authenticate decides that a card is genuine and usable: ``online`` asks
    # the backend (its vault and the card's state) and refuses while it is unreachable;
    # ``online_or_local`` falls back to the local keys then (answer marked offline, card
    # state unchecked); ``local`` never asks (demo cards the backend does not hold).
    authentication: Literal["online", "online_or_local", "local"] = "online"
    # Demo cards (generation numbers) put in the simulated reader at start.
    simulator_cards: tuple[int, ...] = (3,)

    @model_validator(mode="after")
    def _local_needs_keys(self) -> CardReaderSettings:
        if self.authentication != "online" and self.verifier != "demo":
            raise ValueError(
                f"card_reader.authentication = {self.authentication!r} checks cards with local"
                " keys: only verifier = 'demo' has any (a workstation holds no card key)"
            )
        return self


class IdScannerSettings(_Section):
    """Which ID card scanner: a serial port (RS-232, USB serial, pty) or a pty simulator."""

    kind: Literal["serial", "simulator", "none"] = "serial"
    port: str | None = None
    profile: str = "simulator"
    baudrate: int | None = None
    # Synthetic cards placed on the simulated scanner at start (index into the deck).
    simulator_card: int | None = 0


class PrinterSettings(_Section):
    """Which receipt printer and how it is reached."""

    kind: Literal["network", "usb", "serial", "file", "capture", "none"] = "network"
    profile: str = "capture_80"
    host: str = "127.0.0.1"
    # 0 with ``capture``: any free port.
    port: int = Field(default=9100, ge=0, le=65535)
    usb_id: str | None = None
    serial_port: str | None = None
    path: Path | None = None
    # Directory where the capture printer keeps each job (``capture`` only).
    capture_dir: Path | None = None
    # How often the printer's real-time status is asked (paper out/back); 0 = never.
    status_poll_seconds: float = Field(default=2.0, ge=0)


class FaceSettings(_Section):
    """The face comparison device (人证核验) a kiosk compares the resident with the ID card
    photo on: ``simulator`` (tests, demo) or ``none``. A real model is a vendor SDK driver
    behind ``device_drivers.face.FaceComparator`` (none built yet)."""

    kind: Literal["simulator", "none"] = "none"
    profile: str = "simulator"
    # What the simulator finds until a test (agent.face_simulator.set_outcome) says otherwise.
    simulator_outcome: Literal["match", "no_match", "liveness_failed"] = "match"


class OperationSettings(_Section):
    """A backend call the counter page may ask the agent to submit."""

    method: Literal["POST", "PUT", "PATCH"] = "POST"
    path: str

    @field_validator("path")
    @classmethod
    def _api_path(cls, path: str) -> str:
        if not path.startswith("/api/"):
            raise ValueError("operation paths are backend API paths (/api/…)")
        return path


class OutboxSettings(_Section):
    """The offline outbox: where it lives and which operations may wait in it."""

    path: Path = Path("var/agent/outbox.db")
    offline_operations: tuple[str, ...] = ()
    replay_interval_seconds: float = Field(default=2.0, gt=0)


class LogSettings(_Section):
    """The rotating log file."""

    path: Path = Path("var/agent/agent.log")
    max_bytes: int = Field(default=5_000_000, ge=10_000)
    backups: int = Field(default=5, ge=1)
    level: Literal["DEBUG", "INFO", "WARNING"] = "INFO"


class KioskSettings(_Section):
    """Self-service mode: the kiosk page at ``/kiosk/`` and its certification endpoints."""

    enabled: bool = False
    # Where the kiosk stands, printed on its receipts in place of an office.
    location: Annotated[str, Field(min_length=1, max_length=60)] = "自助服务终端"
    # Where the agent writes the kiosk page's launch address at each start (file 0600):
    # the kiosk's browser is started with it (terminal_agent.sessions).
    launch_file: Path = Path("var/agent/kiosk-launch.url")


class AgentConfig(_Section):
    """Everything one agent process is configured with."""

    host: str = "127.0.0.1"
    port: int = Field(default=DEFAULT_PORT, ge=0, le=65535)
    device_id: str = "workstation"
    backend_url: str = "http://127.0.0.1:8000"
    # The origin of the counter pages allowed to call the local API (default: the backend's).
    allowed_origin: str | None = None
    # Local clients that are not pages (no Origin header) must present this token.
    pairing_token: SecretStr | None = None
    backend_timeout_seconds: float = Field(default=5.0, gt=0)
    # How often a background probe refreshes the backend's reachability for /v1/status
    # (which reports the cached state and never waits for the backend).
    backend_probe_seconds: float = Field(default=3.0, gt=0)
    tls: TlsSettings = TlsSettings()
    card_reader: CardReaderSettings = CardReaderSettings()
    id_scanner: IdScannerSettings = IdScannerSettings()
    printer: PrinterSettings = PrinterSettings()
    face: FaceSettings = FaceSettings()
    outbox: OutboxSettings = OutboxSettings()
    log: LogSettings = LogSettings()
    operations: dict[str, OperationSettings] = {}
    kiosk: KioskSettings = KioskSettings()
    # How often devices are polled for hot-plug and card events.
    poll_seconds: Annotated[float, Field(gt=0, le=1.0)] = 0.5

    @field_validator("host")
    @classmethod
    def _loopback_only(cls, host: str) -> str:
        if host not in LOOPBACK_HOSTS:
            raise ValueError("the local API listens on the loopback address only (127.0.0.1)")
        return host

    @field_validator("backend_url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
            raise ValueError("backend_url must be an http(s) URL")
        return url.rstrip("/")

    @property
    def page_origin(self) -> str:
        """The one origin whose pages may call the local API."""
        if self.allowed_origin:
            return self.allowed_origin.rstrip("/")
        parts = urlsplit(self.backend_url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def own_origins(self) -> frozenset[str]:
        """The origins of the pages the agent serves itself (the kiosk page)."""
        return frozenset(
            f"http://{host}:{self.port}" for host in ("127.0.0.1", "localhost", "[::1]")
        )

    def redacted(self) -> dict[str, object]:
        """The configuration as data with every secret replaced (for the support bundle)."""
        return self.model_dump(mode="json")


def load_config(path: Path) -> AgentConfig:
    """Read and check the agent configuration file; one that holds a secret (the pairing
    token, the device key's password) must be readable by its owner only (``0600``), and
    so must the device's private key file it names."""
    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
            mode = os.fstat(handle.fileno()).st_mode
    except OSError as exc:
        raise AgentConfigError(f"无法读取配置文件 {path}：{exc}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise AgentConfigError(f"配置文件 {path} 不是有效的 TOML：{exc}") from exc
    config = parse_config(document, source=str(path))
    if (config.pairing_token or config.tls.key_password) and stat.S_IMODE(mode) & 0o077:
        raise AgentConfigError(
            f"配置文件 {path} 含密钥（pairing_token 或 tls.key_password），其他用户可读"
            f"（权限 {stat.S_IMODE(mode):04o}）：请改为 0600（chmod 600 {path}）"
        )
    key = config.tls.client_key
    if key is not None and key.exists() and stat.S_IMODE(key.stat().st_mode) & 0o077:
        raise AgentConfigError(
            f"设备私钥文件 {key} 其他用户可读（权限 {stat.S_IMODE(key.stat().st_mode):04o}）："
            f"请改为 0600（chmod 600 {key}）"
        )
    return config


def parse_config(document: dict[str, object], *, source: str = "<config>") -> AgentConfig:
    """Check a configuration document; errors name the key."""
    try:
        config = AgentConfig.model_validate(document)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}" for error in exc.errors()
        )
        raise AgentConfigError(f"配置文件 {source} 有误：{problems}") from exc
    unknown = set(config.outbox.offline_operations) - set(config.operations)
    if unknown:
        raise AgentConfigError(
            f"配置文件 {source} 有误：outbox.offline_operations 含未定义的操作 {sorted(unknown)}"
        )
    return config
