"""issue 55: proposals.not_after (a schedule's latest start), start_retry_at and start_deferrals

Revision ID: 0033
Revises: 0032
Create Date: 2026-11-27

Why ``not_after``: a scheduled change whose gateway was offline at its hour ran whenever the box came
back — a reboot asked for "at 3, never during the day" ran at 10:00. A schedule now has a latest
start, signed with the proposal like ``not_before`` (hashed only when set, so stored hashes are
unchanged); past it the write is never started (``core.lifecycle.gates.Gates.check_schedule``).

Why ``start_retry_at`` and ``start_deferrals``: the worker retried a due change on an offline gateway
every round, three audit rows each time (a third of a million a night). The scheduler now waits
with a back-off between tries (``core.lifecycle.schedule``), kept on the row so every worker and a
restarted one keep it; neither is signed (they are the scheduler's bookkeeping, not content).

NULL for rows stored before this revision: no latest start (as before), no back-off. Downgrade
drops the columns.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from core.store.schema import UTCDateTime

revision: str = "0033"
down_revision: str | None = "0032"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("proposals", sa.Column("not_after", UTCDateTime(), nullable=True))
    op.add_column("proposals", sa.Column("start_retry_at", UTCDateTime(), nullable=True))
    op.add_column("proposals", sa.Column("start_deferrals", sa.Integer(), nullable=True))


def downgrade() -> None:
    # In place on both backends (see 0030): a batch copy of ``proposals`` would cascade-delete its targets.
    for name in ("start_deferrals", "start_retry_at", "not_after"):
        op.drop_column("proposals", name)
