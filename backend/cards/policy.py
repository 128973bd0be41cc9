"""The card policy in force on a date, read from dated data (``data/card_policy.toml``)."""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Final

from backend.errors import InvalidInput

POLICY_FILE: Final = Path(__file__).resolve().parent / "data" / "card_policy.toml"


@dataclass(frozen=True)
class CardPolicy:
    """One dated version of the card rules."""

    valid_from: dt.date
    temporary_loss_days: int
    card_validity_years: int
    challenge_seconds: int
    authorisation_minutes: int
    payout_limit_fen: int
    daily_payout_limit_fen: int


@lru_cache
def load_policies(path: Path = POLICY_FILE) -> tuple[CardPolicy, ...]:
    """Every version in the file, oldest first."""
    with path.open("rb") as fh:
        versions = tomllib.load(fh)["version"]
    return tuple(sorted((CardPolicy(**v) for v in versions), key=lambda p: p.valid_from))


def policy_on(day: dt.date, *, path: Path = POLICY_FILE) -> CardPolicy:
    """The version in force on ``day``; before the first one, ``InvalidInput``."""
    in_force = [p for p in load_policies(path) if p.valid_from <= day]
    if not in_force:
        raise InvalidInput(detail=f"{day}没有适用的社保卡政策版本", code="no_card_policy")
    return in_force[-1]
