"""The card library and reader driver on the real stack: pyscard → pcscd → vpcd →
the virtual card, including removal, events and a pcscd restart mid-session."""

from __future__ import annotations

import threading

import pytest

from card_services import (
    MasterKeyVerifier,
    authenticate_card,
    build_personalisation_script,
    personalise_card,
    verify_pin,
)
from card_services.applications import application_for_atr
from card_services.demo import (
    DEMO_MASTER_KEYS,
    DEMO_PIN,
    demo_personalisation_data,
)
from device_drivers.card_reader import (
    CardEvent,
    CardEventKind,
    CardRemovedError,
    NoCardError,
    NoReaderError,
    PinBlockedError,
    PinWrongError,
    ReaderError,
    ServiceNotRunningError,
    card_errors_as_reader_errors,
    read_card,
)

from .conftest import SLOT0_READER, PcscRig

pytestmark = pytest.mark.pcsc


def verifier() -> MasterKeyVerifier:
    return MasterKeyVerifier(DEMO_MASTER_KEYS)


def test_pcscd_lists_both_vpcd_readers_with_their_profile(rig: PcscRig) -> None:
    readers = rig.reader.list_readers()
    assert SLOT0_READER in readers
    assert "Virtual PCD 00 01" in readers
    assert rig.reader.profile_of(SLOT0_READER).supports("virtual")


@pytest.mark.parametrize("generation", [1, 2, 3])
def test_reads_ef05_and_ef06_through_pcsc(rig: PcscRig, generation: int) -> None:
    rig.fresh_card(generation=generation)
    with rig.reader.connect(profile="vpcd") as connection:
        assert application_for_atr(connection.atr).generation == generation
        basic, holder = read_card(connection, verifier=verifier())
    expected = demo_personalisation_data(generation=generation, sequence=generation)
    assert basic == expected.basic
    assert holder == expected.holder


@pytest.mark.parametrize("generation", [2, 3])
def test_mutual_authentication_through_pcsc(rig: PcscRig, generation: int) -> None:
    rig.fresh_card(generation=generation)
    with rig.reader.connect(name="Virtual PCD 00 00") as connection:
        result = authenticate_card(connection, verifier())
    assert result.application.generation == generation


def test_pin_wrong_then_blocked_and_still_blocked_after_reinsertion(rig: PcscRig) -> None:
    label = rig.fresh_card(generation=3)
    with rig.reader.connect() as connection, card_errors_as_reader_errors():
        verify_pin(connection, DEMO_PIN)
    for tries_left in (2, 1):
        with (
            pytest.raises(PinWrongError) as wrong,
            rig.reader.connect() as connection,
            card_errors_as_reader_errors(),
        ):
            verify_pin(connection, "000000")
        assert wrong.value.tries_left == tries_left
        assert wrong.value.to_dict()["provincial_code"] == -51
    with (
        pytest.raises(PinBlockedError) as blocked,
        rig.reader.connect() as connection,
        card_errors_as_reader_errors(),
    ):
        verify_pin(connection, "000000")
    assert blocked.value.provincial_code == -52
    assert not blocked.value.retriable
    rig.remove()
    rig.insert(label)
    with (
        pytest.raises(PinBlockedError),
        rig.reader.connect() as connection,
        card_errors_as_reader_errors(),
    ):
        verify_pin(connection, DEMO_PIN)


def test_personalise_a_blank_card_then_reinsert_it(rig: PcscRig) -> None:
    label = rig.fresh_card(generation=3, blank=True)
    blank_atr = rig.slot_atr()
    assert blank_atr is not None
    card = rig.deck.slots[0].card
    assert card is not None
    data = demo_personalisation_data(generation=3, sequence=55)
    script = build_personalisation_script(
        data,
        application=application_for_atr(blank_atr),
        master_keys=DEMO_MASTER_KEYS,
        transport_key=card.state.transport_key,
    )
    with rig.reader.connect() as connection:
        assert personalise_card(connection, script) == data.basic
    rig.remove()
    rig.insert(label)
    assert rig.slot_atr() != blank_atr
    with rig.reader.connect() as connection:
        basic, holder = read_card(connection, verifier=verifier())
    assert (basic, holder) == (data.basic, data.holder)


def test_card_removed_between_commands_is_reported_as_removed(rig: PcscRig) -> None:
    rig.fresh_card(generation=2)
    connection = rig.reader.connect()
    rig.remove()
    with pytest.raises(CardRemovedError) as removed:
        read_card(connection)
    assert removed.value.retriable
    connection.close()


def test_no_card_and_no_reader_errors(rig: PcscRig) -> None:
    rig.remove()
    with pytest.raises(NoCardError) as no_card:
        rig.reader.connect(name=SLOT0_READER)
    assert no_card.value.provincial_code == -2
    with pytest.raises(NoReaderError):
        rig.reader.connect(name="Teleporter")


def test_insert_and_remove_events_by_polling(rig: PcscRig) -> None:
    rig.remove()
    events: list[CardEvent] = []
    stop = threading.Event()
    seen = threading.Event()

    def on_event(event: CardEvent) -> None:
        events.append(event)
        if event.kind is CardEventKind.REMOVED:
            seen.set()

    watcher = threading.Thread(
        target=rig.reader.watch, args=(on_event,), kwargs={"stop": stop, "interval": 0.1}
    )
    watcher.start()
    try:
        rig.fresh_card(generation=1)
        rig.remove()
        assert seen.wait(10)
    finally:
        stop.set()
        watcher.join(5)
    kinds = [(e.kind, e.reader) for e in events]
    assert kinds[:2] == [
        (CardEventKind.INSERTED, SLOT0_READER),
        (CardEventKind.REMOVED, SLOT0_READER),
    ]


def test_pcscd_restart_mid_session(rig: PcscRig) -> None:
    if not rig.pcscd.owned:
        pytest.fail("the rig must own pcscd to restart it; stop the system pcscd first")
    rig.fresh_card(generation=3)
    connection = rig.reader.connect()
    read_card(connection, verifier=verifier())
    rig.pcscd.stop()
    try:
        with pytest.raises(ReaderError) as during:
            read_card(connection, verifier=verifier())
        assert during.value.retriable
        with pytest.raises(ServiceNotRunningError):
            rig.reader.list_readers()
    finally:
        rig.pcscd.start()
    rig.wait_until(present=True)
    with rig.reader.connect() as again:
        basic, _ = read_card(again, verifier=verifier())
    assert basic.spec_version == "3.00"
