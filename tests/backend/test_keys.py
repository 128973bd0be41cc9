"""The key vault and the key ceremony: sealed at rest, never releasing a master key,
rotation keeping old cards working, every ceremony step audited."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from backend.audit.models import AuditRecord
from backend.config import get_settings
from backend.keys import KeyFamily, LocalKeyVault, VaultError
from card_services import (
    CardClient,
    VirtualCard,
    commands,
    internal_authenticate_cryptogram,
    personalise_card,
)
from card_services.demo import demo_blank_card, demo_personalisation_data
from xnb.cli import app as xnb_app

PASSPHRASE = "a long enough test passphrase"
FAST = 2**10  # scrypt cost for tests: the same code path, a fraction of the time


def _vault(tmp_path: Path, *, demo_keys: bool = False) -> LocalKeyVault:
    return LocalKeyVault.create(
        tmp_path / "vault.json",
        passphrase=PASSPHRASE,
        province_code="65",
        demo_keys=demo_keys,
        scrypt_n=FAST,
    )


def test_vault_file_holds_no_key_in_clear(tmp_path: Path):
    vault = _vault(tmp_path, demo_keys=True)
    text = (tmp_path / "vault.json").read_text()
    assert "DE01DE01" not in text.upper()
    assert "secret" not in repr(vault) and "DE01" not in repr(vault)
    assert (tmp_path / "vault.json").stat().st_mode & 0o077 == 0


def test_demo_key_check_values_are_the_published_ones(tmp_path: Path):
    vault = _vault(tmp_path, demo_keys=True)
    values = {(v.family, v.key_name): v.kcv for v in vault.key_check_values()}
    # SM4 and 3DES of the demo internal-authentication key on a zero block, first 3 bytes.
    from card_services.crypto import SM4, TRIPLE_DES

    key = bytes.fromhex("DE02" * 8)
    assert values[KeyFamily.SM4, "internal_auth"] == SM4.encrypt(key, bytes(16))[:3].hex().upper()
    assert values[KeyFamily.TRIPLE_DES, "internal_auth"] == (
        TRIPLE_DES.encrypt(key, bytes(8))[:3].hex().upper()
    )


def test_wrong_passphrase_and_edited_file_are_refused(tmp_path: Path):
    _vault(tmp_path)
    path = tmp_path / "vault.json"
    with pytest.raises(VaultError, match="口令错误"):
        LocalKeyVault.open(path, passphrase="not the passphrase at all")
    document = json.loads(path.read_text())
    # Swap the sealed SM4 and 3DES sets: each is bound to its own slot.
    first, second = document["key_sets"][0], document["key_sets"][1]
    first["ciphertext"], second["ciphertext"] = second["ciphertext"], first["ciphertext"]
    first["nonce"], second["nonce"] = second["nonce"], first["nonce"]
    path.write_text(json.dumps(document))
    with pytest.raises(VaultError):
        LocalKeyVault.open(path, passphrase=PASSPHRASE)


def test_existing_vault_is_never_overwritten(tmp_path: Path):
    _vault(tmp_path)
    with pytest.raises(VaultError, match="已存在"):
        _vault(tmp_path)


def test_personalised_card_authenticates_against_the_vault_and_a_clone_does_not(tmp_path: Path):
    vault = _vault(tmp_path, demo_keys=True)
    blank = demo_blank_card(label="v", generation=3, serial=7)
    card = VirtualCard(blank)
    data = demo_personalisation_data(generation=3, sequence=7)
    personalise_card(card, vault.personalisation_script(data=data, atr=card.atr, key_version=1))
    code = data.basic.identification_code
    challenge = vault.new_challenge(generation=3)
    answer = CardClient(card).send(commands.internal_authenticate(challenge)).data
    assert vault.verify_internal_authenticate(
        generation=3,
        key_version=1,
        identification_code=code,
        challenge=challenge,
        cryptogram=answer,
    )
    clone = internal_authenticate_cryptogram(
        application=card.application, card_key=bytes(16), challenge=challenge
    )
    assert not vault.verify_internal_authenticate(
        generation=3, key_version=1, identification_code=code, challenge=challenge, cryptogram=clone
    )


def test_rotation_keeps_old_versions_for_cards_already_issued(tmp_path: Path):
    vault = _vault(tmp_path)
    code = bytes.fromhex("654226") + bytes(13)
    challenge = bytes(16)
    old = vault.external_authenticate_cryptogram(
        generation=3, key_version=1, identification_code=code, challenge=challenge
    )
    assert vault.rotate(KeyFamily.SM4) == 2
    reopened = LocalKeyVault.open(tmp_path / "vault.json", passphrase=PASSPHRASE)
    assert reopened.active_version(KeyFamily.SM4) == 2
    assert reopened.active_version(KeyFamily.TRIPLE_DES) == 1
    assert old == reopened.external_authenticate_cryptogram(
        generation=3, key_version=1, identification_code=code, challenge=challenge
    )
    assert old != reopened.external_authenticate_cryptogram(
        generation=3, key_version=2, identification_code=code, challenge=challenge
    )
    with pytest.raises(VaultError, match="第3版"):
        reopened.external_authenticate_cryptogram(
            generation=3, key_version=3, identification_code=code, challenge=challenge
        )


def test_key_ceremony_commands_are_audited(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch, session: Session
):
    monkeypatch.setenv("XNB_DATABASE_URL", database_url)
    monkeypatch.setenv("XNB_CARD_VAULT_PATH", str(tmp_path / "keys" / "vault.json"))
    monkeypatch.setenv("XNB_CARD_VAULT_PASSPHRASE", PASSPHRASE)
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        result = runner.invoke(xnb_app, ["keys", "init", "--province", "65"])
        assert result.exit_code == 0, result.output
        assert "sm4   v1 internal_auth" in result.output
        again = runner.invoke(xnb_app, ["keys", "init", "--province", "65"])
        assert again.exit_code == 2 and "已存在" in again.output
        rotated = runner.invoke(xnb_app, ["keys", "rotate", "sm4"])
        assert rotated.exit_code == 0 and "第2版" in rotated.output, rotated.output
        kcv = runner.invoke(xnb_app, ["keys", "kcv"])
        assert kcv.exit_code == 0
        assert "* sm4   v2" in kcv.output and "  sm4   v1" in kcv.output
    finally:
        get_settings.cache_clear()
    actions = session.scalars(
        select(AuditRecord.action)
        .where(AuditRecord.action.startswith("keys."))
        .order_by(AuditRecord.id)
    ).all()
    assert actions == ["keys.init", "keys.rotate", "keys.kcv_export"]
    details = session.scalars(
        select(AuditRecord.detail).where(AuditRecord.action == "keys.init")
    ).one()
    assert "kcv" in details and PASSPHRASE not in details


def test_demo_keys_are_refused_in_production(tmp_path: Path, session: Session):
    from backend.audit.service import Actor
    from backend.config import Settings
    from backend.errors import PermissionDenied
    from backend.keys import service

    settings = Settings(env="test", card_vault_path=tmp_path / "v.json")
    production = settings.model_copy(update={"env": "production"})
    with pytest.raises(PermissionDenied):
        service.init_vault(
            session=session,
            settings=production,
            actor=Actor.system(),
            province_code="65",
            demo_keys=True,
        )
