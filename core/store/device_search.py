"""The device list's "contains" search, through an index on both databases.

The search matches ``id || ' ' || coalesce(subscriber, '') || ' ' || model`` against ``%text%``,
letter case aside. PostgreSQL answers it from a trigram GIN index on that expression (migration
0028). SQLite has no index that can seek a ``LIKE '%…%'``; it has an index *of* that expression
(``ix_devices_search_text``, migration 0036), and the search reads it — 45 bytes a device, where a
row of ``devices`` holds hundreds — for the matching ids, then ``devices`` by key: at 100,000
devices a subscriber's search page read every row three times (286 ms); now the index once a walk
(about 10 ms). SQLite 3.40 does not choose that index for a scan by itself (it does not take an
expression index as covering), so the statement names it (``INDEXED BY``), and only where it exists:
a database migrated before it reads the rows, slower, with the same answer.
"""

from __future__ import annotations

import threading
from weakref import WeakKeyDictionary

from sqlalchemy import Engine, String, column, literal_column, text
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from core.store.repo import contains_pattern
from core.store.schema import DeviceRow

# The text searched; migration 0028's trigram index (PostgreSQL) and 0036's (SQLite) are on it.
SEARCH_TEXT_SQL = "(devices.id || ' ' || coalesce(devices.subscriber, '') || ' ' || devices.model)"
INDEX = "ix_devices_search_text"
# The matching ids from the index alone (SQLite): the same expression, unqualified, as the index has it.
_FROM_INDEX = text(f"SELECT id FROM devices INDEXED BY {INDEX} "
                   "WHERE (id || ' ' || coalesce(subscriber, '') || ' ' || model) LIKE :search ESCAPE '\\'")

_indexed: WeakKeyDictionary[Engine, bool] = WeakKeyDictionary()
_lock = threading.Lock()


def has_index(s: Session) -> bool:
    """Whether this SQLite database holds ``ix_devices_search_text`` (asked once per engine)."""
    engine = s.get_bind().engine
    with _lock:
        known = _indexed.get(engine)
    if known is None:
        known = s.scalar(text("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = :n"), {"n": INDEX}) == 1
        with _lock:
            _indexed[engine] = known
    return known


def contains(s: Session, q: str) -> ColumnElement[bool]:
    """Devices whose id, subscriber and model (one text) contain ``q`` literally, letter case aside
    (``%``, ``_`` and ``\\`` are letters here, not wildcards)."""
    pattern = contains_pattern(q)
    dialect = s.get_bind().dialect.name
    if dialect == "postgresql":  # ILIKE: any letter case, as SQLite's LIKE; the 0028 index serves both
        return literal_column(SEARCH_TEXT_SQL).ilike(pattern, escape="\\")
    if dialect == "sqlite" and has_index(s):
        return DeviceRow.id.in_(_FROM_INDEX.bindparams(search=pattern).columns(column("id", String)))
    return literal_column(SEARCH_TEXT_SQL).like(pattern, escape="\\")  # every row read: the same answer


__all__ = ["INDEX", "SEARCH_TEXT_SQL", "contains", "has_index"]
