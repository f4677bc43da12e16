"""Halting: how a running batch learns, before its next device write, that it must stop.

Why a database read before every write and not a cached flag: the campaign promises that no
device is changed after a halt beyond those already being written. The check is one primary-key
read of ``campaigns.state`` (a few hundred microseconds, small next to a device write), so the
only devices written after a pause/abort commits are the ones whose write had already begun.
Every "go" is timestamped, so that promise is measured, not assumed (``late_admissions``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from core.store import Store

RUNNING = "running"
_PG_STATE = "SELECT state FROM campaigns WHERE id = %s"
_LITE_STATE = "SELECT state FROM campaigns WHERE id = ?"


class Stopper:
    """``stop()`` for :meth:`Lifecycle.apply_batch`: true once the campaign is no longer running."""

    def __init__(self, store: Store, campaign_id: str, *, window_closed: Callable[[], bool] | None = None) -> None:
        self.store = store
        self.window_closed = window_closed  # a change window closing mid-batch stops it the same way
        self.campaign_id = campaign_id
        self.gos: list[float] = []
        self.stopped = False
        self._conn: Connection | None = None
        self._cur: Any = None

    def state(self) -> str | None:
        # One connection for the whole batch, read through the driver's own cursor: the check runs
        # before every device write, so it must cost one round trip and next to no Python. PostgreSQL
        # reads in autocommit, the statement prepared on the server once per connection (no parse or
        # plan per device, on either side); SQLite's driver runs in autocommit too (the store switches
        # pysqlite's own transactions off), so each read is its own statement and sees the latest
        # commit, and its statement cache already keeps it compiled.
        if self._cur is None:
            conn = self.store.engine.connect()
            if self.store.dialect == "postgresql":
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            self._conn = conn
            self._cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        if self.store.dialect == "postgresql":
            self._cur.execute(_PG_STATE, (self.campaign_id,), prepare=True)
        else:
            self._cur.execute(_LITE_STATE, (self.campaign_id,))
        rows = self._cur.fetchall()  # to the end: on SQLite that also ends the statement's read snapshot
        return str(rows[0][0]) if rows else None

    def close(self) -> None:
        if self._cur is not None:
            self._cur.close()
            self._cur = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __call__(self) -> bool:
        if self.stopped:
            return True
        asked = time.time()  # before the read: a read that began before the halt committed is in flight
        if self.state() == RUNNING and not (self.window_closed is not None and self.window_closed()):
            self.gos.append(asked)
            return False
        self.stopped = True
        return True

    def late_admissions(self, halted_at: datetime | None) -> int:
        """Go decisions whose read began after the halt committed (``halted_at`` is stamped just
        after the commit). Each would be a device changed after the halt; the read phase's polls
        (every 50 ms, before presence and backup reads) count too, so it is an upper bound. The
        promise is that it is 0."""
        if halted_at is None:
            return 0
        cut = halted_at.timestamp()
        return sum(1 for t in self.gos if t > cut)
