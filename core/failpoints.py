"""Failpoints: named places where a test can make the process die, deterministically.

``GATEWARD_FAILPOINTS=lifecycle.after_apply`` makes :func:`failpoint` call ``os._exit(99)``
there — no cleanup, no ``finally``, exactly like ``kill -9``. Crash-safety tests use this to stop
a real process between apply and verify and then check that a restart recovers. With the
variable unset (always, in production) a failpoint is one dict lookup.

``NAME=disk_full`` makes the point raise the error SQLite raises on a full disk
(``sqlite3.OperationalError("database or disk is full")``) instead, and from then on every store
write of the process (``store.write``, checked where a write transaction begins) raises it too: a
disk that filled up stays full. ``store.write=disk_full`` is a disk full from the start.
:func:`arm` / :func:`disarm` do the same inside a test process.

``NAME=disk_io_error`` raises SQLite's other answer on a full disk,
``sqlite3.OperationalError("disk I/O error")`` (a journal or shared-memory index that cannot grow),
sticky the same way: the store reads it as a full disk only when the database's disk is full.

``NAME=raise`` raises :class:`Crash` (a ``BaseException``, so no ``except Exception`` stops it): a kill
inside a test process that must go on — the stateful explorer (``tests/explorer``) kills an apply or
a batch there, then runs recovery in the same process. Unlike ``kill -9`` the stack unwinds.

``NAME=sleep:SECONDS`` holds the thread there for that long, then goes on: a process
caught mid-apply at a known point when a test sends it SIGTERM (``tests/integration/test_sigterm.py``).
``NAME=wait:PATH`` holds it until the file ``PATH`` exists (at most ``WAIT_MAX_S``): the test lets
the apply go on the moment it has checked what it needed, instead of sleeping a margin out.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

EXIT, DISK_FULL, DISK_IO_ERROR, RAISE = "exit", "disk_full", "disk_io_error", "raise"
WAIT_MAX_S = 300.0
STORE_WRITE = "store.write"


def _parse(spec: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in spec.split(","):
        name, _, action = part.strip().partition("=")
        if name:
            out[name] = action.strip() or EXIT
    return out


_ARMED: dict[str, str] = _parse(os.environ.get("GATEWARD_FAILPOINTS", ""))


class Crash(BaseException):
    """The process "died" at a failpoint armed with ``raise`` (tests only)."""


def arm(name: str, action: str = EXIT) -> None:
    """Arm ``name`` in this process (tests)."""
    _ARMED[name] = action


def disarm() -> None:
    """Disarm every failpoint of this process (tests), including a disk that filled up."""
    _ARMED.clear()


def disk_full_error() -> sqlite3.OperationalError:
    return sqlite3.OperationalError("database or disk is full")


def failpoint(name: str) -> None:
    action = _ARMED.get(name)
    if action is None:
        return
    if action in (DISK_FULL, DISK_IO_ERROR):
        _ARMED[STORE_WRITE] = action  # the disk stays full for every later write
        raise disk_full_error() if action == DISK_FULL else sqlite3.OperationalError("disk I/O error")
    if action == RAISE:
        raise Crash(name)
    if action.startswith("sleep:"):
        time.sleep(float(action.removeprefix("sleep:")))
        return
    if action.startswith("wait:"):
        release, end = Path(action.removeprefix("wait:")), time.monotonic() + WAIT_MAX_S
        while not release.exists() and time.monotonic() < end:
            time.sleep(0.05)
        return
    os._exit(99)
