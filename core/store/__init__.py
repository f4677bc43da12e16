"""Persistence: SQLAlchemy 2 schema, Alembic migrations, sessions (SQLite or PostgreSQL)."""

from core.store.db import Store

__all__ = ["Store"]
