"""issue 44: proposals.not_before, preconditions, readback, start_requested_by

Revision ID: 0030
Revises: 0029
Create Date: 2026-11-26

Why: a support agent's "restart it at 4 in the morning" or "use 8.8.8.8 in case no DNS server is
set" used to be drafted as an immediate, unconditional change — valid, so every gate passed it, and
not what was asked. A proposal now carries the time its write may start (``not_before``, UTC;
indexed: the worker looks for due ones), the checks on live facts that must hold when it starts
(``preconditions``, JSON), the request as understood in plain words (``readback``, what the approver
reads), and who asked for a scheduled write to start (``start_requested_by``: the agent's "apply",
carried out by the worker when due).

NULL everywhere for rows stored before this revision: such a proposal runs when applied, as before,
and its hash is unchanged (the hashed content includes these fields only when they are set).
Downgrade drops the columns (a scheduled proposal would then run when applied).
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from core.store.schema import UTCDateTime

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("proposals", sa.Column("not_before", UTCDateTime(), nullable=True))
    op.add_column("proposals", sa.Column("preconditions", sa.JSON(), nullable=True))
    op.add_column("proposals", sa.Column("readback", sa.Text(), nullable=True))
    op.add_column("proposals", sa.Column("start_requested_by", sa.String(64), nullable=True))
    op.create_index("ix_proposals_not_before", "proposals", ["not_before"])


def downgrade() -> None:
    # ALTER TABLE … DROP COLUMN in place on both backends (SQLite ≥ 3.35): a batch copy of
    # ``proposals`` would cascade-delete every ``proposal_devices`` row on SQLite.
    op.drop_index("ix_proposals_not_before", table_name="proposals")
    for name in ("start_requested_by", "readback", "preconditions", "not_before"):
        op.drop_column("proposals", name)
