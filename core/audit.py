"""The audit trail: append-only, hash-chained, and anchored outside its table (``docs/safety.md`` invariant 4).

Each event's hash is sha256 over its canonical content *and the previous event's hash*, so
editing, deleting or reordering any event breaks every later link. The database refuses
UPDATE/DELETE by trigger, and INSERT of a row that is not the next link (seq = head + 1,
prev_hash = the head's hash; migration 0009).

A plain hash chain cannot show that rows are *missing from the end* or were *written by someone
else*: whoever can write the table can recompute every hash. So every append also re-signs a
keyed head (``audit_head``) with an HMAC whose key the database does not hold, and every
``GATEWARD_AUDIT_CHECKPOINT_EVERY`` events writes an append-only keyed checkpoint, copied after
commit to an anchor file outside the database (``core.audit_anchor``). :func:`verify_chain` checks
the links, the head, every checkpoint and the anchor file(s), and says what it checked and what it
cannot detect. When an append finds the table's head is not the keyed head (rows inserted or
deleted behind Gateward's back), it writes an ``alarm.audit_tampered`` event before its own, so
the evidence is inside the keyed chain from then on.

Appends happen inside the caller's transaction, so a state change and its audit event commit
together or not at all: :func:`append` queues the event on the session and a ``before_commit``
hook links and writes every event of the transaction at once (:func:`flush`). Sequence numbers
are dense; concurrent appenders serialise on ``BEGIN IMMEDIATE`` (SQLite) or an advisory
transaction lock (PostgreSQL) taken for the commit only.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Required, TypedDict, cast

import orjson
from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    Integer,
    String,
    Table,
    Text,
    bindparam,
    column,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, SessionTransaction

from core import audit_chain as chain
from core import audit_hint, audit_pending
from core.audit_anchor import (
    Anchor,
    AuditKey,
    anchor_path,
    append_anchor,
    load_key,
    mac,
    mac_ok,
    settings,
)
from core.audit_chain import GENESIS as GENESIS
from core.audit_chain import TAMPER_ACTION as TAMPER_ACTION
from core.audit_chain import ChainReport as ChainReport
from core.audit_chain import Finding as Finding
from core.kernel.errors import Conflict, Invalid
from core.kernel.jsontypes import Json, JsonObject
from core.kernel.models import AuditEvent, Device, canonical_json, utcnow
from core.kernel.secrets import mask_params
from core.store.commit_info import AUDIT_QUEUE, RELAXED_COMMIT
from core.store.fastsql import Prepared
from core.store.schema import AuditCheckpointRow, AuditEventRow, AuditHeadRow, UTCDateTime

if TYPE_CHECKING:
    from core.store import Store

log = logging.getLogger(__name__)

_AUDIT_LOCK_KEY = 72617
SYSTEM_ACTOR = "system:audit"
_PENDING = "gateward_audit_pending_anchors"
_HEAD = cast(Table, AuditHeadRow.__table__)
_EVENTS = cast(Table, AuditEventRow.__table__)
# Built once, Core not ORM: every audited transaction runs these (statement construction dominated).
_TAIL_SELECT = select(_EVENTS.c.seq, _EVENTS.c.hash).order_by(_EVENTS.c.seq.desc()).limit(1)
_HEAD_SELECT = select(_HEAD.c.seq, _HEAD.c.hash, _HEAD.c.ts, _HEAD.c.key_id, _HEAD.c.mac).where(_HEAD.c.id == 1)
_HEAD_UPDATE = update(_HEAD).where(_HEAD.c.id == 1)
# One statement for both heads: the keyed head row, with the table's head as two scalar subqueries.
_TAIL_AND_HEAD = select(_TAIL_SELECT.with_only_columns(_EVENTS.c.seq).scalar_subquery(),
                        _TAIL_SELECT.with_only_columns(_EVENTS.c.hash).scalar_subquery(),
                        _HEAD.c.seq, _HEAD.c.hash, _HEAD.c.ts, _HEAD.c.key_id, _HEAD.c.mac).where(_HEAD.c.id == 1)
_QUEUE = AUDIT_QUEUE  # Session.info key: events appended in the open transaction
# Session.info key a caller sets to a list: every row :func:`flush` writes is appended to it.
COLLECT = "gateward_audit_collect"
_EVENT_COLUMNS = ("seq", "ts", "actor", "action", "proposal_id", "device_id", "subscriber", "model", "firmware",
                  "data", "prev_hash", "hash")
_HEAD_COLUMNS = ("seq", "hash", "ts", "key_id", "mac")
# The statements every audited transaction runs, on the session's own cursor (core.store.fastsql).
_FAST_TAIL_AND_HEAD = Prepared(_TAIL_AND_HEAD)
_FAST_TAIL = Prepared(_TAIL_SELECT)
_FAST_INSERT = Prepared(insert(_EVENTS), _EVENT_COLUMNS)
_FAST_HEAD_UPDATE = Prepared(_HEAD_UPDATE, _HEAD_COLUMNS)
_FAST_HEAD_INSERT = Prepared(insert(_HEAD), ("id", *_HEAD_COLUMNS))
_CHECKPOINTS = cast(Table, AuditCheckpointRow.__table__)
_CHECKPOINT_COLUMNS = ("seq", "hash", "count", "ts", "key_id", "mac")
# Every N events an audited commit checkpoints: through the ORM that cost ~1.8 ms of CPU.
_FAST_CHECKPOINT_AT = Prepared(select(*(_CHECKPOINTS.c[n] for n in _CHECKPOINT_COLUMNS))
                               .where(_CHECKPOINTS.c.seq == bindparam("seq")))
_FAST_CHECKPOINT_INSERT = Prepared(insert(_CHECKPOINTS), _CHECKPOINT_COLUMNS)
_FAST_LOCK = Prepared(select(func.pg_advisory_xact_lock(bindparam("k", type_=BigInteger))))
_PG_TEXT_COLUMNS = ("ts", "actor", "action", "proposal_id", "device_id", "subscriber", "model", "firmware", "data",
                    "prev_hash", "hash")
# Each array goes as ONE text parameter holding the array's literal, cast by the server: psycopg's
# list adaptation quotes and escapes element by element in Python (~29 us an element for a JSON
# document, so ~60 us a campaign device for its two events); :func:`_pg_array` does it in a join.
_PG_WRITE = Prepared(select(func.gateward_audit_write(
    sql_cast(bindparam("seqs", type_=Text), ARRAY(BigInteger)),
    *(sql_cast(bindparam(c, type_=Text), ARRAY(Text)) for c in _PG_TEXT_COLUMNS),
    bindparam("h_seq", type_=BigInteger), bindparam("h_hash", type_=Text), bindparam("h_ts", type_=UTCDateTime()),
    bindparam("h_key_id", type_=Text), bindparam("h_mac", type_=Text))))
# PostgreSQL, migration 0024: lock, both heads, and — when they are exactly the head this process
# expects — the events and the re-signed head, in one statement; otherwise the heads it found.
_PG_APPEND = Prepared(select(func.gateward_audit_append(
    bindparam("k", type_=BigInteger), bindparam("relaxed", type_=Boolean),
    bindparam("e_seq", type_=BigInteger), bindparam("e_hash", type_=Text), bindparam("e_ts", type_=UTCDateTime()),
    bindparam("e_key_id", type_=Text), bindparam("e_mac", type_=Text),
    sql_cast(bindparam("seqs", type_=Text), ARRAY(BigInteger)),
    *(sql_cast(bindparam(c, type_=Text), ARRAY(Text)) for c in _PG_TEXT_COLUMNS),
    bindparam("h_seq", type_=BigInteger), bindparam("h_hash", type_=Text), bindparam("h_ts", type_=UTCDateTime()),
    bindparam("h_key_id", type_=Text), bindparam("h_mac", type_=Text)).table_valued(
    column("written", Integer), column("tail_seq", BigInteger), column("tail_hash", String),
    column("head_seq", BigInteger), column("head_hash", String), column("head_ts", UTCDateTime()),
    column("head_key_id", String), column("head_mac", String))))
_NOTHING_EXPECTED = {"e_seq": None, "e_hash": None, "e_ts": None, "e_key_id": None, "e_mac": None}
_NOTHING_WRITTEN = {"seqs": "{}", **{c: "{}" for c in _PG_TEXT_COLUMNS},
                    "h_seq": None, "h_hash": None, "h_ts": None, "h_key_id": None, "h_mac": None}
# PostgreSQL: the keyed head each engine (one database, one schema) last signed in this process. A
# hint only: ``gateward_audit_append`` writes on it only if the database still holds exactly it.
_SIGNED: weakref.WeakKeyDictionary[Engine | Connection, _Head] = weakref.WeakKeyDictionary()


# PostgreSQL: the audited commits of one process on one engine take turns from the moment an
# append reads the head hint until its transaction has ended. The database's chain lock serialises
# them from the append to the commit anyway; taking turns here first means a commit builds on the
# head the previous one of this process signed, so its hint holds — without it, API threads racing
# for the lock missed it on ~90 % of appends under 8 concurrent clients (each miss a round trip, a
# head check and a relink more). The turn ends with the outermost transaction, however it
# ends (``_end_turn``).
#
# Only a transaction's commit takes a turn, and only if the transaction holds no chain lock yet (an
# append inside a savepoint took it mid-transaction): a thread must never wait here while holding
# a lock of the database's, which another thread of the process might be waiting for in the
# database (PostgreSQL would not see that cycle). The wait is bounded all the same: after
# ``TURN_WAIT_S`` the commit goes on without its turn, to the chain lock, as every commit did
# before — the turn only makes the hint hold, it never decides what is written.
_TURNS: weakref.WeakKeyDictionary[Engine | Connection, threading.Lock] = weakref.WeakKeyDictionary()
_TURNS_GUARD = threading.Lock()
_TURN = "gateward_audit_turn"  # Session.info: the lock this transaction's commit holds
_CHAINED = "gateward_audit_chained"  # Session.info: this transaction took the chain lock (appended)
TURN_WAIT_S = 0.5
os.register_at_fork(after_in_child=_TURNS.clear)  # a turn held by a parent's thread is not the child's


def _take_turn(session: Session, bind: Engine | Connection) -> None:
    lock = _TURNS.get(bind)
    if lock is None:
        with _TURNS_GUARD:
            lock = _TURNS.setdefault(bind, threading.Lock())
    if lock.acquire(timeout=TURN_WAIT_S):
        session.info[_TURN] = lock


def _end_turn(session: Session, transaction: SessionTransaction) -> None:
    """After the outermost transaction ended (committed, rolled back or closed): the turn is over."""
    if transaction.parent is not None:
        return  # a savepoint's mark stays until the transaction ends: its rollback is said after this
    session.info.pop(_MARKS, None)
    session.info.pop(_CHAINED, None)
    lock = session.info.pop(_TURN, None)
    if lock is not None:
        lock.release()
    if _COMMITTED in session.info:
        _chain_committed(session)


def _pg_array(values: Sequence[str | None]) -> str:
    """A PostgreSQL array literal of text elements: each element double-quoted with its backslashes
    and double quotes escaped (inside quotes nothing else is special: braces, commas, spaces,
    newlines are literal), ``NULL`` unquoted for None — so the string ``"NULL"`` stays a string."""
    return "{" + ",".join("NULL" if v is None else '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
                          for v in values) + "}"


_event_hash = chain.event_hash  # appends write what verify recomputes


def _sanitise(data: Mapping[str, Json]) -> JsonObject:
    """Mask secret parameter values anywhere they appear under a path key."""
    out: JsonObject = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out[key] = mask_params(_sanitise(value)) if _looks_like_params(value) else _sanitise(value)
        elif isinstance(value, list):
            out[key] = [_sanitise(v) if isinstance(v, dict) else v for v in value]
        else:
            out[key] = value
    if "path" in out and "value" in out and isinstance(out["path"], str):
        out["value"] = mask_params({out["path"]: out["value"]})[out["path"]]
    for key in ("before", "after"):
        if "path" in out and key in out and isinstance(out["path"], str):
            out[key] = mask_params({out["path"]: out[key]})[out["path"]]
    return out


def _looks_like_params(d: Mapping[str, Json]) -> bool:
    return bool(d) and all(isinstance(k, str) and (k.startswith("Device.") or k.startswith("InternetGatewayDevice."))
                           for k in d)


class _Pending:
    """An event appended in a transaction that has not committed yet: everything but its place in
    the chain (``seq``, ``prev_hash``, ``hash``), which is decided when the transaction commits."""

    __slots__ = ("action", "actor", "data", "device_id", "firmware", "model", "proposal_id", "subscriber", "ts")

    def __init__(self, ts: datetime, actor: str, action: str, proposal_id: str | None, device: Device | None,
                 device_id: str | None, data: Mapping[str, Json] | None) -> None:
        # Secret values are masked here, and the data round-trips through JSON so the hash is over
        # exactly what the database will return.
        self.data: JsonObject = orjson.loads(canonical_json(_sanitise(data or {})))
        self.ts, self.actor, self.action, self.proposal_id = ts, actor, action, proposal_id
        self.device_id = device.id if device is not None else device_id
        self.subscriber = device.subscriber if device is not None else None
        self.model = device.model if device is not None else None
        self.firmware = device.firmware if device is not None else None

    @classmethod
    def stored(cls, ts: datetime, actor: str, action: str, proposal_id: str | None, device_id: str | None,
               subscriber: str | None, model: str | None, firmware: str | None, data: JsonObject) -> _Pending:
        """An event as ``audit_pending`` holds it: masked and canonical already, not done again."""
        ev = cls.__new__(cls)
        ev.ts, ev.actor, ev.action, ev.proposal_id, ev.device_id = ts, actor, action, proposal_id, device_id
        ev.subscriber, ev.model, ev.firmware, ev.data = subscriber, model, firmware, data
        return ev

    def content(self) -> dict[str, Any]:
        """Everything but its place in the chain (``audit_pending``'s columns)."""
        return {"ts": self.ts, "actor": self.actor, "action": self.action, "proposal_id": self.proposal_id,
                "device_id": self.device_id, "subscriber": self.subscriber, "model": self.model,
                "firmware": self.firmware, "data": self.data}

    def linked(self, seq: int, prev: str) -> dict[str, Any]:
        """The row's values at its place in the chain."""
        return {"seq": seq, "ts": self.ts, "actor": self.actor, "action": self.action,
                "proposal_id": self.proposal_id, "device_id": self.device_id, "subscriber": self.subscriber,
                "model": self.model, "firmware": self.firmware, "data": self.data, "prev_hash": prev,
                "hash": _event_hash(seq, self.ts, self.actor, self.action, self.proposal_id, self.device_id,
                                    self.subscriber, self.model, self.firmware, self.data, prev)}


_VIA: ContextVar[str | None] = ContextVar("gateward_audit_via", default=None)


@contextmanager
def acting_via(via: str) -> Iterator[None]:
    """Every event appended inside the block (in this thread) says who carried it out for its
    actor: ``data["via"] = via``. A campaign's batch runs for the person who started it, through
    a worker: the actor is the person, the worker is named here — without every layer
    the batch passes through having to carry it."""
    token = _VIA.set(via)
    try:
        yield
    finally:
        _VIA.reset(token)


def _with_via(data: Mapping[str, Json] | None) -> Mapping[str, Json] | None:
    via = _VIA.get()
    return data if via is None else {**(data or {}), "via": via}


def append(session: Session, *, actor: str, action: str, proposal_id: str | None = None,
           device: Device | None = None, device_id: str | None = None, data: Mapping[str, Json] | None = None,
           ts: datetime | None = None) -> None:
    """Append one event in the caller's transaction. Secret values are masked here, whatever
    the caller passed, so no code path can put a passphrase into the trail.

    The event is linked into the chain and written when the transaction commits (:func:`flush`,
    run by a ``before_commit`` hook), together with every other event of that transaction: one
    lock, one head read, one multi-row INSERT and one keyed-head update per transaction instead
    of per event (a proposal's life appended ~12 events in ~12 transactions, each paying
    four statements). It commits with the state change it records or not at all, exactly as
    before; the chain lock (PostgreSQL) is held only for the commit, not for the whole
    transaction. A transaction that rolls back drops its events."""
    _enqueue(session, [_Pending(ts or utcnow(), actor, action, proposal_id, device, device_id, _with_via(data))])


class EventArgs(TypedDict, total=False):
    """One event for :func:`append_many`: the keyword arguments of :func:`append`."""

    actor: Required[str]
    action: Required[str]
    proposal_id: str | None
    device: Device | None
    device_id: str | None
    data: Mapping[str, Json] | None
    ts: datetime | None


def append_many(session: Session, events: Sequence[EventArgs]) -> int:
    """Append several events in the caller's transaction (campaign batches, inventory pages).
    Each dict takes the keyword arguments of :func:`append`."""
    if not events:
        return 0
    now = utcnow()
    _enqueue(session, [_Pending(ev.get("ts") or now, ev["actor"], ev["action"], ev.get("proposal_id"),
                                ev.get("device"), ev.get("device_id"), _with_via(ev.get("data"))) for ev in events])
    return len(events)


def _enqueue(session: Session, events: list[_Pending]) -> None:
    queue: list[_Pending] | None = session.info.get(_QUEUE)
    if queue is None:
        session.info[_QUEUE] = queue = []
    queue.extend(events)


def _at_commit(session: Session) -> None:
    """``before_commit``: link and write what the transaction appended. A savepoint's release (it
    fires this hook too) writes nothing: its events stay queued, in order, for the transaction's
    commit — and a savepoint that rolls back takes only the events appended inside it
    (:func:`_rolled_back`). Writing the queue at the savepoint made its rollback take the
    events the transaction had appended before it too."""
    if not session.in_nested_transaction():
        flush(session, committing=True)


_MARKS = "gateward_audit_savepoints"  # Session.info: each open savepoint -> the queue's length when it began


def _savepoint_began(session: Session, transaction: SessionTransaction) -> None:
    """``after_transaction_create``: remember where a savepoint's events will start in the queue."""
    if transaction.nested:
        queue: list[_Pending] | None = session.info.get(_QUEUE)
        session.info.setdefault(_MARKS, {})[transaction] = len(queue) if queue else 0


def _rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
    """``after_soft_rollback`` (every rollback, a savepoint's too): a savepoint's rollback drops the
    events appended since it began; the transaction's rollback drops them all."""
    marks: dict[SessionTransaction, int] | None = session.info.get(_MARKS)
    if previous_transaction.nested:
        mark = marks.pop(previous_transaction, None) if marks else None
        queue: list[_Pending] | None = session.info.get(_QUEUE)
        if queue is not None and mark is not None:
            del queue[mark:]
        return
    _drop_queue(session)


def flush(session: Session, *, committing: bool = False) -> int:
    """Link and write the events this transaction appended (run before every commit; callers that
    read their own events back inside the transaction may call it). Returns how many.

    A caller that put a list under :data:`COLLECT` in the session's ``info`` gets each written row
    appended to it (seq, ts, actor, action, proposal_id, device_id, …, data, prev_hash, hash): the
    rows exactly as stored, for an answer that shows them without reading them back."""
    queue: list[_Pending] | None = session.info.pop(_QUEUE, None)
    relaxed = bool(session.info.pop(RELAXED_COMMIT, False))
    if not queue:
        return 0
    if _is_pg(session):
        if _after_commit_chaining(session):
            load_key(create=True)  # a key that cannot sign refuses the change, as chaining at commit does
            session.info.setdefault(_MINE, []).extend(
                audit_pending.pend(session, _content_arrays([ev.content() for ev in queue]), relaxed))
            return len(queue)
        rows = _pg_flush(session, queue, relaxed, committing)
    else:
        start, prev, key = _open_append(session)
        rows = _link(queue, start, prev)
        _FAST_INSERT.run_many(session, rows)
        _close_append(session, key, start, rows[-1]["seq"], rows[-1]["hash"])
    collect: list[dict[str, Any]] | None = session.info.get(COLLECT)
    if collect is not None:
        collect.extend(rows)
    return len(rows)


def _link(queue: list[_Pending], seq: int, prev: str) -> list[dict[str, Any]]:
    """The queued events' rows, linked after the event ``seq`` whose hash is ``prev``."""
    rows = []
    for ev in queue:
        seq += 1
        row = ev.linked(seq, prev)
        rows.append(row)
        prev = row["hash"]
    return rows


def _is_pg(session: Session) -> bool:
    return session.bind is not None and session.bind.dialect.name == "postgresql"


def _pg_flush(session: Session, queue: list[_Pending], relaxed: bool, committing: bool = False
              ) -> list[dict[str, Any]]:
    """PostgreSQL: one statement when the chain's head is the one this process signed last
    (``gateward_audit_append``, migration 0024), else the heads it answered are checked as
    :func:`_open_append` checks them — an alarm event first if the trail was changed behind
    Gateward's back — and the events written with ``gateward_audit_write``. ``relaxed``: this
    transaction commits asynchronously (``Store.write(durable=False)``), said in the same call.
    ``committing``: called as the outermost transaction commits (it may take its turn, ``_TURNS``).
    Returns the rows written."""
    key = load_key(create=True)
    assert key is not None
    bind = session.get_bind()
    if committing and not session.info.get(_CHAINED):
        _take_turn(session, bind)
    session.info[_CHAINED] = True
    base = {"k": _AUDIT_LOCK_KEY, "relaxed": relaxed}
    signed = _SIGNED.get(bind)
    if signed is not None and signed.key_id != key.key_id:
        signed = None
    # Another process on this host may have signed a later head (API and job workers): expect that.
    shared = audit_hint.newer_than(bind, key, signed.seq if signed is not None else -1)
    if shared is not None:
        signed = _Head(*shared)
    if signed is not None:
        rows = _link(queue, signed.seq, signed.hash)
        head = _new_head(key, rows)
        found = _PG_APPEND.first(session, {**base, "e_seq": signed.seq, "e_hash": signed.hash, "e_ts": signed.ts,
                                           "e_key_id": signed.key_id, "e_mac": signed.mac,
                                           **_write_values(rows, head)})
        assert found is not None
        if found[0] == len(rows):
            _after_write(session, key, bind, signed.seq, head)
            return rows
        if found[0] != 0:
            raise RuntimeError(f"audit append wrote {found[0]} of {len(rows)} events")
    else:
        found = _PG_APPEND.first(session, {**base, **_NOTHING_EXPECTED, **_NOTHING_WRITTEN})
        assert found is not None
    seq, prev, head_row = _heads(session, found[1:])
    start, prev = _checked_start(session, key, seq, prev, head_row)
    rows = _link(queue, start, prev)
    _pg_write(session, key, bind, start, rows)
    return rows


def _new_head(key: AuditKey, rows: list[dict[str, Any]]) -> _Head:
    """The keyed head after ``rows``: their last seq and hash, signed now."""
    seq, head_hash, now = int(rows[-1]["seq"]), str(rows[-1]["hash"]), utcnow()
    return _Head(seq, head_hash, now, key.key_id, mac(key, "head", seq, head_hash, seq, now))


def _content_arrays(rows: Sequence[Mapping[str, Any]], names: Sequence[str] = audit_pending.CONTENT
                    ) -> dict[str, str]:
    """One PostgreSQL array literal a column of ``rows`` (``names``): a naive time is UTC, as the
    column type stores it; each JSON document as the engine writes it."""
    columns: dict[str, list[Any]] = {c: [r[c] for r in rows] for c in names}
    columns["ts"] = [(t if t.tzinfo is not None else t.replace(tzinfo=UTC)).isoformat() for t in columns["ts"]]
    columns["data"] = [orjson.dumps(d).decode() for d in columns["data"]]
    return {c: _pg_array(v) for c, v in columns.items()}


def _write_values(rows: list[dict[str, Any]], head: _Head) -> dict[str, Any]:
    """The parameters of ``gateward_audit_write`` / ``_append``: one array literal per column."""
    values: dict[str, Any] = _content_arrays(rows, _PG_TEXT_COLUMNS)
    values["seqs"] = "{" + ",".join(str(int(r["seq"])) for r in rows) + "}"
    return {**values, "h_seq": head.seq, "h_hash": head.hash, "h_ts": head.ts, "h_key_id": head.key_id,
            "h_mac": head.mac}


def _pg_write(session: Session, key: AuditKey, bind: Engine | Connection, old_seq: int,
              rows: list[dict[str, Any]]) -> None:
    """PostgreSQL, the chain lock held: the linked events and the re-signed keyed head in one
    statement (``gateward_audit_write``, migration 0019)."""
    head = _new_head(key, rows)
    written = _PG_WRITE.first(session, _write_values(rows, head))
    if written is None or written[0] != len(rows):
        raise RuntimeError(f"audit append wrote {written and written[0]} of {len(rows)} events")
    _after_write(session, key, bind, old_seq, head)


def _after_write(session: Session, key: AuditKey, bind: Engine | Connection, old_seq: int,
                 head: _Head) -> None:
    """Remember the head this process signed (the next append expects it), and checkpoint every N
    events, as before. A transaction that then rolls back leaves a head the database does not
    hold: the next append's expectation fails and it reads the heads, as without a hint."""
    _SIGNED[bind] = head
    audit_hint.publish(bind, audit_hint.SignedHead(head.seq, head.hash, head.ts, head.key_id, head.mac))
    every = settings().audit_checkpoint_every
    if old_seq // every != head.seq // every:
        _write_checkpoint(session, key, head.seq, head.hash, head.ts)


def _drop_queue(session: Session) -> None:
    session.info.pop(_QUEUE, None)
    session.info.pop(RELAXED_COMMIT, None)
    session.info.pop(_MINE, None)
    session.info.pop(_MARKS, None)


# ---------------------------------------------------------------------------- chaining after commit
_MINE = "gateward_audit_pended"  # Session.info: ids of the events this transaction wrote unlinked
_COMMITTED = "gateward_audit_pended_committed"  # …and committed: chained once the transaction has ended


def _after_commit_chaining(session: Session) -> bool:
    """PostgreSQL with ``GATEWARD_AUDIT_CHAIN=after``, on a session bound to an engine: its events
    are written unlinked (``core.audit_pending``) and chained after the commit. A session bound to
    one connection (a test's outer transaction) has no commit another connection could see; it
    chains at commit, as by default."""
    return settings().audit_chain == "after" and isinstance(session.get_bind(), Engine)


def _committed(session: Session) -> None:
    """``after_commit``: what this transaction wrote unlinked is now visible to a chain transaction."""
    mine = session.info.pop(_MINE, None)
    if mine:
        session.info[_COMMITTED] = mine


def _chain_committed(session: Session) -> None:
    """After the outermost transaction ended (its connection back in the pool, so chaining never
    needs a second one while holding the first): link this transaction's events — and every event
    pending with them — before the caller goes on, so whoever committed a change reads its events
    in the trail, as when they were chained at commit. A failure here loses nothing: the events are
    committed and the next chain transaction (any audited commit after it, ``gateward recover`` and
    so every production start) links them — ``gateward audit verify`` counts them meanwhile; the
    caller's commit stands and is not reported as failed."""
    mine: list[int] | None = session.info.pop(_COMMITTED, None)
    if not mine:
        return
    try:
        wait_chained(cast(Engine, session.get_bind()), mine, session.info.get(COLLECT))
    except Exception:  # committed already: chained by the next chain transaction
        log.exception("audit: %d committed event(s) not chained yet; the next chain transaction links them",
                      len(mine))


class _Chainer:
    """One process's chain transactions on one engine, one at a time (``lock``): a thread that
    committed waits for the lock, and finds its events linked by the thread before it (``done``,
    kept only for ids a thread of this process waits for) — or links everything pending itself.
    So commits that land while a chain transaction runs are linked by one more, not one each."""

    __slots__ = ("awaited", "done", "guard", "lock")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.guard = threading.Lock()  # awaited and done
        self.awaited: set[int] = set()
        self.done: dict[int, dict[str, Any]] = {}


_CHAINERS: weakref.WeakKeyDictionary[Engine, _Chainer] = weakref.WeakKeyDictionary()
os.register_at_fork(after_in_child=_CHAINERS.clear)


def _chainer(engine: Engine) -> _Chainer:
    c = _CHAINERS.get(engine)
    if c is None:
        with _TURNS_GUARD:
            c = _CHAINERS.setdefault(engine, _Chainer())
    return c


def wait_chained(engine: Engine, mine: Sequence[int], collect: list[dict[str, Any]] | None = None) -> None:
    """Return once the committed events ``mine`` are linked into the chain (here, or by another
    thread's or process's chain transaction). With ``collect``, their rows as stored are appended to
    it in chain order — as :func:`flush` reports rows written at commit."""
    c = _chainer(engine)
    with c.guard:
        c.awaited.update(mine)
    try:
        with c.lock:
            if not all(i in c.done for i in mine):
                _chain(engine, c)
            with c.guard:
                rows = [c.done[i] for i in mine if i in c.done]
    finally:
        with c.guard:
            c.awaited.difference_update(mine)
            for i in mine:
                c.done.pop(i, None)
    if collect is None:
        return
    if len(rows) < len(mine):  # linked by another process (or gone with a savepoint that rolled back)
        with Session(bind=engine) as s, s.begin():
            rows = audit_pending.chained(s, mine)
    collect.extend(rows)


def chain_pending(engine: Engine) -> int:
    """Link every event committed unlinked so far (``gateward recover``, a test): returns how many
    this call linked."""
    c = _chainer(engine)
    with c.lock:
        return _chain(engine, c)


def chain_leftovers(store: Store) -> int:
    """``gateward recover`` (and so every production start): link events a stopped process
    committed and did not chain — with ``GATEWARD_AUDIT_CHAIN=after``, or left from a time it was
    set. PostgreSQL only (SQLite always chains at commit). Returns how many."""
    if store.dialect != "postgresql":
        return 0
    linked = chain_pending(store.write_engine)
    if linked:
        log.warning("audit: linked %d committed event(s) a stopped process had not chained", linked)
    return linked


def _chain(engine: Engine, c: _Chainer) -> int:
    """With ``c.lock`` held: link every pending event into the chain, oldest first, under the chain
    lock — one transaction per :data:`core.audit_pending.BATCH` events — and mark where each went;
    the rows of ids a thread of this process waits for are left in ``c.done``. Returns how many."""
    total = 0
    while True:
        with Session(bind=engine) as s, s.begin():
            s.info[_CHAINED] = True  # the chain lock is taken below: a chain transaction takes no turn
            taken = audit_pending.take(s, _AUDIT_LOCK_KEY)
            if taken:
                ids = [int(r[0]) for r in taken]
                rows = _pg_flush(s, [_Pending.stored(*r[1:]) for r in taken], relaxed=False)
                now = utcnow()
                audit_pending.mark(s, ids, [int(r["seq"]) for r in rows], now)
                if (rows[0]["seq"] - 1) // audit_pending.SWEEP_EVERY != rows[-1]["seq"] // audit_pending.SWEEP_EVERY:
                    audit_pending.sweep(s, now - timedelta(seconds=audit_pending.KEEP_S))
        if taken:  # committed: the rows are the trail's now
            with c.guard:
                c.done.update((i, row) for i, row in zip(ids, rows, strict=True) if i in c.awaited)
        total += len(taken)
        if len(taken) < audit_pending.BATCH:
            return total


# Every Session: the hooks are a dictionary look-up for a transaction that appended nothing.
event.listen(Session, "before_commit", _at_commit)
event.listen(Session, "after_transaction_create", _savepoint_began)
event.listen(Session, "after_soft_rollback", _rolled_back)
event.listen(Session, "after_transaction_end", _end_turn)
event.listen(Session, "after_commit", _committed)


# ---------------------------------------------------------------------------- keyed head and checkpoints
@dataclass(frozen=True)
class _Head:
    seq: int
    hash: str
    ts: datetime
    key_id: str
    mac: str


def _lock(session: Session) -> None:
    """Serialise appenders on PostgreSQL (SQLite writers already hold BEGIN IMMEDIATE)."""
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        _FAST_LOCK.all(session, {"k": _AUDIT_LOCK_KEY})


def _tail(session: Session) -> tuple[int, str]:
    last = _FAST_TAIL.first(session)
    return (int(last[0]), str(last[1])) if last else (0, GENESIS)


def _keyed_head(session: Session) -> _Head | None:
    r = session.connection().execute(_HEAD_SELECT).first()
    return _Head(int(r[0]), str(r[1]), r[2], str(r[3]), str(r[4])) if r else None


def _tail_and_head(session: Session) -> tuple[int, str, _Head | None]:
    """The table's head and the keyed head in one statement (each append transaction asks once)."""
    r = _FAST_TAIL_AND_HEAD.first(session)
    return _heads(session, r)


def _heads(session: Session, r: tuple[Any, ...] | None) -> tuple[int, str, _Head | None]:
    """(table head seq, its hash, keyed head) from a row of (tail seq, tail hash, head columns…)."""
    if r is None:  # SQLite's statement found no keyed head row: the table's head alone
        seq, prev = _tail(session)
        return seq, prev, None
    seq, prev = (int(r[0]), str(r[1])) if r[0] is not None else (0, GENESIS)
    head = _Head(int(r[2]), str(r[3]), r[4], str(r[5]), str(r[6])) if r[2] is not None else None
    return seq, prev, head


def _head_problem(key: AuditKey, head: _Head | None, seq: int, tail_hash: str) -> tuple[int, str] | None:
    """Why the table's head (``seq``, ``tail_hash``) is not the keyed head, or None when it is."""
    if head is None:
        return None if seq == 0 else (1, f"no keyed head covers events 1..{seq}: the audit_head row was "
                                         "deleted, or the events were written outside Gateward")
    if not mac_ok(key, "head", head.seq, head.hash, head.seq, head.ts, head.mac):
        other = f" (it names key {head.key_id}; this process holds {key.key_id})" if head.key_id != key.key_id else ""
        return head.seq, f"the keyed head at seq {head.seq} is not signed by this audit key{other}"
    if head.seq < seq:
        return head.seq + 1, (f"events {head.seq + 1}..{seq} are not covered by the keyed head: inserted "
                              "outside Gateward (forged)")
    if head.seq > seq:
        return seq + 1, f"truncated after seq {seq}: the keyed head says {head.seq} events existed"
    if head.hash != tail_hash:
        return seq, (f"event {seq} does not match the keyed head: history was rewritten and re-chained")
    return None


def _open_append(session: Session) -> tuple[int, str, AuditKey]:
    """SQLite (its writer holds ``BEGIN IMMEDIATE``): read the table's head and the keyed head, and
    check them (:func:`_checked_start`)."""
    key = load_key(create=True)
    assert key is not None
    _lock(session)
    seq, prev, head = _tail_and_head(session)
    start, prev = _checked_start(session, key, seq, prev, head)
    return start, prev, key


def _checked_start(session: Session, key: AuditKey, seq: int, prev: str, head: _Head | None) -> tuple[int, str]:
    """Where the next event links on, given the table's head (``seq``, ``prev``) and the keyed head,
    read under the chain lock. If they disagree, the trail was changed behind Gateward's back:
    record that as an alarm event first — never silently re-sign someone else's rows — and carry
    on, so the evidence is inside the keyed chain."""
    problem = _head_problem(key, head, seq, prev)
    if problem is not None:
        first, reason = problem
        log.critical("audit trail tampered with: %s", reason)
        alarm = _Pending(utcnow(), SYSTEM_ACTOR, TAMPER_ACTION, None, None, None,
                         {"severity": "critical", "first_seq": first, "table_head_seq": seq, "reason": reason})
        row = alarm.linked(seq + 1, prev)
        _FAST_INSERT.run_many(session, [row])
        seq, prev = row["seq"], row["hash"]
    return seq, prev


def _close_append(session: Session, key: AuditKey, old_seq: int, new_seq: int, new_hash: str) -> None:
    """Re-sign the keyed head (same transaction as the events) and checkpoint every N events."""
    now = utcnow()
    values = {"seq": new_seq, "hash": new_hash, "ts": now, "key_id": key.key_id,
              "mac": mac(key, "head", new_seq, new_hash, new_seq, now)}
    if _FAST_HEAD_UPDATE.run(session, values) == 0:
        _FAST_HEAD_INSERT.run(session, {"id": 1, **values})
    every = settings().audit_checkpoint_every
    if old_seq // every != new_seq // every:
        _write_checkpoint(session, key, new_seq, new_hash, now)


def _write_checkpoint(session: Session, key: AuditKey, seq: int, head_hash: str, ts: datetime) -> Anchor:
    existing = _FAST_CHECKPOINT_AT.first(session, {"seq": seq})
    if existing is not None:
        anchor = Anchor(int(existing[0]), str(existing[1]), int(existing[2]), existing[3], str(existing[4]),
                        str(existing[5]))
    else:
        anchor = Anchor(seq, head_hash, seq, ts, key.key_id, mac(key, "checkpoint", seq, head_hash, seq, ts))
        _FAST_CHECKPOINT_INSERT.run(session, {"seq": anchor.seq, "hash": anchor.hash, "count": anchor.count,
                                              "ts": anchor.ts, "key_id": anchor.key_id, "mac": anchor.mac})
    _queue_anchor(session, anchor)
    return anchor


def checkpoint(session: Session) -> Anchor:
    """Checkpoint the head now (``gateward audit anchor``) and return it for export off-host.

    Refuses to sign a head the keyed head does not cover: anchoring must never bless rows that
    someone else inserted."""
    _lock(session)
    key = load_key(create=True)
    assert key is not None
    seq, head_hash = _tail(session)
    if seq == 0:
        raise Invalid("the audit trail is empty: there is nothing to anchor yet")
    problem = _head_problem(key, _keyed_head(session), seq, head_hash)
    if problem is not None:
        raise Conflict(f"refusing to anchor: {problem[1]}; run `gateward audit verify`")
    return _write_checkpoint(session, key, seq, head_hash, utcnow())


def _queue_anchor(session: Session, anchor: Anchor) -> None:
    """Write the anchor line after the transaction commits: a line for a checkpoint that rolled
    back would later look like truncation."""
    path = anchor_path(session.get_bind().engine.url)
    if path is None:
        return
    session.info.setdefault(_PENDING, []).append((path, anchor))
    if not event.contains(session, "after_commit", _write_pending):
        event.listen(session, "after_commit", _write_pending)
        event.listen(session, "after_rollback", _drop_pending)


def _write_pending(session: Session) -> None:
    for path, anchor in session.info.pop(_PENDING, []):
        try:
            append_anchor(path, anchor)
        except OSError as exc:  # the checkpoint row committed; the file only lags
            log.error("could not append audit anchor to %s: %s", path, exc)


def _drop_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)


# ---------------------------------------------------------------------------- verify
def _iter_rows(session: Session, batch: int = 5000) -> Iterator[AuditEventRow]:
    last = 0
    while True:
        rows = session.scalars(
            select(AuditEventRow).where(AuditEventRow.seq > last).order_by(AuditEventRow.seq).limit(batch)
        ).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].seq


def _default_anchor(session: Session) -> Path | None:
    return anchor_path(session.get_bind().engine.url)


def verify_chain(session: Session, *, anchors: Sequence[Path] = ()) -> ChainReport:
    """Check the links, the keyed head, every keyed checkpoint and the anchor file(s) (this host's,
    plus any exported copies in ``anchors``) — read through the ORM, checked by
    :func:`core.audit_chain.verify`, the one check ``gateward audit verify`` runs too."""
    cps = [Anchor(cp.seq, cp.hash, cp.count, cp.ts, cp.key_id, cp.mac)
           for cp in session.scalars(select(AuditCheckpointRow).order_by(AuditCheckpointRow.seq))]
    h = session.scalars(select(AuditHeadRow).where(AuditHeadRow.id == 1)).first()
    head = None if h is None else Anchor(h.seq, h.hash, h.seq, h.ts, h.key_id, h.mac)
    files = [p for p in [_default_anchor(session)] if p is not None] + list(anchors)
    report = chain.verify(_iter_rows(session), cps, head, files)
    waiting = audit_pending.unchained(session)
    if waiting:
        report.checked.append(f"{waiting} committed event(s) wait to be chained (GATEWARD_AUDIT_CHAIN=after): "
                              "not under the keyed head yet; linked by the next audited commit or `gateward recover`")
    return report


def to_model(row: AuditEventRow) -> AuditEvent:
    return AuditEvent(seq=row.seq, ts=row.ts, actor=row.actor, action=row.action, proposal_id=row.proposal_id,
                      device_id=row.device_id, subscriber=row.subscriber, model=row.model,
                      firmware=row.firmware, data=row.data, prev_hash=row.prev_hash, hash=row.hash)
