"""device_events: an idempotency key for pushed events (USP notifications)

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26

Why: USP notifications reach every controller process subscribed to the controller topic (``gateward
run`` and ``gateward worker`` on PostgreSQL today, replicas on a shared subscription tomorrow), and an
agent retransmits a notification it saw no NotifyResp for. ``event_key`` (a digest of endpoint,
subscription and ``msg_id``) under a unique index makes the database, not each process's memory,
decide that one notification is one row. NULL keys (simulator, GenieACS, seeded history) are not
constrained: NULLs are distinct in a unique index on SQLite and PostgreSQL alike.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("device_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("event_key", sa.String(64), nullable=True))
        batch_op.create_index("uq_device_events_event_key", ["event_key"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("device_events", schema=None) as batch_op:
        batch_op.drop_index("uq_device_events_event_key")
        batch_op.drop_column("event_key")
