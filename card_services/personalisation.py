"""Personalisation: turn a blank card into a holder's card with one MACed script.

The issuer builds the script offline from the data set, the master keys and the
card's transport key (derived from the blank card's ATR): EF05 and EF06 records, the
four diversified keys and the initial PIN, each command MACed under the transport key
and bound to its position, then END PERSONALISATION.
"""

from __future__ import annotations

from dataclasses import dataclass

from card_services import commands as cmd
from card_services.apdu import CommandApdu
from card_services.applications import (
    KEY_INTERNAL_AUTH,
    KEY_PIN_UNBLOCK,
    KEY_READ,
    KEY_UPDATE,
    SocialSecurityApplication,
)
from card_services.crypto import pin_block
from card_services.errors import UnsupportedCardError
from card_services.keys import (
    DEFAULT_DIVERSIFICATION_LEVELS,
    CardKeys,
    MasterKeys,
    derive_card_keys,
)
from card_services.layout import EF05, EF06
from card_services.records import BasicCardData, HolderData


@dataclass(frozen=True)
class PersonalisationData:
    """Everything written to one card: EF05, EF06 and the initial PIN."""

    basic: BasicCardData
    holder: HolderData
    initial_pin: str


@dataclass(frozen=True)
class PersonalisationScript:
    """The ordered commands that personalise one card; send them as they are."""

    commands: tuple[CommandApdu, ...]

    def __len__(self) -> int:
        return len(self.commands)


def build_personalisation_script(
    data: PersonalisationData,
    *,
    application: SocialSecurityApplication,
    master_keys: MasterKeys,
    transport_key: bytes,
    levels: int = DEFAULT_DIVERSIFICATION_LEVELS,
) -> PersonalisationScript:
    """Build the personalisation script for one blank card."""
    keys = derive_card_keys(
        master_keys,
        application=application,
        identification_code=data.basic.identification_code,
        levels=levels,
    )
    return personalisation_script_for_keys(
        data, application=application, card_keys=keys, transport_key=transport_key
    )


def personalisation_script_for_keys(
    data: PersonalisationData,
    *,
    application: SocialSecurityApplication,
    card_keys: CardKeys,
    transport_key: bytes,
) -> PersonalisationScript:
    """The script for card keys already derived (by a key holder that keeps the masters)."""
    if data.basic.spec_version != application.spec_version:
        raise UnsupportedCardError(
            f"data set is for spec {data.basic.spec_version}, card is {application.spec_version}"
        )
    cipher = application.cipher
    keys = card_keys
    steps: list[tuple[int, int, int, bytes]] = []
    for number, record in enumerate(data.basic.to_records(), start=1):
        steps.append((cmd.INS_UPDATE_RECORD, number, (EF05.sfi or 0) << 3 | 4, record.to_bytes()))
    holder_records = data.holder.to_records(name_extension=application.name_extension)
    for number, record in enumerate(holder_records, start=1):
        steps.append((cmd.INS_UPDATE_RECORD, number, (EF06.sfi or 0) << 3 | 4, record.to_bytes()))
    for key_id, key in (
        (KEY_READ, keys.read),
        (KEY_INTERNAL_AUTH, keys.internal_auth),
        (KEY_UPDATE, keys.update),
        (KEY_PIN_UNBLOCK, keys.pin_unblock),
    ):
        steps.append(
            (cmd.INS_WRITE_KEY, cmd.WRITE_KEY_P1_KEY, key_id, cipher.encrypt(transport_key, key))
        )
    encrypted_pin = cipher.encrypt(transport_key, pin_block(data.initial_pin, cipher.block_size))
    steps.append((cmd.INS_WRITE_KEY, cmd.WRITE_KEY_P1_PIN, 0x00, encrypted_pin))
    steps.append((cmd.INS_END_PERSONALISATION, 0x00, 0x00, b""))
    commands = [cmd.select_ssse()]
    for counter, (ins, p1, p2, body) in enumerate(steps):
        commands.append(
            cmd.personalisation_command(
                cipher, transport_key, counter=counter, ins=ins, p1=p1, p2=p2, body=body
            )
        )
    return PersonalisationScript(tuple(commands))
