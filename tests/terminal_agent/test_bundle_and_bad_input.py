"""Support bundle, configuration mistakes, and garbage from a device."""

from __future__ import annotations

import json
import logging
import zipfile
from pathlib import Path

import httpx
import pytest

from device_drivers.id_scanner import Fault, synthetic_deck
from terminal_agent.agent import bootstrap
from terminal_agent.api import PAIRING_HEADER, create_api
from terminal_agent.bundle import make_bundle
from terminal_agent.config import AgentConfigError, load_config, parse_config
from terminal_agent.logs import setup_logging
from tests.terminal_agent.support import PAIRING_TOKEN, ServerThread, agent_config


def test_bundle_holds_logs_states_and_no_secrets(tmp_path: Path) -> None:
    config = agent_config(tmp_path)
    handler = setup_logging(config.log, console=False)
    agent = bootstrap(config)
    agent.start()
    try:
        with ServerThread(create_api(agent), config.port):
            bundle = make_bundle(config, tmp_path / "support.zip")
    finally:
        agent.close()
        logging.getLogger().removeHandler(handler)
        handler.close()
    with zipfile.ZipFile(bundle) as archive:
        names = set(archive.namelist())
        assert {"summary.json", "config.json", "devices.json", "outbox.json"} <= names
        assert "logs/agent.log" in names
        everything = b"".join(archive.read(name) for name in names)
        devices = json.loads(archive.read("devices.json"))
    assert PAIRING_TOKEN.encode() not in everything
    assert devices["running"] is True
    assert set(devices["status"]["devices"]) == {"card_reader", "id_scanner", "printer"}


def test_bundle_of_a_stopped_agent_says_so(tmp_path: Path) -> None:
    with zipfile.ZipFile(make_bundle(agent_config(tmp_path), tmp_path / "b.zip")) as archive:
        assert json.loads(archive.read("devices.json"))["running"] is False


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"host": "0.0.0.0"}, "loopback"),
        ({"printr": {}}, "printr"),
        ({"outbox": {"offline_operations": ["x"]}}, "未定义的操作"),
        ({"backend_url": "ftp://x"}, "backend_url"),
    ],
)
def test_configuration_mistakes_are_named(document: dict[str, object], message: str) -> None:
    with pytest.raises(AgentConfigError, match=message):
        parse_config(document)


def test_a_configuration_file_holding_a_secret_must_be_the_owners_only(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_text(f'pairing_token = "{PAIRING_TOKEN}"\n', encoding="utf-8")
    path.chmod(0o644)
    with pytest.raises(AgentConfigError, match="0600"):
        load_config(path)
    path.chmod(0o600)
    assert load_config(path).pairing_token is not None
    # Without a secret in it, the file may be readable (a kiosk's device list, say).
    plain = tmp_path / "plain.toml"
    plain.write_text('device_id = "x"\n', encoding="utf-8")
    plain.chmod(0o644)
    assert load_config(plain).device_id == "x"
    # The device's private key it names is a secret too.
    key = tmp_path / "device.key"
    key.write_text("-----BEGIN PRIVATE KEY-----\n", encoding="utf-8")
    key.chmod(0o640)
    plain.write_text(f'[tls]\nclient_key = "{key}"\n', encoding="utf-8")
    with pytest.raises(AgentConfigError, match="设备私钥文件"):
        load_config(plain)
    key.chmod(0o600)
    assert load_config(plain).tls.client_key == key


def test_unreadable_configuration_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_bytes(b"port = [\xff")
    with pytest.raises(AgentConfigError, match="TOML"):
        load_config(path)


def test_garbage_on_the_serial_line_is_survived(tmp_path: Path) -> None:
    agent = bootstrap(agent_config(tmp_path, card_reader={"kind": "none"}))
    scanner = agent.scanner_simulator
    assert scanner is not None
    page = {PAIRING_HEADER: PAIRING_TOKEN}
    try:
        with ServerThread(create_api(agent), agent.config.port) as local:
            read = f"{local.url}/v1/idcard/read"
            scanner.inject(Fault.GARBAGE)
            scanner.inject(Fault.BAD_CHECKSUM)
            ok = httpx.post(read, headers=page, timeout=10)
            assert ok.status_code == 200, ok.text
            scanner.place(synthetic_deck()[1])
            scanner.inject(Fault.BAD_CHECKSUM, times=6)
            broken = httpx.post(read, headers=page, timeout=10)
            assert broken.status_code == 409
            assert broken.json()["code"] == "frame_checksum"
            assert broken.json()["retriable"] is True
            # The scanner counts a damaged read as read: the card is lifted and put back.
            answers = []
            for _ in range(4):
                scanner.place(synthetic_deck()[1])
                answers.append(httpx.post(read, headers=page, timeout=10))
            assert answers[-1].status_code == 200, [a.text for a in answers]
    finally:
        agent.close()
