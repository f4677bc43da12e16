"""usp_agent_mismatches, and ix_devices_serial

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-22

Why (issue 11, finishing items):

* ``usp_agent_mismatches``: when a connected USP agent leaves our requests unanswered, or addresses
  its records to another controller, the controller endpoint IDs probably do not match. Only the
  process that saw it knew; the row (both endpoint IDs, when) lets every process say so, and is
  deleted when the agent is heard addressing this controller again.
* ``ix_devices_serial``: the onboarding connect wave looks devices up by ``serial IN (...)``;
  the ``(oui, serial)`` index cannot answer that without the OUI, so each batch scanned the table.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from core.store.schema import UTCDateTime

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "usp_agent_mismatches",
        sa.Column("endpoint_id", sa.String(128), nullable=False),
        sa.Column("agent_controller_id", sa.String(128), nullable=True),
        sa.Column("controller_id", sa.String(128), nullable=False),
        sa.Column("detail", sa.String(256), nullable=False, server_default=""),
        sa.Column("seen_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("endpoint_id", name=op.f("pk_usp_agent_mismatches")),
    )
    op.create_index("ix_devices_serial", "devices", ["serial"])


def downgrade() -> None:
    op.drop_index("ix_devices_serial", table_name="devices")
    op.drop_table("usp_agent_mismatches")
