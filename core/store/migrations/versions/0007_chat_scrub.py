"""chat: scrub passphrases already stored in chat events and thread checkpoints

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22

Reserved in the chain so that parallel work lands in a fixed order; the owner fills it in.
"""
from __future__ import annotations

from collections.abc import Sequence

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
