"""The settings every SQLite connection of a store runs with, wherever it is opened.

One function, so that a connection the engine's pool opens and one a fleet pass opens beside it
(:func:`core.store.grouping.sqlite_groups`) read the database the same way.
"""

from __future__ import annotations

from typing import Any

# The pool record's info key under which ``core.store.db`` notes, at each BEGIN, whether the
# transaction holds the write lock and the connection's change count then
# (:func:`core.store.grouping.sqlite_groups` reads it).
BEGUN = "gw_sqlite_begun"


def sqlite_pragmas(dbapi_conn: Any) -> None:
    """Put a new DB-API connection in the state the store relies on."""
    # pysqlite's own transaction handling is switched off so that we can say BEGIN IMMEDIATE.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    try:
        cur.execute("PRAGMA busy_timeout=30000")
        _enable_wal(cur)
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        # A 1 GiB shared mmap, 64 MiB of private page cache a connection: docs/performance.md, D17.
        cur.execute("PRAGMA cache_size=-65536")  # 64 MiB page cache per connection
        cur.execute("PRAGMA mmap_size=1073741824")
        cur.execute("PRAGMA temp_store=MEMORY")
    finally:
        cur.close()


def _enable_wal(cur: Any, budget_s: float = 30.0) -> None:
    """Switch a SQLite database to WAL. On a fresh file two processes starting together race for
    the switch, and SQLite answers the loser "database is locked" at once, without its busy handler
   : retry with back-off until the other one has switched it (then it is a
    no-op) or the budget runs out."""
    import sqlite3
    import time

    deadline = time.monotonic() + budget_s
    delay = 0.01
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + delay > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
