"""issue 56: user_identities keeps what lets Gateward ask the provider again — the directory obeyed within minutes

Revision ID: 0034
Revises: 0033
Create Date: 2026-11-27

Why: a person taken out of every mapped group at the identity provider kept approving with an open
cookie session and an API token for as long as they did not sign in again (roles were read from the
provider only at sign-in). Gateward now asks the provider again — the refresh grant and userinfo —
at least every ``GATEWARD_OIDC_RECHECK_S`` (≤ 5 minutes) for a person who acts, and before their next
write once their last check is older (``api.auth.membership``). Three nullable columns:

* ``grant_sealed`` — the provider's refresh token (when it issues one), access token and its expiry,
  sealed (JWE, A256GCM) with a key derived from the client secret, which the database does not hold;
* ``checked_at`` — when the provider last confirmed the person's groups (sign-in or a re-check);
* ``check_claimed_until`` — one replica asks the provider at a time (a refresh token may be single-use).

Existing identities start unchecked (``checked_at`` NULL): their next request asks the provider, and
without a grant (signed in before this release) a session is ended — sign in again. Downgrade drops
the columns.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from core.store.schema import UTCDateTime

revision: str = "0034"
down_revision: str | None = "0033"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("user_identities", sa.Column("grant_sealed", sa.Text(), nullable=True))
    op.add_column("user_identities", sa.Column("checked_at", UTCDateTime(), nullable=True))
    op.add_column("user_identities", sa.Column("check_claimed_until", UTCDateTime(), nullable=True))


def downgrade() -> None:
    for name in ("check_claimed_until", "checked_at", "grant_sealed"):  # in place on both backends (see 0030)
        op.drop_column("user_identities", name)
