"""Where chat threads' graph state is kept: a LangGraph checkpointer next to the store.

Why next to the store: a thread paused while its proposal awaits approval must resume after a
restart, in whichever process picks it up, so its checkpoint lives with the data it refers to.
SQLite store → a sibling SQLite file (``<db>-threads.sqlite``; a separate file so that the
checkpointer's own connection never contends with the store's ``BEGIN IMMEDIATE`` writers);
PostgreSQL store → ``langgraph-checkpoint-postgres`` in the same database and schema (the
connection string keeps the store URL's ``options``, e.g. a ``search_path``); an in-memory SQLite
store → an in-memory saver (nothing durable to resume anyway).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import make_url

if TYPE_CHECKING:
    from langgraph.checkpoint.base import BaseCheckpointSaver


@dataclass
class Checkpointer:
    saver: BaseCheckpointSaver[str]
    location: str
    close: Callable[[], None]


def checkpoint_path(store_url: str) -> Path | None:
    """The SQLite file for a SQLite store URL, or None for in-memory / non-SQLite stores."""
    url = make_url(store_url)
    if not url.drivername.startswith("sqlite"):
        return None
    db = url.database
    if not db or db == ":memory:" or "mode=memory" in str(url):
        return None
    p = Path(db)
    return p.with_name(p.stem + "-threads.sqlite")


def postgres_conninfo(store_url: str) -> str:
    """A libpq URI from a SQLAlchemy URL (drops the ``+psycopg`` driver suffix)."""
    url = make_url(store_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def open_checkpointer(store_url: str) -> Checkpointer:
    url = make_url(store_url)
    if url.drivername.startswith("postgresql"):
        from langgraph.checkpoint.postgres import PostgresSaver
        from psycopg.rows import dict_row
        from psycopg_pool import ConnectionPool

        pool = ConnectionPool(postgres_conninfo(store_url), min_size=1, max_size=4, open=True,
                              kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row})
        saver = PostgresSaver(pool)  # type: ignore[arg-type]
        saver.setup()
        return Checkpointer(saver, f"postgresql {url.host}/{url.database}", pool.close)
    path = checkpoint_path(store_url)
    if path is None:
        from langgraph.checkpoint.memory import InMemorySaver

        return Checkpointer(InMemorySaver(), "memory", lambda: None)
    from langgraph.checkpoint.sqlite import SqliteSaver

    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), check_same_thread=False, timeout=30)
    conn.execute("PRAGMA busy_timeout=30000")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across process crashes, no fsync per node
    lite = SqliteSaver(conn)
    lite.setup()
    return Checkpointer(lite, str(path), conn.close)
