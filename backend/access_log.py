"""The access log without personal data: ID numbers and tokens masked in logged paths.

uvicorn's access log writes each request's path with its query string. The API takes
personal data in bodies (``POST /persons/search``), but a client may still put an ID
number or a receipt token in a URL; this filter on the ``uvicorn.access`` logger rewrites
the logged path before any handler sees it: every ID-number-shaped run of characters keeps
its first six and last four, and the values of sensitive query parameters are replaced.
"""

from __future__ import annotations

import logging
import re
from typing import Final
from urllib.parse import quote, unquote

ACCESS_LOGGER: Final = "uvicorn.access"
#: Query parameters whose values are never logged (tokens, personal data).
SENSITIVE_PARAMETERS: Final = frozenset(
    {
        "access_token",
        "account",
        "address",
        "bank_account",
        "id_number",
        "name",
        "phone",
        "receipt",
        "token",
    }
)
# 18-character ID numbers (and 15-character first-generation ones) inside any text.
_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])(\d{6})(\d{8}|\d{5})(\d{3}[0-9Xx])(?![0-9A-Za-z])")
_PARAMETER = re.compile(r"([?&])([^=&#]+)=([^&#]*)")


def _mask_id_numbers(text: str) -> str:
    return _ID_NUMBER.sub(lambda m: m.group(1) + "*" * len(m.group(2)) + m.group(3), text)


def mask_path(path: str) -> str:
    """A request path with query string as it may be logged."""

    def parameter(match: re.Match[str]) -> str:
        sep, key, value = match.groups()
        if unquote(key).lower() in SENSITIVE_PARAMETERS:
            return f"{sep}{key}=***"
        return f"{sep}{key}={quote(_mask_id_numbers(unquote(value)), safe='*')}"

    base, _, query = path.partition("?")
    masked = _mask_id_numbers(unquote(base))
    if query:
        masked += _PARAMETER.sub(parameter, "?" + query)
    return masked


class MaskPersonalData(logging.Filter):
    """Rewrites the path argument of uvicorn's access records (client, method, path, …)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], mask_path(args[2]), *args[3:])
        return True


def install() -> None:
    """Attach the filter to the access logger once (uvicorn's logging set-up keeps filters)."""
    logger = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(f, MaskPersonalData) for f in logger.filters):
        logger.addFilter(MaskPersonalData())
