"""users.name_key: a name as two names are compared, unique among active people

Revision ID: 0031
Revises: 0030
Create Date: 2026-11-26

Why: ``DAVE`` beside ``dave`` (by a sign-in or ``gateward users add``) showed in the audit trail and the
approvals as two people who look the same, and separation of duties told them apart. ``name_key`` is
the id in Unicode NFKC, case folded, NFKC again (``core.names.name_key``, frozen here), and a unique
index over the active people's keys makes a second ``Dave`` impossible whichever process adds it.

Existing duplicates are never merged: merging would hand one person the other's roles, tokens,
sessions and place in the history, and make an author and an approver one person. Nor are they
settled by picking one silently. When two *active* people share a key the upgrade stops, naming them,
and changes nothing; an administrator deactivates all but one of each group (``gateward users revoke
NAME`` with the release being upgraded from) and starts again. A deactivated person keeps their name
and history; new names are refused against every key, active or not (``core.users``).

Downgrade drops the index and the column (in place: no copy of the table).
"""
from __future__ import annotations

import unicodedata
from collections import defaultdict
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from core.kernel.errors import Invalid

revision: str = "0031"
down_revision: str | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ux_users_name_key_active"


def _key(name: str) -> str:
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())


class DuplicateNames(Invalid):
    """Active people whose names differ only in letter case or Unicode form."""


def upgrade() -> None:
    op.add_column("users", sa.Column("name_key", sa.String(256), nullable=True))
    conn = op.get_bind()
    users = sa.table("users", sa.column("id", sa.String), sa.column("active", sa.Boolean),
                     sa.column("name_key", sa.String))
    groups: dict[str, list[str]] = defaultdict(list)
    for uid, active in conn.execute(sa.select(users.c.id, users.c.active)).all():
        key = _key(uid)
        conn.execute(sa.update(users).where(users.c.id == uid).values(name_key=key))
        if active:
            groups[key].append(uid)
    clashes = sorted(sorted(ids) for ids in groups.values() if len(ids) > 1)
    if clashes:
        named = "; ".join(" and ".join(repr(i) for i in ids) for ids in clashes)
        raise DuplicateNames(
            f"cannot upgrade the user directory: active people whose names differ only in letter case or "
            f"Unicode form: {named}. Gateward will not merge them (one would take the other's roles, tokens "
            "and history). Deactivate all but one of each (`gateward users revoke NAME` with the release you "
            "are upgrading from), then start again; nothing was changed")
    op.create_index(INDEX, "users", ["name_key"], unique=True, sqlite_where=sa.text("active"),
                    postgresql_where=sa.text("active"))


def downgrade() -> None:
    op.drop_index(INDEX, table_name="users")
    # Not a batch (table copy) on SQLite: dropping ``users`` to copy it would cascade to every token,
    # session and identity of the people in it. SQLite has dropped columns in place since 3.35.
    op.execute("ALTER TABLE users DROP COLUMN name_key")
