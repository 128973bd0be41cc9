"""When the next survival certification is due (DOMAIN.md §5), as a pure rule.

The period is policy data (``survival_certification_months``, 12 nationally: the annual
资格认证); a locality may set another.
"""

from __future__ import annotations

import calendar
import datetime as dt
from enum import StrEnum


class Method(StrEnum):
    """How a pensioner was certified alive and eligible."""

    COUNTER = "counter"  # at a counter with card and ID
    KIOSK = "kiosk"  # self-service with card and face or fingerprint
    DATA_MATCHING = "data_matching"  # matched against death, cremation, hospital, prison data
    HOME_VISIT = "home_visit"  # a visit by village staff


def next_due(certified_on: dt.date, months: int) -> dt.date:
    """The last day the certification holds: ``months`` after it, the same day of the month
    or the month's last day when it has no such day (29 February → 28 February)."""
    index = certified_on.year * 12 + certified_on.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, min(certified_on.day, last))
