"""snapshots: backups are not snapshots (remove backup rows from parameter_snapshots)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-22

Reserved in the chain so that parallel work lands in a fixed order; the owner fills it in.
"""
from __future__ import annotations

from collections.abc import Sequence

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
