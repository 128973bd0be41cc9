"""Supervision's own tables: findings (疑点), runs, the chunks of a run, threshold versions."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, ForeignKey, Index, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base, IdType, UtcDateTime, id_column, money_column, utcnow


class ThresholdVersion(Base):
    """Supervision thresholds for a region prefix ('' national, 2 or 6 digits) from a date."""

    __tablename__ = "supervision_thresholds"
    __table_args__ = (
        Index("uq_supervision_thresholds_region_from", "region_prefix", "valid_from", unique=True),
    )

    id: Mapped[int] = id_column()
    region_prefix: Mapped[str] = mapped_column(String(6), comment="'' national, 65, 654226")
    valid_from: Mapped[dt.date] = mapped_column(Date)
    name: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(300))
    values_json: Mapped[str] = mapped_column(Text, comment="complete thresholds, fen/days/months")
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class Run(Base):
    """One run of the rules over a region on a date: chunked by (rule, county), resumable."""

    __tablename__ = "supervision_runs"
    __table_args__ = (Index("ix_supervision_runs_params", "params_key", "status"),)

    id: Mapped[int] = id_column()
    params_key: Mapped[str] = mapped_column(String(64), comment="sha256 of rule, region, as_of")
    rule: Mapped[str | None] = mapped_column(String(64), comment="one rule, or all")
    region_prefix: Mapped[str] = mapped_column(String(12))
    as_of: Mapped[dt.date] = mapped_column(Date, comment="the date the rules judge on")
    status: Mapped[str] = mapped_column(String(16), comment="running | done")
    summary_json: Mapped[str] = mapped_column(Text, default="{}", comment="per rule counts, fen")
    started_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class RunChunk(Base):
    """One rule over one county within a run, with what it found; done once per run."""

    __tablename__ = "supervision_run_chunks"
    __table_args__ = (
        Index("uq_supervision_run_chunks", "run_id", "rule", "county_code", unique=True),
    )

    id: Mapped[int] = id_column()
    run_id: Mapped[int] = mapped_column(IdType, ForeignKey("supervision_runs.id"))
    rule: Mapped[str] = mapped_column(String(64))
    county_code: Mapped[str] = mapped_column(String(6))
    new_count: Mapped[int] = mapped_column(default=0)
    open_count: Mapped[int] = mapped_column(default=0, comment="raised before, still found")
    resolved_count: Mapped[int] = mapped_column(default=0)
    new_fen: Mapped[int] = money_column(default=0)
    open_fen: Mapped[int] = money_column(default=0)
    resolved_fen: Mapped[int] = money_column(default=0)
    finished_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class Finding(Base):
    """A finding (疑点): a subject a rule flagged, with the rows that made it, and its state.

    ``finding_key`` hashes the rule, the subject and the evidence: the same evidence is
    never raised twice, and a cleared finding comes back only when its evidence changes.
    """

    __tablename__ = "supervision_findings"
    __table_args__ = (
        Index("ix_supervision_findings_rule_county", "rule", "county_code", "status"),
        Index("ix_supervision_findings_region", "region_code"),
    )

    id: Mapped[int] = id_column()
    finding_key: Mapped[str] = mapped_column(String(64), unique=True)
    rule: Mapped[str] = mapped_column(String(64))
    rule_version: Mapped[int] = mapped_column(SmallInteger)
    subject_type: Mapped[str] = mapped_column(String(16), comment="person | pension | operator")
    subject_id: Mapped[int] = mapped_column(IdType)
    county_code: Mapped[str] = mapped_column(String(6))
    region_code: Mapped[str] = mapped_column(String(12))
    evidence_json: Mapped[str] = mapped_column(Text, comment="canonical JSON; ids, no clear PII")
    amount_fen: Mapped[int] = money_column(comment="amount at stake")
    threshold_version_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("supervision_thresholds.id")
    )
    status: Mapped[str] = mapped_column(String(16), comment="open | resolved | cleared")
    first_run_id: Mapped[int] = mapped_column(IdType, ForeignKey("supervision_runs.id"))
    last_run_id: Mapped[int] = mapped_column(IdType, ForeignKey("supervision_runs.id"))
    raised_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
