"""Errors the lifecycle and the domain raise, each with a stable ``code`` the API maps to HTTP.

The message always names the problem and, where there is one, what to do next.
"""

from __future__ import annotations

from typing import Any


class GatewardError(Exception):
    code = "error"
    http_status = 400

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra


class NotFound(GatewardError):
    code = "not_found"
    http_status = 404


class Invalid(GatewardError):
    """Bad input: unknown path, wrong type, out of range, malformed request."""

    code = "invalid"
    http_status = 422


class Forbidden(GatewardError):
    """Role or separation-of-duties violation."""

    code = "forbidden"
    http_status = 403


class Conflict(GatewardError):
    """The proposal is not in a state that allows this, or it changed under the caller."""

    code = "conflict"
    http_status = 409


class Locked(Conflict):
    code = "locked"


class DeviceUnavailable(Conflict):
    """The device is offline or unreachable; nothing was written and the step can be retried."""

    code = "device_unavailable"


class DeviceRefused(Conflict):
    """The device answered the command with a fault (a diagnostic it does not allow, a command it
    lacks): nothing ran; the message names the device and its fault."""

    code = "device_refused"


class PolicyDenied(GatewardError):
    code = "policy_denied"
    http_status = 403


class WindowClosed(Conflict):
    """The decision binds the write to a change window that is closed now: nothing was
    written, the proposal stays approved, and the message says when the window next opens."""

    code = "window_closed"


class ObligationUnmet(Conflict):
    """A write the decision that approved this hash does not allow by this way in: a staged rollout
    applied at once, a ring the campaign has not reached, a rehearsal missing. Nothing was written
    (docs/safety.md, invariant 8)."""

    code = "obligation_unmet"


class NotYet(Conflict):
    """A scheduled write asked to run before its time: nothing was written; it starts when due."""

    code = "not_yet"


class ScheduleExpired(Conflict):
    """A scheduled write whose latest start has passed: it is never run late (a reboot asked for
    "at 3, never during the day" must not run at 10:00); nothing was written."""

    code = "schedule_expired"


class StorageFull(GatewardError):
    """The database could not record a step because its disk is full. The message names
    the cause and the command that finishes what was left; the API answers 503 (retry once space
    is freed), the CLI one line instead of a traceback."""

    code = "storage_full"
    http_status = 503


class DatabaseUnavailable(GatewardError):
    """The database stopped answering (connection lost or refused, server restarting) while a step
    ran. Nothing after the last commit was recorded; the message says what the step had done and
    what finishes it. The API answers 503 with ``Retry-After``; the CLI one line."""

    code = "database_unavailable"
    http_status = 503


class ShuttingDown(GatewardError):
    """This process is stopping (SIGTERM): it starts no new device write. Nothing was
    changed; the same request to another replica — or to this one after its restart — goes
    through. The API answers 503 with ``Retry-After``; a campaign's job is retried."""

    code = "shutting_down"
    http_status = 503


#: SQLite files this process opened (``core.store.Store``): an I/O error on a full disk is a full disk.
_DATABASE_FILES: set[str] = set()
NEARLY_FULL_BYTES = 4 << 20  # an I/O error with less than this free on the database's disk is "disk full"
_SQLITE_IO = ("disk i/o error", "unable to open database file")


def note_database_file(path: str) -> None:
    """Remember a SQLite database file of this process (see :func:`storage_full_cause`)."""
    _DATABASE_FILES.add(path)


def free_bytes(path: str) -> int | None:
    """Bytes this process may still write on the filesystem holding ``path`` (None: unknown)."""
    import os

    try:
        st = os.statvfs(os.path.dirname(os.path.abspath(path)) or ".")
    except OSError:
        return None
    return (st.f_bfree if os.geteuid() == 0 else st.f_bavail) * st.f_frsize


def _a_database_disk_is_full() -> bool:
    return any((free := free_bytes(f)) is not None and free < NEARLY_FULL_BYTES for f in list(_DATABASE_FILES))


def storage_full_cause(exc: BaseException) -> BaseException | None:
    """The disk-full error behind ``exc`` (SQLite "database or disk is full", PostgreSQL SQLSTATE
    53100, an OSError ENOSPC), following the DB-API wrapper and the exception chain; else None.

    SQLite does not always say "full": a write that must grow its shared-memory index or open its
    journal on a full disk fails as "disk I/O error" or "unable to open database file" (such an
    apply was once reported as a database that cannot be opened). Those count as a full disk
    when a database file of this process sits on a filesystem with almost nothing left."""
    import errno
    import sqlite3

    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno == errno.ENOSPC:
            return e
        if isinstance(e, sqlite3.OperationalError) and "disk is full" in str(e).lower():
            return e
        if isinstance(e, sqlite3.OperationalError) and any(w in str(e).lower() for w in _SQLITE_IO) \
                and _a_database_disk_is_full():
            return e
        if getattr(e, "sqlstate", None) == "53100":  # psycopg: disk_full
            return e
        todo += [getattr(e, "orig", None), e.__cause__, e.__context__]
    return None


# PostgreSQL SQLSTATEs that mean "this connection or the server is gone or not taking work now":
# class 08 (connection exception), admin/crash shutdown, cannot connect now, too many connections.
_UNAVAILABLE_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300"})
# SQLite's words for a database it cannot reach or use right now (a lock held past the busy
# timeout; a file gone, unreadable or on a failing disk).
_SQLITE_UNAVAILABLE = ("database is locked", "unable to open database file", "disk i/o error")


def database_unavailable_cause(exc: BaseException) -> BaseException | None:
    """The lost-connection error behind ``exc`` — a connection refused, cut or terminated, a server
    shutting down, a pool that could hand out no connection in time, a SQLite file locked past its
    timeout or unreachable — following the DB-API wrapper and the exception chain; else None.

    Why by shape and not by import: the store (SQLAlchemy over psycopg or sqlite3) and the DB-API
    readers (``core.store.lite``) raise different classes for the same condition, and importing
    psycopg only to name its classes would load it in every SQLite process."""
    import sqlite3

    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if getattr(e, "connection_invalidated", False):  # SQLAlchemy: the dialect saw a disconnect
            return e
        names = {(c.__module__.split(".")[0], c.__name__) for c in type(e).__mro__}
        if names & {("sqlalchemy", "DisconnectionError"), ("sqlalchemy", "TimeoutError")}:
            return e  # a ping failed for good, or the pool had no connection to give in time
        state = getattr(e, "sqlstate", None)
        if isinstance(state, str) and (state.startswith("08") or state in _UNAVAILABLE_SQLSTATES):
            return e
        if ("psycopg", "OperationalError") in names and state is None:
            return e  # connection-level: refused, closed, consuming input failed, SSL SYSCALL error
        if ("psycopg", "InterfaceError") in names and "closed" in str(e).lower():
            return e
        if isinstance(e, sqlite3.OperationalError) and any(w in str(e).lower() for w in _SQLITE_UNAVAILABLE):
            return e
        todo += [getattr(e, "orig", None), e.__cause__, e.__context__]
    return None


def cause_text(exc: BaseException, limit: int = 300) -> str:
    """A database error as one short line: the driver's own message (SQLAlchemy's wrapper adds the
    statement and a link), whitespace collapsed."""
    return " ".join(str(getattr(exc, "orig", None) or exc).split())[:limit]
