"""chat threads and their events (the planner's durable conversations)

Revision ID: 0003_chat
Revises: 0002
Create Date: 2026-11-23

The LangGraph checkpointer keeps each thread's graph state in its own tables (created by
``SqliteSaver.setup()`` / ``PostgresSaver.setup()``); these two tables are Gateward's index of
the threads (owner, device, status, linked proposal, tokens and cost) and the events every surface
shows (``brain.contracts.ChatEvent``), so that listing threads and replaying a chat never needs
to unpickle graph state.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from core.store.schema import UTCDateTime

revision: str = '0003_chat'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'chat_threads',
        sa.Column('id', sa.String(length=40), nullable=False),
        sa.Column('device_id', sa.String(length=128), nullable=True),
        sa.Column('owner', sa.String(length=64), nullable=False),
        sa.Column('title', sa.String(length=200), nullable=False),
        sa.Column('status', sa.String(length=24), nullable=False),
        sa.Column('proposal_id', sa.String(length=32), nullable=True),
        sa.Column('planner', sa.String(length=16), nullable=False),
        sa.Column('usage', sa.JSON(), nullable=False),
        sa.Column('tool_calls', sa.Integer(), nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_chat_threads')),
    )
    with op.batch_alter_table('chat_threads', schema=None) as batch_op:
        batch_op.create_index('ix_chat_threads_owner_updated', ['owner', 'updated_at'], unique=False)
        batch_op.create_index('ix_chat_threads_device_id', ['device_id'], unique=False)
    op.create_table(
        'chat_events',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('thread_id', sa.String(length=40), nullable=False),
        sa.Column('seq', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('data', sa.JSON(), nullable=False),
        sa.Column('ts', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['thread_id'], ['chat_threads.id'], name=op.f('fk_chat_events_thread_id_chat_threads'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_chat_events')),
        sa.UniqueConstraint('thread_id', 'seq', name='uq_chat_events_thread_seq'),
    )


def downgrade() -> None:
    op.drop_table('chat_events')
    with op.batch_alter_table('chat_threads', schema=None) as batch_op:
        batch_op.drop_index('ix_chat_threads_device_id')
        batch_op.drop_index('ix_chat_threads_owner_updated')
    op.drop_table('chat_threads')
