"""campaigns: staged rollouts (state machine, frozen ring plan, batches, gate analyses)

Revision ID: 0005
Revises: 0003_chat
Create Date: 2026-11-24

The job queue's own tables (procrastinate_*) are not created here: they belong to the queue
library and are installed by ``campaigns.queue.ensure_queue_schema`` (PostgreSQL only), so that
upgrading the library never means editing a Gateward migration.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from core.store.schema import UTCDateTime

revision: str = "0005"
down_revision: str | None = "0003_chat"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("proposal_id", sa.String(32), nullable=False),
        sa.Column("author", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("plan", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("ring", sa.Integer(), nullable=False),
        sa.Column("ring_state", sa.String(16), nullable=False),
        sa.Column("cursor", sa.Integer(), nullable=False),
        sa.Column("sweeps", sa.Integer(), nullable=False),
        sa.Column("sweep_at", UTCDateTime(), nullable=True),
        sa.Column("promote_at", UTCDateTime(), nullable=True),
        sa.Column("window", sa.Integer(), nullable=False),
        sa.Column("batch_size", sa.Integer(), nullable=False),
        sa.Column("halted_at", UTCDateTime(), nullable=True),
        sa.Column("halt_reason", sa.Text(), nullable=True),
        sa.Column("halted_by", sa.String(64), nullable=True),
        sa.Column("rollback_job", sa.BigInteger(), nullable=True),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["proposal_id"], ["proposals.id"], name=op.f("fk_campaigns_proposal_id_proposals"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
    )
    op.create_index("ix_campaigns_proposal_id", "campaigns", ["proposal_id"])
    op.create_index("ix_campaigns_state", "campaigns", ["state"])
    op.create_table(
        "campaign_devices",
        sa.Column("campaign_id", sa.String(32), nullable=False),
        sa.Column("device_id", sa.String(128), nullable=False),
        sa.Column("ring", sa.Integer(), nullable=False),
        sa.Column("pos", sa.Integer(), nullable=False),
        sa.Column("stratum", sa.String(140), nullable=False),
        sa.Column("control", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"],
                                name=op.f("fk_campaign_devices_campaign_id_campaigns"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("campaign_id", "device_id", name=op.f("pk_campaign_devices")),
    )
    op.create_index("ix_campaign_devices_ring_pos", "campaign_devices", ["campaign_id", "ring", "pos"])
    op.create_table(
        "campaign_batches",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("campaign_id", sa.String(32), nullable=False),
        sa.Column("ring", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("device_ids", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("job_id", sa.BigInteger(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(96), nullable=True),
        sa.Column("rated", sa.Boolean(), nullable=False),
        sa.Column("n_verified", sa.Integer(), nullable=False),
        sa.Column("n_failed", sa.Integer(), nullable=False),
        sa.Column("n_rolled_back", sa.Integer(), nullable=False),
        sa.Column("n_rollback_failed", sa.Integer(), nullable=False),
        sa.Column("n_skipped", sa.Integer(), nullable=False),
        sa.Column("n_halted", sa.Integer(), nullable=False),
        sa.Column("late_admissions", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("enqueued_at", UTCDateTime(), nullable=True),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"],
                                name=op.f("fk_campaign_batches_campaign_id_campaigns"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_batches")),
    )
    op.create_index("ix_campaign_batches_campaign_ring_state", "campaign_batches", ["campaign_id", "ring", "state"])
    op.create_table(
        "campaign_analyses",
        sa.Column("id", BIG, autoincrement=True, nullable=False),
        sa.Column("campaign_id", sa.String(32), nullable=False),
        sa.Column("ring", sa.Integer(), nullable=False),
        sa.Column("ts", UTCDateTime(), nullable=False),
        sa.Column("outcome", sa.String(8), nullable=False),
        sa.Column("final", sa.Boolean(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"],
                                name=op.f("fk_campaign_analyses_campaign_id_campaigns"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_analyses")),
    )
    op.create_index("ix_campaign_analyses_campaign_id", "campaign_analyses", ["campaign_id"])


def downgrade() -> None:
    op.drop_index("ix_campaign_analyses_campaign_id", table_name="campaign_analyses")
    op.drop_table("campaign_analyses")
    op.drop_index("ix_campaign_batches_campaign_ring_state", table_name="campaign_batches")
    op.drop_table("campaign_batches")
    op.drop_index("ix_campaign_devices_ring_pos", table_name="campaign_devices")
    op.drop_table("campaign_devices")
    op.drop_index("ix_campaigns_state", table_name="campaigns")
    op.drop_index("ix_campaigns_proposal_id", table_name="campaigns")
    op.drop_table("campaigns")
