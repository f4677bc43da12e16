"""issue 39: the device list pages by keyset in any sort order, and searches stored parameter values

Revision ID: 0028
Revises: 0027
Create Date: 2026-11-26

* ``devices (col, id)`` for each column the console sorts by (``last_seen``, ``model``,
  ``firmware``, ``region``, ``subscriber``): a page after a cursor is ``(col, id) > (v, id)``
  ordered by ``(col, id)``, one index seek and a short walk at any depth (``api.device_list``).
  ``ix_devices_region`` and ``ix_devices_subscriber`` are kept: other readers name them in plans and
  tests, and the new pairs cost each insert only a little more than they do.
* ``snapshot_heads (snapshot_id)``: a parameter search finds matching snapshots by the GIN index
  below and keeps those that are their device's head; without this index PostgreSQL read all of
  ``snapshot_heads`` to join them (380 ms at a million devices; 37 ms with it).
* PostgreSQL, when ``pg_trgm`` can be had (a trusted extension since PostgreSQL 13: any role that
  may create in the database installs it): a trigram GIN index over ``id || ' ' || subscriber ||
  ' ' || model``, the text the list's "contains" search matches; without it that search reads
  every row (0.9 s at a million). Where the extension cannot be installed the upgrade goes on
  without the index and the search stays correct, only slower.
* PostgreSQL only: a GIN index (``jsonb_path_ops``) on ``parameter_snapshots.params``, so "devices
  whose stored ``Device.WiFi.SSID.1.SSID`` is ``home-42``" is a containment test the index answers
  (``params @> '{"Device.WiFi.SSID.1.SSID": {"value": "home-42"}}'``) instead of a read of every
  document. SQLite has no such index; its search reads the snapshots (small fleets).

PostgreSQL builds them without stopping writers: the upgrade runs while the old version's
processes keep serving (docs/deploy.md), and a plain ``CREATE INDEX`` holds a lock that stops every
insert and update of the table for the whole build (all of 0028's: 15 s at 200,000 devices on the
2-core test machine, so over a minute at a million). On a table that holds rows each index is built
``CREATE INDEX CONCURRENTLY`` outside the migration's transaction (``autocommit_block``): writes go
on (all builds: 19 s at 200,000); a build waits for the transactions writing to its table when it
begins and, before it ends, for every older transaction in the database. An empty table (a new database) gets the plain build, inside the transaction: it is instant, and a
concurrent one would wait for every older transaction in the database. The builds are idempotent:
an index already there and valid is kept, and one a failed concurrent build left INVALID (a
cancel, a lost connection, a killed process) is dropped and built again, so a re-run finishes.
When the migration runs inside a caller's transaction it cannot step out of it and builds them
the plain way.

Downgrade drops them (and leaves the extension, which other objects may use); on PostgreSQL
``DROP INDEX CONCURRENTLY`` where the table holds rows, for the same reason.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from alembic import op
from sqlalchemy import Connection

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SORTED = ("last_seen", "model", "firmware", "region", "subscriber")


# api.device_list.SEARCH_TEXT_SQL at the time of writing (a migration must not follow later code).
SEARCH_TEXT = "(id || ' ' || coalesce(subscriber, '') || ' ' || model)"


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        for col in SORTED:
            op.create_index(f"ix_devices_{col}_id", "devices", [col, "id"])
        op.create_index("ix_snapshot_heads_snapshot_id", "snapshot_heads", ["snapshot_id"])
        return
    indexes = [(f"ix_devices_{col}_id", "devices", f"({col}, id)") for col in SORTED]
    indexes.append(("ix_snapshot_heads_snapshot_id", "snapshot_heads", "(snapshot_id)"))
    indexes.append(("ix_snapshots_params_gin", "parameter_snapshots", "USING gin (params jsonb_path_ops)"))
    opclass = _trigram_opclass(bind)
    if opclass is not None:
        indexes.append(("ix_devices_search_trgm", "devices", f"USING gin ({SEARCH_TEXT} {opclass})"))
    live = _live_tables(bind, {table for _, table, _ in indexes})
    with _outside_the_transaction(bool(live)):
        bind = op.get_bind()  # the autocommit connection inside the block
        schema = _schema(bind)
        for name, table, body in indexes:
            online = "CONCURRENTLY " if table in live else ""
            valid = _valid(bind, name)
            if valid:
                continue
            if valid is not None:  # INVALID: a concurrent build of it failed half-way
                bind.exec_driver_sql(f"DROP INDEX {online}IF EXISTS {schema}.{name}")
            bind.exec_driver_sql(f"CREATE INDEX {online}IF NOT EXISTS {name} ON {schema}.{table} {body}")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        op.drop_index("ix_snapshot_heads_snapshot_id", table_name="snapshot_heads")
        for col in SORTED:
            op.drop_index(f"ix_devices_{col}_id", table_name="devices")
        return
    indexes = [("ix_devices_search_trgm", "devices"), ("ix_snapshots_params_gin", "parameter_snapshots"),
               ("ix_snapshot_heads_snapshot_id", "snapshot_heads")]
    indexes += [(f"ix_devices_{col}_id", "devices") for col in SORTED]
    live = _live_tables(bind, {table for _, table in indexes})
    with _outside_the_transaction(bool(live)):
        bind = op.get_bind()
        schema = _schema(bind)
        for name, table in indexes:
            online = "CONCURRENTLY " if table in live else ""
            bind.exec_driver_sql(f"DROP INDEX {online}IF EXISTS {schema}.{name}")


def _trigram_opclass(bind: Connection) -> str | None:
    """``pg_trgm``'s ``gin_trgm_ops``, schema-qualified, installing the extension if it can be
    had; None when it cannot (the search works without its index, only slower)."""
    available = bind.exec_driver_sql("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'").first()
    if available is None:
        return None
    # In ``public`` when it is new: an extension created in a schema goes when that schema is dropped
    # (the test suite's schema per test), taking every other schema's trigram index with it.
    sp = bind.begin_nested()
    try:
        bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public")
    except Exception:  # no privilege, or no public schema: the search works without its index
        sp.rollback()
    else:
        sp.commit()
    where = bind.exec_driver_sql("SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
                                 "WHERE e.extname = 'pg_trgm'").scalar()
    if where is None:
        return None
    return _quote(str(where)) + ".gin_trgm_ops"


def _live_tables(bind: Connection, tables: set[str]) -> set[str]:
    """The tables that hold rows and whose indexes can be built concurrently: none when the
    migration runs inside a transaction it cannot leave (a caller's own, or ``--sql``)."""
    ctx = op.get_context()
    if ctx.as_sql or getattr(ctx, "_in_external_transaction", True):
        return set()
    schema = _schema(bind)
    return {t for t in tables if bind.exec_driver_sql(f"SELECT EXISTS (SELECT 1 FROM {schema}.{t})").scalar()}


@contextmanager
def _outside_the_transaction(needed: bool) -> Iterator[None]:
    """Alembic's autocommit block when a concurrent build is to run (it commits the migration's
    transaction so far; Alembic opens a new one after it, for the version row)."""
    if not needed:
        yield
        return
    with op.get_context().autocommit_block():
        yield


def _schema(bind: Connection) -> str:
    """The schema the tables are in (the first of the search_path that exists: the test suite
    gives every test its own), quoted; every statement names it, so no build lands elsewhere."""
    return _quote(str(bind.exec_driver_sql("SELECT current_schema()").scalar()))


def _valid(bind: Connection, name: str) -> bool | None:
    """Whether the index ``name`` of this schema is valid; None when there is none."""
    row = bind.exec_driver_sql(
        "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND c.relname = %(n)s",
        {"n": name}).first()
    return None if row is None else bool(row[0])


def _quote(ident: str) -> str:
    return '"' + ident.replace('"', '""') + '"'
