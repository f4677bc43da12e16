"""inventory_sync_state: per-source cursor for the ACS inventory sync; devices.acs_seen_at, absent_since

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-22

Why (issue 11): ``gateward devices sync --source genieacs`` pages through the ACS incrementally by
``_lastInform``. The cursor (last ``_lastInform`` and ``_id`` fully applied) must survive restarts so
that a source which goes down mid-page is resumed on the next run instead of re-read from the start.
``absent_since`` records when a device stopped being reported by the ACS (status ``absent``; never
deleted), so an operator can tell a unit that vanished yesterday from one gone for a year;
``acs_seen_at`` is when the ACS last listed the device (a presence sweep stamps every device it
sees, then marks the active ``genieacs`` devices it did not stamp as absent).
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from core.store.schema import UTCDateTime

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("devices", sa.Column("acs_seen_at", UTCDateTime(), nullable=True))
    op.add_column("devices", sa.Column("absent_since", UTCDateTime(), nullable=True))
    op.create_table(
        "inventory_sync_state",
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("cursor_last_inform", UTCDateTime(), nullable=True),
        sa.Column("cursor_id", sa.String(256), nullable=True),
        sa.Column("last_started_at", UTCDateTime(), nullable=True),
        sa.Column("last_finished_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("stats", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("source", name=op.f("pk_inventory_sync_state")),
    )


def downgrade() -> None:
    op.drop_table("inventory_sync_state")
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.drop_column("absent_since")
        batch_op.drop_column("acs_seen_at")
