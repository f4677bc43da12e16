"""Remediation tables (ORM rows on ``core.store.schema.Base``; created by migration 0006).

Why these tables: ``remediation_cases`` is the unit of work and its memory — one row per (device,
problem) while it is active (a partial unique index makes a second one impossible, whoever opens
it), kept after closing for the cooldown; ``remediation_buckets`` are the token buckets that pace
case → proposal → apply globally and per upstream node (they live in the database so every worker
shares them); ``remediation_problems`` holds each problem's ramp (how many devices the next proposal
may cover) and its circuit breaker; ``remediation_cursors`` remembers how far each event source
has been ingested, so a restart neither loses nor replays events.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from core.store.schema import Base, UTCDateTime

ACTIVE = ("open", "dispatched", "proposed", "applied", "escalated")
ACTIVE_SQL = "status IN ('open', 'dispatched', 'proposed', 'applied', 'escalated')"


class RemediationCaseRow(Base):
    __tablename__ = "remediation_cases"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(160), index=True)
    problem: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # detector | ztp
    status: Mapped[str] = mapped_column(String(16), index=True)
    upstream_id: Mapped[str | None] = mapped_column(String(128))
    class_key: Mapped[str] = mapped_column(String(240), default="")
    proposal_id: Mapped[str | None] = mapped_column(String(32))
    proposal_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    unit_id: Mapped[str | None] = mapped_column(String(32))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    hits: Mapped[int] = mapped_column(Integer, default=1)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    resolution: Mapped[str | None] = mapped_column(Text)
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_evidence_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cooldown_until: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("uq_remediation_cases_active", "device_id", "problem", unique=True,
              postgresql_where=text(ACTIVE_SQL), sqlite_where=text(ACTIVE_SQL)),
        Index("ix_remediation_cases_status_opened", "status", "opened_at"),
        Index("ix_remediation_cases_device_problem_closed", "device_id", "problem", "closed_at"),
    )


class RemediationBucketRow(Base):
    __tablename__ = "remediation_buckets"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RemediationProblemRow(Base):
    __tablename__ = "remediation_problems"

    problem: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), default="running")  # running | halted
    batch_size: Mapped[int] = mapped_column(Integer, default=1)
    executed: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    rollback_failed: Mapped[int] = mapped_column(Integer, default=0)
    reason: Mapped[str | None] = mapped_column(Text)
    halted_by: Mapped[str | None] = mapped_column(String(64))
    halted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RemediationCursorRow(Base):
    __tablename__ = "remediation_cursors"

    source: Mapped[str] = mapped_column(String(120), primary_key=True)
    position: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
