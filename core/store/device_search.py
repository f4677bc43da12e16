"""The device list's "contains" search, through an index on both databases.

The search matches ``id || ' ' || coalesce(subscriber, '') || ' ' || model`` against ``%text%``,
case-blind. PostgreSQL answers it from a trigram GIN index on that expression (migration 0028).
SQLite answers it from ``devices_search``, an FTS5 trigram table kept by triggers on ``devices``
(migration 0036), whose ``LIKE`` the trigram index serves: the matching ids come from the index and
``devices`` is read by key — at 100,000 devices a subscriber's search read every row three times
(286 ms), through the index it reads its matches (4–6 ms). An SQLite without FTS5 or the trigram
tokenizer has no such table and the search reads ``devices`` as before: slower, the same answer.

FTS5's trigram ``LIKE`` uses its index only for a pattern without an ``ESCAPE`` clause, so the
pattern carries one only when the text holds ``%``, ``_`` or ``\\``; it folds case beyond ASCII, as
PostgreSQL's ``ILIKE`` does.
"""

from __future__ import annotations

import threading
from weakref import WeakKeyDictionary

from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, Text, literal_column, select, text
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from core.store.schema import DeviceRow

# api.device_list and migration 0028's trigram index match this expression on PostgreSQL.
SEARCH_TEXT_SQL = "(devices.id || ' ' || coalesce(devices.subscriber, '') || ' ' || devices.model)"

# Migration 0036's tables, outside the product's metadata: SQLite only, and absent where FTS5 is.
_META = MetaData()
_FTS = Table("devices_search", _META, Column("rowid", Integer, key="rowid"), Column("text", Text))
_KEYS = Table("devices_search_keys", _META, Column("k", Integer, primary_key=True), Column("device_id", String(128)))

_indexed: WeakKeyDictionary[Engine, bool] = WeakKeyDictionary()
_lock = threading.Lock()


def like_pattern(q: str) -> tuple[str, str | None]:
    """``(pattern, escape)`` for values containing ``q`` literally: an escape character only when
    ``q`` holds one of ``%``, ``_``, ``\\`` (an FTS5 trigram ``LIKE`` with ``ESCAPE`` reads every row)."""
    if not any(c in q for c in "%_\\"):
        return f"%{q}%", None
    return "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%", "\\"


def has_index(s: Session) -> bool:
    """Whether this SQLite database holds ``devices_search`` (asked once per engine)."""
    engine = s.get_bind().engine
    with _lock:
        known = _indexed.get(engine)
    if known is None:
        known = s.scalar(text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'devices_search'")) == 1
        with _lock:
            _indexed[engine] = known
    return known


def contains(s: Session, q: str) -> ColumnElement[bool]:
    """Devices whose id, subscriber or model (as one text) contain ``q``, case-blind."""
    pattern, escape = like_pattern(q)
    dialect = s.get_bind().dialect.name
    if dialect == "postgresql":  # ILIKE: any letter case, as SQLite's LIKE; the 0028 index serves both
        return literal_column(SEARCH_TEXT_SQL).ilike(pattern, escape=escape)
    if dialect == "sqlite" and has_index(s):
        found = (select(_KEYS.c.device_id).select_from(_FTS.join(_KEYS, _KEYS.c.k == _FTS.c.rowid))
                 .where(_FTS.c.text.like(pattern, escape=escape)))
        return DeviceRow.id.in_(found)
    return literal_column(SEARCH_TEXT_SQL).like(pattern, escape=escape)  # every row read: the same answer


__all__ = ["SEARCH_TEXT_SQL", "contains", "has_index", "like_pattern"]
