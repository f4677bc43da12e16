"""SQLite: proposal_devices keeps its rows in its primary key's B-tree (WITHOUT ROWID)

Revision ID: 0023
Revises: 0022
Create Date: 2026-11-23

Why (issue 15, campaign gate at a million devices): a fleet proposal records its frozen targets in
``proposal_devices``, a million rows for a million devices. As a rowid table SQLite wrote each row
three times — the table, the primary key's index ``(proposal_id, device_id)`` and the
``device_id`` index — and the commit flushed all three. The table's B-tree holds nothing the
primary key's index does not, so ``WITHOUT ROWID`` drops it: measured on the 1M bench database,
recording the targets took 1.9–2.3 s and its commit 1.3–2.6 s before, 0.7–1.3 s and 0.4–0.8 s
after; the gate's joins read the same index either way.

SQLite cannot change a table to ``WITHOUT ROWID`` in place, so the table is rebuilt: created anew,
filled from the old, the old dropped, the new renamed, the ``device_id`` index created again. The
foreign key to ``proposals`` (``ON DELETE CASCADE``) is the same. Nothing references the table.
PostgreSQL has no rowid: nothing changes there. The downgrade rebuilds the rowid table.
"""
from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _rebuild(without_rowid: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    option = " WITHOUT ROWID" if without_rowid else ""
    op.execute(
        "CREATE TABLE proposal_devices_new (proposal_id VARCHAR(32) NOT NULL, device_id VARCHAR(128) NOT NULL, "
        "CONSTRAINT pk_proposal_devices PRIMARY KEY (proposal_id, device_id), "
        "CONSTRAINT fk_proposal_devices_proposal_id_proposals FOREIGN KEY(proposal_id) "
        f"REFERENCES proposals (id) ON DELETE CASCADE){option}")
    op.execute("INSERT INTO proposal_devices_new (proposal_id, device_id) "
               "SELECT proposal_id, device_id FROM proposal_devices")
    op.execute("DROP TABLE proposal_devices")  # its device_id index goes with it
    op.execute("ALTER TABLE proposal_devices_new RENAME TO proposal_devices")
    op.execute("CREATE INDEX ix_proposal_devices_device_id ON proposal_devices (device_id)")


def upgrade() -> None:
    _rebuild(without_rowid=True)


def downgrade() -> None:
    _rebuild(without_rowid=False)
