"""Audit events committed unlinked, for the chain to take just after (``GATEWARD_AUDIT_CHAIN=after``).

Why: chained at commit, every audited transaction on PostgreSQL held the chain — its process's turn
and the database's advisory lock — from its append to the end of its commit's WAL flush, so audited
commits went one at a time however many processes served (issue 60; ``bench api_waits``). Here a
transaction writes its events to ``audit_pending`` instead — in the same commit as the change they
record, so the two still commit together or not at all — and takes no lock. Linking them into
``audit_events`` is ``core.audit.chain_pending``'s job, done by the committing thread right after
its commit, for every event pending then: one chain transaction for as many commits as landed
meanwhile. This module only stores, takes and marks the rows; the chain's rules stay in
``core.audit``.

What it gives up, said in ``docs/safety.md`` (invariant 4): between its commit and its chaining — a
few milliseconds, or until the next audited commit or ``gateward recover`` if the process died in
between — an event is in the database but not yet under the keyed head (``gateward audit verify``
counts such events).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

import orjson
from sqlalchemy import (
    ARRAY,
    JSON,
    BigInteger,
    Boolean,
    Integer,
    String,
    Table,
    Text,
    bindparam,
    column,
    delete,
    func,
    select,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import ColumnClause

from core.store.fastsql import Prepared
from core.store.schema import AuditEventRow, AuditPendingRow, UTCDateTime

_PENDING = cast(Table, AuditPendingRow.__table__)
_EVENTS = cast(Table, AuditEventRow.__table__)
#: the content columns of an event, as ``gateward_audit_pend`` takes them (one array each)
CONTENT = ("ts", "actor", "action", "proposal_id", "device_id", "subscriber", "model", "firmware", "data")
#: how many pending events one chain transaction links at most (a backlog after a crash goes in turns)
BATCH = 2000
#: chained rows older than this are swept by a later chain transaction, once every SWEEP_EVERY events
KEEP_S = 600
SWEEP_EVERY = 1000

_PEND = Prepared(select(func.gateward_audit_pend(
    bindparam("relaxed", type_=Boolean), *(sql_cast(bindparam(c, type_=Text), ARRAY(Text)) for c in CONTENT))))
_TAKEN: tuple[ColumnClause[Any], ...] = (
    column("id", BigInteger), column("ts", UTCDateTime()), *(column(c, String) for c in CONTENT[1:-1]),
          column("data", JSON))
_TAKE = Prepared(select(*_TAKEN).select_from(func.gateward_audit_take(
    bindparam("k", type_=BigInteger), bindparam("n", type_=Integer)).table_valued(*_TAKEN)))
_MAP = func.unnest(sql_cast(bindparam("ids", type_=Text), ARRAY(BigInteger)),
                   sql_cast(bindparam("seqs", type_=Text), ARRAY(BigInteger))
                   ).table_valued("id", "seq").render_derived(name="m")
_MARK = Prepared(update(_PENDING).where(_PENDING.c.id == _MAP.c.id)
                 .values(seq=_MAP.c.seq, chained_at=bindparam("at", type_=UTCDateTime())))
_SWEEP = Prepared(delete(_PENDING).where(_PENDING.c.chained_at < bindparam("before", type_=UTCDateTime())))
_EVENT_COLUMNS = ("seq", *CONTENT, "prev_hash", "hash")
_CHAINED = Prepared(select(*(_EVENTS.c[c] for c in _EVENT_COLUMNS))
                    .join_from(_PENDING, _EVENTS, _EVENTS.c.seq == _PENDING.c.seq)
                    .where(_PENDING.c.id == func.any(sql_cast(bindparam("ids", type_=Text), ARRAY(BigInteger))))
                    .order_by(_EVENTS.c.seq))
_UNCHAINED = Prepared(select(func.count()).select_from(_PENDING).where(_PENDING.c.seq.is_(None)))


def _id_array(ids: Sequence[int]) -> str:
    return "{" + ",".join(str(int(i)) for i in ids) + "}"


def pend(session: Session, columns: dict[str, str], relaxed: bool) -> list[int]:
    """Write the events (``columns``: each content column's PostgreSQL array literal, in order) in
    the session's transaction; their ids, in the same order. ``relaxed``: the transaction commits
    asynchronously (said in the same statement, as the chained append says it)."""
    return [int(r[0]) for r in _PEND.all(session, {"relaxed": relaxed, **columns})]


def take(session: Session, lock_key: int) -> list[tuple[Any, ...]]:
    """Take the chain lock (``lock_key``, for the rest of the transaction) and answer the oldest
    pending events (at most :data:`BATCH`), id first then :data:`CONTENT`: read after the lock was
    granted, so no other chain transaction has taken them or will."""
    return _TAKE.all(session, {"k": lock_key, "n": BATCH})


def mark(session: Session, ids: Sequence[int], seqs: Sequence[int], at: datetime) -> int:
    """Record where each of ``ids`` went in the chain (``seqs``, pairwise); returns rows marked."""
    return _MARK.run(session, {"ids": _id_array(ids), "seqs": _id_array(seqs), "at": at})


def sweep(session: Session, before: datetime) -> int:
    """Delete rows chained before ``before``: their events are in ``audit_events`` for good."""
    return _SWEEP.run(session, {"before": before})


def chained(session: Session, ids: Sequence[int]) -> list[dict[str, Any]]:
    """The ``audit_events`` rows the pending events ``ids`` became (those chained so far), in chain
    order, as :func:`core.audit.flush` reports written rows."""
    rows = _CHAINED.all(session, {"ids": _id_array(ids)})
    return [{c: (orjson.loads(v) if c == "data" and isinstance(v, str) else v)
             for c, v in zip(_EVENT_COLUMNS, r, strict=True)} for r in rows]


def unchained(session: Session) -> int:
    """How many committed events wait to be chained."""
    row = _UNCHAINED.first(session)
    return int(row[0]) if row else 0
