"""Building PostgreSQL indexes in a migration without stopping writers.

Why: the rolling upgrade (docs/deploy.md) migrates while the old version's processes keep serving,
and a plain ``CREATE INDEX`` holds a lock that stops every insert and update of its table for the
whole build (over a minute at a million devices). On a table that holds rows an index is built
``CREATE INDEX CONCURRENTLY`` outside the migration's transaction (Alembic's ``autocommit_block``);
an empty table (a new database) gets the plain build inside the transaction: it is instant, and a
concurrent one would wait for every older transaction in the database. A build is idempotent: an
index already there and valid is kept; one a failed concurrent build left INVALID (a cancel, a lost
connection, a killed process) is dropped and built again, so a re-run finishes. When the migration
runs inside a caller's transaction it cannot step out of it and builds the plain way.

First written for migration 0028 and shared by the migrations after it that add indexes to large
tables (0036): how an index is built is not schema, so a later migration may use it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from alembic import op
from sqlalchemy import Connection


def build(indexes: Sequence[tuple[str, str, str]]) -> None:
    """Build each ``(name, table, body)`` — ``CREATE INDEX name ON table body`` — online where its
    table holds rows (PostgreSQL only; the caller builds SQLite's the plain way)."""
    bind = op.get_bind()
    live = live_tables(bind, {table for _, table, _ in indexes})
    with outside_the_transaction(bool(live)):
        bind = op.get_bind()  # the autocommit connection inside the block
        schema = schema_name(bind)
        for name, table, body in indexes:
            online = "CONCURRENTLY " if table in live else ""
            ok = valid(bind, name)
            if ok:
                continue
            if ok is not None:  # INVALID: a concurrent build of it failed half-way
                bind.exec_driver_sql(f"DROP INDEX {online}IF EXISTS {schema}.{name}")
            bind.exec_driver_sql(f"CREATE INDEX {online}IF NOT EXISTS {name} ON {schema}.{table} {body}")


def drop(indexes: Sequence[tuple[str, str]]) -> None:
    """Drop each ``(name, table)``, ``CONCURRENTLY`` where its table holds rows (PostgreSQL)."""
    bind = op.get_bind()
    live = live_tables(bind, {table for _, table in indexes})
    with outside_the_transaction(bool(live)):
        bind = op.get_bind()
        schema = schema_name(bind)
        for name, table in indexes:
            online = "CONCURRENTLY " if table in live else ""
            bind.exec_driver_sql(f"DROP INDEX {online}IF EXISTS {schema}.{name}")


def live_tables(bind: Connection, tables: set[str]) -> set[str]:
    """The tables that hold rows and whose indexes can be built concurrently: none when the
    migration runs inside a transaction it cannot leave (a caller's own, or ``--sql``)."""
    ctx = op.get_context()
    if ctx.as_sql or getattr(ctx, "_in_external_transaction", True):
        return set()
    schema = schema_name(bind)
    return {t for t in tables if bind.exec_driver_sql(f"SELECT EXISTS (SELECT 1 FROM {schema}.{t})").scalar()}


@contextmanager
def outside_the_transaction(needed: bool) -> Iterator[None]:
    """Alembic's autocommit block when a concurrent build is to run (it commits the migration's
    transaction so far; Alembic opens a new one after it, for the version row)."""
    if not needed:
        yield
        return
    with op.get_context().autocommit_block():
        yield


def schema_name(bind: Connection) -> str:
    """The schema the tables are in (the first of the search_path that exists: the test suite
    gives every test its own), quoted; every statement names it, so no build lands elsewhere."""
    return quote(str(bind.exec_driver_sql("SELECT current_schema()").scalar()))


def valid(bind: Connection, name: str) -> bool | None:
    """Whether the index ``name`` of this schema is valid; None when there is none."""
    row = bind.exec_driver_sql(
        "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND c.relname = %(n)s",
        {"n": name}).first()
    return None if row is None else bool(row[0])


def quote(ident: str) -> str:
    return '"' + ident.replace('"', '""') + '"'


__all__ = ["build", "drop", "live_tables", "outside_the_transaction", "quote", "schema_name", "valid"]
