"""PostgreSQL: the audit chain's append in two statements (open, write) instead of four

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-23

Why (issue 15, lifecycle throughput on PostgreSQL): every audited commit ran four statements for
the chain — take the chain's advisory lock, read the table's head and the keyed head, insert the
events, re-sign the keyed head — each a round trip and a psycopg call (28 of a proposal's ~92
statements). Two functions do the same work in two:

* ``gateward_audit_open(lock_key)`` takes the lock, then reads both heads. A VOLATILE PL/pgSQL
  function takes a fresh snapshot for each query it runs, so the read after the lock sees every
  append committed before the lock was granted — as the separate statement did. (One plain
  ``SELECT`` could not: its snapshot would be taken before it waited for the lock.)
* ``gateward_audit_write(columns…, head…)`` inserts the events (already linked and hashed by
  ``core.audit`` in Python, in seq order; one array per column, each JSON document as its text,
  so the stored ``json`` is byte for byte what the row insert stored — a document of JSON
  records would be decoded on the way and refuse ``\\u0000``, which the ``json`` type keeps) and
  re-signs the keyed head, in one call. Every row
  still passes the ``audit_events_in_sequence`` trigger (migration 0009), so the database still
  refuses a row that is not the next link.

Nothing about what is stored changes: the same rows, the same head, the same transaction.
SQLite is untouched (its appenders already hold ``BEGIN IMMEDIATE``; no round trips to save).
"""
from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OPEN = """
CREATE OR REPLACE FUNCTION gateward_audit_open(lock_key bigint)
RETURNS TABLE (tail_seq bigint, tail_hash varchar, head_seq bigint, head_hash varchar,
               head_ts timestamptz, head_key_id varchar, head_mac varchar)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(lock_key);
    RETURN QUERY
        SELECT t.seq::bigint, t.hash::varchar, h.seq::bigint, h.hash::varchar, h.ts, h.key_id::varchar,
               h.mac::varchar
        FROM (SELECT 1) AS one
        LEFT JOIN (SELECT e.seq, e.hash FROM audit_events AS e ORDER BY e.seq DESC LIMIT 1) AS t ON true
        LEFT JOIN audit_head AS h ON h.id = 1;
END $$
"""

_WRITE = """
CREATE OR REPLACE FUNCTION gateward_audit_write(seqs bigint[], tss text[], actors text[], actions text[],
                                                proposal_ids text[], device_ids text[], subscribers text[],
                                                models text[], firmwares text[], datas text[], prev_hashes text[],
                                                hashes text[], h_seq bigint, h_hash text, h_ts timestamptz,
                                                h_key_id text, h_mac text)
RETURNS integer
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    n integer;
BEGIN
    INSERT INTO audit_events (seq, ts, actor, action, proposal_id, device_id, subscriber, model, firmware,
                              data, prev_hash, hash)
    SELECT r.seq, r.ts::timestamptz, r.actor, r.action, r.proposal_id, r.device_id, r.subscriber, r.model,
           r.firmware, r.data::json, r.prev_hash, r.hash
    FROM unnest(seqs, tss, actors, actions, proposal_ids, device_ids, subscribers, models, firmwares, datas,
                prev_hashes, hashes)
         WITH ORDINALITY AS r(seq, ts, actor, action, proposal_id, device_id, subscriber, model, firmware, data,
                              prev_hash, hash, i)
    ORDER BY r.i;
    GET DIAGNOSTICS n = ROW_COUNT;
    UPDATE audit_head SET seq = h_seq, hash = h_hash, ts = h_ts, key_id = h_key_id, mac = h_mac WHERE id = 1;
    IF NOT FOUND THEN
        INSERT INTO audit_head (id, seq, hash, ts, key_id, mac) VALUES (1, h_seq, h_hash, h_ts, h_key_id, h_mac);
    END IF;
    RETURN n;
END $$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_OPEN)
    op.execute(_WRITE)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP FUNCTION IF EXISTS gateward_audit_write(bigint[], text[], text[], text[], text[], text[], text[], "
               "text[], text[], text[], text[], text[], bigint, text, timestamptz, text, text)")
    op.execute("DROP FUNCTION IF EXISTS gateward_audit_open(bigint)")
