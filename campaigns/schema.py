"""Campaign tables (ORM rows on ``core.store.schema.Base``; created by migration 0005).

Why four tables: ``campaigns`` is the state machine (one row, locked for every orchestration
step); ``campaign_devices`` freezes the ring plan (which device runs in which ring, in which
order), so a restart resumes the same plan; ``campaign_batches`` is the unit of work handed to the
job queue and the record of what each batch did; ``campaign_analyses`` keeps every gate verdict
for the status page and the audit of why a campaign stopped.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.store.schema import Base, UTCDateTime


class CampaignRow(Base):
    __tablename__ = "campaigns"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    proposal_id: Mapped[str] = mapped_column(ForeignKey("proposals.id", ondelete="CASCADE"), index=True)
    author: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # config | firmware | operation
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    plan: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16), index=True)
    ring: Mapped[int] = mapped_column(Integer, default=0)
    ring_state: Mapped[str] = mapped_column(String(16), default="active")  # active | waiting
    cursor: Mapped[int] = mapped_column(Integer, default=0)
    sweeps: Mapped[int] = mapped_column(Integer, default=0)
    sweep_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    promote_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    window: Mapped[int] = mapped_column(Integer, default=1)
    batch_size: Mapped[int] = mapped_column(Integer, default=10)
    halted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    halt_reason: Mapped[str | None] = mapped_column(Text)
    halted_by: Mapped[str | None] = mapped_column(String(64))
    # The person the campaign's device writes are made for: whoever last started, resumed or promoted
    # it (migration 0026). Workers act for them; the audit names both (actor, data.via).
    run_by: Mapped[str | None] = mapped_column(String(64))
    rollback_job: Mapped[int | None] = mapped_column(BigInteger)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CampaignDeviceRow(Base):
    __tablename__ = "campaign_devices"

    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    ring: Mapped[int] = mapped_column(Integer)
    pos: Mapped[int] = mapped_column(Integer)
    stratum: Mapped[str] = mapped_column(String(140))
    control: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (Index("ix_campaign_devices_ring_pos", "campaign_id", "ring", "pos"),)


class CampaignBatchRow(Base):
    __tablename__ = "campaign_batches"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    ring: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(8), default="ring")  # ring | sweep
    device_ids: Mapped[list[Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(12))  # queued | running | done | halted | failed
    job_id: Mapped[int | None] = mapped_column(BigInteger)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker: Mapped[str | None] = mapped_column(String(96))
    rated: Mapped[bool] = mapped_column(Boolean, default=False)
    n_verified: Mapped[int] = mapped_column(Integer, default=0)
    n_failed: Mapped[int] = mapped_column(Integer, default=0)
    n_rolled_back: Mapped[int] = mapped_column(Integer, default=0)
    n_rollback_failed: Mapped[int] = mapped_column(Integer, default=0)
    n_skipped: Mapped[int] = mapped_column(Integer, default=0)
    n_halted: Mapped[int] = mapped_column(Integer, default=0)
    late_admissions: Mapped[int] = mapped_column(Integer, default=0)
    outcome: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    duration_s: Mapped[float | None] = mapped_column(Float)

    __table_args__ = (Index("ix_campaign_batches_campaign_ring_state", "campaign_id", "ring", "state"),)


class CampaignAnalysisRow(Base):
    __tablename__ = "campaign_analyses"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    ring: Mapped[int] = mapped_column(Integer)
    ts: Mapped[datetime] = mapped_column(UTCDateTime)
    outcome: Mapped[str] = mapped_column(String(8))  # pass | fail | pause | pending
    final: Mapped[bool] = mapped_column(Boolean, default=False)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    reasons: Mapped[list[Any]] = mapped_column(JSON, default=list)
