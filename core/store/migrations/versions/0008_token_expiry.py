"""users: API token expiry and rotation

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22

API tokens used to live until revoked. Every token now carries ``expires_at``; a token without
one is refused. Tokens that exist when this runs get the default lifetime (30 days) from the
moment of the upgrade, so running integrations keep working long enough to rotate
(``gateward users rotate NAME``) instead of failing at once.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

from core.store.schema import UTCDateTime

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LEGACY_GRACE = timedelta(days=30)


def upgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expires_at", UTCDateTime(), nullable=True))
    tokens = sa.table("api_tokens", sa.column("expires_at", UTCDateTime()), sa.column("revoked_at", UTCDateTime()))
    op.execute(tokens.update().where(tokens.c.expires_at.is_(None), tokens.c.revoked_at.is_(None))
               .values(expires_at=datetime.now(UTC) + LEGACY_GRACE))


def downgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_column("expires_at")
