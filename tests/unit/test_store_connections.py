"""How the store holds its connections (issue 15): SQLite writes on one kept connection, a write
inside a write on its own, a failed write never leaking into the next; PostgreSQL pings a pooled
connection only after it idled, and a dead idle one is replaced before the caller sees it."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from core.store import db as store_db
from core.store.db import Store
from tests.conftest import PG_URL, _pg_schema_url


@pytest.fixture
def lite(tmp_path: Path) -> Any:
    st = Store(f"sqlite:///{tmp_path / 'x.db'}")
    with st.write() as s:
        s.execute(text("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)"))
    yield st
    st.dispose()


def _raw(s: Any) -> Any:
    return s.connection().connection.driver_connection


def test_sqlite_memory_per_connection_is_bounded(lite: Store) -> None:
    """Each SQLite connection's own page cache is process memory, one per pooled connection: it is
    capped at 64 MiB (the database itself is read through the shared mmap), and the pool cannot
    grow past 15 connections, so the store's page caches stay under 1 GiB whatever the fleet."""
    with lite.read() as s:
        raw = _raw(s)
        assert raw.execute("PRAGMA cache_size").fetchone()[0] == -65536  # KiB
        assert raw.execute("PRAGMA mmap_size").fetchone()[0] == 1 << 30
    pool = lite.engine.pool
    assert pool.size() + pool._max_overflow <= 15  # type: ignore[attr-defined]


def test_sqlite_writes_share_one_connection_and_commit(lite: Store) -> None:
    seen = set()
    for i in range(5):
        with lite.write() as s:
            seen.add(id(_raw(s)))
            s.execute(text("INSERT INTO t VALUES (:k, 'x')"), {"k": i})
    assert len(seen) == 1
    with lite.read() as s:
        assert s.scalar(text("SELECT count(*) FROM t")) == 5


def test_sqlite_write_inside_a_write_gets_its_own_connection(lite: Store) -> None:
    with lite.write() as outer:
        outer.execute(text("INSERT INTO t VALUES (1, 'outer')"))
        outer_raw = _raw(outer)
        # The same thread re-enters the reentrant writer lock: it must not join the outer
        # transaction (its commit would commit the outer's work early). On SQLite it waits for
        # the outer's write lock — here it only reads, which WAL lets it do.
        with lite.read() as inner_read:
            assert inner_read.scalar(text("SELECT count(*) FROM t")) == 0  # outer not committed yet
        assert lite._held_busy
        conn = lite._take_held()
        assert conn is None  # a nested writer is refused the held connection
    assert not lite._held_busy
    with lite.write() as s:
        assert _raw(s) is outer_raw


def test_sqlite_failed_write_rolls_back_and_the_next_write_is_clean(lite: Store) -> None:
    with pytest.raises(RuntimeError), lite.write() as s:
        s.execute(text("INSERT INTO t VALUES (1, 'lost')"))
        raise RuntimeError("boom")
    assert lite._held is None  # dropped after the failure: a fresh connection serves the next write
    with lite.write() as s:
        assert s.scalar(text("SELECT count(*) FROM t")) == 0
        s.execute(text("INSERT INTO t VALUES (2, 'kept')"))
    with lite.read() as s:
        assert s.execute(text("SELECT k, v FROM t")).all() == [(2, "kept")]


def test_sqlite_writers_on_threads_take_turns(lite: Store) -> None:
    errors: list[BaseException] = []

    def work(base: int) -> None:
        try:
            for i in range(50):
                with lite.write() as s:
                    n = s.scalar(text("SELECT count(*) FROM t"))
                    s.execute(text("INSERT INTO t VALUES (:k, :v)"), {"k": base + i, "v": str(n)})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(1000 * j,)) for j in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with lite.read() as s:
        counts = sorted(int(v) for (v,) in s.execute(text("SELECT v FROM t")))
    assert counts == list(range(200))  # every transaction saw every earlier one: no interleaving


@pytest.mark.skipif(not PG_URL, reason="needs PostgreSQL (GATEWARD_TEST_DATABASE_URL)")
def test_postgres_pings_only_idle_connections_and_replaces_a_dead_one(monkeypatch: pytest.MonkeyPatch) -> None:
    url, admin, schema = _pg_schema_url()
    st = Store(url, migrate=False)
    pings: list[int] = []
    real = st.engine.dialect.do_ping

    def counting_ping(dbapi_conn: Any) -> bool:
        pings.append(1)
        return bool(real(dbapi_conn))

    monkeypatch.setattr(st.engine.dialect, "do_ping", counting_ping)
    try:
        with st.read() as s:
            pid = s.scalar(text("SELECT pg_backend_pid()"))
        first = len(pings)
        for _ in range(5):  # handed back moments ago: no ping
            with st.read() as s:
                assert s.scalar(text("SELECT pg_backend_pid()")) == pid
        assert len(pings) == first
        # The connection idles past the window and dies meanwhile (a server restart, a proxy).
        monkeypatch.setattr(store_db, "PING_AFTER_IDLE_S", 0.0)
        with admin.begin() as c:
            c.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
        with st.read() as s:  # pinged, found dead, replaced: the caller never sees the failure
            assert s.scalar(text("SELECT 1")) == 1
            assert s.scalar(text("SELECT pg_backend_pid()")) != pid
        assert len(pings) > first
    finally:
        st.dispose()
        with admin.begin() as c:
            c.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
