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

from collections.abc import Sequence

from alembic import op
from sqlalchemy import Connection

from core.store import index_builds

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
    index_builds.build(indexes)


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
    index_builds.drop(indexes)


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
    return index_builds.quote(str(where)) + ".gin_trgm_ops"
