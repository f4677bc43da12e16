"""Engine, sessions and migrations.

SQLite by default (WAL, ``BEGIN IMMEDIATE`` for write transactions so that two processes never
interleave a read-modify-write); PostgreSQL via ``GATEWARD_DATABASE_URL``. The schema is created
only by Alembic migrations, never by ``create_all``, so a fresh database and an upgraded one are
the same thing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from core.config import get_settings

MIGRATIONS = Path(__file__).parent / "migrations"


def normalise_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs and use the psycopg 3 driver we ship."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _json_dumps(obj: Any) -> str:
    return orjson.dumps(obj).decode()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """orjson for JSON columns: snapshots and previews are decoded by the hundred thousand."""
    url = normalise_url(url)
    kwargs.setdefault("json_serializer", _json_dumps)
    kwargs.setdefault("json_deserializer", orjson.loads)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # pysqlite's own transaction handling is switched off so that we can say BEGIN IMMEDIATE.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            # Fleet-scale gates join and group a million rows: keep the working set in memory.
            cur.execute("PRAGMA cache_size=-262144")  # 256 MiB page cache
            cur.execute("PRAGMA mmap_size=1073741824")
            cur.execute("PRAGMA temp_store=MEMORY")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("immediate") else "BEGIN")

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20, **kwargs)


class Store:
    """One database: sessions for reading and for writing, and its migrations."""

    def __init__(self, url: str | None = None, *, migrate: bool = True) -> None:
        self.url = normalise_url(url or get_settings().resolved_database_url())
        self.engine = make_engine(self.url)
        self.dialect = self.engine.dialect.name
        self._write_engine = self.engine.execution_options(immediate=True)
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        self._write = sessionmaker(self._write_engine, expire_on_commit=False)
        self._migrated = False
        self._lock = threading.Lock()
        if migrate:
            self.migrate()

    # ------------------------------------------------------------------ sessions
    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._read() as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A transaction that commits on success and rolls back on any exception."""
        from core.errors import Conflict

        try:
            with self._write() as session, session.begin():
                yield session
        except StaleDataError as exc:
            # Optimistic concurrency (proposals.version): someone else changed the row first.
            raise Conflict("the record was changed by someone else at the same moment; reload and retry") from exc

    # ------------------------------------------------------------------ schema
    def alembic_config(self) -> Config:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        return cfg

    def migrate(self, revision: str = "head") -> None:
        with self._lock:
            if self._migrated and revision == "head":
                return
            with self.engine.begin() as conn:
                if self.dialect == "postgresql":
                    # Several processes may start at once (API workers, CLI): one migrates.
                    conn.execute(text("SELECT pg_advisory_xact_lock(72616)"))
                cfg = self.alembic_config()
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, revision)
            self._migrated = True

    def dispose(self) -> None:
        self.engine.dispose()


_default: Store | None = None
_default_lock = threading.Lock()


def default_store() -> Store:
    """The process-wide store for the configured database (created and migrated on first use)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Store()
        return _default
