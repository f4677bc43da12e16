"""snapshots: backups are not snapshots (remove backup rows from parameter_snapshots)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-22

Until this revision every apply stored its backup (the few parameters it was about to change) as a
``parameter_snapshots`` row with source ``backup``; being the newest row, it became the device's
"latest snapshot": device pages showed one parameter, and fleet previews built policy classes from
a set without radios (``KeyError('band')``). Backups live in ``backups``; these rows are deleted.
Downgrade cannot bring them back and need not: they were never the device's state.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(sa.text("DELETE FROM parameter_snapshots WHERE source = 'backup'"))


def downgrade() -> None:
    pass  # deleted partial rows are not restored (see above)
