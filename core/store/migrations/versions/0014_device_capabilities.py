"""device_capabilities and device_instances: the data model each device class really exposes

Revision ID: 0014_caps
Revises: 0014
Create Date: 2026-11-22

Why (issue 11, deliverable 5): a parameter the device's own data model marks read-only was
previewed and approved by two people before the device refused it. ``discover()`` now reports every
parameter with its writability; ``device_capabilities`` keeps that per (vendor, model, firmware,
root) so validation refuses such a change before anyone approves, and ``gateward compat`` can show
how the tree drifts between firmware versions of one model. ``device_instances`` keeps which
instance numbers each device has (``Device.WiFi.SSID.`` → 1..4): those differ per unit.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from core.store.schema import UTCDateTime

revision: str = "0014_caps"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "device_capabilities",
        sa.Column("vendor", sa.String(64), nullable=False),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("firmware", sa.String(64), nullable=False),
        sa.Column("root", sa.String(32), nullable=False),
        sa.Column("protocol", sa.String(16), nullable=False),
        sa.Column("data_model_version", sa.String(64), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("source_device_id", sa.String(128), nullable=False),
        sa.Column("discovered_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("vendor", "model", "firmware", "root", name=op.f("pk_device_capabilities")),
    )
    op.create_table(
        "device_instances",
        sa.Column("device_id", sa.String(128), nullable=False),
        sa.Column("firmware", sa.String(64), nullable=False),
        sa.Column("instances", sa.JSON(), nullable=False),
        sa.Column("discovered_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("device_id", name=op.f("pk_device_instances")),
    )


def downgrade() -> None:
    op.drop_table("device_instances")
    op.drop_table("device_capabilities")
