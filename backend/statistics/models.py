"""Report forms of the residents' scheme: stored figures, their provenance and sign-off."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base, IdType, UtcDateTime, id_column, utcnow


class StatisticsReport(Base):
    """One report form for a region and period, frozen once a second person signs it off.

    ``figures`` is canonical JSON ``{region prefix: {indicator: integer}}`` for the
    region and every region below it down to ``row_length``; the provenance
    (``data_cutoff``, ``policy_versions``, ``query_version``) lets ``xnb stats verify``
    recompute it and show what changed since.
    """

    __tablename__ = "statistics_reports"

    id: Mapped[int] = id_column()
    form: Mapped[str] = mapped_column(String(16), comment="monthly | annual")
    period: Mapped[str] = mapped_column(String(7), comment="YYYY-MM or YYYY")
    region_code: Mapped[str] = mapped_column(String(12), ForeignKey("regions.code"), index=True)
    row_length: Mapped[int] = mapped_column(SmallInteger, comment="deepest row prefix length")
    status: Mapped[str] = mapped_column(String(16), comment="draft | signed")
    data_cutoff: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    query_version: Mapped[str] = mapped_column(String(32))
    policy_versions: Mapped[str] = mapped_column(Text, comment="JSON list of policy version ids")
    figures: Mapped[str] = mapped_column(Text, comment="canonical JSON of the figures")
    figures_sha256: Mapped[str] = mapped_column(String(64))
    maker_id: Mapped[int] = mapped_column(IdType, ForeignKey("operators.id"))
    checker_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("operators.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    signed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
