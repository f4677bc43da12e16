"""Database outages are one line, not SQLAlchemy's pool tracebacks before it (issue 56).

Kept apart from :mod:`gateward.logs` (which loads the redactor) so that every command can install it
at start for the cost of importing :mod:`logging`.
"""

from __future__ import annotations

import logging

from core.kernel.errors import cause_text, database_unavailable_cause


class LostConnectionNoise(logging.Filter):
    """SQLAlchemy's pool logs "Exception during reset or similar" at ERROR, with the whole traceback,
    when it cannot roll back a connection returned to it — which is every connection a database outage
    cut inside a transaction. The error itself reaches the caller (the command's one line, the API's
    503); these records only repeated it: ``gateward apply`` cut mid-apply printed three raw tracebacks
    (133 lines) before its line. A record whose exception is a lost connection
    (``database_unavailable_cause``) is made one DEBUG line without the traceback; any other stays."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is None or database_unavailable_cause(exc) is None:
            return True
        record.msg, record.args = f"a pooled database connection was lost and discarded ({cause_text(exc)})", ()
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        record.exc_info, record.exc_text = None, None
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


#: SQLAlchemy's pools log under their class's name (``sqlalchemy.log.instance_logger``); a filter on a
#: parent logger would not see their records.
POOL_LOGGERS = tuple(f"sqlalchemy.pool.impl.{name}" for name in (
    "QueuePool", "NullPool", "SingletonThreadPool", "StaticPool", "AssertionPool", "AsyncAdaptedQueuePool"))
_NOISE = LostConnectionNoise()


def quiet_lost_connections() -> None:
    """Install :class:`LostConnectionNoise` on the pool loggers of this process (idempotent)."""
    for name in POOL_LOGGERS:
        logger = logging.getLogger(name)
        if _NOISE not in logger.filters:
            logger.addFilter(_NOISE)


__all__ = ["POOL_LOGGERS", "LostConnectionNoise", "quiet_lost_connections"]
