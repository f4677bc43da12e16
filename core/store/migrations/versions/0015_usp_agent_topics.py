"""usp_agent_topics: the MQTT topic each USP agent listens on, per endpoint ID

Revision ID: 0015
Revises: 0014_caps
Create Date: 2026-11-22

Why (issue 11, deliverable 4): a USP agent tells the controller where to send requests (the MQTT 5
Response Topic / ``reply-to`` of its records, the MQTT connect record). The controller used to
assume ``usp/agent/<endpoint>``; the OB-USP-Agent's shipped example listens on ``/usp/agent``. The
topic is stored per endpoint so that every process (the long-running controller and short-lived CLI
processes alike) addresses the agent where it listens. ``source`` says how the topic was learnt.
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from core.store.schema import UTCDateTime

revision: str = "0015"
down_revision: str | None = "0014_caps"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "usp_agent_topics",
        sa.Column("endpoint_id", sa.String(128), nullable=False),
        sa.Column("topic", sa.String(512), nullable=False),
        sa.Column("mqtt_version", sa.Integer(), nullable=False, server_default="5"),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("endpoint_id", name=op.f("pk_usp_agent_topics")),
    )


def downgrade() -> None:
    op.drop_table("usp_agent_topics")
