"""Waiting for a free PostgreSQL session instead of failing at once when the server is full.

PostgreSQL refuses a new session past ``max_connections`` ("sorry, too many clients already";
"remaining connection slots are reserved …" when only the superuser's are left). Every process
(API, each worker, each CLI run) opens its own pool, and a burst in one of them briefly takes the
slots another needs — a moment's condition that ends as soon as a neighbour hands a connection back.
Failing the command, the request or the campaign step on it turned that moment into a lost piece of
work (CI: four tests and one benchmark failed in one run while the suite's processes peaked at the
server's 100). So a connection attempt refused *for that reason only* is retried with a growing pause
(50 ms doubling to 1 s) for up to ``GATEWARD_DB_CONNECT_WAIT_S`` (10 s); every other refusal — a wrong
password, an unknown database, a server that is down — fails at once as before. When the wait runs
out the last refusal is raised unchanged, which the API answers with 503 and ``Retry-After``
(``api.limits``) and the CLI with its one-line database message.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Engine, event

T = TypeVar("T")

log = logging.getLogger(__name__)

SERVER_FULL = ("too many clients", "remaining connection slots are reserved", "too many connections",
               "no more connections allowed")
"""How PostgreSQL words a refusal for want of a free session (the last: PgBouncer's)."""

FIRST_PAUSE_S = 0.05
LONGEST_PAUSE_S = 1.0


def server_full(exc: BaseException) -> bool:
    """Was this connection refused only because the server has no session free?"""
    text = str(exc).lower()
    return any(s in text for s in SERVER_FULL)


def connect_when_admitted(connect: Callable[[], T], wait_s: float, *,
                          clock: Callable[[], float] = time.monotonic,
                          sleep: Callable[[float], None] = time.sleep) -> T:
    """``connect()``, tried again while the server says it is full, for up to ``wait_s`` seconds.

    The pause doubles from :data:`FIRST_PAUSE_S` to :data:`LONGEST_PAUSE_S` and never runs past the
    deadline; a refusal for any other reason, or one after the deadline, is raised as it came."""
    deadline = clock() + wait_s
    pause = FIRST_PAUSE_S
    waited = 0
    while True:
        try:
            conn = connect()
        except Exception as exc:
            left = deadline - clock()
            if not server_full(exc) or left <= 0:
                raise
            if waited == 0:
                log.warning("database has no free session (%s); waiting up to %.0f s for one",
                            str(exc).strip().splitlines()[-1][:200], wait_s)
            waited += 1
            sleep(min(pause, left))
            pause = min(pause * 2, LONGEST_PAUSE_S)
            continue
        if waited:
            log.info("database session admitted after %d refusals", waited)
        return conn


def wait_for_a_session(engine: Engine, wait_s: float) -> None:
    """Every new connection of ``engine`` goes through :func:`connect_when_admitted` (SQLAlchemy's
    ``do_connect`` hook: the pool, its overflow and the dialect's own arguments are unchanged)."""
    if wait_s <= 0:
        return

    @event.listens_for(engine, "do_connect")
    def _admitted(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        return connect_when_admitted(lambda: dialect.connect(*cargs, **cparams), wait_s)
