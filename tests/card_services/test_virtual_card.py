"""The card operations against the virtual card OS: reading, authentication, PINs,
secured updates, personalisation, T=0 behaviour and bad input."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from card_services import (
    AuthenticationFailedError,
    CardClient,
    CardState,
    CardVerificationError,
    CommandApdu,
    MasterKeyVerifier,
    PinBlockedError,
    PinWrongError,
    SecureMessagingError,
    SecurityStatusError,
    UnsupportedCardError,
    VirtualCard,
    authenticate_card,
    build_personalisation_script,
    change_pin,
    personalise_card,
    pin_tries_left,
    read_basic_data,
    read_holder_data,
    read_pension_record,
    unblock_pin,
    update_pension_record,
    verify_pin,
)
from card_services import commands as cmd
from card_services.demo import (
    DEMO_MASTER_KEYS,
    DEMO_PIN,
    demo_personalisation_data,
    demo_personalised_card,
)
from card_services.errors import (
    ConditionsNotSatisfiedError,
    InstructionNotSupportedError,
    RecordNotFoundError,
    WrongLengthError,
)
from card_services.keys import MasterKeys

from .conftest import counting_random


def _keys(card: VirtualCard, verifier: MasterKeyVerifier):
    basic = read_basic_data(card)
    return verifier.card_keys(
        application=card.application, identification_code=basic.identification_code
    )


def test_reads_basic_and_holder_data(card: VirtualCard, verifier: MasterKeyVerifier) -> None:
    data = demo_personalisation_data(generation=card.application.generation, sequence=7)
    basic = read_basic_data(card)
    assert basic == data.basic
    assert read_holder_data(card, basic=basic, verifier=verifier) == data.holder


def test_gen3_holder_data_needs_external_authenticate(gen3_card: VirtualCard) -> None:
    client = CardClient(gen3_card)
    client.send(cmd.select_ssse())
    with pytest.raises(SecurityStatusError):
        client.send(cmd.read_record_by_tag(0x08, sfi=6, le=20))
    with pytest.raises(UnsupportedCardError, match="need a verifier"):
        read_holder_data(gen3_card)


@pytest.mark.parametrize("older_generation", [1, 2])
def test_gen1_and_gen2_holder_data_is_free(older_generation: int) -> None:
    state = demo_personalised_card(label="old", generation=older_generation, serial=1)
    assert read_holder_data(VirtualCard(state)).social_security_number == "65422619580101002X"


def test_mutual_authentication_succeeds(card: VirtualCard, verifier: MasterKeyVerifier) -> None:
    result = authenticate_card(card, verifier)
    assert result.application is card.application
    assert result.basic.card_number == "X00000007"


def test_card_with_other_keys_is_not_genuine(card: VirtualCard) -> None:
    other = MasterKeys(*(bytes([n]) * 16 for n in range(1, 5)))
    with pytest.raises(CardVerificationError):
        authenticate_card(card, MasterKeyVerifier(other))


def test_terminal_with_wrong_read_key_is_refused(gen3_card: VirtualCard) -> None:
    wrong = MasterKeys(
        read=bytes(16),
        internal_auth=DEMO_MASTER_KEYS.internal_auth,
        update=DEMO_MASTER_KEYS.update,
        pin_unblock=DEMO_MASTER_KEYS.pin_unblock,
    )
    with pytest.raises(AuthenticationFailedError):
        authenticate_card(gen3_card, MasterKeyVerifier(wrong))


def test_replayed_internal_authenticate_answer_is_refused(
    card: VirtualCard, verifier: MasterKeyVerifier
) -> None:
    basic = read_basic_data(card)
    challenge = verifier.new_challenge(application=card.application)
    answer = CardClient(card).send(cmd.internal_authenticate(challenge)).data
    kwargs = {
        "application": card.application,
        "identification_code": basic.identification_code,
        "challenge": challenge,
        "cryptogram": answer,
    }
    verifier.verify_card(**kwargs)
    with pytest.raises(CardVerificationError, match="already used"):
        verifier.verify_card(**kwargs)


def test_external_authenticate_without_challenge_is_refused(gen3_card: VirtualCard) -> None:
    client = CardClient(gen3_card)
    client.send(cmd.select_ssse())
    with pytest.raises(ConditionsNotSatisfiedError):
        client.send(cmd.external_authenticate(0x0A, bytes(16)))


def test_pin_verify_counts_down_and_blocks(card: VirtualCard) -> None:
    verify_pin(card, DEMO_PIN)
    assert pin_tries_left(card) == 3
    with pytest.raises(PinWrongError) as first:
        verify_pin(card, "000000")
    assert first.value.tries_left == 2
    with pytest.raises(PinWrongError):
        verify_pin(card, "000000")
    with pytest.raises(PinBlockedError):
        verify_pin(card, "000000")
    with pytest.raises(PinBlockedError):
        verify_pin(card, DEMO_PIN)
    assert pin_tries_left(card) == 0


def test_correct_pin_resets_the_try_counter(card: VirtualCard) -> None:
    with pytest.raises(PinWrongError):
        verify_pin(card, "999999")
    verify_pin(card, DEMO_PIN)
    assert pin_tries_left(card) == 3


def test_change_pin(card: VirtualCard) -> None:
    change_pin(card, old_pin=DEMO_PIN, new_pin="2468")
    verify_pin(card, "2468")
    with pytest.raises(PinWrongError):
        change_pin(card, old_pin=DEMO_PIN, new_pin="1111")


def test_unblock_pin_with_the_issuer_key(card: VirtualCard, verifier: MasterKeyVerifier) -> None:
    keys = _keys(card, verifier)
    for _ in range(3):
        with pytest.raises((PinWrongError, PinBlockedError)):
            verify_pin(card, "000000")
    with pytest.raises(SecureMessagingError):
        unblock_pin(card, pin_unblock_key=keys.update, new_pin="777777")
    unblock_pin(card, pin_unblock_key=keys.pin_unblock, new_pin="777777")
    verify_pin(card, "777777")
    assert pin_tries_left(card) == 3


def test_secured_update_of_the_pension_record(
    card: VirtualCard, verifier: MasterKeyVerifier
) -> None:
    keys = _keys(card, verifier)
    value = b"2024-12 170 enrolled".ljust(32, b"\x00")
    update_pension_record(card, update_key=keys.update, number=2, value=value)
    assert read_pension_record(card, number=2) == value
    with pytest.raises(SecureMessagingError):
        update_pension_record(card, update_key=keys.read, number=2, value=bytes(32))
    with pytest.raises(WrongLengthError):
        update_pension_record(card, update_key=keys.update, number=2, value=bytes(31))
    with pytest.raises(RecordNotFoundError):
        update_pension_record(card, update_key=keys.update, number=9, value=bytes(32))
    assert read_pension_record(card, number=2) == value


def test_plain_update_without_mac_is_refused(card: VirtualCard) -> None:
    client = CardClient(card)
    client.send(cmd.select_ssse())
    record = bytes.fromhex("020133")
    with pytest.raises(SecurityStatusError):
        client.send(CommandApdu(0x00, 0xDC, 2, 0x2C, record))


def test_personalises_a_blank_card(blank_card: VirtualCard, verifier: MasterKeyVerifier) -> None:
    generation = blank_card.application.generation
    data = demo_personalisation_data(generation=generation, sequence=42)
    assert blank_card.atr[8] == 0x00
    script = build_personalisation_script(
        data,
        application=blank_card.application,
        master_keys=DEMO_MASTER_KEYS,
        transport_key=blank_card.state.transport_key,
    )
    with pytest.raises(ConditionsNotSatisfiedError):
        verify_pin(blank_card, DEMO_PIN)
    assert personalise_card(blank_card, script) == data.basic
    assert blank_card.atr[8] == 0x01
    assert read_holder_data(blank_card, verifier=verifier) == data.holder
    authenticate_card(blank_card, verifier)
    verify_pin(blank_card, DEMO_PIN)
    with pytest.raises(ConditionsNotSatisfiedError):
        personalise_card(blank_card, script)


def test_personalisation_under_wrong_transport_key_is_refused(blank_card: VirtualCard) -> None:
    data = demo_personalisation_data(generation=blank_card.application.generation)
    script = build_personalisation_script(
        data,
        application=blank_card.application,
        master_keys=DEMO_MASTER_KEYS,
        transport_key=bytes(16),
    )
    with pytest.raises(SecureMessagingError):
        personalise_card(blank_card, script)


def test_personalisation_commands_cannot_be_reordered(blank_card: VirtualCard) -> None:
    data = demo_personalisation_data(generation=blank_card.application.generation)
    script = build_personalisation_script(
        data,
        application=blank_card.application,
        master_keys=DEMO_MASTER_KEYS,
        transport_key=blank_card.state.transport_key,
    )
    client = CardClient(blank_card)
    client.send(script.commands[0])
    with pytest.raises(SecureMessagingError):
        client.send(script.commands[2])
    client.send(script.commands[1])
    with pytest.raises(SecureMessagingError):
        client.send(script.commands[1])


def test_incomplete_personalisation_cannot_end(blank_card: VirtualCard) -> None:
    data = demo_personalisation_data(generation=blank_card.application.generation)
    script = build_personalisation_script(
        data,
        application=blank_card.application,
        master_keys=DEMO_MASTER_KEYS,
        transport_key=blank_card.state.transport_key,
    )
    client = CardClient(blank_card)
    with pytest.raises(ConditionsNotSatisfiedError):
        client.send(script.commands[-1])


def test_data_set_for_another_generation_is_refused(blank_card: VirtualCard) -> None:
    other = 3 if blank_card.application.generation != 3 else 1
    with pytest.raises(UnsupportedCardError):
        build_personalisation_script(
            demo_personalisation_data(generation=other),
            application=blank_card.application,
            master_keys=DEMO_MASTER_KEYS,
            transport_key=blank_card.state.transport_key,
        )


def test_t0_card_answers_61xx_and_6cxx(gen3_card: VirtualCard) -> None:
    select = gen3_card.process(cmd.select_ssse().to_bytes())
    assert select[0] == 0x61
    fci = gen3_card.process(bytes((0x00, 0xC0, 0x00, 0x00, select[1])))
    assert fci[0] == 0x6F and fci[-2:] == b"\x90\x00"
    assert gen3_card.process(bytes.fromhex("00B2012C00")) == bytes.fromhex("6C12")
    assert gen3_card.process(bytes.fromhex("00B2012C12"))[-2:] == b"\x90\x00"
    assert gen3_card.process(bytes.fromhex("00C0000010")) == bytes.fromhex("6985")


def test_get_response_in_parts(gen3_card: VirtualCard) -> None:
    select = gen3_card.process(cmd.select_ssse().to_bytes())
    total = select[1]
    first = gen3_card.process(bytes((0x00, 0xC0, 0x00, 0x00, 10)))
    assert first[-2] == 0x61 and first[-1] == total - 10
    rest = gen3_card.process(bytes((0x00, 0xC0, 0x00, 0x00, total - 10)))
    assert rest[-2:] == b"\x90\x00"
    assert (first[:-2] + rest[:-2]).startswith(b"\x6f")


@pytest.mark.parametrize(
    ("apdu", "sw"),
    [
        ("00", "6700"),
        ("00A4040003AA", "6700"),
        ("90A4040000", "6E00"),
        ("0099000000", "6D00"),
        ("00A4040001AA", "6A82"),
        ("00A4020002EF99", "6A82"),
        ("00A4020003EF0501", "6700"),
        ("00A4090002EF05", "6A86"),
        ("00B2010400", "6986"),
        ("00B2013C00", "6A82"),
        ("00B2002C00", "6A86"),
        ("0088000004AABBCCDD", "6700"),
        ("00D6000000012C" + "AB" * 300, "6700"),
        ("002000000112", "6700"),
    ],
)
def test_bad_commands_get_specific_status_words(gen3_card: VirtualCard, apdu: str, sw: str) -> None:
    CardClient(gen3_card).send(cmd.select_ssse())
    assert gen3_card.process(bytes.fromhex(apdu))[-2:].hex().upper() == sw


def test_unknown_instruction_raises_in_the_client(gen3_card: VirtualCard) -> None:
    with pytest.raises(InstructionNotSupportedError):
        CardClient(gen3_card).send(CommandApdu(0, 0x99, 0, 0))


def test_state_survives_serialisation(card: VirtualCard) -> None:
    with pytest.raises(PinWrongError):
        verify_pin(card, "000000")
    revision = card.revision
    assert revision > 0
    restored = VirtualCard(CardState.from_dict(json.loads(json.dumps(card.state.to_dict()))))
    assert pin_tries_left(restored) == 2
    assert read_basic_data(restored) == read_basic_data(card)


def test_reset_forgets_authentication(gen3_card: VirtualCard) -> None:
    verifier = MasterKeyVerifier(DEMO_MASTER_KEYS, random_bytes=counting_random(5))
    read_holder_data(gen3_card, verifier=verifier)
    gen3_card.reset()
    client = CardClient(gen3_card)
    client.send(cmd.select_ssse())
    with pytest.raises(SecurityStatusError):
        client.send(cmd.read_record_by_tag(0x08, sfi=6, le=20))


_FUZZ_CARD = demo_personalised_card(label="fuzz", generation=3, serial=11)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.one_of(
            st.binary(max_size=300),
            st.tuples(
                st.sampled_from([0x00, 0x04, 0x80, 0x84]),
                st.sampled_from(
                    [0xA4, 0xB2, 0xDC, 0x84, 0xC0, 0x88, 0x82, 0x20, 0x5E, 0x2C, 0xD4, 0xE6]
                ),
                st.integers(0, 255),
                st.integers(0, 255),
                st.binary(max_size=40),
            ).map(lambda t: bytes(t[:4]) + bytes((len(t[4]),)) + t[4] if t[4] else bytes(t[:4])),
        ),
        max_size=8,
    )
)
def test_virtual_card_never_crashes(commands: list[bytes]) -> None:
    card = VirtualCard(CardState.from_dict(_FUZZ_CARD.to_dict()))
    for raw in commands:
        response = card.process(raw)
        assert len(response) >= 2
        assert response[-2:] != b"\x6f\x00", f"internal fault on {raw.hex()}"
