"""audit: anchors of the chain head kept outside the audit table; sequence guard

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22

Adds ``audit_head`` (the keyed head, re-signed by every append) and ``audit_checkpoints``
(append-only keyed checkpoints), a trigger on both SQLite and PostgreSQL that refuses an
``audit_events`` INSERT that is not the next link (seq = head + 1, prev_hash = the head's hash),
and append-only triggers on the checkpoints. An existing trail is anchored as it stands at
upgrade (trust on first use): its head is signed with the audit key and checkpointed.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from core.store.schema import UTCDateTime

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS = "0" * 64
_OUT_OF_SEQUENCE = "audit_events: out-of-sequence insert (seq must be the head + 1 and prev_hash the head hash)"


def _seq_type() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", _seq_type(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("ts", UTCDateTime(), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("mac", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_head")),
    )
    op.create_table(
        "audit_checkpoints",
        sa.Column("seq", _seq_type(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("count", _seq_type(), nullable=False),
        sa.Column("ts", UTCDateTime(), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("mac", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_checkpoints")),
    )
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        _sqlite_triggers()
    elif dialect == "postgresql":
        _postgres_triggers()
    _anchor_existing_trail()


def _sqlite_triggers() -> None:
    op.execute(
        "CREATE TRIGGER audit_events_in_sequence BEFORE INSERT ON audit_events "
        "WHEN NEW.seq IS NOT (SELECT COALESCE(MAX(seq), 0) + 1 FROM audit_events) "
        f"OR NEW.prev_hash IS NOT COALESCE((SELECT hash FROM audit_events ORDER BY seq DESC LIMIT 1), '{GENESIS}') "
        f"BEGIN SELECT RAISE(ABORT, '{_OUT_OF_SEQUENCE}'); END"
    )
    for verb in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER audit_checkpoints_no_{verb.lower()} BEFORE {verb} ON audit_checkpoints "
            "BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only'); END"
        )


def _postgres_triggers() -> None:
    # The advisory lock is the one appenders take (core.audit): a raw INSERT waits its turn too,
    # so the head it is checked against cannot move underneath it.
    op.execute(
        "CREATE OR REPLACE FUNCTION gateward_audit_in_sequence() RETURNS trigger AS $$ "
        "DECLARE head_seq bigint; head_hash text; "
        "BEGIN "
        "PERFORM pg_advisory_xact_lock(72617); "
        "SELECT seq, hash INTO head_seq, head_hash FROM audit_events ORDER BY seq DESC LIMIT 1; "
        f"IF NOT FOUND THEN head_seq := 0; head_hash := '{GENESIS}'; END IF; "
        "IF NEW.seq IS DISTINCT FROM head_seq + 1 OR NEW.prev_hash IS DISTINCT FROM head_hash THEN "
        f"RAISE EXCEPTION '{_OUT_OF_SEQUENCE}'; END IF; "
        "RETURN NEW; END; $$ LANGUAGE plpgsql"
    )
    op.execute(
        "CREATE TRIGGER audit_events_in_sequence BEFORE INSERT ON audit_events "
        "FOR EACH ROW EXECUTE FUNCTION gateward_audit_in_sequence()"
    )
    op.execute(
        "CREATE OR REPLACE FUNCTION gateward_audit_checkpoints_append_only() RETURNS trigger AS $$ "
        "BEGIN RAISE EXCEPTION 'audit_checkpoints is append-only'; END; $$ LANGUAGE plpgsql"
    )
    op.execute(
        "CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_checkpoints "
        "FOR EACH ROW EXECUTE FUNCTION gateward_audit_checkpoints_append_only()"
    )
    op.execute(
        "CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints "
        "FOR EACH STATEMENT EXECUTE FUNCTION gateward_audit_checkpoints_append_only()"
    )


def _anchor_existing_trail() -> None:
    """Sign the head of a trail written before this revision, so verify has a keyed head for it."""
    bind = op.get_bind()
    last = bind.execute(sa.text("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")).first()
    if last is None:
        return
    from core.audit_anchor import load_key, mac
    from core.kernel.models import utcnow

    key = load_key(create=True)
    assert key is not None
    seq, head_hash, now = int(last[0]), str(last[1]), utcnow()
    head = sa.table("audit_head", sa.column("id"), sa.column("seq"), sa.column("hash"), sa.column("ts"),
                    sa.column("key_id"), sa.column("mac"))
    cps = sa.table("audit_checkpoints", sa.column("seq"), sa.column("hash"), sa.column("count"), sa.column("ts", UTCDateTime()),
                   sa.column("key_id"), sa.column("mac"))
    bind.execute(head.insert().values(id=1, seq=seq, hash=head_hash, ts=now, key_id=key.key_id,
                                      mac=mac(key, "head", seq, head_hash, seq, now)))
    bind.execute(cps.insert().values(seq=seq, hash=head_hash, count=seq, ts=now, key_id=key.key_id,
                                     mac=mac(key, "checkpoint", seq, head_hash, seq, now)))


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_events_in_sequence")
        op.execute("DROP TRIGGER IF EXISTS audit_checkpoints_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_checkpoints_no_delete")
    elif dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_events_in_sequence ON audit_events")
        op.execute("DROP FUNCTION IF EXISTS gateward_audit_in_sequence()")
    op.drop_table("audit_checkpoints")  # PostgreSQL: drops its triggers with it
    if dialect == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS gateward_audit_checkpoints_append_only()")
    op.drop_table("audit_head")
