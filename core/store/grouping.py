"""Fleet-wide grouping statements hash on PostgreSQL, whatever the planner estimates.

Why (issue 15, campaign gate at a million devices): the planner knows nothing of a proposal's
targets written a moment ago — ``proposal_devices`` rows of a new proposal id are estimated at a
few hundred — so it sorted every target row (on disk, ``work_mem`` 4 MB) before counting a few
dozen groups: at 100,000 targets 5.0 s of a 5.0 s preview query and 2.1 s of the decision's, the
sort's external merge growing with the fleet. Hashing needs a table of the distinct keys only.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import starmap
from typing import Any

from sqlalchemy.orm import Session

from core.store.fastsql import Prepared, driver_connection

# What a fleet-wide grouping statement runs with on PostgreSQL, for that statement only: no sort
# where a hash does (grouping, joining), memory for the hash join of a million targets, and no JIT:
# a disabled sort still costed (1e10 added to any plan that keeps one, e.g. ordering four groups)
# put every such plan above jit_above_cost, and compiling cost ~0.7 s a statement — a 2,000-device
# gate went from 0.9 s to 2.4 s. The statements run as before the planner's estimate mattered.
_PG_GROUPING = (("enable_sort", "off"), ("work_mem", "64MB"), ("jit", "off"))


@contextmanager
def hash_grouping(s: Session) -> Iterator[None]:
    """Statements run inside group by hashing on PostgreSQL; the transaction's own settings are
    restored afterwards (``set_config(..., true)``: this transaction only). Nothing on SQLite."""
    if s.get_bind().dialect.name != "postgresql":
        yield
        return
    raw, _ = driver_connection(s)
    cur = raw.cursor()
    try:
        before = [cur.execute("SELECT current_setting(%s)", (name,)).fetchone()[0] for name, _ in _PG_GROUPING]
        for name, value in _PG_GROUPING:
            cur.execute("SELECT set_config(%s, %s, true)", (name, value))
        yield
        for (name, _), value in zip(_PG_GROUPING, before, strict=True):
            cur.execute("SELECT set_config(%s, %s, true)", (name, value))
    finally:
        cur.close()


def first_of_each(s: Session, stmt: Prepared, params: dict[str, Any]) -> dict[Any, Any]:
    """``stmt`` selects ``(key, value)`` rows in ascending ``value`` order: each distinct key and its
    first (so smallest) value, as ``min(value) ... GROUP BY key`` gives them.

    Why not ``GROUP BY`` on SQLite: it sorts every row by the key before it groups (a million
    targets of a fleet proposal: ~3x the cost of reading them); here the rows stream off the cursor
    into one dict at C speed (``dict.setdefault`` keeps the first value of each key)."""
    raw, dialect = driver_connection(s)
    plan = stmt.plan(dialect)
    cur = raw.cursor()
    try:
        cur.execute(plan.sql, plan.params(params))
        first: dict[Any, Any] = {}
        deque(starmap(first.setdefault, cur), maxlen=0)
        return first
    finally:
        cur.close()
