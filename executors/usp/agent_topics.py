"""Where each USP agent listens, remembered in the database (issue 11, deliverable 4).

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
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from core.models import utcnow
from core.store.schema import UspAgentTopicRow

log = logging.getLogger(__name__)

MAX_TOPIC = 512
SOURCES = frozenset({"mqtt_connect", "response_topic", "reply_to", "manual"})


@dataclass(frozen=True)
class KnownTopic:
    """One agent's topic, its MQTT version and how it was learnt."""

    topic: str
    mqtt_version: int
    source: str


def topic_problem(topic: str) -> str | None:
    """Why ``topic`` cannot be published to (None when it can)."""
    if not topic:
        return "it is empty"
    if "+" in topic or "#" in topic:
        return "it holds an MQTT wildcard (+ or #)"
    if "\x00" in topic:
        return "it holds a NUL character"
    if len(topic) > MAX_TOPIC:
        return f"it is longer than {MAX_TOPIC} characters"
    return None


class TopicBook:
    """Agent topics per endpoint ID, cached in memory and written behind to the store."""

    def __init__(self, store: Any, *, flush_delay_s: float = 0.2) -> None:
        self.store = store
        self.flush_delay_s = flush_delay_s
        self.writes = 0
        self.errors = 0
        self._known: dict[str, KnownTopic] = {}
        self._dirty: dict[str, KnownTopic] = {}
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
            if self._closed:
                return True
            if self._thread is None:
                self._thread = threading.Thread(target=self._writer, name="usp-topics", daemon=True)
                self._thread.start()
        self._wake.set()
        return True

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

    # ------------------------------------------------------------------ writing
    def flush(self) -> int:
        """Write what changed since the last flush in one transaction; returns how many rows.

        On a database error the batch is kept (newer notes win) and retried on the next flush."""
        with self._lock:
            batch, self._dirty = self._dirty, {}
        if not batch:
            return 0
        try:
            self._upsert(batch)
        except Exception as exc:  # the database may be restarting: keep the batch, say so
            self.errors += 1
            log.warning("could not store %d USP agent topic(s), will retry: %s", len(batch), exc)
            with self._lock:
                for k, v in batch.items():
                    self._dirty.setdefault(k, v)
            return 0
        self.writes += len(batch)
        return len(batch)

    def _upsert(self, batch: dict[str, KnownTopic]) -> None:
        now = utcnow()
        rows = [{"endpoint_id": ep, "topic": k.topic, "mqtt_version": k.mqtt_version, "source": k.source,
                 "updated_at": now} for ep, k in batch.items()]
        with self.store.write() as s:
            dialect = s.get_bind().dialect.name
            if dialect == "postgresql":
                from sqlalchemy.dialects.postgresql import insert as pg_insert

                stmt = pg_insert(UspAgentTopicRow)
            else:
                from sqlalchemy.dialects.sqlite import insert as sqlite_insert

                stmt = sqlite_insert(UspAgentTopicRow)  # type: ignore[assignment]
            stmt = stmt.on_conflict_do_update(
                index_elements=["endpoint_id"],
                set_={c: stmt.excluded[c] for c in ("topic", "mqtt_version", "source", "updated_at")},
            )
            s.execute(stmt, rows)

    def _writer(self) -> None:
        while True:
            self._wake.wait()
            if self._closed:
                return
            self._wake.clear()
            threading.Event().wait(self.flush_delay_s)  # gather a burst into one transaction
            self.flush()
            if self._dirty and not self._closed:  # the database was away: try again in a second
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
