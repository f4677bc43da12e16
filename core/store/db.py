"""Engine, sessions and migrations.

SQLite by default (WAL, ``BEGIN IMMEDIATE`` for write transactions so that two processes never
interleave a read-modify-write); PostgreSQL via ``GATEWARD_DATABASE_URL``. The schema is created
only by Alembic migrations, never by ``create_all``, so a fresh database and an upgraded one are
the same thing.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from core.failpoints import STORE_WRITE, failpoint
from core.kernel.config import get_settings, pool_settings
from core.kernel.errors import note_database_file
from core.store.admission import wait_for_a_session
from core.store.commit_info import AUDIT_QUEUE, RELAXED_COMMIT
from core.store.fastsql import Prepared
from core.store.lane import process_lane
from core.store.lite_pragmas import BEGUN, sqlite_pragmas

if TYPE_CHECKING:  # Alembic costs ~0.2 s to import: loaded only when a migration runs
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
_NAMED_LOCKS: dict[str, threading.Lock] = {}
_NAMED_LOCKS_GUARD = threading.Lock()
# Per thread: how many write transactions it has open on each SQLite file (keyed by the file's
# writer lock, one per file in the process): ``Store.fleet_read`` must not wait for the write lock
# its own thread holds.
_THREAD_WRITES = threading.local()
# PostgreSQL, ``Store.write(durable=False)``: this transaction's commit does not wait for its WAL
# flush (``is_local``: the setting ends with the transaction). A SELECT, so it can be prepared.
_ASYNC_COMMIT = Prepared(text("SELECT set_config('synchronous_commit', 'off', true)"))
# ``Store.ensure_durable``: a transaction that writes WAL, so that its synchronous commit flushes
# (one that only took a transaction id commits without waiting: PostgreSQL skips the flush when
# the transaction itself logged nothing). A transactional logical-decoding message is the
# smallest such write, needs no table and no privilege; logical decoders ignore its prefix.
_WAL_MARK = Prepared(text("SELECT pg_logical_emit_message(true, 'gateward.durable', '')"))


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
        def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
            sqlite_pragmas(dbapi_conn)

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # On the driver connection directly: through ``exec_driver_sql`` this one statement cost
            # as much as the rest of a lifecycle transaction's own statements.
            raw = conn.connection.driver_connection
            immediate = bool(conn.get_execution_options().get("immediate"))
            raw.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
            # What a fleet pass needs to know before it reads on other connections too
            # (core.store.grouping._parallel_ranges): the write lock held, and nothing written since.
            conn.connection.info[BEGUN] = (immediate, raw.total_changes)

        return engine
    pool = pool_settings()
    engine = create_engine(url, pool_size=pool.db_pool_size, max_overflow=pool.db_pool_overflow, **kwargs)
    wait_for_a_session(engine, pool.db_connect_wait_s)
    _ping_when_idle(engine)
    return engine


PING_AFTER_IDLE_S = 5.0


def _readable(dbapi_conn: Any) -> bool:
    """Has the server sent something to a connection that sits idle in the pool? It never does
    unprompted except to end it: an error before it closes the session (a restart, an
    administrator's ``pg_terminate_backend``), or the end of the stream (a proxy or the network
    dropped it). A zero-timeout ``poll`` of the socket: one system call, no round trip."""
    import select

    try:
        fd = dbapi_conn.fileno()
    except Exception:  # closed already: certainly not usable
        return True
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLERR | select.POLLHUP)
    return bool(poller.poll(0))


def _ping_when_idle(engine: Engine) -> None:
    """Drop dead pooled connections before a caller gets one: a connection is pinged on
    checkout when it sat idle for ``PING_AFTER_IDLE_S``, or when the server has sent it anything
    while it sat in the pool (:func:`_readable`, a system call) — a dead one is replaced before the
    caller sees it (SQLAlchemy's pessimistic-disconnect recipe, with the dialect's own ping).

    Why not ``pool_pre_ping``: it pings on *every* checkout, one extra round trip for each of the
    ~17 transactions of a proposal's life on PostgreSQL; a connection handed back
    moments ago that nothing was sent to is as alive as it was then. The poll found the
    connections a database outage left behind (every one had been ended by the server or the
    proxy), which the idle rule alone handed out for 5 s after the database was back, each to fail
    one request. ``gateward bench pool_checkout`` measures the three ways."""
    import time

    from sqlalchemy import exc

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_conn: Any, record: Any) -> None:
        if record is not None:
            record.info["gw_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("gw_idle_since")
        if since is not None and time.monotonic() - since < PING_AFTER_IDLE_S and not _readable(dbapi_conn):
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except Exception as err:  # the pool retries the checkout with a fresh connection
            raise exc.DisconnectionError(f"pooled connection failed its ping: {err}") from err


_REVISION_LINE = re.compile(r"^(down_revision|revision)\b[^=\n]*=\s*(.+)$", re.M)


@functools.lru_cache(maxsize=1)
def migration_head() -> str | None:
    """The one head revision of ``migrations/versions`` read from the files' ``revision`` and
    ``down_revision`` lines (no Alembic import); None when that is not a single clear head."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for f in (MIGRATIONS / "versions").glob("*.py"):
        lines = {k: re.findall(r"['\"]([^'\"]+)['\"]", v) for k, v in _REVISION_LINE.findall(f.read_text("utf-8"))}
        if len(lines.get("revision", [])) != 1:
            return None
        revisions.add(lines["revision"][0])
        parents.update(lines.get("down_revision", []))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


class Store:
    """One database: sessions for reading and for writing, and its migrations."""

    def __init__(self, url: str | None = None, *, migrate: bool = True) -> None:
        self.url = normalise_url(url or get_settings().resolved_database_url())
        self.engine = make_engine(self.url)
        self.dialect = self.engine.dialect.name
        self._write_engine = self.engine.execution_options(immediate=True)
        self._read_only = self.engine.execution_options(postgresql_readonly=True) \
            if self.dialect == "postgresql" else self.engine
        # On PostgreSQL a read session's transaction is READ ONLY: a write through it, however
        # sent (ORM flush, Core DML, raw text, the DB-API cursor), fails loudly at the server.
        self._read = sessionmaker(self._read_only, expire_on_commit=False)
        self._write = sessionmaker(self._write_engine, expire_on_commit=False)
        self._migrated = False
        self._lock = threading.Lock()
        db_file = self.engine.url.database if self.dialect == "sqlite" else None
        self._writer = writer_lock(db_file) if db_file and db_file != ":memory:" else None
        if self._writer is not None and db_file:
            note_database_file(db_file)  # an I/O error while its disk is full is a full disk
        self._held: Connection | None = None  # SQLite: the one write connection, see ``_take_held``
        self._held_busy = False
        self._held_pid = os.getpid()
        self._flushed = threading.local()  # PostgreSQL: an asynchronous commit not yet flushed by a later one
        # Interactive database work of this process takes turns here (``core.store.lane``).
        self.lane = process_lane(self.dialect)
        if migrate:
            self.migrate()

    @property
    def write_engine(self) -> Engine:
        """The engine write sessions are bound to (``core.audit`` chains committed events on it)."""
        return self._write_engine

    # ------------------------------------------------------------------ sessions
    @contextmanager
    def read(self, *, laned: bool = False) -> Iterator[Session]:
        """A session for reading. On PostgreSQL its transaction is ``READ ONLY`` (said in the
        ``BEGIN``, no extra round trip), so no write through it can happen, and it ends with
        COMMIT, not ROLLBACK (:func:`end_read`). ``laned``: the body runs in the process's store
        lane (``core.store.lane``) — for interactive work that never waits on a device."""
        with self._read() as session, (self.lane() if laned else contextlib.nullcontext()):
            yield session
            if self.dialect == "postgresql":
                end_read(session)

    @contextmanager
    def read_connection(self, *, laned: bool = False) -> Iterator[Connection]:
        """A Core connection for reading only (API answers, list pages); ``laned`` as for
        :meth:`read`.

        On PostgreSQL its transaction is ``READ ONLY`` (psycopg's ``read_only``: said in the
        ``BEGIN``, no extra round trip), so it cannot write, and it ends with COMMIT: closed the
        usual way it was rolled back, and psycopg answers every ROLLBACK by dropping the
        connection's prepared statements (:func:`end_read`). Elsewhere a plain connection."""
        lane = self.lane() if laned else contextlib.nullcontext()
        if self.dialect != "postgresql":
            with lane, self.engine.connect() as conn:
                yield conn
            return
        with lane, self._read_only.connect() as conn:
            yield conn
            raw = conn.connection.driver_connection  # statements run on it directly too (fastsql)
            if raw is not None and raw.info.transaction_status.name == "INTRANS":
                raw.commit()
            if conn.in_transaction():
                conn.commit()  # SQLAlchemy's own bookkeeping: the driver has nothing left to end

    @contextmanager
    def write(self, *, durable: bool = True, laned: bool = False) -> Iterator[Session]:
        """A transaction that commits on success and rolls back on any exception.

        ``laned``: the body runs in the process's store lane (``core.store.lane``; interactive
        work that never waits on a device), taken once this transaction holds the SQLite write
        lock. On PostgreSQL it is given back before COMMIT, so that no thread waits on the lane
        while another waits for its commit's WAL flush.

        ``durable=False`` is for a transaction that only *prepares* the next step of the same
        call — nothing outside the database acts on it, and the call commits durably before it
        answers anyone or touches a device. On PostgreSQL it commits asynchronously
        (``synchronous_commit = off`` for this transaction only): visible at once, atomic as
        always, but its WAL flush is left to the next synchronous commit, which flushes it too
        (the WAL is flushed in order). A database crash in between loses it exactly as if the
        crash had come before it. :meth:`ensure_durable` is the guard every device write and
        every early answer passes (``docs/safety.md``, "Durable before it leaves the database").
        Elsewhere the argument changes nothing."""
        from core.kernel.errors import Conflict

        failpoint(STORE_WRITE)  # tests: a disk that is full (core.failpoints); one dict lookup otherwise
        if self._writer is None and self.dialect == "postgresql":
            # The same transaction with fewer layers: no file write lock, no held connection and no
            # per-thread write count exist off SQLite, and their empty context managers cost as
            # much as a statement at every commit of a proposal's life.
            try:
                with self._write() as session, session.begin():
                    if laned:
                        with self.lane():  # given back before COMMIT, as below
                            yield session
                            self._commit_settings(session, not durable)
                    else:
                        yield session
                        self._commit_settings(session, not durable)
                self._flushed.pending = not durable  # a synchronous commit flushed every earlier one
            except StaleDataError as exc:
                raise Conflict("the record was changed by someone else at the same moment; reload and retry") from exc
            return
        try:  # SQLite (or any other database): its write lock and held connection are in play
            with self._writer or contextlib.nullcontext(), self._writing():
                conn = self._take_held()
                ok = False
                try:
                    # The lane is taken once the write lock is: SQLite's commit is work in this
                    # process (``synchronous=NORMAL``), so it stays in the lane.
                    with (self._write(bind=conn) if conn is not None else self._write()) as session, \
                            self.lane() if laned else contextlib.nullcontext(), session.begin():
                        yield session
                    ok = True
                finally:
                    if conn is not None:
                        self._give_back(conn, ok)
        except StaleDataError as exc:
            # Optimistic concurrency (proposals.version): someone else changed the row first.
            raise Conflict("the record was changed by someone else at the same moment; reload and retry") from exc

    def _commit_settings(self, session: Session, relaxed: bool) -> None:
        """PostgreSQL, at the end of a write transaction's body: how its commit must behave.

        ``relaxed``: asynchronous (``synchronous_commit = off``, read at commit). Otherwise, with
        an asynchronous commit of this thread not yet flushed, this commit clears that mark, so it
        must flush — one that logged nothing (a read, a no-op update) would commit without waiting,
        hence a WAL message. A transaction with audit events queued needs neither statement: its
        commit hook's append says ``relaxed`` in the same call, and its rows are WAL of their own
        (``core.store.commit_info``)."""
        carried = bool(session.info.get(AUDIT_QUEUE))
        if relaxed:
            if carried:
                session.info[RELAXED_COMMIT] = True
            else:
                _ASYNC_COMMIT.run(session)
        elif self.durable_pending() and not carried:
            _WAL_MARK.all(session)

    @contextmanager
    def fleet_read(self, targets: int) -> Iterator[Session]:
        """A session for reading in a pass over ``targets`` targets of one proposal
        (:class:`core.store.grouping.TargetSplit`).

        On a SQLite file, when the pass is large enough to be cut across the cores
        (:func:`core.store.grouping.parallel_parts`), the transaction holds the write lock and writes
        nothing: only then do the pass's other connections read exactly what it reads (a plain read
        transaction may be older than theirs: ``sqlite_groups`` checks). Writers wait for it as for
        any write — at a million targets about as long as that proposal's create or validate held
        the lock. Inside a write of this thread, and everywhere else, a plain :meth:`read`."""
        from core.store.grouping import parallel_parts

        if self._writer is not None and not self._writes_here() and parallel_parts(targets) > 1:
            with self.write() as session:
                yield session
            return
        with self.read() as session:
            yield session

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """Count this thread's open write transactions on this database (``_writes_here``)."""
        if self._writer is None:
            yield
            return
        open_ = _THREAD_WRITES.__dict__.setdefault("open", {})
        key = id(self._writer)
        open_[key] = open_.get(key, 0) + 1
        try:
            yield
        finally:
            open_[key] -= 1

    def _writes_here(self) -> bool:
        """Is this thread inside a write transaction on this database file (any Store of it)?"""
        return bool(self._writer is not None and _THREAD_WRITES.__dict__.get("open", {}).get(id(self._writer)))

    def durable_pending(self) -> bool:
        """Did this thread's last write commit asynchronously (``write(durable=False)``), with no
        synchronous commit on this thread since?"""
        return bool(getattr(self._flushed, "pending", False))

    def ensure_durable(self) -> None:
        """Make everything this thread committed durable before something outside the database
        depends on it (a device write, an operation, an answer). Nothing to do unless the thread's
        last write was ``durable=False``; then one small synchronous commit that writes WAL (a
        logical-decoding message) flushes the WAL up to it, and with it every asynchronous commit
        before it. Any synchronous :meth:`write` on the thread does the same, so the mark is never
        cleared by a commit that did not flush."""
        if self.durable_pending():
            with self.write():
                pass  # a synchronous write with the mark set logs the WAL message itself

    def _take_held(self) -> Connection | None:
        """SQLite only: the connection this process writes with, kept open between transactions.

        SQLite has one writer at a time and this process's writers already queue on
        ``self._writer``, so one connection serves them all; checking one out of the pool and
        back in (reset, events) cost ~65 µs a transaction — ~0.5 ms of a proposal's life (issue
        15). Called with ``self._writer`` held. A write opened inside a write on the same thread
        (the lock is reentrant) gets a pooled connection, as before, and so waits on SQLite, not
        on its own transaction. A forked child never uses its parent's connection."""
        if self._writer is None or self._held_busy:
            return None
        conn = self._held
        if conn is not None and (self._held_pid != os.getpid() or conn.closed or conn.invalidated):
            conn = self._held = None  # forked or broken: never reuse (the parent owns the file handle)
        if conn is None:
            conn = self._held = self._write_engine.connect()
            self._held_pid = os.getpid()
        self._held_busy = True
        return conn

    def _give_back(self, conn: Connection, ok: bool) -> None:
        """End of a write on the held connection. After a failure it is closed (a fresh one is
        opened on the next write): whatever went wrong, no state of it can reach the next writer."""
        self._held_busy = False
        if not ok:
            self._held = None
            with contextlib.suppress(Exception):
                conn.close()

    # ------------------------------------------------------------------ schema
    def alembic_config(self) -> Config:
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        return cfg

    def migrate(self, revision: str = "head") -> None:
        """Upgrade the schema. Several processes may start at once on an empty database (API
        replicas, a worker, the CLI): one migrates, the others wait and find it at head. PostgreSQL
        serialises them on an advisory lock (:meth:`_run_alembic`); SQLite on ``BEGIN IMMEDIATE``,
        the database's one write lock."""
        with self._lock:
            if self._migrated and revision == "head":
                return
            if revision == "head" and self._at_head():
                self._migrated = True
                return
            from alembic import command

            self._run_alembic(command.upgrade, revision)
            self._migrated = revision == "head"

    def _run_alembic(self, fn: Any, revision: str) -> None:
        """Run an Alembic command (``command.upgrade``/``downgrade``) on one connection.

        SQLite: all of it in one ``BEGIN IMMEDIATE`` transaction. PostgreSQL: each migration in a
        transaction of its own (``env.py``), so that one may step out of it to build an index
        ``CONCURRENTLY`` (0028) while the old version's processes keep writing. Starters on one
        schema take turns on a session-level advisory lock keyed by the schema (the test suite
        migrates a schema per test in one database), asked for with ``pg_try_advisory_lock``
        between short sleeps, never waited for in a statement: a statement waiting for the lock
        holds a snapshot, and a concurrent index build waits for every older snapshot in the
        database — holder and waiter would deadlock."""
        cfg = self.alembic_config()
        if self.dialect != "postgresql":
            with self._write_engine.begin() as conn:
                cfg.attributes["connection"] = conn
                fn(cfg, revision)
            return
        with self.engine.connect() as conn:
            schema = conn.execute(text("SELECT coalesce(current_schema(), '')")).scalar()
            key = {"k": zlib.crc32(f"gateward:migrate:{schema}".encode())}
            while not conn.execute(text("SELECT pg_try_advisory_lock(:k)"), key).scalar():
                conn.rollback()
                time.sleep(0.05)
            conn.commit()
            try:
                cfg.attributes["connection"] = conn
                fn(cfg, revision)
                conn.commit()
            finally:
                try:
                    conn.rollback()
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), key)
                    conn.commit()
                except Exception:  # the connection is gone (and its lock with it), or no longer usable
                    conn.invalidate()

    def _at_head(self) -> bool:
        """The database already records the migrations' single head: nothing to upgrade, and
        Alembic (~0.2 s to import) is not loaded — a CLI turn on a migrated database."""
        head = migration_head()
        if head is None:
            return False
        try:
            with self.engine.connect() as conn:
                rows = list(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
        except Exception:  # no such table yet: a fresh database, Alembic creates it
            return False
        return rows == [head]

    @contextmanager
    def exclusive(self, name: str) -> Iterator[None]:
        """Hold the lock ``name`` on this database for the block, across processes and hosts.

        For work that spans several transactions and must run once (seeding an empty fleet: two
        replicas started together used to die on a duplicate key). PostgreSQL: a session advisory
        lock keyed by name and schema (tests give every test its own schema); SQLite: ``flock`` on
        a file beside the database; an in-memory database only needs a lock within the process."""
        if self.dialect == "postgresql":
            with self.engine.connect() as raw:
                conn = raw.execution_options(isolation_level="AUTOCOMMIT")
                schema = conn.scalar(text("SELECT current_schema()")) or ""
                key = zlib.crc32(f"gateward:{name}:{schema}".encode())
                conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
                try:
                    yield
                finally:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            return
        with _named_lock(f"{self.url}#{name}"):
            db_file = self.engine.url.database
            if not db_file or db_file == ":memory:":
                yield
                return
            import fcntl

            with open(f"{db_file}.{name}.lock", "a+b") as fh:
                fcntl.flock(fh, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(fh, fcntl.LOCK_UN)

    def dispose(self) -> None:
        held, self._held = self._held, None
        if held is not None and self._held_pid == os.getpid():
            with contextlib.suppress(Exception):
                held.close()
        self.engine.dispose()



def end_read(session: Session) -> None:
    """End a PostgreSQL read session's ``READ ONLY`` transaction with COMMIT.

    Why: psycopg forgets a connection's prepared statements at every ROLLBACK (docs/performance.md,
    D7). The transaction is READ ONLY (:meth:`Store.read`):
    the server refused any write it was sent, so committing it keeps nothing, exactly as a
    rollback would. Only a transaction idle and healthy (``INTRANS``) is committed; one that
    failed is left to the session's own rollback."""
    tx = session.get_transaction()
    if tx is None or not tx.is_active:
        return
    raw = session.connection().connection.driver_connection
    if raw is not None and raw.info.transaction_status.name == "INTRANS":
        raw.commit()


_WRITERS: dict[str, threading.RLock] = {}


def writer_lock(db_file: str) -> threading.RLock:
    """The one lock this process's writers of a SQLite file take before ``BEGIN IMMEDIATE``.

    Why not SQLite's busy handler, which sleeps and retries: docs/performance.md, D6. Threads of one
    process queue on this lock and are woken the moment it is released; other processes still meet
    SQLite's own lock. Reentrant, so a thread
    that opens a write inside its own write waits on SQLite, as before, not on itself."""
    key = str(Path(db_file).resolve())
    with _NAMED_LOCKS_GUARD:
        lock = _WRITERS.get(key)
        if lock is None:
            lock = _WRITERS[key] = threading.RLock()
        return lock


def _named_lock(key: str) -> threading.Lock:
    """One lock per name within the process: ``flock`` on two descriptors of one process would
    deadlock, and threads of one process must still take turns."""
    with _NAMED_LOCKS_GUARD:
        return _NAMED_LOCKS.setdefault(key, threading.Lock())


_default: Store | None = None
_default_lock = threading.Lock()


def default_store() -> Store:
    """The process-wide store for the configured database (created and migrated on first use)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Store()
        return _default
