"""drop ix_devices_oui_serial (ix_devices_serial answers every unit lookup)

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-22

Why (issue 11, inventory sync benchmark): every new device row maintains each index of
``devices``; at 100,000 devices on a first ACS sync the seventh index cost about a third of the
insert. Every "same unit" lookup (the sync's duplicate check, onboarding, ``core.inventory``) asks
by serial and compares the OUI case-blind in Python or next to the serial, so ``ix_devices_serial``
(migration 0016) answers them all; ``(oui, serial)`` was only ever used with the serial known.
"""
from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_devices_oui_serial", table_name="devices")


def downgrade() -> None:
    op.create_index("ix_devices_oui_serial", "devices", ["oui", "serial"])
