"""remediation: cases, token buckets, problem ramps/breakers, ingest cursors; compatibility evidence

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25

``remediation_cases`` has a partial unique index on (device_id, problem) over the active statuses:
whoever opens a case first wins, a second detector run or a second worker gets an integrity
error and treats the detection as a duplicate. Closed and suppressed cases stay for the cooldown
and the history. ``compat_evidence`` holds the execution outcome counts per (vendor, model,
firmware, workflow) that ``core.compat`` turns into green / yellow / red.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from core.store.schema import UTCDateTime

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIVE_SQL = "status IN ('open', 'dispatched', 'proposed', 'applied', 'escalated')"


def upgrade() -> None:
    op.create_table(
        "remediation_cases",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("device_id", sa.String(160), nullable=False),
        sa.Column("problem", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("upstream_id", sa.String(128), nullable=True),
        sa.Column("class_key", sa.String(240), nullable=False),
        sa.Column("proposal_id", sa.String(32), nullable=True),
        sa.Column("proposal_ids", sa.JSON(), nullable=False),
        sa.Column("unit_id", sa.String(32), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.Column("not_before", UTCDateTime(), nullable=True),
        sa.Column("last_evidence_at", UTCDateTime(), nullable=True),
        sa.Column("opened_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("dispatched_at", UTCDateTime(), nullable=True),
        sa.Column("applied_at", UTCDateTime(), nullable=True),
        sa.Column("closed_at", UTCDateTime(), nullable=True),
        sa.Column("cooldown_until", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_remediation_cases")),
    )
    op.create_index("ix_remediation_cases_device_id", "remediation_cases", ["device_id"])
    op.create_index("ix_remediation_cases_status", "remediation_cases", ["status"])
    op.create_index("ix_remediation_cases_status_opened", "remediation_cases", ["status", "opened_at"])
    op.create_index("ix_remediation_cases_device_problem_closed", "remediation_cases",
                    ["device_id", "problem", "closed_at"])
    op.create_index("uq_remediation_cases_active", "remediation_cases", ["device_id", "problem"], unique=True,
                    postgresql_where=sa.text(ACTIVE_SQL), sqlite_where=sa.text(ACTIVE_SQL))
    op.create_table(
        "remediation_buckets",
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_remediation_buckets")),
    )
    op.create_table(
        "remediation_problems",
        sa.Column("problem", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("batch_size", sa.Integer(), nullable=False),
        sa.Column("executed", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("rollback_failed", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("halted_by", sa.String(64), nullable=True),
        sa.Column("halted_at", UTCDateTime(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("problem", name=op.f("pk_remediation_problems")),
    )
    op.create_table(
        "remediation_cursors",
        sa.Column("source", sa.String(120), nullable=False),
        sa.Column("position", sa.String(200), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("source", name=op.f("pk_remediation_cursors")),
    )
    op.create_table(
        "compat_evidence",
        sa.Column("vendor", sa.String(64), nullable=False),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("firmware", sa.String(64), nullable=False),
        sa.Column("workflow", sa.String(32), nullable=False),
        sa.Column("succeeded", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("rollback_failed", sa.Integer(), nullable=False),
        sa.Column("last_outcome_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("vendor", "model", "firmware", "workflow", name=op.f("pk_compat_evidence")),
    )


def downgrade() -> None:
    op.drop_table("compat_evidence")
    op.drop_table("remediation_cursors")
    op.drop_table("remediation_problems")
    op.drop_table("remediation_buckets")
    op.drop_index("uq_remediation_cases_active", table_name="remediation_cases")
    op.drop_index("ix_remediation_cases_device_problem_closed", table_name="remediation_cases")
    op.drop_index("ix_remediation_cases_status_opened", table_name="remediation_cases")
    op.drop_index("ix_remediation_cases_status", table_name="remediation_cases")
    op.drop_index("ix_remediation_cases_device_id", table_name="remediation_cases")
    op.drop_table("remediation_cases")
