"""The key vault and the key ceremony, on the sealed file and in the HSM (SoftHSM2): never
releasing a master key, rotation keeping old cards working, every ceremony step audited."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from backend.audit.models import AuditRecord
from backend.config import get_settings
from backend.keys import KeyFamily, KeyVault, LocalKeyVault, VaultError
from backend.keys.pkcs11 import Pkcs11KeyVault
from backend.keys.pkcs11_token import TokenConfig, TokenError, token_for
from card_services import (
    CardClient,
    VirtualCard,
    commands,
    internal_authenticate_cryptogram,
    personalise_card,
    verify_pin,
)
from card_services.apdu import CommandApdu
from card_services.applications import KEY_READ
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


@dataclass
class Store:
    """One place for the master keys: create a vault there, open it again, configure it."""

    kind: str
    create: Callable[..., KeyVault]
    reopen: Callable[[], KeyVault]
    environment: dict[str, str]


@pytest.fixture(params=["file", pytest.param("pkcs11", marks=pytest.mark.hsm)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    """The sealed vault file, or a fresh SoftHSM2 token of this test."""
    if request.param == "file":
        path = tmp_path / "keys" / "vault.json"
        return Store(
            "file",
            create=lambda demo_keys=False: LocalKeyVault.create(
                path, passphrase=PASSPHRASE, province_code="65", demo_keys=demo_keys, scrypt_n=FAST
            ),
            reopen=lambda: LocalKeyVault.open(path, passphrase=PASSPHRASE),
            environment={
                "XNB_CARD_VAULT_PATH": str(path),
                "XNB_CARD_VAULT_PASSPHRASE": PASSPHRASE,
            },
        )
    token: TokenConfig = request.getfixturevalue("hsm_token")
    pin_file = tmp_path / "pin"
    pin_file.write_text(token.pin.get_secret_value())
    return Store(
        "pkcs11",
        create=lambda demo_keys=False: Pkcs11KeyVault.create(
            token_for(token), province_code="65", demo_keys=demo_keys
        ),
        reopen=lambda: Pkcs11KeyVault.open(token_for(token)),
        environment={
            "XNB_KEY_STORE": "pkcs11",
            "XNB_PKCS11_MODULE": str(token.module),
            "XNB_PKCS11_TOKEN_LABEL": token.label,
            "XNB_PKCS11_PIN_FILE": str(pin_file),
        },
    )


def test_vault_file_holds_no_key_in_clear(tmp_path: Path):
    vault = _vault(tmp_path, demo_keys=True)
    text = (tmp_path / "vault.json").read_text()
    assert "DE01DE01" not in text.upper()
    assert "secret" not in repr(vault) and "DE01" not in repr(vault)
    assert (tmp_path / "vault.json").stat().st_mode & 0o077 == 0


def test_demo_key_check_values_are_the_published_ones(store: Store):
    vault = store.create(demo_keys=True)
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


def test_existing_vault_is_never_overwritten(store: Store):
    store.create()
    with pytest.raises(VaultError, match="已存在"):
        store.create()


@pytest.mark.parametrize("generation", [2, 3])
def test_personalised_card_authenticates_against_the_vault_and_a_clone_does_not(
    store: Store, generation: int
):
    vault = store.create(demo_keys=True)
    blank = demo_blank_card(label="v", generation=generation, serial=7)
    card = VirtualCard(blank)
    data = demo_personalisation_data(generation=generation, sequence=7)
    personalise_card(card, vault.personalisation_script(data=data, atr=card.atr, key_version=1))
    code = data.basic.identification_code
    challenge = vault.new_challenge(generation=generation)
    answer = CardClient(card).send(commands.internal_authenticate(challenge)).data
    assert vault.verify_internal_authenticate(
        generation=generation,
        key_version=1,
        identification_code=code,
        challenge=challenge,
        cryptogram=answer,
    )
    clone = internal_authenticate_cryptogram(
        application=card.application, card_key=bytes(16), challenge=challenge
    )
    assert not vault.verify_internal_authenticate(
        generation=generation,
        key_version=1,
        identification_code=code,
        challenge=challenge,
        cryptogram=clone,
    )
    # The card accepts the vault's EXTERNAL AUTHENTICATE answer to its own challenge.
    client = CardClient(card)
    card_challenge = client.send(commands.get_challenge(card.application.cipher.block_size)).data
    cryptogram = vault.external_authenticate_cryptogram(
        generation=generation, key_version=1, identification_code=code, challenge=card_challenge
    )
    assert client.send(commands.external_authenticate(KEY_READ, cryptogram)).sw == 0x9000
    # The vault's PIN unblock command (3DES: encrypted and MACed in the token) is accepted.
    card_challenge = client.send(commands.get_challenge(card.application.cipher.block_size)).data
    unblock = vault.pin_unblock_command(
        generation=generation,
        key_version=1,
        identification_code=code,
        challenge=card_challenge,
        new_pin="654321",
    )
    assert client.send(CommandApdu.from_bytes(unblock)).sw == 0x9000
    verify_pin(card, "654321")


@pytest.mark.parametrize(("family", "generation"), [(KeyFamily.SM4, 3), (KeyFamily.TRIPLE_DES, 2)])
def test_rotation_keeps_old_versions_for_cards_already_issued(
    store: Store, family: KeyFamily, generation: int
):
    vault = store.create()
    other = next(f for f in KeyFamily if f != family)
    code = bytes.fromhex("654226") + bytes(13)
    challenge = bytes(16 if generation == 3 else 8)
    old = vault.external_authenticate_cryptogram(
        generation=generation, key_version=1, identification_code=code, challenge=challenge
    )
    assert vault.rotate(family) == 2
    reopened = store.reopen()
    assert reopened.active_version(family) == 2
    assert reopened.active_version(other) == 1
    assert old == reopened.external_authenticate_cryptogram(
        generation=generation, key_version=1, identification_code=code, challenge=challenge
    )
    assert old != reopened.external_authenticate_cryptogram(
        generation=generation, key_version=2, identification_code=code, challenge=challenge
    )
    with pytest.raises(VaultError, match="第3版"):
        reopened.external_authenticate_cryptogram(
            generation=generation, key_version=3, identification_code=code, challenge=challenge
        )


def test_key_ceremony_commands_are_audited(
    store: Store, database_url: str, monkeypatch: pytest.MonkeyPatch, session: Session
):
    monkeypatch.setenv("XNB_DATABASE_URL", database_url)
    for name, value in store.environment.items():
        monkeypatch.setenv(name, value)
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
    assert "kcv" in details and PASSPHRASE not in details and "246810" not in json.dumps(details)
    assert json.loads(details)["store"] == store.kind


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


@pytest.mark.hsm
def test_master_keys_are_generated_in_the_token_and_never_leave_it(hsm_token: TokenConfig):
    import pkcs11
    from pkcs11 import Attribute, ObjectClass

    vault = Pkcs11KeyVault.create(token_for(hsm_token), province_code="65")
    vault.rotate(KeyFamily.TRIPLE_DES)
    token = pkcs11.lib(str(hsm_token.module)).get_token(token_label=hsm_token.label)
    # The vault's session logged the process in (log-in is per token and application).
    with token.open() as session:
        keys = {
            key.label: key for key in session.get_objects({Attribute.CLASS: ObjectClass.SECRET_KEY})
        }
        triple_des = [key for label, key in keys.items() if label.startswith("xnb-card:3des:")]
        assert len(triple_des) == 9  # two versions of four, one transport master key
        for key in triple_des:
            assert key[Attribute.SENSITIVE] and not key[Attribute.EXTRACTABLE]
            assert key[Attribute.PRIVATE]  # invisible without the PIN
            assert key[Attribute.NEVER_EXTRACTABLE] and key[Attribute.LOCAL]  # made in the token
            assert key[Attribute.DERIVE] and not key[Attribute.ENCRYPT]
            with pytest.raises(pkcs11.AttributeSensitive):
                key[Attribute.VALUE]
        # No session object (a derived card key) outlives the operation that used it.
        vault.external_authenticate_cryptogram(
            generation=2, key_version=1, identification_code=bytes(16), challenge=bytes(8)
        )
        assert len(list(session.get_objects({Attribute.CLASS: ObjectClass.SECRET_KEY}))) == len(
            keys
        )


@pytest.mark.hsm
def test_a_wrong_pin_and_a_missing_token_are_refused_without_showing_the_pin(
    hsm_token: TokenConfig,
):
    Pkcs11KeyVault.create(token_for(hsm_token), province_code="65")
    wrong = TokenConfig(module=hsm_token.module, label=hsm_token.label, pin=SecretStr("999999"))
    from backend.keys import pkcs11_token

    # A process that has not logged in yet (the registry is per process).
    pkcs11_token._registry.clear()
    pkcs11_token.rescan(hsm_token.module)
    with pytest.raises(TokenError, match="口令错误") as refused:
        Pkcs11KeyVault.open(token_for(wrong))
    assert "999999" not in str(refused.value) and "999999" not in repr(wrong)
    absent = TokenConfig(module=hsm_token.module, label="no-such-token", pin=hsm_token.pin)
    with pytest.raises(TokenError, match="没有标签为 no-such-token 的令牌"):
        Pkcs11KeyVault.open(token_for(absent))


@pytest.mark.hsm
def test_the_configured_hsm_vault_opens_with_the_pin_from_its_file(
    hsm_token: TokenConfig, tmp_path: Path
):
    from backend.config import Settings
    from backend.keys import stores
    from tests.softhsm import hsm_settings

    Pkcs11KeyVault.create(token_for(hsm_token), province_code="65", demo_keys=True)
    settings = hsm_settings(Settings(env="test"), hsm_token, tmp_path / "pin")
    vault = stores.open_configured(settings)
    assert isinstance(vault, Pkcs11KeyVault) and vault.province_code == "65"
    assert hsm_token.pin.get_secret_value() not in repr(settings) + repr(vault)
    absent = settings.model_copy(update={"pkcs11_pin_file": tmp_path / "absent"})
    with pytest.raises(TokenError, match="无法读取硬件密码模块口令文件"):
        stores.open_configured(absent)
    unset = settings.model_copy(update={"pkcs11_pin_file": None, "pkcs11_pin": None})
    with pytest.raises(TokenError, match="未配置硬件密码模块口令"):
        stores.open_configured(unset)


@pytest.mark.hsm
@pytest.mark.parametrize("generation", [2, 3])
def test_the_hsm_and_the_file_vault_give_the_same_bytes_for_the_same_keys(
    hsm_token: TokenConfig, tmp_path: Path, generation: int
):
    hsm = Pkcs11KeyVault.create(token_for(hsm_token), province_code="65", demo_keys=True)
    file = _vault(tmp_path, demo_keys=True)
    assert hsm.key_check_values() == file.key_check_values()
    code = bytes.fromhex("654226") + bytes(range(13))
    challenge = bytes(range(8 if generation == 2 else 16))
    card = {"generation": generation, "key_version": 1, "identification_code": code}
    for vault_call in (
        lambda v: v.external_authenticate_cryptogram(**card, challenge=challenge),
        lambda v: v.pin_unblock_command(**card, challenge=challenge, new_pin="2468"),
    ):
        assert vault_call(hsm) == vault_call(file)
    blank = VirtualCard(demo_blank_card(label="b", generation=generation, serial=9))
    data = demo_personalisation_data(generation=generation, sequence=9)
    assert hsm.personalisation_script(
        data=data, atr=blank.atr, key_version=1
    ) == file.personalisation_script(data=data, atr=blank.atr, key_version=1)


def test_production_refuses_an_hsm_store_without_its_pin(tmp_path: Path):
    from backend.config import Settings

    production = {
        "env": "production",
        "database_url": "postgresql+psycopg://xnb@db/xnb",
        "allow_insecure_http": False,
        "tls_certfile": tmp_path / "server.pem",
        "tls_keyfile": tmp_path / "server.key",
        "tls_client_ca_file": tmp_path / "ca.pem",
        "pki_passphrase": "a production CA passphrase",
        "login_requires_certificate": True,
        "key_store": "pkcs11",
    }
    with pytest.raises(ValueError, match="the HSM needs its PIN"):
        Settings(**production)
