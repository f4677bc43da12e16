"""chat: scrub passphrases already stored in chat events and thread checkpoints

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22

Issue 10 defect 4: before the redaction was rebuilt, chat text could reach ``chat_events``,
thread titles and the LangGraph checkpoint with a passphrase in clear. This migration

* rewrites ``chat_events.text``, the free-text fields of ``chat_events.data`` and
  ``chat_threads.title`` through ``core.redact.scrub_text`` (a passphrase becomes ``[secret]``);
* deletes the checkpoint rows of every thread whose events held a secret, and of every thread
  whose checkpoint text itself shows one. Checkpoint blobs are msgpack and JSON written by
  LangGraph: rewriting strings inside them in place would change lengths and framing, so they
  are removed instead. Such a thread loses its paused graph state (it cannot be resumed; its
  proposal, if any, stays in the lifecycle and the approvals queue) and gets a ``notice`` event
  saying so. Checkpoints live in this database on PostgreSQL (``checkpoints``,
  ``checkpoint_blobs``, ``checkpoint_writes``) and in the sibling ``<db>-threads.sqlite`` file
  on SQLite (``checkpoints``, ``writes``).

The detector is imported from ``core.redact`` (the one definition of a chat secret; it was
``brain.redact`` until issue 35 moved it below the planner so that no migration imports ``brain``).
Downgrade is a no-op: scrubbed text cannot be restored, by design.
"""
from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import op

from core.store.schema import UTCDateTime

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOTICE = ("Stored passphrases were scrubbed from this thread (migration 0007) and its saved planner state "
          "was removed: it cannot be resumed. Any proposal it made is unaffected; start a new thread to go on.")
_PRINTABLE_RUN = re.compile(r"[^\x00-\x1f\x7f-\x9f\ufffd]{4,}")
_PG_CHECKPOINT_TABLES = (("checkpoints", ("checkpoint", "metadata")), ("checkpoint_blobs", ("blob",)),
                         ("checkpoint_writes", ("blob",)))
_SQLITE_CHECKPOINT_TABLES = (("checkpoints", ("checkpoint", "metadata")), ("writes", ("value",)))

events_t = sa.table("chat_events", sa.column("id", sa.Integer), sa.column("thread_id", sa.String),
                    sa.column("seq", sa.Integer), sa.column("kind", sa.String), sa.column("text", sa.Text),
                    sa.column("data", sa.JSON), sa.column("ts", UTCDateTime))
threads_t = sa.table("chat_threads", sa.column("id", sa.String), sa.column("title", sa.String))


def _texts(value: Any) -> Iterable[str]:
    """The readable strings in a stored checkpoint value: JSON leaves, or printable runs of a
    binary (msgpack) blob."""
    if value is None:
        return
    if isinstance(value, dict | list):
        yield from _json_leaves(value)
        return
    if isinstance(value, memoryview | bytes | bytearray):
        value = bytes(value).decode("utf-8", errors="replace")
    text = str(value)
    try:
        yield from _json_leaves(json.loads(text))
        return
    except (ValueError, TypeError):
        pass
    yield from _PRINTABLE_RUN.findall(text)


def _json_leaves(obj: Any) -> Iterable[str]:
    if isinstance(obj, dict):
        for v in obj.values():
            yield from _json_leaves(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _json_leaves(v)
    elif isinstance(obj, str):
        yield obj


def _has_secret(values: Iterable[Any], find: Callable[[str], list[Any]]) -> bool:
    return any(find(t) for v in values for t in _texts(v))


def _scrub_chat_rows(bind: sa.Connection) -> set[str]:
    """Scrub events and titles in place; the ids of threads that held a secret."""
    from core.redact import scrub_data, scrub_text

    flagged: set[str] = set()
    for row in bind.execute(sa.select(events_t.c.id, events_t.c.thread_id, events_t.c.text,
                                      events_t.c.data)).mappings().all():
        text, data = scrub_text(row["text"] or ""), scrub_data(row["data"] or {})
        if text != (row["text"] or "") or data != (row["data"] or {}):
            bind.execute(sa.update(events_t).where(events_t.c.id == row["id"]).values(text=text, data=data))
            flagged.add(row["thread_id"])
    for row in bind.execute(sa.select(threads_t.c.id, threads_t.c.title)).mappings().all():
        title = scrub_text(row["title"] or "")
        if title != (row["title"] or ""):
            bind.execute(sa.update(threads_t).where(threads_t.c.id == row["id"]).values(title=title[:200]))
            flagged.add(row["id"])
    return flagged


def _scrub_pg_checkpoints(bind: sa.Connection, flagged: set[str]) -> set[str]:
    """PostgreSQL: the saver's tables sit in this schema (when the planner has ever run)."""
    from core.redact import find_secrets

    insp = sa.inspect(bind)
    tables = [(t, cols) for t, cols in _PG_CHECKPOINT_TABLES if insp.has_table(t)]
    leaky = set(flagged)
    for table, cols in tables:
        select = ", ".join(["thread_id", *cols])
        for row in bind.execute(sa.text(f"SELECT {select} FROM {table}")).mappings():  # fixed table names
            if row["thread_id"] not in leaky and _has_secret((row[c] for c in cols), find_secrets):
                leaky.add(row["thread_id"])
    for table, _cols in tables:
        for tid in sorted(leaky):
            bind.execute(sa.text(f"DELETE FROM {table} WHERE thread_id = :t"), {"t": tid})
    return leaky


def _checkpoint_path(store_url: str) -> Path | None:
    """Where the planner kept a SQLite store's thread checkpoints when this migration was written
    (``brain.checkpoint.checkpoint_path`` then, frozen here: a migration imports no planner)."""
    url = sa.engine.make_url(store_url)
    if not url.drivername.startswith("sqlite"):
        return None
    db = url.database
    if not db or db == ":memory:" or "mode=memory" in str(url):
        return None
    p = Path(db)
    return p.with_name(p.stem + "-threads.sqlite")


def _sqlite_checkpoint_file(bind: sa.Connection) -> Path | None:
    url = bind.engine.url
    if not url.drivername.startswith("sqlite"):
        return None
    path = _checkpoint_path(url.render_as_string(hide_password=False))
    return path if path is not None and path.exists() else None


def _scrub_sqlite_checkpoints(path: Path, flagged: set[str]) -> set[str]:
    """SQLite: the saver's own file next to the database."""
    from core.redact import find_secrets

    leaky = set(flagged)
    conn = sqlite3.connect(str(path), timeout=30)
    try:
        have = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        tables = [(t, cols) for t, cols in _SQLITE_CHECKPOINT_TABLES if t in have]
        for table, cols in tables:
            for row in conn.execute(f"SELECT thread_id, {', '.join(cols)} FROM {table}"):
                if row[0] not in leaky and _has_secret(row[1:], find_secrets):
                    leaky.add(row[0])
        with conn:
            for table, _cols in tables:
                conn.executemany(f"DELETE FROM {table} WHERE thread_id = ?", [(t,) for t in sorted(leaky)])
    finally:
        conn.close()
    return leaky


def _notify(bind: sa.Connection, thread_ids: set[str]) -> None:
    """Tell each affected thread's readers why it cannot be resumed."""
    from core.kernel.models import utcnow

    known = {r[0] for r in bind.execute(sa.select(threads_t.c.id))}
    for tid in sorted(thread_ids & known):
        seq = bind.execute(sa.select(sa.func.coalesce(sa.func.max(events_t.c.seq), 0))
                           .where(events_t.c.thread_id == tid)).scalar_one()
        bind.execute(sa.insert(events_t).values(thread_id=tid, seq=int(seq) + 1, kind="notice", text=NOTICE,
                                                data={"migration": "0007"}, ts=utcnow()))


def upgrade() -> None:
    bind = op.get_bind()
    if not sa.inspect(bind).has_table("chat_events"):
        return
    flagged = _scrub_chat_rows(bind)
    if bind.dialect.name == "postgresql":
        leaky = _scrub_pg_checkpoints(bind, flagged)
    else:
        path = _sqlite_checkpoint_file(bind)
        leaky = _scrub_sqlite_checkpoints(path, flagged) if path is not None else flagged
    _notify(bind, leaky)


def downgrade() -> None:
    """Nothing to undo: scrubbed passphrases are gone on purpose."""
