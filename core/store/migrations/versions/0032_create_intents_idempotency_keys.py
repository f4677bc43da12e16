"""create_intents and idempotency_keys: a create cut half-way is finished or undone, and a retried create is answered once

Revision ID: 0032
Revises: 0031
Create Date: 2026-11-26

Why ``create_intents``: a submit records its proposal before it previews and decides it, and a campaign's
create makes its proposal before the campaign row. A process killed in between left a proposal nothing
moved on (``validated`` forever, or a campaign's proposal without its campaign) that held its devices
against every later proposal (precedence counts every live one). The first transaction now records an
intent row beside the proposal (who works on it: host and pid, until when), the last one deletes it, and
recovery finishes or undoes a proposal whose intent's process is gone (``core.lifecycle.create_intents``).

Why ``idempotency_keys``: a client that repeats ``POST /api/proposals`` or ``POST /api/campaigns`` after a
lost answer (or a 503 during an outage) made a second proposal. A request with an ``Idempotency-Key`` is
kept here, per person, for 24 hours — in the database, so every replica answers the same — with the
fingerprint of its body, the proposal its first attempt recorded (written in that attempt's own
transaction) and its answer (``core.idempotency``).

Both tables are new and start empty; downgrade drops them.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from core.store.schema import UTCDateTime

revision: str = "0032"
down_revision: str | None = "0031"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "create_intents",
        sa.Column("proposal_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["proposal_id"], ["proposals.id"],
                                name=op.f("fk_create_intents_proposal_id_proposals"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("proposal_id", name=op.f("pk_create_intents")),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("operation", sa.String(length=64), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=64), nullable=True),
        sa.Column("held_until", UTCDateTime(), nullable=True),
        sa.Column("resource", sa.String(length=64), nullable=True),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("answer", sa.JSON(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("actor", "key", name=op.f("pk_idempotency_keys")),
    )
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_idempotency_keys_expires_at"), ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_idempotency_keys_expires_at"))
    op.drop_table("idempotency_keys")
    op.drop_table("create_intents")
