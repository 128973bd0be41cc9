"""Online card authentication against the vault: a genuine card, a clone, a replayed or
expired challenge, unusable cards each with their own code; EXTERNAL AUTHENTICATE and the
counter's PIN reset on a virtual card."""

from __future__ import annotations

import datetime as dt
import secrets
import threading
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from backend.audit.models import AuditRecord
from backend.cards.models import CardChallenge
from backend.db import utcnow
from backend.keys import KeyVault, LocalKeyVault
from backend.keys.pkcs11 import Pkcs11KeyVault
from backend.keys.pkcs11_token import TokenConfig, token_for
from card_services import (
    CardClient,
    MasterKeys,
    VirtualCard,
    build_personalisation_script,
    commands,
    personalise_card,
    read_basic_data,
    read_holder_data,
    verify_pin,
)
from card_services.demo import DEMO_PIN, demo_blank_card, demo_personalisation_data
from card_services.errors import PinBlockedError, PinWrongError
from tests.backend.card_support import add_card, add_person, id_number_of
from tests.conftest import World
from tests.softhsm import STORES

_serials = iter(range(200, 10_000))


@pytest.fixture(params=STORES)
def vault(request: pytest.FixtureRequest, world: World, tmp_path: Path) -> KeyVault:
    """A demo-key vault put into the running application: the sealed file, or the HSM."""
    opened: KeyVault
    if request.param == "file":
        opened = LocalKeyVault.create(
            tmp_path / "vault.json",
            passphrase="test vault passphrase",
            province_code="65",
            demo_keys=True,
            scrypt_n=2**10,
        )
    else:
        token: TokenConfig = request.getfixturevalue("hsm_token")
        opened = Pkcs11KeyVault.create(token_for(token), province_code="65", demo_keys=True)
    world.client.app.state.key_vault = opened  # type: ignore[attr-defined]
    return opened


def virtual_card(
    vault: KeyVault,
    session_factory: sessionmaker[Session],
    *,
    state: str = "active",
    generation: int = 3,
    master_keys: MasterKeys | None = None,
    village: str | None = None,
) -> tuple[VirtualCard, int, int]:
    """A virtual card personalised (by the vault, or with other keys: a clone) and its row."""
    serial = next(_serials)
    data = demo_personalisation_data(generation=generation, sequence=serial)
    card = VirtualCard(demo_blank_card(label=f"c{serial}", generation=generation, serial=serial))
    if master_keys is None:
        script = vault.personalisation_script(data=data, atr=card.atr, key_version=1)
    else:
        script = build_personalisation_script(
            data,
            application=card.application,
            master_keys=master_keys,
            transport_key=card.state.transport_key,
        )
    personalise_card(card, script)
    person_id = add_person(session_factory, **({"village": village} if village else {}))
    row = add_card(
        session_factory,
        person_id,
        state=state,
        generation=generation,
        identification_code=data.basic.identification_code.hex().upper(),
        card_number=data.basic.card_number,
    )
    return card, row.id, person_id


def authenticate(world: World, card: VirtualCard, user: str = "clerk_hbk"):
    """The terminal's side: read the code, ask for a challenge, let the card answer."""
    basic = read_basic_data(card)
    r = world.client.post(
        "/api/v1/cards/authentications/challenges",
        json={"identification_code": basic.identification_code.hex()},
        headers=world.headers(user),
    )
    assert r.status_code == 201, r.text
    challenge = r.json()
    answer = (
        CardClient(card)
        .send(commands.internal_authenticate(bytes.fromhex(challenge["challenge"])))
        .data
    )
    body = {"challenge_id": challenge["challenge_id"], "cryptogram": answer.hex()}
    return world.client.post(
        "/api/v1/cards/authentications", json=body, headers=world.headers(user)
    ), body


@pytest.mark.parametrize("generation", [1, 2, 3])
def test_genuine_card_authenticates_and_shows_its_holder(
    world: World, vault, session_factory, generation: int
):
    card, card_id, person_id = virtual_card(vault, session_factory, generation=generation)
    r, _ = authenticate(world, card)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["authentic"] and out["may_use"] and out["card"]["id"] == card_id
    assert out["holder"]["id_number"] == id_number_of(session_factory, person_id)


def test_replayed_answer_is_refused(world: World, vault, session_factory):
    card, _, _ = virtual_card(vault, session_factory)
    first, body = authenticate(world, card)
    assert first.status_code == 200
    replay = world.client.post(
        "/api/v1/cards/authentications", json=body, headers=world.headers("clerk_hbk")
    )
    assert replay.status_code == 409 and replay.json()["code"] == "challenge_used"


def test_clone_with_the_right_data_but_wrong_keys_is_not_genuine(
    world: World, vault, session_factory
):
    other = MasterKeys(*(secrets.token_bytes(16) for _ in range(4)))
    clone, _, _ = virtual_card(vault, session_factory, master_keys=other)
    r, _ = authenticate(world, clone)
    assert r.status_code == 422 and r.json()["code"] == "card_not_genuine"
    assert r.json()["authentic"] is False


def test_expired_challenge_is_refused(world: World, vault, session_factory):
    card, _, _ = virtual_card(vault, session_factory)
    r = world.client.post(
        "/api/v1/cards/authentications/challenges",
        json={"identification_code": read_basic_data(card).identification_code.hex()},
        headers=world.headers("clerk_hbk"),
    )
    challenge = r.json()
    with session_factory.begin() as s:
        row = s.get(CardChallenge, challenge["challenge_id"])
        assert row is not None
        row.expires_at = utcnow() - dt.timedelta(seconds=1)
    answer = (
        CardClient(card)
        .send(commands.internal_authenticate(bytes.fromhex(challenge["challenge"])))
        .data
    )
    r = world.client.post(
        "/api/v1/cards/authentications",
        json={"challenge_id": challenge["challenge_id"], "cryptogram": answer.hex()},
        headers=world.headers("clerk_hbk"),
    )
    assert r.status_code == 409 and r.json()["code"] == "challenge_expired"


@pytest.mark.parametrize(
    ("state", "code"),
    [
        ("lost", "card_lost"),
        ("temporary_loss", "card_lost"),
        ("replaced", "card_replaced"),
        ("cancelled", "card_cancelled"),
        ("issued", "card_not_active"),
    ],
)
def test_unusable_cards_are_refused_with_their_own_code(
    world: World, vault, session_factory, state: str, code: str
):
    card, _, _ = virtual_card(vault, session_factory, state=state)
    r, _ = authenticate(world, card)
    assert r.status_code == 409 and r.json()["code"] == code
    assert r.json()["card_state"] == state


def test_holder_outside_the_scope_is_not_shown(world: World, vault, session_factory):
    card, _, _ = virtual_card(vault, session_factory)
    r, _ = authenticate(world, card, user="clerk_emin")
    assert r.status_code == 200 and r.json()["holder"] is None


def test_unknown_card_gets_no_challenge(world: World, vault):
    r = world.client.post(
        "/api/v1/cards/authentications/challenges",
        json={"identification_code": "65422600" + "0" * 24},
        headers=world.headers("clerk_hbk"),
    )
    assert r.status_code == 404 and r.json()["code"] == "card_unknown"


def test_concurrent_answers_to_one_challenge_succeed_once(world: World, vault, session_factory):
    card, _, _ = virtual_card(vault, session_factory)
    _, body = authenticate(world, card)  # spends its own challenge; make a fresh one
    code = read_basic_data(card).identification_code.hex()
    challenge = world.client.post(
        "/api/v1/cards/authentications/challenges",
        json={"identification_code": code},
        headers=world.headers("clerk_hbk"),
    ).json()
    answer = (
        CardClient(card)
        .send(commands.internal_authenticate(bytes.fromhex(challenge["challenge"])))
        .data
    )
    body = {"challenge_id": challenge["challenge_id"], "cryptogram": answer.hex()}
    statuses: list[int] = []

    def send() -> None:
        statuses.append(
            world.client.post(
                "/api/v1/cards/authentications", json=body, headers=world.headers("clerk_hbk")
            ).status_code
        )

    threads = [threading.Thread(target=send) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200, 409, 409]


class BackendVerifier:
    """The terminal's verifier for protected reads: the backend's vault answers."""

    def __init__(self, world: World, card_id: int) -> None:
        self.world, self.card_id = world, card_id

    def answer_card_challenge(self, *, application, identification_code, challenge) -> bytes:
        r = self.world.client.post(
            f"/api/v1/cards/{self.card_id}/external-authenticate",
            json={"challenge": challenge.hex()},
            headers=self.world.headers("clerk_hbk"),
        )
        assert r.status_code == 200, r.text
        return bytes.fromhex(r.json()["cryptogram"])


def test_external_authenticate_opens_generation_3_holder_data(world: World, vault, session_factory):
    card, card_id, _ = virtual_card(vault, session_factory)
    holder = read_holder_data(card, verifier=BackendVerifier(world, card_id))  # type: ignore[arg-type]
    assert holder.social_security_number == "65422619580101002X"


class CodedBackendVerifier:
    """As a workstation does it: the card named by the identification code it read."""

    def __init__(self, world: World, username: str = "clerk_hbk") -> None:
        self.world, self.username = world, username

    def answer_card_challenge(self, *, application, identification_code, challenge) -> bytes:
        r = self.world.client.post(
            "/api/v1/cards/external-authentications",
            json={"identification_code": identification_code.hex(), "challenge": challenge.hex()},
            headers=self.world.headers(self.username),
        )
        if r.status_code != 200:
            raise LookupError(r.json()["code"])
        return bytes.fromhex(r.json()["cryptogram"])


def test_external_authenticate_by_identification_code_reads_holder_data_in_scope_only(
    world: World, vault, session_factory
):
    card, _, _ = virtual_card(vault, session_factory)
    holder = read_holder_data(card, verifier=CodedBackendVerifier(world))  # type: ignore[arg-type]
    assert holder.social_security_number == "65422619580101002X"
    with pytest.raises(LookupError, match="card_not_found"):
        read_holder_data(card, verifier=CodedBackendVerifier(world, "clerk_emin"))  # type: ignore[arg-type]
    unknown = world.client.post(
        "/api/v1/cards/external-authentications",
        json={"identification_code": "00" * 16, "challenge": "11" * 8},
        headers=world.headers("clerk_hbk"),
    )
    assert unknown.status_code == 404 and unknown.json()["code"] == "card_unknown"
    malformed = world.client.post(
        "/api/v1/cards/external-authentications",
        json={"identification_code": "XYZ", "challenge": "11" * 8},
        headers=world.headers("clerk_hbk"),
    )
    assert malformed.status_code == 422


def test_pin_reset_at_the_counter_unblocks_with_a_new_pin(world: World, vault, session_factory):
    card, card_id, person_id = virtual_card(vault, session_factory)
    for _ in range(3):
        with pytest.raises((PinWrongError, PinBlockedError)):
            verify_pin(card, "999999")
    client = CardClient(card)
    client.send(commands.select_ssse())
    card_challenge = client.send(commands.get_challenge(16)).data
    r = world.client.post(
        f"/api/v1/cards/{card_id}/pin-reset",
        json={
            "challenge": card_challenge.hex(),
            "id_number": id_number_of(session_factory, person_id),
            "new_pin": "246810",
        },
        headers=world.headers("clerk_hbk"),
    )
    assert r.status_code == 200, r.text
    assert "246810" not in r.text
    assert card.process(bytes.fromhex(r.json()["command"]))[-2:] == b"\x90\x00"
    verify_pin(card, "246810")
    with pytest.raises(PinWrongError):
        verify_pin(card, DEMO_PIN)
    wrong_id = world.client.post(
        f"/api/v1/cards/{card_id}/pin-reset",
        json={
            "challenge": card_challenge.hex(),
            "id_number": "11010119000101123X",
            "new_pin": "111111",
        },
        headers=world.headers("clerk_hbk"),
    )
    assert wrong_id.status_code == 422


def test_replaced_card_can_never_authenticate_again(world: World, vault, session_factory):
    card, card_id, _ = virtual_card(vault, session_factory)
    r = world.client.post(
        f"/api/v1/cards/{card_id}/actions/replace", json={}, headers=world.headers("clerk_hbk")
    )
    assert r.status_code == 200
    again, _ = authenticate(world, card)
    assert again.status_code == 409 and again.json()["code"] == "card_replaced"
    refused = world.client.post(
        f"/api/v1/cards/{card_id}/external-authenticate",
        json={"challenge": "00" * 16},
        headers=world.headers("clerk_hbk"),
    )
    assert refused.status_code == 409 and refused.json()["code"] == "card_not_keyed"


def test_pin_reset_refuses_another_card_and_records_the_cards_answer(
    world: World, vault, session_factory
):
    card, card_id, person_id = virtual_card(vault, session_factory)
    client = CardClient(card)
    client.send(commands.select_ssse())
    body = {
        "challenge": client.send(commands.get_challenge(16)).data.hex(),
        "id_number": id_number_of(session_factory, person_id),
        "new_pin": "135790",
    }
    other = world.client.post(
        f"/api/v1/cards/{card_id}/pin-reset",
        json={**body, "identification_code": "65422600" + "00" * 12},
        headers=world.headers("clerk_hbk"),
    )
    assert other.status_code == 409 and other.json()["code"] == "wrong_card"
    code = read_basic_data(card).identification_code.hex().upper()
    r = world.client.post(
        f"/api/v1/cards/{card_id}/pin-reset",
        json={**body, "identification_code": code},
        headers=world.headers("clerk_hbk"),
    )
    assert r.status_code == 200, r.text
    assert card.process(bytes.fromhex(r.json()["command"]))[-2:] == b"\x90\x00"
    verify_pin(card, "135790")
    result = world.client.post(
        f"/api/v1/cards/{card_id}/pin-reset/result",
        json={"card_answer": "9000", "verified": True, "entry": "keyboard"},
        headers=world.headers("clerk_hbk"),
    )
    assert result.status_code == 200, result.text
    with session_factory() as s:
        records = s.scalars(select(AuditRecord).order_by(AuditRecord.id)).all()
        actions = [(a.action, a.result) for a in records if a.action.startswith("card.pin_reset")]
        details = [a.detail for a in records if "135790" in a.detail]
    assert actions == [("card.pin_reset", "ok"), ("card.pin_reset_result", "ok")]
    assert details == []  # the PIN is never recorded
