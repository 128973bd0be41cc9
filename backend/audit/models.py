"""Audit records, in chains; each record holds the hash of the previous one in its chain."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from backend.db import Base, IdType, UtcDateTime, id_column

MAIN_CHAIN = "main"
"""The chain of staff, system and device actions; partner banks each have their own."""


class AuditRecord(Base):
    """One audited event: when, who, from where, what, on which object, with what result."""

    __tablename__ = "audit_records"
    # Verifying walks each chain in id order.
    __table_args__ = (Index("ix_audit_records_chain_id", "chain", "id"),)

    id: Mapped[int] = id_column()
    chain: Mapped[str] = mapped_column(
        String(64), default=MAIN_CHAIN, comment="main | bank:<bank code>"
    )
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    operator_id: Mapped[int | None] = mapped_column(IdType, index=True)
    username: Mapped[str | None] = mapped_column(String(64))
    device: Mapped[str | None] = mapped_column(String(128))
    address: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64), index=True)
    object_type: Mapped[str | None] = mapped_column(String(64))
    object_id: Mapped[str | None] = mapped_column(String(64), index=True)
    result: Mapped[str] = mapped_column(String(16), comment="ok | denied | failed")
    detail: Mapped[str] = mapped_column(Text, default="{}", comment="canonical JSON")
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditChainHead(Base):
    """The newest hash of one chain. Appending updates this row, whose row lock (held to
    commit) lets one transaction at a time extend the chain, and a verifier spot records
    deleted from the end of a chain."""

    __tablename__ = "audit_chain_heads"

    chain: Mapped[str] = mapped_column(String(64), primary_key=True)
    prev_hash: Mapped[str] = mapped_column(
        String(64), comment="the head before the last append (returned by the same statement)"
    )
    hash: Mapped[str] = mapped_column(String(64))
