"""High-level card operations over a :class:`CardChannel`: what counters and kiosks call."""

from __future__ import annotations

from dataclasses import dataclass

from card_services import commands as cmd
from card_services.applications import (
    KEY_READ,
    SocialSecurityApplication,
    application_for_algorithm,
    application_for_spec_version,
)
from card_services.authentication import CardVerifier
from card_services.channel import CardChannel, CardClient
from card_services.errors import (
    CardError,
    PinBlockedError,
    PinWrongError,
    TlvError,
    UnsupportedCardError,
)
from card_services.layout import (
    DF03_EF07,
    DF03_FID,
    EF05,
    PENSION_RECORD_LENGTH,
    PENSION_RECORD_TAG,
    CardFile,
)
from card_services.personalisation import PersonalisationScript
from card_services.records import BasicCardData, HolderData, values_by_tag


def parse_fci_algorithm(fci: bytes) -> int:
    """The algorithm id from the SSSE FCI (``6F … A5 … 9F0C 03 86 01 <alg>``)."""
    marker = bytes((0x9F, 0x0C, 0x03, 0x86, 0x01))
    at = fci.find(marker)
    if not fci.startswith(b"\x6f") or at < 0 or at + len(marker) >= len(fci):
        raise TlvError(f"SSSE FCI {fci.hex()} carries no algorithm id")
    return fci[at + len(marker)]


def select_ssse(channel: CardChannel) -> SocialSecurityApplication:
    """SELECT the social-insurance environment; the FCI's algorithm names the family."""
    fci = CardClient(channel).send(cmd.select_ssse()).data
    return application_for_algorithm(parse_fci_algorithm(fci))


def _read_file_records(client: CardClient, ef: CardFile, *, by_tag: bool) -> dict[int, bytes]:
    raw = []
    for number, (tag, length) in enumerate(ef.records, start=1):
        if by_tag:
            command = cmd.read_record_by_tag(tag, sfi=ef.sfi or 0, le=length + 2)
        else:
            command = cmd.read_record(number, sfi=ef.sfi or 0, le=length + 2)
        raw.append(client.send(command).data)
    return values_by_tag(raw)


def read_basic_data(channel: CardChannel) -> BasicCardData:
    """Select SSSE and read EF05 by SFI and record number."""
    client = CardClient(channel)
    client.send(cmd.select_ssse())
    return BasicCardData.from_values(_read_file_records(client, EF05, by_tag=False))


def _external_authenticate(
    client: CardClient,
    verifier: CardVerifier,
    *,
    application: SocialSecurityApplication,
    identification_code: bytes,
) -> None:
    challenge = client.send(cmd.get_challenge(application.challenge_length)).data
    cryptogram = verifier.answer_card_challenge(
        application=application, identification_code=identification_code, challenge=challenge
    )
    client.send(cmd.external_authenticate(KEY_READ, cryptogram))


def read_holder_data(
    channel: CardChannel,
    *,
    basic: BasicCardData | None = None,
    verifier: CardVerifier | None = None,
) -> HolderData:
    """Read EF06 by tag; generation-3 cards first need EXTERNAL AUTHENTICATE (``verifier``)."""
    basic = basic if basic is not None else read_basic_data(channel)
    application = application_for_spec_version(basic.spec_version)
    client = CardClient(channel)
    if application.holder_data_needs_read_key:
        if verifier is None:
            raise UnsupportedCardError(
                f"spec {application.spec_version} cards need a verifier to read holder data"
            )
        _external_authenticate(
            client,
            verifier,
            application=application,
            identification_code=basic.identification_code,
        )
    holder_file = application.holder_file()
    return HolderData.from_values(_read_file_records(client, holder_file, by_tag=True))


@dataclass(frozen=True)
class CardAuthentication:
    """The outcome of mutual authentication: which card, which generation."""

    basic: BasicCardData
    application: SocialSecurityApplication


def authenticate_card(channel: CardChannel, verifier: CardVerifier) -> CardAuthentication:
    """Mutual authentication: INTERNAL (is the card genuine?) then EXTERNAL (terminal)."""
    basic = read_basic_data(channel)
    application = application_for_spec_version(basic.spec_version)
    client = CardClient(channel)
    challenge = verifier.new_challenge(application=application)
    cryptogram = client.send(cmd.internal_authenticate(challenge)).data
    verifier.verify_card(
        application=application,
        identification_code=basic.identification_code,
        challenge=challenge,
        cryptogram=cryptogram,
    )
    _external_authenticate(
        client, verifier, application=application, identification_code=basic.identification_code
    )
    return CardAuthentication(basic=basic, application=application)


def verify_pin(channel: CardChannel, pin: str) -> None:
    """VERIFY the holder's PIN; raise ``PinWrongError`` (tries left) or ``PinBlockedError``."""
    client = CardClient(channel)
    client.send(cmd.select_ssse())
    client.send(cmd.verify_pin(pin))


def pin_tries_left(channel: CardChannel) -> int:
    """How many PIN attempts remain (0 when blocked)."""
    client = CardClient(channel)
    client.send(cmd.select_ssse())
    try:
        client.send(cmd.pin_tries_query())
    except PinWrongError as exc:
        return exc.tries_left
    except PinBlockedError:
        return 0
    raise CardError("card answered 9000 to a PIN try query instead of 63Cx")


def change_pin(channel: CardChannel, *, old_pin: str, new_pin: str) -> None:
    """CHANGE PIN, proving the old one."""
    client = CardClient(channel)
    client.send(cmd.select_ssse())
    client.send(cmd.change_pin(old_pin, new_pin))


def unblock_pin(channel: CardChannel, *, pin_unblock_key: bytes, new_pin: str) -> None:
    """Unblock the PIN and set a new one, under the card's (diversified) PIN-unblock key."""
    client = CardClient(channel)
    application = select_ssse(channel)
    challenge = client.send(cmd.get_challenge(application.challenge_length)).data
    client.send(cmd.unblock_pin(application.cipher, pin_unblock_key, new_pin, challenge=challenge))


def update_pension_record(
    channel: CardChannel, *, update_key: bytes, number: int, value: bytes
) -> None:
    """UPDATE RECORD in DF03/EF07 (pension record) with a MAC under the card's update key."""
    application = select_ssse(channel)
    client = CardClient(channel)
    client.send(cmd.select_df(DF03_FID))
    challenge = client.send(cmd.get_challenge(application.challenge_length)).data
    record = bytes((PENSION_RECORD_TAG, len(value))) + value
    client.send(
        cmd.update_record_secured(
            application.cipher,
            update_key,
            number=number,
            record=record,
            challenge=challenge,
            sfi=DF03_EF07.sfi or 0,
        )
    )


def read_pension_record(channel: CardChannel, *, number: int) -> bytes:
    """The value of one DF03/EF07 pension record."""
    client = CardClient(channel)
    client.send(cmd.select_ssse())
    client.send(cmd.select_df(DF03_FID))
    le = PENSION_RECORD_LENGTH + 2
    raw = client.send(cmd.read_record(number, sfi=DF03_EF07.sfi or 0, le=le)).data
    return raw[2:]


def personalise_card(channel: CardChannel, script: PersonalisationScript) -> BasicCardData:
    """Run a personalisation script on a blank card and read EF05 back."""
    client = CardClient(channel)
    for command in script.commands:
        client.send(command)
    return read_basic_data(channel)
