"""PostgreSQL: the audit chain's append in one statement when the head is the one this process wrote

Revision ID: 0024
Revises: 0023
Create Date: 2026-11-25

Why (issue 15, lifecycle throughput on PostgreSQL): every audited commit ran two statements for the
chain (``gateward_audit_open``: lock + both heads; ``gateward_audit_write``: events + re-signed head,
migration 0019), and a proposal's life has seven audited commits. The events can only be linked
once the head is known, so the head read was a round trip of its own — yet in the common case the
head is exactly the one the same process signed at its last append.

``gateward_audit_append`` takes the chain lock and reads both heads as ``gateward_audit_open`` does
(a VOLATILE PL/pgSQL function takes a fresh snapshot for each query, so the read after the lock sees
every append committed before it). The caller sends, besides the events linked onto the head it
*expects*, that head in full (seq, hash, ts, key id, MAC). Only if the table's head and the keyed
head row are exactly that — the row this process signed with its key, so the check in
``core.audit`` could only have passed — does the function insert the events and re-sign the head.
Otherwise it writes nothing and answers the heads it found, with the lock still held for the rest
of the transaction; the caller then checks them (the tamper check, and its alarm event, exactly as
before) and writes with ``gateward_audit_write``. An expectation that is wrong costs one round trip
more than a right one, as many as before; it never decides what is written.

It also carries the transaction's asynchronous commit (``relaxed``: ``set_config('synchronous_commit',
'off', true)``, what ``Store.write(durable=False)`` sent as a statement of its own): the setting is
read when the transaction commits, so setting it in the transaction's last statement is the same.

Every row still passes the ``audit_events_in_sequence`` trigger (migration 0009). SQLite is
untouched. The functions of 0019 stay: the fallback uses ``gateward_audit_write``, and replicas
still running the code before this one (a rolling upgrade) keep appending with ``gateward_audit_open``
and ``gateward_audit_write``, under the same lock, as before.
"""
from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_APPEND = """
CREATE OR REPLACE FUNCTION gateward_audit_append(lock_key bigint, relaxed boolean, expect_seq bigint,
                                                 expect_hash text, expect_ts timestamptz, expect_key_id text,
                                                 expect_mac text, seqs bigint[], tss text[], actors text[],
                                                 actions text[], proposal_ids text[], device_ids text[],
                                                 subscribers text[], models text[], firmwares text[], datas text[],
                                                 prev_hashes text[], hashes text[], h_seq bigint, h_hash text,
                                                 h_ts timestamptz, h_key_id text, h_mac text)
RETURNS TABLE (written integer, tail_seq bigint, tail_hash varchar, head_seq bigint, head_hash varchar,
               head_ts timestamptz, head_key_id varchar, head_mac varchar)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    t_seq bigint;
    t_hash varchar;
    hd record;
    n integer;
BEGIN
    IF relaxed THEN
        PERFORM set_config('synchronous_commit', 'off', true);
    END IF;
    PERFORM pg_advisory_xact_lock(lock_key);
    SELECT e.seq, e.hash INTO t_seq, t_hash FROM audit_events AS e ORDER BY e.seq DESC LIMIT 1;
    SELECT h.seq, h.hash, h.ts, h.key_id, h.mac INTO hd FROM audit_head AS h WHERE h.id = 1;
    IF expect_seq IS NULL OR t_seq IS DISTINCT FROM expect_seq OR t_hash IS DISTINCT FROM expect_hash
       OR hd.seq IS DISTINCT FROM expect_seq OR hd.hash IS DISTINCT FROM expect_hash
       OR hd.ts IS DISTINCT FROM expect_ts OR hd.key_id IS DISTINCT FROM expect_key_id
       OR hd.mac IS DISTINCT FROM expect_mac THEN
        RETURN QUERY SELECT 0, t_seq, t_hash, hd.seq::bigint, hd.hash::varchar, hd.ts, hd.key_id::varchar,
                            hd.mac::varchar;
        RETURN;
    END IF;
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
    RETURN QUERY SELECT n, h_seq, h_hash::varchar, h_seq, h_hash::varchar, h_ts, h_key_id::varchar,
                        h_mac::varchar;
END $$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_APPEND)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP FUNCTION IF EXISTS gateward_audit_append(bigint, boolean, bigint, text, timestamptz, text, "
               "text, bigint[], text[], text[], text[], text[], text[], text[], text[], text[], text[], text[], "
               "text[], bigint, text, timestamptz, text, text)")
