"""A lookup by a list of ids (``core.store.records.among``) must be answered by the primary key's
index on SQLite, not by scanning the table: compiled as ``IN (...) = 1`` it scanned every device
for every list (1M devices: ~0.15–0.5 s per lookup, five of them in a fleet gate; issue 15)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy.dialects import sqlite

from core.store import Store, repo


def test_list_lookups_search_the_index(tmp_path: Path) -> None:
    path = tmp_path / "plan.db"
    Store(f"sqlite:///{path}").dispose()
    con = sqlite3.connect(path)
    for stmt in (repo._TARGET_ROWS_FOR, repo._DEVICES_BY_ID, repo._DEVICE_STATUS):
        sql = stmt.plan(sqlite.dialect()).sql
        assert "= 1" not in sql, sql
        plan = " | ".join(r[3] for r in con.execute("EXPLAIN QUERY PLAN " + sql, ('["a", "b"]',)))
        assert "SEARCH devices" in plan and "SCAN devices" not in plan, plan
    con.close()
