"""The chat-thread index and event log (tables ``chat_threads``, ``chat_events``; migration 0003_chat).

Why beside the checkpointer: LangGraph's checkpoint holds the graph's state (where a paused
thread stands); surfaces need something else — a list of threads per owner, newest first, and the
events of a chat to replay after a restart — as plain rows any process can read. Every event a
surface ever saw is appended here in order (``seq``), already masked and scrubbed.

``chat_thread_locks`` (migration 0017) serialises turns across processes: two replicas given a turn
of one thread at once must never both resume its paused step. A lease — one row per thread, a
holder and an expiry, taken by a conditional UPDATE — works the same on PostgreSQL (the UPDATE
takes the row lock; the loser re-reads the row after the winner commits and matches nothing) and on
SQLite (``BEGIN IMMEDIATE``); a crashed holder's lease simply expires. Why not a PostgreSQL advisory
lock: a turn is a generator drained by an SSE response at the client's pace, and an advisory lock
would pin a pooled connection for all that time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Integer, MetaData, String, Table, Text, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from brain.contracts import ChatEvent, ThreadSummary
from brain.redact import scrub_data, scrub_text
from core.kernel.errors import NotFound
from core.kernel.models import utcnow
from core.store import Store
from core.store.schema import UTCDateTime

metadata = MetaData()

chat_threads = Table(
    "chat_threads", metadata,
    Column("id", String(40), primary_key=True),
    Column("device_id", String(128)),
    Column("owner", String(64), nullable=False),
    Column("title", String(200), nullable=False),
    Column("status", String(24), nullable=False),
    Column("proposal_id", String(32)),
    Column("planner", String(16), nullable=False),
    Column("usage", JSON, nullable=False),
    Column("tool_calls", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

chat_events = Table(
    "chat_events", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("thread_id", String(40), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("text", Text, nullable=False),
    Column("data", JSON, nullable=False),
    Column("ts", UTCDateTime, nullable=False),
)

chat_thread_locks = Table(
    "chat_thread_locks", metadata,
    Column("thread_id", String(40), primary_key=True),
    Column("holder", String(96), nullable=False),
    Column("until", UTCDateTime, nullable=False),
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ThreadStore:
    def __init__(self, store: Store) -> None:
        self.store = store

    def create(self, thread_id: str, device_id: str | None, owner: str, title: str, planner: str) -> None:
        now = utcnow()
        with self.store.write() as s:
            s.execute(insert(chat_threads).values(
                id=thread_id, device_id=device_id, owner=owner, title=scrub_text(title)[:200], status="open",
                proposal_id=None, planner=planner, usage={}, tool_calls=0, created_at=now, updated_at=now))

    def get(self, thread_id: str) -> dict[str, Any]:
        with self.store.read() as s:
            row = s.execute(select(chat_threads).where(chat_threads.c.id == thread_id)).mappings().first()
        if row is None:
            raise NotFound(f"unknown chat thread {thread_id!r}")
        return dict(row)

    def update(self, thread_id: str, **values: Any) -> None:
        values["updated_at"] = utcnow()
        if "title" in values:
            values["title"] = scrub_text(str(values["title"]))[:200]
        with self.store.write() as s:
            s.execute(update(chat_threads).where(chat_threads.c.id == thread_id).values(**values))

    def append(self, event: ChatEvent) -> int:
        return self.append_many([event])

    def append_many(self, events: list[ChatEvent]) -> int:
        """Append events of one thread in one transaction; returns the last ``seq``."""
        if not events:
            return 0
        tid = events[0].thread_id
        with self.store.write() as s:
            seq = int(s.scalar(select(func.coalesce(func.max(chat_events.c.seq), 0))
                               .where(chat_events.c.thread_id == tid)) or 0)
            rows = []
            for ev in events:
                seq += 1
                rows.append({"thread_id": tid, "seq": seq, "kind": ev.kind, "text": scrub_text(ev.text),
                             "data": scrub_data(ev.data), "ts": ev.ts})
            s.execute(insert(chat_events), rows)
            s.execute(update(chat_threads).where(chat_threads.c.id == tid).values(updated_at=events[-1].ts))
        return seq

    def events(self, thread_id: str) -> list[ChatEvent]:
        self.get(thread_id)
        with self.store.read() as s:
            rows = s.execute(select(chat_events).where(chat_events.c.thread_id == thread_id)
                             .order_by(chat_events.c.seq)).mappings().all()
        return [ChatEvent(thread_id=r["thread_id"], kind=r["kind"], text=r["text"], data=dict(r["data"] or {}),
                          ts=r["ts"]) for r in rows]

    def summaries(self, owner: str | None = None, limit: int = 200) -> list[ThreadSummary]:
        q = select(chat_threads)
        if owner is not None:
            q = q.where(chat_threads.c.owner == owner)
        with self.store.read() as s:
            rows = s.execute(q.order_by(chat_threads.c.updated_at.desc(), chat_threads.c.id.desc())
                             .limit(limit)).mappings().all()
        return [ThreadSummary(thread_id=r["id"], device_id=r["device_id"], owner=r["owner"], title=r["title"],
                              status=r["status"], proposal_id=r["proposal_id"],
                              updated_at=r["updated_at"]) for r in rows]


    # ------------------------------------------------------------------ turn lease (see the module docstring)
    def try_lock(self, thread_id: str, holder: str, ttl_s: float) -> bool:
        """Take (or renew) the thread's lease for ``holder``; False while another holds it."""
        now = utcnow()
        with self.store.write() as s:
            ins: Any = postgresql.insert if s.get_bind().dialect.name == "postgresql" else sqlite.insert
            s.execute(ins(chat_thread_locks).values(thread_id=thread_id, holder="", until=_EPOCH)
                      .on_conflict_do_nothing(index_elements=["thread_id"]))
            res = s.execute(update(chat_thread_locks)
                            .where(chat_thread_locks.c.thread_id == thread_id,
                                   (chat_thread_locks.c.until < now) | (chat_thread_locks.c.holder == holder))
                            .values(holder=holder, until=now + timedelta(seconds=ttl_s)))
            return int(getattr(res, "rowcount", 0) or 0) == 1

    def unlock(self, thread_id: str, holder: str) -> None:
        """Give the lease back (only ``holder``'s own: an expired, re-taken lease is left alone)."""
        with self.store.write() as s:
            s.execute(update(chat_thread_locks)
                      .where(chat_thread_locks.c.thread_id == thread_id, chat_thread_locks.c.holder == holder)
                      .values(holder="", until=_EPOCH))

    def lock_holder(self, thread_id: str) -> str | None:
        """Who holds the thread's lease now (None when nobody does)."""
        with self.store.read() as s:
            row = s.execute(select(chat_thread_locks.c.holder, chat_thread_locks.c.until)
                            .where(chat_thread_locks.c.thread_id == thread_id)).first()
        if row is None or not row[0] or row[1] < utcnow():
            return None
        return str(row[0])
