"""approvals: bind each approval to the policy decision it answered (approvals.decision_id)

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-26

Why (issue 10, defect 3): approvals were bound only to the proposal hash. Approve content A, edit to
B, edit back to A, and the old approval rows for hash A counted again: the approver got "already
approved", a second approver "needs nothing", and the proposal waited forever. An edit always ends
in a new decision, so binding an approval to the decision id voids it for good.

Existing approvals are bound to the newest non-dry-run decision of their proposal for the same hash
that was taken before them; one with no such decision stays unbound and counts for nothing (fail
closed: it must be given again).
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("approvals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("decision_id", sa.String(32), nullable=True))
    op.execute(sa.text(
        "UPDATE approvals SET decision_id = (SELECT d.id FROM policy_decisions d"
        " WHERE d.proposal_id = approvals.proposal_id AND d.proposal_hash = approvals.proposal_hash"
        " AND d.dry_run = :no AND d.created_at <= approvals.created_at"
        " ORDER BY d.created_at DESC, d.id DESC LIMIT 1)").bindparams(no=False))


def downgrade() -> None:
    with op.batch_alter_table("approvals", schema=None) as batch_op:
        batch_op.drop_column("decision_id")
