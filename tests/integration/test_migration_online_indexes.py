"""Migration 0028's indexes are built without stopping writers (issue 39).

The rolling upgrade (docs/deploy.md) migrates while the old processes keep serving. On PostgreSQL
0028 builds its indexes ``CONCURRENTLY``: a write to ``devices`` goes on while a build waits for an
open write transaction, instead of queueing behind the build's lock. A build that failed half-way
leaves an INVALID index of the same name: the next upgrade drops and rebuilds it. SQLite builds
them as before.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import create_engine, insert, select, text

from core.kernel.models import utcnow
from core.store.db import Store, migration_head
from core.store.schema import DeviceRow
from testing.bulk_fleet import seed_bulk_fleet
from tests.conftest import PG_URL, REQUIRE, make_db_url

BTREE = [f"ix_devices_{c}_id" for c in ("last_seen", "model", "firmware", "region", "subscriber")]
BTREE_ALL = [*BTREE, "ix_snapshot_heads_snapshot_id"]
PG_ONLY = ["ix_snapshots_params_gin", "ix_devices_search_trgm"]
_LIVE = itertools.count()

needs_pg = [pytest.mark.postgres,
            pytest.mark.skipif(not PG_URL and not REQUIRE,
                               reason="needs PostgreSQL (GATEWARD_TEST_DATABASE_URL); "
                                      "GATEWARD_REQUIRE_SERVICES=1 makes it mandatory")]


@pytest.fixture
def pg_at_0027(tmp_path: Path) -> Iterator[Store]:
    """A PostgreSQL schema migrated to 0027 holding a small fleet."""
    url, cleanup = make_db_url("postgres", tmp_path)
    store = Store(url, migrate=False)
    try:
        store.migrate("0027")
        seed_bulk_fleet(store, 60, seed=3, users=False)
        yield store
    finally:
        store.dispose()
        cleanup()


def _indexes(store: Store) -> dict[str, tuple[bool, str]]:
    """name -> (valid, definition) of this schema's indexes."""
    with store.engine.connect() as c:
        rows = c.execute(text("SELECT ic.relname, i.indisvalid, pg_get_indexdef(i.indexrelid) FROM pg_index i "
                              "JOIN pg_class ic ON ic.oid = i.indexrelid "
                              "JOIN pg_namespace n ON n.oid = ic.relnamespace WHERE n.nspname = current_schema()"))
        return {r[0]: (bool(r[1]), str(r[2])) for r in rows}


def _trgm(store: Store) -> bool:
    with store.engine.connect() as c:
        return c.execute(text("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'")).first() is not None


def _assert_built(store: Store) -> None:
    found = _indexes(store)
    wanted = BTREE_ALL + PG_ONLY[:1] + (PG_ONLY[1:] if _trgm(store) else [])
    for name in wanted:
        assert name in found, name
        assert found[name][0], f"{name} is INVALID"
    for col in ("last_seen", "model", "firmware", "region", "subscriber"):
        assert found[f"ix_devices_{col}_id"][1].endswith(f"USING btree ({col}, id)")
    assert "jsonb_path_ops" in found["ix_snapshots_params_gin"][1]
    with store.engine.connect() as c:
        assert c.scalar(text("SELECT version_num FROM alembic_version")) == migration_head()


def _alembic(store: Store, fn: Callable[..., None], revision: str) -> None:
    """Run an Alembic command the way ``Store.migrate`` does (its lock, its own transactions)."""
    store._run_alembic(fn, revision)


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=needs_pg)])
def test_upgrade_from_0027_builds_valid_indexes(backend: str, tmp_path: Path) -> None:
    url, cleanup = make_db_url(backend, tmp_path)
    store = Store(url, migrate=False)
    try:
        store.migrate("0027")
        seed_bulk_fleet(store, 40, seed=3, users=False)  # today's users table is newer than 0027
        store.migrate()
        if backend == "sqlite":
            with store.engine.connect() as c:
                names = set(c.execute(text("SELECT name FROM sqlite_master WHERE type = 'index'")).scalars())
            assert set(BTREE_ALL) <= names
            assert not set(PG_ONLY) & names
        else:
            _assert_built(store)
        # And back down: every index of 0028 goes (on PostgreSQL concurrently: the tables hold rows).
        _alembic(store, command.downgrade, "0027")
        if backend == "sqlite":
            with store.engine.connect() as c:
                names = set(c.execute(text("SELECT name FROM sqlite_master WHERE type = 'index'")).scalars())
        else:
            names = set(_indexes(store))
        assert not (set(BTREE_ALL) | set(PG_ONLY)) & names
    finally:
        store.dispose()
        cleanup()


@pytest.mark.parametrize("_pg", [pytest.param("postgres", marks=needs_pg)])
def test_an_invalid_leftover_of_a_failed_build_is_rebuilt(_pg: str, pg_at_0027: Store) -> None:
    """A concurrent build that failed half-way leaves an INVALID index under the name; one that
    got through before the upgrade stopped leaves a valid one. The re-run keeps the valid one,
    rebuilds the invalid ones and finishes."""
    store = pg_at_0027
    with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text("CREATE INDEX CONCURRENTLY ix_devices_last_seen_id ON devices (last_seen, id)"))
        for sql in ("CREATE INDEX CONCURRENTLY ix_devices_model_id ON devices ((1 / (length(model) - length(model))))",
                    "CREATE INDEX CONCURRENTLY ix_snapshots_params_gin ON parameter_snapshots "
                    "((1 / (length(source) - length(source))))"):
            with pytest.raises(Exception, match="division by zero"):
                c.execute(text(sql))
    before = _indexes(store)
    assert before["ix_devices_model_id"][0] is False and before["ix_snapshots_params_gin"][0] is False
    kept = before["ix_devices_last_seen_id"]
    store.migrate()
    _assert_built(store)
    assert _indexes(store)["ix_devices_last_seen_id"] == kept


def _device(n: int) -> dict[str, Any]:
    now = utcnow()
    return {"id": f"00D0F1-CGW3400-LIVE{n:04d}", "vendor": "Vantec", "model": "CGW-3400", "product_class": "CGW3400",
            "oui": "00D0F1", "serial": f"LIVE{n:04d}", "firmware": "7.2.1", "root": "Device.", "protocol": "cwmp",
            "adapter": "sim", "subscriber": f"live-{n}", "region": "DE", "service": "standard", "tags": [],
            "upstream_id": None, "last_seen": now, "created_at": now}


def _writes_go_on_during(store: Store, run: Callable[[], None],
                         meanwhile: Callable[[], None] | None = None) -> None:
    """``run`` (a migration) on a thread while a writer holds an open write transaction on
    ``devices``; once the migration waits on that writer, another connection inserts a device
    with a 2 s lock_timeout: it must not queue behind the migration's index build. ``meanwhile``
    runs then too, before the writer commits."""
    other = create_engine(store.url)
    writer = other.connect()
    failure: list[BaseException] = []

    def target() -> None:
        try:
            run()
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    try:
        first = writer.scalar(select(DeviceRow.id).order_by(DeviceRow.id).limit(1))
        writer.execute(text("UPDATE devices SET last_seen = last_seen WHERE id = :d"), {"d": first})
        wpid = writer.scalar(text("SELECT pg_backend_pid()"))
        thread.start()
        deadline = time.monotonic() + 60
        with other.connect() as watch:
            while not watch.scalar(text("SELECT count(*) FROM pg_stat_activity WHERE :w = ANY(pg_blocking_pids(pid))"),
                                   {"w": wpid}):
                assert thread.is_alive(), failure
                assert time.monotonic() < deadline, "the migration never waited on the open write transaction"
                time.sleep(0.05)
        with other.connect() as live:
            live.execute(text("SET lock_timeout = '2s'"))  # a write the migration blocked fails here
            live.execute(insert(DeviceRow), [_device(next(_LIVE))])
            live.commit()
        if meanwhile is not None:
            meanwhile()
        writer.commit()
        thread.join(120)
        assert not thread.is_alive(), "the migration did not finish after the writer committed"
        assert not failure, failure
    finally:
        writer.close()
        thread.join(120)
        other.dispose()


@pytest.mark.parametrize("_pg", [pytest.param("postgres", marks=needs_pg)])
def test_writes_to_devices_go_on_while_the_indexes_build(_pg: str, pg_at_0027: Store) -> None:
    store = pg_at_0027
    _writes_go_on_during(store, store.migrate)
    _assert_built(store)
    _writes_go_on_during(store, lambda: _alembic(store, command.downgrade, "0027"))
    assert not (set(BTREE_ALL) | set(PG_ONLY)) & set(_indexes(store))


@pytest.mark.parametrize("_pg", [pytest.param("postgres", marks=needs_pg)])
def test_a_second_starter_waits_its_turn_during_a_concurrent_build(_pg: str, pg_at_0027: Store) -> None:
    """Another process starting while the upgrade builds concurrently waits for the migration
    lock without deadlocking: a concurrent build waits for every older snapshot in the database,
    so a starter must not wait for the lock inside a statement (PostgreSQL's deadlock detector
    would cancel it after deadlock_timeout, 1 s)."""
    store = pg_at_0027
    second = Store(store.url, migrate=False)
    done: list[BaseException | None] = []

    def start_second() -> None:
        def target() -> None:
            try:
                second.migrate()
                done.append(None)
            except BaseException as exc:
                done.append(exc)

        threading.Thread(target=target, daemon=True).start()
        time.sleep(2.5)  # past deadlock_timeout while the first still waits on the writer
        assert not done, done

    try:
        _writes_go_on_during(store, store.migrate, start_second)
        deadline = time.monotonic() + 60
        while not done and time.monotonic() < deadline:
            time.sleep(0.05)
        assert done == [None]
        _assert_built(store)
    finally:
        second.dispose()
