"""Where each USP agent listens, remembered in the database: the store's
implementation of the USP adapter's topic book (``core.kernel.ports.topics.AgentTopics``), here so
that the adapter imports no store.

Why: TR-369 leaves the agent's MQTT topic to the deployment. The agent tells its controller the
topic in its ``mqtt_connect`` Record (``subscribed_topic``) and on every PUBLISH (the MQTT 5 Response
Topic, or the MQTT 3.1.1 ``/reply-to=`` topic convention). The OB-USP-Agent, for instance, listens
on ``Device.LocalAgent.MTP.{i}.MQTT.ResponseTopicConfigured`` — ``/usp/agent`` in its shipped
example — or on the topic the broker assigns in the CONNACK. A controller that assumed
``usp/agent/<endpoint>`` could only talk to agents that happen to follow that convention, and a
short-lived CLI process, which never hears the agent's connect Record, could not talk to any other.

:class:`TopicBook` keeps the learnt topic per endpoint ID in ``usp_agent_topics``. The controller
calls :meth:`TopicBook.note` on its event loop for every topic it learns — a dict compare, no I/O;
changes are written in batches by a background thread (a 10,000-agent connect wave is a few
transactions, not 10,000). :meth:`TopicBook.lookup` is blocking and is called off the loop
(``asyncio.to_thread``) only for an agent this process has not heard from. A topic that is not a
valid MQTT topic name (empty, a wildcard, NUL, longer than the column) is refused with a log line
and never stored: the agent is then still addressed where it said, for as long as this process runs.

The book also keeps, per endpoint ID, a suspected *controller endpoint ID mismatch*
(``usp_agent_mismatches``): the controller notes one when a connected agent leaves a request
unanswered or addresses its records to another controller, and clears it when the agent is heard
addressing us again. Why stored: the process that saw the silence (often a short-lived CLI) is not
the one an operator asks next; ``gateward usp topics``, ``gateward device ID`` and the API device
view of any process read it with :meth:`TopicBook.mismatches`. Clearing is a dict lookup on the
loop; a row another process wrote is deleted by the first record this process hears from the
agent, and again at most every :data:`RECHECK_CLEAR_S` seconds (so a busy fleet costs one batched
DELETE per agent per interval, not one per record).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select

from core.kernel.models import utcnow
from core.kernel.ports.topics import MAX_ID, SOURCES, KnownTopic, Mismatch, endpoint_for, topic_problem
from core.store.schema import UspAgentMismatchRow, UspAgentTopicRow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from core.store import Store

log = logging.getLogger(__name__)

RECHECK_CLEAR_S = 60.0  # how often a reply re-deletes a mismatch row another process may have written
MAX_CLEARED = 1_000_000  # agents whose last mismatch DELETE time is kept (forgetting one costs a redundant DELETE)
_CHUNK = 500  # endpoint IDs per DELETE ... IN (...)


class TopicBook:
    """Agent topics per endpoint ID, cached in memory and written behind to the store."""

    def __init__(self, store: Store, *, flush_delay_s: float = 0.2) -> None:
        self.store = store
        self.flush_delay_s = flush_delay_s
        self.writes = 0
        self.errors = 0
        self._known: dict[str, KnownTopic] = {}
        self._dirty: dict[str, KnownTopic] = {}
        self._mismatch: dict[str, Mismatch] = {}  # noted by this process, not cleared since
        self._dirty_mm: dict[str, Mismatch | None] = {}  # None: delete the row
        self._cleared_at: dict[str, float] = {}  # monotonic time of the last delete queued per agent
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False

    # ------------------------------------------------------------------ learning (on the loop)
    def note(self, endpoint_id: str, topic: str, mqtt_version: int, source: str) -> bool:
        """Remember what an agent said; True when it is new or changed. Never blocks on I/O."""
        problem = topic_problem(topic)
        if problem is not None:
            log.warning("not storing topic %r of USP agent %s: %s", topic[:80], endpoint_id, problem)
            return False
        known = KnownTopic(topic, 3 if mqtt_version == 3 else 5, source if source in SOURCES else "manual")
        with self._lock:
            old = self._known.get(endpoint_id)
            if old is not None and (old.topic, old.mqtt_version) == (known.topic, known.mqtt_version):
                return False
            self._known[endpoint_id] = known
            self._dirty[endpoint_id] = known
            self._start_writer()
        self._wake.set()
        return True

    def note_mismatch(self, endpoint_id: str, agent_controller_id: str | None, controller_id: str,
                      detail: str = "") -> bool:
        """A connected agent did not answer us (``agent_controller_id`` None) or addressed another
        controller: store it for every process. True when it is news. Never blocks on I/O."""
        if not endpoint_id or len(endpoint_id) > MAX_ID:
            return False
        theirs = agent_controller_id[:MAX_ID] if agent_controller_id else None
        with self._lock:
            old = self._mismatch.get(endpoint_id)
            if old is not None and (theirs is None or old.agent_controller_id == theirs):
                return False  # already noted (a silence after a named controller keeps the name)
            mm = Mismatch(endpoint_id, theirs, controller_id[:MAX_ID], detail[:256], utcnow())
            self._mismatch[endpoint_id] = mm
            self._dirty_mm[endpoint_id] = mm
            self._cleared_at.pop(endpoint_id, None)
            self._start_writer()
        self._wake.set()
        return True

    def clear_mismatch(self, endpoint_id: str) -> bool:
        """The agent addressed this controller: the endpoint IDs match. True when a delete is
        queued (the first record from the agent in this process, one noted here, or once per
        :data:`RECHECK_CLEAR_S`); otherwise a dict lookup."""
        now = time.monotonic()
        with self._lock:
            last = self._cleared_at.get(endpoint_id)
            if endpoint_id not in self._mismatch and last is not None and now - last < RECHECK_CLEAR_S:
                return False
            self._mismatch.pop(endpoint_id, None)
            self._dirty_mm[endpoint_id] = None
            self._cleared_at[endpoint_id] = now
            if len(self._cleared_at) > MAX_CLEARED:
                self._forget_cleared(now)
            self._start_writer()
        self._wake.set()
        return True

    def _forget_cleared(self, now: float) -> None:
        """Bound :attr:`_cleared_at` (caller holds the lock): drop the entries older than
        :data:`RECHECK_CLEAR_S` — they behave exactly like absent ones — and everything only if that
        is not enough. Why not clear it all at once: a fleet larger than the bound then queued one
        DELETE per agent again within the interval — a write per record in a reconnect storm."""
        self._cleared_at = {k: t for k, t in self._cleared_at.items() if now - t < RECHECK_CLEAR_S}
        if len(self._cleared_at) > MAX_CLEARED * 3 // 4:  # nearly all recent: clear, or this would run per call
            self._cleared_at.clear()

    def _start_writer(self) -> None:
        """Start the write-behind thread (caller holds the lock)."""
        if self._thread is None and not self._closed:
            self._thread = threading.Thread(target=self._writer, name="usp-topics", daemon=True)
            self._thread.start()

    # ------------------------------------------------------------------ reading (blocking)
    def lookup(self, endpoint_id: str) -> KnownTopic | None:
        """The stored topic of an agent (the in-memory copy first). Blocking: call it off the loop."""
        with self._lock:
            hit = self._known.get(endpoint_id)
        if hit is not None:
            return hit
        with self.store.read() as s:
            row = s.get(UspAgentTopicRow, endpoint_id)
            if row is None:
                return None
            hit = KnownTopic(row.topic, row.mqtt_version, row.source)
        with self._lock:
            self._known.setdefault(endpoint_id, hit)
        return hit

    def all(self, endpoint_ids: Iterable[str] | None = None) -> dict[str, KnownTopic]:
        """Every stored topic (or those of ``endpoint_ids``), with unflushed ones on top."""
        stmt = select(UspAgentTopicRow)
        ids = None if endpoint_ids is None else list(endpoint_ids)
        if ids is not None:
            stmt = stmt.where(UspAgentTopicRow.endpoint_id.in_(ids))
        with self.store.read() as s:
            out = {r.endpoint_id: KnownTopic(r.topic, r.mqtt_version, r.source) for r in s.scalars(stmt)}
        with self._lock:
            out.update({k: v for k, v in self._dirty.items() if ids is None or k in ids})
        return out

    def mismatches(self, endpoint_ids: Iterable[str] | None = None) -> dict[str, Mismatch]:
        """Every stored endpoint ID mismatch (or those of ``endpoint_ids``), unflushed changes on top."""
        stmt = select(UspAgentMismatchRow)
        ids = None if endpoint_ids is None else list(endpoint_ids)
        if ids is not None:
            stmt = stmt.where(UspAgentMismatchRow.endpoint_id.in_(ids))
        with self.store.read() as s:
            out = {r.endpoint_id: Mismatch(r.endpoint_id, r.agent_controller_id, r.controller_id, r.detail,
                                           r.seen_at) for r in s.scalars(stmt)}
        with self._lock:
            for k, v in self._dirty_mm.items():
                if ids is None or k in ids:
                    if v is None:
                        out.pop(k, None)
                    else:
                        out[k] = v
        return out

    # ------------------------------------------------------------------ writing
    def flush(self) -> int:
        """Write what changed since the last flush in one transaction; returns how many rows.

        On a database error the batch is kept (newer notes win) and retried on the next flush."""
        with self._lock:
            batch, self._dirty = self._dirty, {}
            mm, self._dirty_mm = self._dirty_mm, {}
        if not batch and not mm:
            return 0
        try:
            self._upsert(batch, mm)
        except Exception as exc:  # the database may be restarting: keep the batch, say so
            self.errors += 1
            log.warning("could not store %d USP agent topic(s) and %d mismatch note(s), will retry: %s",
                        len(batch), len(mm), exc)
            with self._lock:
                for k, v in batch.items():
                    self._dirty.setdefault(k, v)
                for k, m in mm.items():
                    if k not in self._dirty_mm:
                        self._dirty_mm[k] = m
            return 0
        self.writes += len(batch) + len(mm)
        return len(batch) + len(mm)

    def _upsert(self, batch: dict[str, KnownTopic], mm: dict[str, Mismatch | None] | None = None) -> None:
        now = utcnow()
        rows = [{"endpoint_id": ep, "topic": k.topic, "mqtt_version": k.mqtt_version, "source": k.source,
                 "updated_at": now} for ep, k in batch.items()]
        noted = [{"endpoint_id": ep, "agent_controller_id": m.agent_controller_id, "controller_id": m.controller_id,
                  "detail": m.detail, "seen_at": m.seen_at or now} for ep, m in (mm or {}).items() if m is not None]
        gone = sorted(ep for ep, m in (mm or {}).items() if m is None)
        with self.store.write() as s:
            if rows:
                s.execute(_upsert_stmt(s, UspAgentTopicRow, ("topic", "mqtt_version", "source", "updated_at")), rows)
            if noted:
                s.execute(_upsert_stmt(s, UspAgentMismatchRow,
                                       ("agent_controller_id", "controller_id", "detail", "seen_at")), noted)
            for start in range(0, len(gone), _CHUNK):
                s.execute(delete(UspAgentMismatchRow)
                          .where(UspAgentMismatchRow.endpoint_id.in_(gone[start:start + _CHUNK])))

    def _writer(self) -> None:
        while True:
            self._wake.wait()
            if self._closed:
                return
            self._wake.clear()
            threading.Event().wait(self.flush_delay_s)  # gather a burst into one transaction
            self.flush()
            if (self._dirty or self._dirty_mm) and not self._closed:  # the database was away: retry in a second
                threading.Event().wait(1.0)
                self._wake.set()

    def close(self) -> None:
        """Write what is pending and stop the writer thread."""
        with self._lock:
            self._closed = True
            thread, self._thread = self._thread, None
        self._wake.set()
        if thread is not None:
            thread.join(timeout=5)
        self.flush()


def _upsert_stmt(s: Session, table: Any, columns: tuple[str, ...]) -> Any:
    """``INSERT ... ON CONFLICT (endpoint_id) DO UPDATE`` in the session's dialect."""
    if s.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        stmt: Any = pg_insert(table)
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        stmt = sqlite_insert(table)
    return stmt.on_conflict_do_update(index_elements=["endpoint_id"], set_={c: stmt.excluded[c] for c in columns})


def device_mismatch(store: Store, device: Any) -> Mismatch | None:
    """The stored endpoint-ID mismatch of a USP device's agent (None for other protocols, or none
    stored): what ``gateward device ID`` and the API device view show beside the device."""
    if str(getattr(device, "protocol", "")) != "usp":
        return None
    ep = endpoint_for(device)
    return TopicBook(store).mismatches([ep]).get(ep)


def device_hints(store: Store, device: Any) -> list[str]:
    """What the store knows that explains why a USP device does not answer *this* process: an
    endpoint-ID mismatch another process saw, and — when its last contact was over WebSocket — that
    only the process it is connected to reaches it. Why from the store: the hint used to
    depend on the asking command's own environment (``GATEWARD_USP_WS_LISTEN`` set or not), not on
    what is known of the device."""
    if str(getattr(device, "protocol", "")) != "usp":
        return []
    from sqlalchemy import select

    from core.store.schema import DeviceEventRow

    hints: list[str] = []
    mm = device_mismatch(store, device)
    if mm is not None:
        hints.append(mm.message())
    from core.store.schema import OnboardingRow

    with store.read() as s:
        last = s.execute(select(DeviceEventRow.ts, DeviceEventRow.data).where(
            DeviceEventRow.device_id == device.id, DeviceEventRow.kind == "connect")
            .order_by(DeviceEventRow.ts.desc()).limit(1)).first()
        if last is None:  # an agent accepted from pending: its first contact is on its onboarding row
            last = s.execute(select(OnboardingRow.last_seen.label("ts"), OnboardingRow.data).where(
                OnboardingRow.endpoint_id == endpoint_for(device))).first()
    if last is not None and (last.data or {}).get("mtp") == "WebSocket":
        peer = (last.data or {}).get("peer") or "?"
        hints.append(f"its last contact ({last.ts:%Y-%m-%d %H:%M:%SZ}) was over WebSocket from {peer}: only the "
                     f"process it is connected to (gateward run serving GATEWARD_USP_WS_LISTEN) reaches it — act on "
                     f"it through the API or console; that process sets it up itself")
    return hints
