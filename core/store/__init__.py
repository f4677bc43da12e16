"""Persistence: SQLAlchemy 2 schema, Alembic migrations, sessions (SQLite or PostgreSQL).

``Store`` is loaded on first use (PEP 562), so that the DB-API read path (:mod:`core.store.lite`)
can be imported without importing SQLAlchemy.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.store.db import Store

__all__ = ["Store"]


def __getattr__(name: str) -> Any:
    if name == "Store":
        from core.store.db import Store

        return Store
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
