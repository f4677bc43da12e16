"""users: API token expiry and rotation

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22

Reserved in the chain so that parallel work lands in a fixed order; the owner fills it in.
"""
from __future__ import annotations

from collections.abc import Sequence

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
