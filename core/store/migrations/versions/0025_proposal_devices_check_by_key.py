"""PostgreSQL: proposal_devices' statement check looks each proposal up by its key

Revision ID: 0025
Revises: 0024
Create Date: 2026-11-25

Why (issue 15, lifecycle throughput on PostgreSQL): the statement check of migration 0022 finds
its proposals with ``id = ANY (array)`` and its missing one with an anti-join over ``unnest``.
PL/pgSQL keeps a session's plans, and those two are planned for an array of unknown length: on a
connection that first ran them while ``proposals`` was small, the cached plans read the whole
table (a sequential scan for the lock, a hash anti-join for the check), and kept doing so as the
table grew — until autovacuum's next ``ANALYZE`` of it. Profiled in the lifecycle bench (perf,
PostgreSQL's own CPU): this trigger was ~20 % of the database's CPU a proposal, on a table of a
few thousand proposals; ``proposals`` only grows.

Now each distinct proposal id of the statement's rows (one, for every writer Gateward has) is
locked and checked in one lookup by primary key: ``WHERE id = $1`` on a unique index plans as an
index probe on a table of more than a few pages, and on one never analysed (which the planner sizes
at ten pages at least) — where 0022's plans for an array of unknown length were the scans above;
only a table of a page or two, read whole at once, may be scanned instead. The guarantees are
0022's, unchanged: the same ``FOR KEY SHARE`` lock the foreign key took (a concurrent delete of
the proposal waits), and a missing proposal raises ``foreign_key_violation`` (SQLSTATE 23503) with
the same message. The distinct ids are found as 0022 found them (one hash aggregate over the
statement's rows, a million for a fleet proposal) and taken in sorted order, so two statements
lock their proposals in one order. SQLite is untouched.
"""
from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

VIOLATION = ("insert or update on table \"proposal_devices\" violates foreign key constraint "
             "(proposal_id references proposals.id): no proposal ")

BY_KEY = f"""
CREATE OR REPLACE FUNCTION gateward_proposal_devices_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    wanted varchar[];
    pid varchar;
BEGIN
    -- 0022's distinct ids (a hash aggregate over the statement's rows, a million for a fleet
    -- proposal), sorted once they are few
    SELECT array_agg(d.pid ORDER BY d.pid) INTO wanted FROM (SELECT DISTINCT proposal_id AS pid FROM new_rows) AS d;
    FOREACH pid IN ARRAY coalesce(wanted, '{{}}') LOOP
        -- the foreign key's lock and its check in one probe of the primary key
        PERFORM 1 FROM proposals WHERE id = pid FOR KEY SHARE;
        IF NOT FOUND THEN
            RAISE foreign_key_violation USING MESSAGE = '{VIOLATION}' || quote_literal(pid);
        END IF;
    END LOOP;
    RETURN NULL;
END $$
"""

# 0022's body, for the downgrade (a migration must not follow later code).
BY_ARRAY = f"""
CREATE OR REPLACE FUNCTION gateward_proposal_devices_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    wanted varchar[];
    missing varchar;
BEGIN
    SELECT array_agg(pid) INTO wanted FROM (SELECT DISTINCT proposal_id AS pid FROM new_rows) AS d;
    IF wanted IS NULL THEN
        RETURN NULL;
    END IF;
    -- the foreign key's lock: the proposals stay while this transaction lives
    PERFORM 1 FROM proposals WHERE id = ANY (wanted) FOR KEY SHARE;
    SELECT w INTO missing FROM unnest(wanted) AS w WHERE NOT EXISTS (SELECT 1 FROM proposals WHERE id = w) LIMIT 1;
    IF FOUND THEN
        RAISE foreign_key_violation USING MESSAGE = '{VIOLATION}' || quote_literal(missing);
    END IF;
    RETURN NULL;
END $$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(BY_KEY)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(BY_ARRAY)
