"""Rendered pages of the proposal queue, keyed by the data they were read from, per process.

Why cache: docs/performance.md, D9. Why it is never stale: the queue's answer changes only when a
proposal changes, every change to a proposal row commits an audit event in the same transaction
(``core.states.set_state``, ``core.lifecycle``; DESIGN.md invariant 4), and the trail's ``seq`` is
taken under one lock held to commit (``core.audit``: ``BEGIN IMMEDIATE`` on SQLite, a transaction
advisory lock on PostgreSQL), so ``max(audit_events.seq)`` only grows, in commit order. A page read
after the head said ``V`` is therefore current for as long as the head still says ``V``.

So a request: reads the head (:class:`HeadProbe`, on the event loop, no worker-thread hop) *after*
it arrived, then answers from the cache when a page for the same query was rendered at that head,
else reads the page (on a worker thread) and stores it under the head it read *before* the page.
A change committed by any process, replica or shell before the request arrived has moved the head,
so it is never answered from an older page (``tests/api/test_page_cache.py`` proves it with a
second process writing). A change committed between the head read and the page read makes the page
newer than its key, never older; the next request sees the new head and misses.

The queue is the same for every role (any signed-in user reads all of it), so the key holds no
caller; the token is checked before the cache is asked.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

from sqlalchemy import Engine

log = logging.getLogger(__name__)

HEAD_SQL = "SELECT max(seq) FROM audit_events"


class HeadProbe:
    """The audit trail's head ``seq``, or ``None`` when it cannot be read quickly here (then the
    caller reads the page uncached). No probe for an in-memory database: another connection
    would see another database."""

    async def read(self) -> int | None:  # pragma: no cover - interface
        return None

    async def aclose(self) -> None:
        return None

    @staticmethod
    def for_engine(engine: Engine) -> HeadProbe:
        name = engine.dialect.name
        if name == "sqlite":
            path = engine.url.database
            if path and path != ":memory:" and not path.startswith("file::memory:"):
                return SQLiteHead(path)
        elif name == "postgresql":
            _, params = engine.dialect.create_connect_args(engine.url)
            params.pop("context", None)  # SQLAlchemy's adapters: this connection reads one integer
            return PostgresHead(dict(params))
        return HeadProbe()


class SQLiteHead(HeadProbe):
    """One read-only connection of its own; the read is a b-tree seek (a few µs), so it runs on the
    event loop. A reader is never blocked by the writer in WAL mode; the short busy timeout covers
    the rare moment SQLite makes it wait (a checkpoint restarting the log), after which the request
    takes the worker-thread path."""

    def __init__(self, path: str, busy_timeout_ms: int = 20) -> None:
        self.path = path
        self.busy_timeout_ms = busy_timeout_ms
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()  # event loops of several threads (tests) may share the app

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                               timeout=self.busy_timeout_ms / 1000)
        conn.execute("PRAGMA query_only=1")
        return conn

    async def read(self) -> int | None:
        with self._lock:
            try:
                if self._conn is None:
                    self._conn = self._open()
                row = self._conn.execute(HEAD_SQL).fetchone()
            except sqlite3.Error as exc:
                log.debug("audit head read failed (%s); reading the page uncached", exc)
                self._close()
                return None
        return int(row[0] or 0)

    def _close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
            self._conn = None

    async def aclose(self) -> None:
        with self._lock:
            self._close()


class PostgresHead(HeadProbe):
    """An asyncio psycopg connection of its own, on the serving event loop (no thread hop, and a
    slow database holds no thread). Requests that arrive while a read is under way wait for the
    next read to *start* after them and share it, so eight clients cost one round trip, not eight
    queued ones, and no request is answered from a read that began before it arrived.

    Bound to the first event loop that reads it; a request on another, still running loop (a test
    harness with its own loop) gets ``None``. If that first loop has closed, the next loop takes
    the probe over. A failed read drops the connection and reconnects on a later request, at most
    once per ``retry_s``."""

    def __init__(self, params: dict[str, Any], timeout_s: float = 2.0, retry_s: float = 1.0,
                 sql: str = HEAD_SQL) -> None:
        self.params, self.sql = params, sql
        self.timeout_s, self.retry_s = timeout_s, retry_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._conn: Any = None
        self._failed_at = 0.0
        self._started = 0  # reads started (each strictly after the previous one finished)
        self._done = 0  # the index of the last read that finished, and what it read
        self._value = 0
        self._inflight: asyncio.Future[None] | None = None
        self.reads = 0  # round trips made (for tests and the bench: requests share them)

    async def read(self) -> int | None:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            if self._loop is not None and not self._loop.is_closed():
                return None
            self._rebind(loop)
        need = self._started + 1  # a read that starts from now on sees every commit before this request
        while self._done < need:
            if self._inflight is not None:
                with contextlib.suppress(Exception):
                    await asyncio.shield(self._inflight)
                continue  # it may have started before this request: then the next one is ours
            if not await self._read_once():
                return None
        return self._value

    async def _read_once(self) -> bool:
        if self._conn is None and time.monotonic() - self._failed_at < self.retry_s:
            return False
        self._started += 1
        index = self._started
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._inflight = fut
        try:
            async with asyncio.timeout(self.timeout_s):
                if self._conn is None:
                    import psycopg

                    self._conn = await psycopg.AsyncConnection.connect(autocommit=True, connect_timeout=2,
                                                                       **self.params)
                cur = await self._conn.execute(self.sql, prepare=True)
                row = await cur.fetchone()
            self._done, self._value = index, int((row or (0,))[-1] or 0)
            self.reads += 1
            return True
        except Exception as exc:  # a dropped or slow connection: this request reads uncached
            log.debug("audit head read failed (%s); reading the page uncached", exc)
            self._failed_at = time.monotonic()
            await self._drop()
            return False
        finally:
            self._inflight = None
            if not fut.done():
                fut.set_result(None)

    def _rebind(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._conn is not None:  # opened on a loop that has closed: close the socket directly
            with contextlib.suppress(Exception):
                self._conn.pgconn.finish()
        self._conn, self._loop, self._inflight = None, loop, None
        self._started = self._done = 0

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()

    async def aclose(self) -> None:
        if self._loop is asyncio.get_running_loop():
            await self._drop()


class PageCache:
    """Rendered pages (JSON bytes) by query key, each with the head it was read at; bounded by
    count and by bytes (least recently used out). A page whose head is not the current one is a
    miss and is replaced when the page is read again."""

    def __init__(self, max_entries: int = 512, max_bytes: int = 16 * 1024 * 1024) -> None:
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self._pages: OrderedDict[Hashable, tuple[int, bytes]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: Hashable, head: int) -> bytes | None:
        with self._lock:
            entry = self._pages.get(key)
            if entry is None or entry[0] != head:
                self.misses += 1
                return None
            self._pages.move_to_end(key)
            self.hits += 1
            return entry[1]

    def put(self, key: Hashable, head: int, body: bytes) -> None:
        if len(body) > self.max_bytes // 4:
            return  # one huge page would push out everything else
        with self._lock:
            old = self._pages.get(key)
            if old is not None:
                if old[0] > head:
                    return  # a newer page is there already (a slower reader finished late)
                self._bytes -= len(old[1])
            self._pages[key] = (head, body)
            self._pages.move_to_end(key)
            self._bytes += len(body)
            while len(self._pages) > self.max_entries or self._bytes > self.max_bytes:
                _, (_, dropped) = self._pages.popitem(last=False)
                self._bytes -= len(dropped)

    def __len__(self) -> int:
        return len(self._pages)
