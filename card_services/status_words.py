"""Status words as a table: SW1/SW2 → exception class and message."""

from __future__ import annotations

from typing import Final

from card_services import errors

SW_OK: Final = 0x9000
SW_AUTH_FAILED: Final = 0x6300
SW_MEMORY_FAILURE: Final = 0x6581
SW_WRONG_LENGTH: Final = 0x6700
SW_SECURITY_STATUS: Final = 0x6982
SW_AUTH_BLOCKED: Final = 0x6983
SW_CONDITIONS: Final = 0x6985
SW_NO_CURRENT_EF: Final = 0x6986
SW_SM_WRONG: Final = 0x6988
SW_WRONG_DATA: Final = 0x6A80
SW_FUNCTION_NOT_SUPPORTED: Final = 0x6A81
SW_FILE_NOT_FOUND: Final = 0x6A82
SW_RECORD_NOT_FOUND: Final = 0x6A83
SW_WRONG_P1P2: Final = 0x6A86
SW_KEY_NOT_FOUND: Final = 0x6A88
SW_WRONG_PARAMS: Final = 0x6B00
SW_INS_NOT_SUPPORTED: Final = 0x6D00
SW_CLA_NOT_SUPPORTED: Final = 0x6E00
SW_UNKNOWN: Final = 0x6F00

_EXACT: Final[dict[int, tuple[type[errors.CardStatusError], str]]] = {
    SW_AUTH_FAILED: (errors.AuthenticationFailedError, "authentication failed"),
    SW_MEMORY_FAILURE: (errors.CardMemoryError, "memory failure"),
    SW_WRONG_LENGTH: (errors.WrongLengthError, "wrong length"),
    SW_SECURITY_STATUS: (errors.SecurityStatusError, "security status not satisfied"),
    SW_AUTH_BLOCKED: (errors.PinBlockedError, "authentication method blocked"),
    SW_CONDITIONS: (errors.ConditionsNotSatisfiedError, "conditions of use not satisfied"),
    SW_NO_CURRENT_EF: (errors.ConditionsNotSatisfiedError, "command not allowed: no current EF"),
    SW_SM_WRONG: (errors.SecureMessagingError, "secure messaging data wrong (MAC)"),
    SW_WRONG_DATA: (errors.WrongParametersError, "incorrect data field"),
    SW_FUNCTION_NOT_SUPPORTED: (errors.WrongParametersError, "function not supported"),
    SW_FILE_NOT_FOUND: (errors.CardFileNotFoundError, "file not found"),
    SW_RECORD_NOT_FOUND: (errors.RecordNotFoundError, "record not found"),
    SW_WRONG_P1P2: (errors.WrongParametersError, "incorrect P1/P2"),
    SW_KEY_NOT_FOUND: (errors.KeyNotFoundError, "referenced key not found"),
    SW_WRONG_PARAMS: (errors.WrongParametersError, "wrong parameters P1/P2"),
    SW_INS_NOT_SUPPORTED: (errors.InstructionNotSupportedError, "instruction not supported"),
    SW_CLA_NOT_SUPPORTED: (errors.InstructionNotSupportedError, "class not supported"),
    SW_UNKNOWN: (errors.CardStatusError, "no precise diagnosis"),
}

#: Status words identified by SW1 alone; SW2 carries a count.
_BY_SW1: Final[dict[int, tuple[type[errors.CardStatusError], str]]] = {
    0x6C: (errors.WrongLengthError, "wrong Le"),
}


def status_error(sw: int) -> errors.CardStatusError:
    """Build the exception for a status word that is not ``9000``."""
    if 0x63C0 <= sw <= 0x63CF:
        return errors.PinWrongError(sw, f"PIN wrong, {sw & 0x0F} tries left")
    cls, message = _EXACT.get(sw) or _BY_SW1.get(sw >> 8) or (errors.CardStatusError, "")
    return cls(sw, message or "card error")


def check_status(sw: int) -> None:
    """Raise the mapped exception unless ``sw`` is ``9000``."""
    if sw != SW_OK:
        raise status_error(sw)
