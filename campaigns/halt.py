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
_PG_NAME = b"gateward_halt_state"
_PG_STATE = b"SELECT state FROM campaigns WHERE id = $1"
_LITE_STATE = "SELECT state FROM campaigns WHERE id = ?"
_NO_SUCH_STATEMENT = b"26000"  # invalid_sql_statement_name: the connection's statements were deallocated


class Stopper:
    """``stop()`` for :meth:`Lifecycle.apply_batch`: true once the campaign is no longer running."""

    def __init__(self, store: Store, campaign_id: str, *, window_closed: Callable[[], bool] | None = None) -> None:
        self.store = store
        self.window_closed = window_closed  # a change window closing mid-batch stops it the same way
        self.campaign_id = campaign_id
        self.gos: list[float] = []
        self.stopped = False
        self._conn: Connection | None = None
        self._cur: Any = None  # SQLite: the driver's cursor
        self._pg: Any = None  # PostgreSQL: libpq's connection (psycopg's ``pgconn``)
        self._key = campaign_id.encode()

    def state(self) -> str | None:
        # One connection for the whole batch: the check runs before every device write, so it must
        # cost one round trip and next to no Python. PostgreSQL reads in autocommit through libpq
        # itself (psycopg's ``pgconn``: one PQexecPrepared, the GIL released while it waits), the
        # statement prepared on the server once per connection — no parse or plan per device on
        # either side, and none of a cursor's Python (its query conversion, adaptation and
        # non-blocking wait loop cost ~3x the CPU of the call itself). SQLite's driver runs in
        # autocommit too (the store switches pysqlite's own transactions off), so each read is its
        # own statement and sees the latest commit; its statement cache already keeps it compiled.
        if self._conn is None:
            conn = self.store.engine.connect()
            if self.store.dialect == "postgresql":
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
                self._pg = conn.connection.driver_connection.pgconn  # type: ignore[union-attr]
            else:
                self._cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            self._conn = conn
        if self._pg is not None:
            return self._pg_state()
        self._cur.execute(_LITE_STATE, (self.campaign_id,))
        rows = self._cur.fetchall()  # to the end: on SQLite that also ends the statement's read snapshot
        return str(rows[0][0]) if rows else None

    def _pg_state(self) -> str | None:
        from psycopg import errors, pq

        res = self._pg.exec_prepared(_PG_NAME, [self._key])
        if res.status != pq.ExecStatus.TUPLES_OK and res.error_field(
                pq.DiagnosticField.SQLSTATE) == _NO_SUCH_STATEMENT:
            # First use on this pooled connection, or psycopg deallocated its statements (it does on
            # ROLLBACK): prepare it and read again.
            prep = self._pg.prepare(_PG_NAME, _PG_STATE)
            if prep.status != pq.ExecStatus.COMMAND_OK:
                raise errors.error_from_result(prep)
            res = self._pg.exec_prepared(_PG_NAME, [self._key])
        if res.status != pq.ExecStatus.TUPLES_OK:
            raise errors.error_from_result(res)
        return res.get_value(0, 0).decode() if res.ntuples else None

    def close(self) -> None:
        self._pg = None
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
