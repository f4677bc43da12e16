"""issue 60.4: the console's pages at 100,000 homes — counts from an index, outages from a partial one, search by trigram on SQLite

Revision ID: 0036
Revises: 0035
Create Date: 2026-11-29

* ``devices (status, region, model, firmware, vendor)``: the fleet overview's counts (by status; the
  active devices by region × model × firmware) and the device list's facets (vendor, model, firmware,
  region) are ``GROUP BY`` reads of the index alone, in its order — no table row, no sort. SQLite at
  100,000 devices: 200 → 19 ms for the overview's two counts (``bench console_pages``).
* ``device_events (ts, device_id) WHERE kind IN ('wan_down', 'wan_degraded', 'los', 'offline')``:
  the outage rule (the fleet page's outage panel, and the "problems first" order of every device list
  page) reads the WAN-trouble events of the last hours. Without it every event of the fleet was read
  (152,000 at 100,000 homes: 123 ms on SQLite); with it the few that matter. Partial: an inform or a
  boot — nearly every event — costs no index entry.
* SQLite: ``devices_search``, an FTS5 table with the trigram tokenizer over the text the list's
  "contains" search matches (``id || ' ' || coalesce(subscriber, '') || ' ' || model``, as
  PostgreSQL's trigram index of 0028), kept by triggers on ``devices`` (every writer, whatever its
  path). Its rows are keyed by ``devices_search_keys.k`` (``INTEGER PRIMARY KEY``: a ``VACUUM`` keeps
  it, where it may renumber the ``rowid`` of ``devices``, whose key is text). A search for a
  subscriber read every device three times (286 ms at 100,000); through the index it reads the
  matches (4–6 ms). An SQLite built without FTS5 or the trigram tokenizer (before 3.34) goes on
  without it: the search reads ``devices`` as before (``core.store.device_search``).

PostgreSQL builds the two indexes without stopping writers (``core.store.index_builds``, as 0028).
Downgrade drops what upgrade made.
"""
from __future__ import annotations

from collections.abc import Sequence

from alembic import op
from sqlalchemy import Connection
from sqlalchemy.exc import OperationalError

from core.store import index_builds

revision: str = "0036"
down_revision: str | None = "0035"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GROUPS = ("status", "region", "model", "firmware", "vendor")
# core.store.schema.DEGRADED_KINDS_SQL at the time of writing (a migration must not follow later code).
DEGRADED = "kind IN ('wan_down', 'wan_degraded', 'los', 'offline')"
# core.store.device_search.SEARCH_TEXT_SQL at the time of writing, of a row named ``new``.
TEXT = "new.id || ' ' || coalesce(new.subscriber, '') || ' ' || new.model"

# A device's search row goes with it; an insert first drops any row of the same id (an
# ``INSERT OR REPLACE`` deletes without firing the delete trigger).
_FORGET = """DELETE FROM devices_search WHERE rowid IN (SELECT k FROM devices_search_keys WHERE device_id = {row}.id);
  DELETE FROM devices_search_keys WHERE device_id = {row}.id;"""
_REMEMBER = f"""INSERT INTO devices_search_keys (device_id) VALUES (new.id);
  INSERT INTO devices_search (rowid, text)
    VALUES ((SELECT k FROM devices_search_keys WHERE device_id = new.id), {TEXT});"""
_SEARCH = [
    "CREATE TABLE devices_search_keys (k INTEGER PRIMARY KEY, device_id VARCHAR(128) NOT NULL UNIQUE)",
    "CREATE VIRTUAL TABLE devices_search USING fts5(text, tokenize = 'trigram')",
    f"CREATE TRIGGER devices_search_insert AFTER INSERT ON devices BEGIN\n  {_FORGET.format(row='new')}\n"
    f"  {_REMEMBER}\nEND",
    f"CREATE TRIGGER devices_search_delete AFTER DELETE ON devices BEGIN\n  {_FORGET.format(row='old')}\nEND",
    f"CREATE TRIGGER devices_search_update AFTER UPDATE OF id, subscriber, model ON devices BEGIN\n"
    f"  {_FORGET.format(row='old')}\n  {_REMEMBER}\nEND",
    "INSERT INTO devices_search_keys (device_id) SELECT id FROM devices",
    "INSERT INTO devices_search (rowid, text) SELECT k.k, d.id || ' ' || coalesce(d.subscriber, '') || ' ' || d.model "
    "FROM devices d JOIN devices_search_keys k ON k.device_id = d.id",
]


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        op.create_index("ix_devices_status_groups", "devices", list(GROUPS))
        op.execute(f"CREATE INDEX ix_device_events_degraded ON device_events (ts, device_id) WHERE {DEGRADED}")
        if _trigram_fts(bind):
            for statement in _SEARCH:
                bind.exec_driver_sql(statement)
        return
    index_builds.build([("ix_devices_status_groups", "devices", f"({', '.join(GROUPS)})"),
                        ("ix_device_events_degraded", "device_events", f"(ts, device_id) WHERE {DEGRADED}")])


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        for trigger in ("devices_search_insert", "devices_search_delete", "devices_search_update"):
            bind.exec_driver_sql(f"DROP TRIGGER IF EXISTS {trigger}")
        bind.exec_driver_sql("DROP TABLE IF EXISTS devices_search")
        bind.exec_driver_sql("DROP TABLE IF EXISTS devices_search_keys")
        op.drop_index("ix_device_events_degraded", table_name="device_events")
        op.drop_index("ix_devices_status_groups", table_name="devices")
        return
    index_builds.drop([("ix_device_events_degraded", "device_events"), ("ix_devices_status_groups", "devices")])


def _trigram_fts(bind: Connection) -> bool:
    """Whether this SQLite has FTS5 with the trigram tokenizer (3.34 and later, FTS5 compiled in):
    a throwaway table in ``temp`` says so without touching the database."""
    try:
        bind.exec_driver_sql("CREATE VIRTUAL TABLE temp.gateward_fts_probe USING fts5(t, tokenize = 'trigram')")
    except OperationalError:
        return False
    bind.exec_driver_sql("DROP TABLE temp.gateward_fts_probe")
    return True
