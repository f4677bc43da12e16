"""The fleet-wide change bus behind every replica's live feed (``GET /api/events``).

Why: the live feed's source of truth is the audit trail (every approval, proposal state change,
campaign step is appended there, in ``seq`` order, by whichever process made it). Before, each
open page polled the database twice a second; N pages on R replicas made 2·N·R queries a second,
and a page learnt of a change up to half a second late. Now each process runs one bus:

* **PostgreSQL**: a dedicated connection ``LISTEN``\\ s on ``gateward_events``; an ``AFTER INSERT``
  trigger on ``audit_events`` (migration 0017) sends ``NOTIFY gateward_events, '<seq>'`` at commit,
  from every replica and worker. On a wake-up the bus reads the new audit rows once (one query per
  process, not per page) and hands them to every subscriber. It also re-reads every
  ``fallback_s`` in case a notification was lost (the LISTEN connection dropped and came back).
* **SQLite** (one host): the bus watches the audit head every ``poll_s`` — one query per process.

Each subscriber has a bounded queue. One that falls behind (a slow client) does not stall the
others or the bus: its queue is emptied and it is told to *resync* — it re-reads the trail from its
own last ``seq`` (:meth:`Subscription.get` returns :data:`RESYNC`). Nothing is lost that way,
because the trail itself is the record.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import func, select

from core.kernel.jsontypes import JsonObject
from core.store.schema import AuditEventRow

if TYPE_CHECKING:
    from core.store import Store

log = logging.getLogger(__name__)

CHANNEL: Final = "gateward_events"
BATCH: Final = 500
RESYNC: Final = "resync"


def read_head(store: Store) -> int:
    with store.read() as s:
        return int(s.scalar(select(func.max(AuditEventRow.seq))) or 0)


def read_since(store: Store, after: int, limit: int = BATCH) -> list[dict[str, Any]]:
    """What moved after ``after``: seq, action, proposal id, device id (never an event's data)."""
    with store.read() as s:
        rows = s.execute(select(AuditEventRow.seq, AuditEventRow.action, AuditEventRow.proposal_id,
                                AuditEventRow.device_id).where(AuditEventRow.seq > after)
                         .order_by(AuditEventRow.seq).limit(limit)).all()
    return [{"seq": int(r[0]), "action": r[1], "proposal_id": r[2], "device_id": r[3]} for r in rows]


class Subscription:
    """One consumer's bounded queue of event batches, drained on its own asyncio loop."""

    def __init__(self, bus: EventBus, maxsize: int, loop: asyncio.AbstractEventLoop) -> None:
        self.bus, self.maxsize, self._loop = bus, maxsize, loop
        self._items: deque[list[JsonObject]] = deque()
        self._lock = threading.Lock()
        self._ready = asyncio.Event()
        self.overflowed = False
        self.drops = 0

    def offer(self, batch: list[dict[str, Any]]) -> None:
        """Called on the bus thread; never blocks. A full queue is dropped and marked for resync."""
        with self._lock:
            if self.overflowed:
                return
            if len(self._items) >= self.maxsize:
                self._items.clear()
                self.overflowed = True
                self.drops += 1
            else:
                self._items.append(batch)
        with contextlib.suppress(RuntimeError):  # the consumer's loop is closed: it is going away
            self._loop.call_soon_threadsafe(self._ready.set)

    async def get(self, timeout: float) -> list[dict[str, Any]] | str | None:
        """The next batch, :data:`RESYNC` after an overflow, or None when ``timeout`` passed."""
        while True:
            with self._lock:
                if self.overflowed:
                    self.overflowed = False
                    return RESYNC
                if self._items:
                    return self._items.popleft()
                self._ready.clear()
            try:
                await asyncio.wait_for(self._ready.wait(), timeout)
            except TimeoutError:
                return None

    def close(self) -> None:
        self.bus.unsubscribe(self)


class EventBus:
    """One per process and database (see the module docstring); started on first subscription."""

    def __init__(self, store: Store, *, poll_s: float = 0.25, fallback_s: float = 5.0) -> None:
        self.store = store
        self.poll_s, self.fallback_s = poll_s, fallback_s
        self.postgres = getattr(store, "dialect", "") == "postgresql"
        self._subs: list[Subscription] = []
        self._guard = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.head = 0
        self.wakeups = 0  # NOTIFYs received (PostgreSQL)
        self.reads = 0  # audit reads made for all subscribers together
        self.listening = False

    def subscribe(self, maxsize: int = 64) -> Subscription:
        sub = Subscription(self, maxsize, asyncio.get_running_loop())
        with self._guard:
            self._subs.append(sub)
            if self._thread is None:
                self.head = read_head(self.store)
                self._stop.clear()
                self._thread = threading.Thread(target=self._run, name="gateward-events-bus", daemon=True)
                self._thread.start()
        return sub

    @property
    def subscribers(self) -> int:
        with self._guard:
            return len(self._subs)

    def unsubscribe(self, sub: Subscription) -> None:
        with self._guard:
            if sub in self._subs:
                self._subs.remove(sub)

    def stop(self) -> None:
        self._stop.set()

    # ------------------------------------------------------------------ the bus thread
    def _idle(self) -> bool:
        """Whether this bus thread should end: nobody listens (its LISTEN connection closes; the
        next subscription starts a new thread), or a newer thread took over."""
        me = threading.current_thread()
        with self._guard:
            if self._thread is not me:
                return True
            if self._subs:
                return False
            self._thread = None
            return True

    def _run(self) -> None:
        while not self._stop.is_set() and not self._idle():
            try:
                if self.postgres:
                    self._listen()
                else:
                    self._poll()
            except Exception as exc:  # the database went away: keep serving, retry
                self.listening = False
                log.warning("event bus: %s; retrying in 1 s", exc)
                self._stop.wait(1.0)
        self.listening = False

    def _poll(self) -> None:
        while not self._stop.is_set() and not self._idle():
            if read_head(self.store) > self.head:
                self._fan_out()
            self._stop.wait(self.poll_s)

    def _listen(self) -> None:
        import psycopg

        url = str(self.store.url).replace("postgresql+psycopg://", "postgresql://", 1)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"LISTEN {CHANNEL}")
            self.listening = True
            self._fan_out()  # whatever was committed while we were not listening
            last_read = time.monotonic()
            while not self._stop.is_set() and not self._idle():
                woke = False
                for _ in conn.notifies(timeout=min(1.0, self.fallback_s), stop_after=1):
                    woke = True
                    self.wakeups += 1
                if woke or time.monotonic() - last_read >= self.fallback_s:
                    self._fan_out()
                    last_read = time.monotonic()

    def _fan_out(self) -> None:
        """Read what is new since the bus's head, once, and offer it to every subscriber."""
        while True:
            events = read_since(self.store, self.head)
            self.reads += 1
            if not events:
                return
            self.head = events[-1]["seq"]
            with self._guard:
                subs = list(self._subs)
            for sub in subs:
                sub.offer(events)
            if len(events) < BATCH:
                return


_buses: dict[int, EventBus] = {}
_buses_guard = threading.Lock()


def bus_for(store: Store) -> EventBus:
    """The process's bus for ``store`` (one per Store object)."""
    with _buses_guard:
        bus = _buses.get(id(store))
        if bus is None or bus.store is not store:
            bus = _buses[id(store)] = EventBus(store)
        return bus
