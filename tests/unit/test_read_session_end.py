"""How a read session ends (issue 15): on PostgreSQL its transaction is READ ONLY, so a write
through it — however sent — is refused by the server, and it ends with a COMMIT at the driver, so
psycopg keeps the connection's prepared statements (it drops them all on every ROLLBACK). On
SQLite a read session's writes are rolled back. Either way a read session's writes are never kept."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.exc import DBAPIError

from core.kernel.models import utcnow
from core.store import records
from core.store.fastsql import Prepared
from core.store.schema import UserRow

_USERS = UserRow.__table__
_COUNT_X = Prepared(select(_USERS.c.id).where(_USERS.c.id == "x-read"))


def _user(store: Any, uid: str) -> bool:
    with store.write() as s:
        return s.get(UserRow, uid) is not None


def _row(uid: str) -> dict[str, Any]:
    return {"id": uid, "roles": ["viewer"], "kind": "human", "active": True, "created_at": utcnow()}


def _refused(store: Any) -> AbstractContextManager[Any]:
    """On PostgreSQL the server refuses the write (READ ONLY transaction) — through SQLAlchemy
    as its DBAPIError, on the bare cursor as psycopg's own; elsewhere the write runs and is rolled
    back with the session."""
    if store.dialect == "postgresql":
        from psycopg.errors import ReadOnlySqlTransaction

        return pytest.raises((DBAPIError, ReadOnlySqlTransaction), match="read-only")
    return nullcontext()


def test_orm_write_in_a_read_session_is_not_kept(store: Any) -> None:
    with _refused(store), store.read() as s:
        s.add(UserRow(**_row("x-orm")))
        s.flush()
    assert not _user(store, "x-orm")


def test_core_write_in_a_read_session_is_not_kept(store: Any) -> None:
    with _refused(store), store.read() as s:
        s.execute(insert(UserRow).values(**_row("x-core")))
    assert not _user(store, "x-core")


def test_fastsql_write_in_a_read_session_is_not_kept(store: Any) -> None:
    with _refused(store), store.read() as s:
        records.insert_rows(s, _USERS, [_row("x-fast")])
    assert not _user(store, "x-fast")


def test_raw_text_write_in_a_read_session_is_not_kept(store: Any) -> None:
    """Writes no ORM event sees — a raw ``text`` statement, one sent on ``session.connection()``,
    one on the DB-API cursor — are refused too (stop 23's end_read would have committed them)."""
    with store.write() as s:
        s.add(UserRow(**_row("x-raw")))
    with _refused(store), store.read() as s:
        s.execute(text("UPDATE users SET active = false WHERE id = 'x-raw'"))
    with _refused(store), store.read() as s:
        s.connection().exec_driver_sql("UPDATE users SET active = false WHERE id = 'x-raw'")
    with _refused(store), store.read() as s:
        cur = s.connection().connection.driver_connection.cursor()
        cur.execute("UPDATE users SET active = false WHERE id = 'x-raw'")
    with store.write() as s:
        assert s.get(UserRow, "x-raw").active is True


def test_a_read_session_leaves_the_pool_writable(store: Any) -> None:
    """The READ ONLY mark is the read session's alone: the pooled connection it used writes again."""
    for _ in range(3):
        with store.read() as s:
            s.execute(select(UserRow.id)).all()
    with store.write() as s:
        s.add(UserRow(**_row("x-after-read")))
    assert _user(store, "x-after-read")


def test_unflushed_object_in_a_read_session_is_dropped(store: Any) -> None:
    with store.read() as s:
        s.add(UserRow(**_row("x-pending")))
    assert not _user(store, "x-pending")


def test_read_session_that_raises_is_rolled_back(store: Any) -> None:
    with pytest.raises(RuntimeError), store.read() as s:
        s.execute(select(UserRow.id)).all()
        raise RuntimeError("boom")
    with store.read() as s:  # the pooled connection is usable afterwards
        assert s.execute(text("SELECT 1")).scalar() == 1


def test_postgres_read_session_keeps_prepared_statements(store: Any) -> None:
    """A statement run often enough to be prepared stays prepared across read sessions: no
    ``DEALLOCATE ALL`` after them (the cost this change removes)."""
    if store.dialect != "postgresql":
        pytest.skip("psycopg's prepared statements")
    for _ in range(12):  # prepared from the fifth use on each pooled connection
        with store.read() as s:
            _COUNT_X.all(s)
    with store.read() as s:
        raw = s.connection().connection.driver_connection
        prepared = s.execute(text("SELECT count(*) FROM pg_prepared_statements")).scalar()
    assert prepared and prepared >= 1, "the read sessions' ends dropped the prepared statements"
    assert raw.info.transaction_status.name == "IDLE"  # ended by COMMIT, nothing left open


def test_read_connection_cannot_write_and_leaves_the_pool_writable(store: Any) -> None:
    """``Store.read_connection`` (API answers): reads; on PostgreSQL a write is refused (READ
    ONLY) and prepared statements survive; the pooled connection can write again afterwards."""
    with store.read_connection() as conn:
        assert conn.execute(text("SELECT 1")).scalar() == 1
    if store.dialect == "postgresql":
        from sqlalchemy.exc import DBAPIError

        with pytest.raises(DBAPIError, match="read-only"), store.read_connection() as conn:
            conn.execute(insert(UserRow).values(**_row("x-ro")))
        for _ in range(12):
            with store.read_connection() as conn:
                _COUNT_X.all(conn)
        with store.read_connection() as conn:
            assert (conn.execute(text("SELECT count(*) FROM pg_prepared_statements")).scalar() or 0) >= 1
    assert not _user(store, "x-ro")
    with store.write() as s:  # the same pooled connections, no longer read-only
        s.add(UserRow(**_row("x-after")))
    assert _user(store, "x-after")
