"""Throw-away databases for tests and benchmarks: a SQLite file, or a fresh PostgreSQL schema.

Why a schema per use: suites and benchmark sizes run side by side in one PostgreSQL database
(``GATEWARD_TEST_DATABASE_URL``) and must leave nothing behind; ``search_path`` in the URL makes
every connection of that engine land in the schema.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text


class DatabaseUnavailable(RuntimeError):
    """The configured PostgreSQL cannot be used (named in the message)."""


def pg_schema_url(pg_url: str | None = None) -> tuple[str, Any, str]:
    """A fresh schema in the test PostgreSQL: (url with search_path, admin engine, schema name)."""
    from core.store.db import normalise_url

    pg_url = pg_url or os.environ.get("GATEWARD_TEST_DATABASE_URL")
    if not pg_url:
        raise DatabaseUnavailable("GATEWARD_TEST_DATABASE_URL is not set")
    base = normalise_url(pg_url)
    schema = f"gwt_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    try:
        with admin.begin() as c:
            c.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:
        admin.dispose()
        raise DatabaseUnavailable(f"PostgreSQL at {pg_url} is not usable: {exc}") from exc
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}", admin, schema


def make_db_url(backend: str, tmp_path: Path) -> tuple[str, Callable[[], None]]:
    """(url, cleanup) for ``backend`` "sqlite" (a file under ``tmp_path``) or "postgres" (a schema)."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'gateward.db'}", lambda: None
    url, admin, schema = pg_schema_url()

    def cleanup() -> None:
        with admin.begin() as c:
            c.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    return url, cleanup
