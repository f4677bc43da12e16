"""devices: inventory status (active | retired) and retired_at; index on (oui, serial); onboarding_requests

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-22

Why (issue 11): devices are now brought under management by hand (``gateward devices add|import``)
and taken out of it with ``retire``. Retiring never deletes: proposals, executions, backups and audit
events keep pointing at the row. ``status`` says whether a device may still be targeted; every
existing device is ``active``. The (oui, serial) index makes the "same unit already registered
under another adapter" check one index probe on a large fleet.

Plain ``ADD COLUMN`` (no batch table copy): ``devices`` is referenced by many foreign keys, and
SQLite adds a column with a constant default in place.

``onboarding_requests`` holds USP agents that made first contact but are not in the fleet and not
on the onboarding allow list (``policies/data/onboarding.json``): pending until an admin accepts or
rejects them, one row per endpoint ID however often the agent reconnects.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from core.store.schema import UTCDateTime

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("devices", sa.Column("status", sa.String(16), nullable=False, server_default="active"))
    op.add_column("devices", sa.Column("retired_at", UTCDateTime(), nullable=True))
    op.create_index("ix_devices_oui_serial", "devices", ["oui", "serial"])
    op.create_table(
        "onboarding_requests",
        sa.Column("endpoint_id", sa.String(128), nullable=False),
        sa.Column("oui", sa.String(6), nullable=False),
        sa.Column("product_class", sa.String(64), nullable=False),
        sa.Column("serial", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("first_seen", UTCDateTime(), nullable=False),
        sa.Column("last_seen", UTCDateTime(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("device_id", sa.String(128), nullable=True),
        sa.Column("decided_by", sa.String(64), nullable=True),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("endpoint_id", name=op.f("pk_onboarding_requests")),
    )
    op.create_index(op.f("ix_onboarding_requests_status"), "onboarding_requests", ["status"])


def downgrade() -> None:
    op.drop_index(op.f("ix_onboarding_requests_status"), table_name="onboarding_requests")
    op.drop_table("onboarding_requests")
    op.drop_index("ix_devices_oui_serial", table_name="devices")
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.drop_column("retired_at")
        batch_op.drop_column("status")
