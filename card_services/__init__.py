"""The social security card as logic: APDUs, records, crypto, protocols, the virtual card.

No I/O here: the card is reached through a :class:`CardChannel` (``transmit(bytes) ->
bytes``). What the backend needs — key derivation, personalisation scripts and
checking INTERNAL AUTHENTICATE answers — is re-exported below.
"""

from card_services.apdu import CommandApdu, ResponseApdu
from card_services.applications import (
    GENERATION_1,
    GENERATION_2,
    GENERATION_3,
    SocialSecurityApplication,
    application_for_atr,
    application_for_spec_version,
)
from card_services.authentication import (
    CardVerifier,
    MasterKeyVerifier,
    external_authenticate_cryptogram,
    internal_authenticate_cryptogram,
    verify_internal_authenticate,
)
from card_services.channel import CardChannel, CardClient
from card_services.errors import (
    ApduFormatError,
    AuthenticationFailedError,
    CardError,
    CardStatusError,
    CardVerificationError,
    PinBlockedError,
    PinWrongError,
    SecureMessagingError,
    SecurityStatusError,
    TlvError,
    UnsupportedCardError,
)
from card_services.keys import (
    CardKeys,
    MasterKeys,
    derive_card_keys,
    derive_transport_key,
    diversification_path,
)
from card_services.operations import (
    CardAuthentication,
    authenticate_card,
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
from card_services.personalisation import (
    PersonalisationData,
    PersonalisationScript,
    build_personalisation_script,
    personalisation_script_for_keys,
)
from card_services.records import BasicCardData, HolderData
from card_services.virtual_card import CardState, VirtualCard, new_blank_card

__all__ = [
    "GENERATION_1",
    "GENERATION_2",
    "GENERATION_3",
    "ApduFormatError",
    "AuthenticationFailedError",
    "BasicCardData",
    "CardAuthentication",
    "CardChannel",
    "CardClient",
    "CardError",
    "CardKeys",
    "CardState",
    "CardStatusError",
    "CardVerificationError",
    "CardVerifier",
    "CommandApdu",
    "HolderData",
    "MasterKeyVerifier",
    "MasterKeys",
    "PersonalisationData",
    "PersonalisationScript",
    "PinBlockedError",
    "PinWrongError",
    "ResponseApdu",
    "SecureMessagingError",
    "SecurityStatusError",
    "SocialSecurityApplication",
    "TlvError",
    "UnsupportedCardError",
    "VirtualCard",
    "application_for_atr",
    "application_for_spec_version",
    "authenticate_card",
    "build_personalisation_script",
    "change_pin",
    "derive_card_keys",
    "derive_transport_key",
    "diversification_path",
    "external_authenticate_cryptogram",
    "internal_authenticate_cryptogram",
    "new_blank_card",
    "personalisation_script_for_keys",
    "personalise_card",
    "pin_tries_left",
    "read_basic_data",
    "read_holder_data",
    "read_pension_record",
    "unblock_pin",
    "update_pension_record",
    "verify_internal_authenticate",
    "verify_pin",
]
