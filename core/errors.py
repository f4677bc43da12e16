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


class PolicyDenied(GatewardError):
    code = "policy_denied"
    http_status = 403


class WindowClosed(Conflict):
    """The decision binds the write to a change window that is closed now (issue 34): nothing was
    written, the proposal stays approved, and the message says when the window next opens."""

    code = "window_closed"


class StorageFull(GatewardError):
    """The database could not record a step because its disk is full (issue 34). The message names
    the cause and the command that finishes what was left; the API answers 503 (retry once space
    is freed), the CLI one line instead of a traceback."""

    code = "storage_full"
    http_status = 503


class ShuttingDown(GatewardError):
    """This process is stopping (SIGTERM, issue 36): it starts no new device write. Nothing was
    changed; the same request to another replica — or to this one after its restart — goes
    through. The API answers 503 with ``Retry-After``; a campaign's job is retried."""

    code = "shutting_down"
    http_status = 503


def storage_full_cause(exc: BaseException) -> BaseException | None:
    """The disk-full error behind ``exc`` (SQLite "database or disk is full", PostgreSQL SQLSTATE
    53100, an OSError ENOSPC), following the DB-API wrapper and the exception chain; else None."""
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
        if getattr(e, "sqlstate", None) == "53100":  # psycopg: disk_full
            return e
        todo += [getattr(e, "orig", None), e.__cause__, e.__context__]
    return None
