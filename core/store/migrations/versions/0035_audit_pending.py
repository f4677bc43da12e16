"""audit_pending: an audited transaction commits its events unlinked; they are chained just after

Revision ID: 0035
Revises: 0034
Create Date: 2026-11-29

Why (issue 60, item 3): on PostgreSQL every audited commit held the chain — this process's turn and
the database's advisory lock — from its append to the end of its commit's WAL flush, so no two
audited transactions committed at once on any number of processes (``bench api_waits``: 90–93 % of
the busy backends' samples sat idle in transaction, waiting for the turn). With
``GATEWARD_AUDIT_CHAIN=after`` a transaction writes its events here instead, unlinked, in the same
commit as the change they record (atomic as before; no lock), and the committing thread then links
every pending event into ``audit_events`` in a short transaction of its own under the chain lock —
one chain transaction for as many commits as happened meanwhile (``core.audit_pending``).

``gateward_audit_take`` takes the chain lock and answers the oldest unchained events, in one round
trip (the query after the lock sees every commit before it). ``gateward_audit_pend`` is the insert in one
statement (one array literal a column, as
``gateward_audit_write`` takes them), carrying the transaction's asynchronous commit as
``gateward_audit_append`` does; it answers the new rows' ids in the events' order. SQLite keeps the
chaining at commit (its writers are serial anyway); the table exists there too, empty.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from core.store.schema import UTCDateTime

revision: str = "0035"
down_revision: str | None = "0034"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PEND = """
CREATE OR REPLACE FUNCTION gateward_audit_pend(relaxed boolean, tss text[], actors text[], actions text[],
                                               proposal_ids text[], device_ids text[], subscribers text[],
                                               models text[], firmwares text[], datas text[])
RETURNS SETOF bigint
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF relaxed THEN
        PERFORM set_config('synchronous_commit', 'off', true);
    END IF;
    RETURN QUERY
    INSERT INTO audit_pending (ts, actor, action, proposal_id, device_id, subscriber, model, firmware, data)
    SELECT r.ts::timestamptz, r.actor, r.action, r.proposal_id, r.device_id, r.subscriber, r.model, r.firmware,
           r.data::json
    FROM unnest(tss, actors, actions, proposal_ids, device_ids, subscribers, models, firmwares, datas)
         WITH ORDINALITY AS r(ts, actor, action, proposal_id, device_id, subscriber, model, firmware, data, i)
    ORDER BY r.i
    RETURNING id;
END $$
"""

_TAKE = """
CREATE OR REPLACE FUNCTION gateward_audit_take(lock_key bigint, n integer)
RETURNS TABLE (id bigint, ts timestamptz, actor varchar, action varchar, proposal_id varchar, device_id varchar,
               subscriber varchar, model varchar, firmware varchar, data json)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(lock_key);
    -- a fresh snapshot for this query (VOLATILE): every event committed before the lock was granted
    RETURN QUERY SELECT p.id, p.ts, p.actor, p.action, p.proposal_id, p.device_id, p.subscriber, p.model,
                        p.firmware, p.data
                 FROM audit_pending AS p WHERE p.seq IS NULL ORDER BY p.id LIMIT n;
END $$
"""


def upgrade() -> None:
    op.create_table(
        "audit_pending",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("ts", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("proposal_id", sa.String(32), nullable=True),
        sa.Column("device_id", sa.String(128), nullable=True),
        sa.Column("subscriber", sa.String(64), nullable=True),
        sa.Column("model", sa.String(64), nullable=True),
        sa.Column("firmware", sa.String(64), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("chained_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_audit_pending_unchained", "audit_pending", ["id"],
                    postgresql_where=sa.text("seq IS NULL"), sqlite_where=sa.text("seq IS NULL"))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PEND)
        op.execute(_TAKE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS gateward_audit_take(bigint, integer)")
        op.execute("DROP FUNCTION IF EXISTS gateward_audit_pend(boolean, text[], text[], text[], text[], text[], "
                   "text[], text[], text[], text[])")
    op.drop_index("ix_audit_pending_unchained", table_name="audit_pending")
    op.drop_table("audit_pending")
