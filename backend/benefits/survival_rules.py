"""When the next survival certification is due (DOMAIN.md §5: yearly), as a pure rule."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

CERTIFICATION_MONTHS = 12  # annual eligibility certification (资格认证), nationwide


class Method(StrEnum):
    """How a pensioner was certified alive and eligible."""

    COUNTER = "counter"  # at a counter with card and ID
    KIOSK = "kiosk"  # self-service with card and face or fingerprint
    DATA_MATCHING = "data_matching"  # matched against death, cremation, hospital, prison data
    HOME_VISIT = "home_visit"  # a visit by village staff


def next_due(certified_on: dt.date) -> dt.date:
    """The last day the certification holds: a year after it (28 February for 29 February)."""
    try:
        return certified_on.replace(year=certified_on.year + CERTIFICATION_MONTHS // 12)
    except ValueError:
        return dt.date(certified_on.year + 1, 2, 28)
