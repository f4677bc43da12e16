"""staged (campaign) execution: proposals.staged, one execution row per (proposal, device)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22

The unique key makes at-least-once job delivery safe: a redelivered batch cannot create a second
execution for a device, so it cannot write the device twice.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("proposals") as batch:
        batch.add_column(sa.Column("staged", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("executions") as batch:
        batch.create_unique_constraint("uq_executions_proposal_device", ["proposal_id", "device_id"])


def downgrade() -> None:
    with op.batch_alter_table("executions") as batch:
        batch.drop_constraint("uq_executions_proposal_device", type_="unique")
    with op.batch_alter_table("proposals") as batch:
        batch.drop_column("staged")
