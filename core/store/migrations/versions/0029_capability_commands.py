"""issue 37: device_capabilities.commands — the contract commands a device class's data model has

Revision ID: 0029
Revises: 0028
Create Date: 2026-11-26

Why: the OB-USP-Agent has no ``Device.DeviceInfo.FirmwareImage.`` table, and a governed download to it
passed validation and approval before the agent answered 7026. A USP discovery now says which contract
commands (reboot, factory_reset, download, ipping) the device's GetSupportedDM lists, and the path each
runs as; ``commands`` keeps that per class (``{"supported": [...], "paths": {command: path}}``) and
validation refuses an operation the device lacks, before anyone approves.

NULL — every row stored before this revision, and every class whose adapter does not say (TR-069, the
simulator) — refuses no command; ``gateward devices discover`` fills it in for a USP class.

Downgrade drops the column (validation then lets every command through, as before).
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("device_capabilities", sa.Column("commands", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("device_capabilities") as batch:
        batch.drop_column("commands")
