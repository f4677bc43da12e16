"""chat_thread_locks, and a NOTIFY on every audit event (PostgreSQL)

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-22

Why (issue 15, item 3 "Scale out, proven"):

* ``chat_thread_locks``: one lease row per chat thread (holder, expiry), so two turns of one thread
  on two replicas serialise instead of both resuming the same paused step (``brain.threads``).
* ``gateward_audit_notify``: on PostgreSQL an ``AFTER INSERT`` trigger on ``audit_events`` sends
  ``NOTIFY gateward_events, '<seq>'`` at commit, whichever process wrote the event — the fleet-wide
  event bus every replica's live feed listens on (``core.events_bus``). SQLite has no NOTIFY: the
  bus there watches the audit head instead.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from core.store.schema import UTCDateTime

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHANNEL = "gateward_events"


def upgrade() -> None:
    op.create_table(
        "chat_thread_locks",
        sa.Column("thread_id", sa.String(length=40), nullable=False),
        sa.Column("holder", sa.String(length=96), nullable=False),
        sa.Column("until", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("thread_id", name=op.f("pk_chat_thread_locks")),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"""
            CREATE OR REPLACE FUNCTION gateward_audit_notify() RETURNS trigger AS $$
            BEGIN
                PERFORM pg_notify('{CHANNEL}', NEW.seq::text);
                RETURN NULL;
            END;
            $$ LANGUAGE plpgsql
        """)
        op.execute("""
            CREATE TRIGGER audit_events_notify AFTER INSERT ON audit_events
            FOR EACH ROW EXECUTE FUNCTION gateward_audit_notify()
        """)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_events_notify ON audit_events")
        op.execute("DROP FUNCTION IF EXISTS gateward_audit_notify()")
    op.drop_table("chat_thread_locks")
