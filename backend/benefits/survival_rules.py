"""Survival certification as pure rules (DOMAIN.md §5): when the next one is due, what a
counter must have seen, and what a kiosk's face comparison must show.

The period is policy data (``survival_certification_months``, 12 nationally: the annual
资格认证); a locality may set another. Whether a kiosk certification needs a face
comparison is policy data too (``kiosk_certification_requires_face``, by date).
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum


class Method(StrEnum):
    """How a pensioner was certified alive and eligible."""

    COUNTER = "counter"  # at a counter with card and ID
    KIOSK = "kiosk"  # self-service: card, ID card and (by policy) the face against its photo
    DATA_MATCHING = "data_matching"  # matched against death, cremation, hospital, prison data
    HOME_VISIT = "home_visit"  # a visit by village staff


def next_due(certified_on: dt.date, months: int) -> dt.date:
    """The last day the certification holds: ``months`` after it, the same day of the month
    or the month's last day when it has no such day (29 February → 28 February)."""
    index = certified_on.year * 12 + certified_on.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, min(certified_on.day, last))


class Document(StrEnum):
    """A document the clerk saw at a counter certification."""

    SOCIAL_SECURITY_CARD = "social_security_card"
    ID_CARD = "id_card"
    TEMPORARY_ID_CARD = "temporary_id_card"
    HOUSEHOLD_REGISTER = "household_register"


DOCUMENT_LABELS: dict[Document, str] = {
    Document.SOCIAL_SECURITY_CARD: "社会保障卡",
    Document.ID_CARD: "居民身份证",
    Document.TEMPORARY_ID_CARD: "临时居民身份证",
    Document.HOUSEHOLD_REGISTER: "户口簿",
}
#: Documents that prove who the person in front of the clerk is (a social security card
#: carries no photo, so it never does on its own).
IDENTITY_DOCUMENTS = frozenset(
    {Document.ID_CARD, Document.TEMPORARY_ID_CARD, Document.HOUSEHOLD_REGISTER}
)
#: What a kiosk reads for every certification it makes.
KIOSK_DOCUMENTS = (Document.SOCIAL_SECURITY_CARD, Document.ID_CARD)


def documents_problem(method: Method, documents: Sequence[Document]) -> str | None:
    """Why the documents recorded for a certification by ``method`` are wrong, or None.

    A counter certification names what the clerk saw, at least one identity document among
    them; other methods may name documents (a home visit) or none (data matching).
    """
    if len(set(documents)) != len(documents):
        return "同一证件不能重复登记"
    if method is Method.COUNTER and not IDENTITY_DOCUMENTS & set(documents):
        names = "、".join(DOCUMENT_LABELS[d] for d in Document if d in IDENTITY_DOCUMENTS)
        return f"柜台认证须登记核验的身份证件（{names}之一）"
    return None


class FaceOutcome(StrEnum):
    """What a kiosk's face comparison device found."""

    MATCH = "match"
    NO_MATCH = "no_match"
    LIVENESS_FAILED = "liveness_failed"


@dataclass(frozen=True)
class FaceCheck:
    """A face comparison a kiosk made: the outcome, the score (0–100), the device."""

    outcome: FaceOutcome
    score: int
    device: str


def kiosk_face_refusal(*, required: bool, face: FaceCheck | None) -> str | None:
    """The refusal code for a kiosk certification's face comparison, or None when it may go on.

    A comparison that was made must have matched, required or not; one that policy
    requires must have been made.
    """
    if face is None:
        return "face_required" if required else None
    if face.outcome is FaceOutcome.LIVENESS_FAILED:
        return "face_liveness_failed"
    if face.outcome is FaceOutcome.NO_MATCH:
        return "face_no_match"
    return None
