"""issue 60.4: the console's pages at 100,000 homes — counts from an index, outages from a partial one, SQLite's search from an index of its text

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
* SQLite: ``devices ((id || ' ' || coalesce(subscriber, '') || ' ' || model))``, the text the
  list's "contains" search matches (PostgreSQL's trigram index of 0028 is on the same text). A
  ``LIKE '%…%'`` cannot seek in it, but reading it is reading 45 bytes a device where the table holds
  hundreds: a search finds its ids in the index first (``core.store.device_search``, 10 ms at 100,000
  devices) and reads ``devices`` by key, where it read every row three times (286 ms). An FTS5 trigram
  table was tried first and measured: 4–6 ms a search, but 30–65 µs more on every insert of a device
  (its triggers and tokenizer) — the first inventory sync fell from 15,000–19,000 to 8,000 devices/s;
  this index costs an insert about what the other indexes do.

* ``ix_devices_region`` and ``ix_devices_subscriber`` are dropped: 0028's ``(region, id)`` and
  ``(subscriber, id)`` answer every lookup they did, and each index is paid on every insert of a
  device — these two pay for the two new ones (a first inventory sync writes 100,000 devices).

PostgreSQL builds (and drops) the indexes without stopping writers (``core.store.index_builds``, as 0028).
Nothing here changes what old code reads or writes: old and new processes may run side by side during a
rolling upgrade (docs/deploy.md). Downgrade drops what upgrade made and builds the two dropped indexes again.
"""
from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from core.store import index_builds

revision: str = "0036"
down_revision: str | None = "0035"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GROUPS = ("status", "region", "model", "firmware", "vendor")
# core.store.schema.DEGRADED_KINDS_SQL at the time of writing (a migration must not follow later code).
DEGRADED = "kind IN ('wan_down', 'wan_degraded', 'los', 'offline')"
# core.store.device_search.SEARCH_TEXT_SQL at the time of writing, unqualified.
SEARCH_TEXT = "(id || ' ' || coalesce(subscriber, '') || ' ' || model)"
# Single-column indexes that 0028's ``(col, id)`` pairs make redundant.
REDUNDANT = ("region", "subscriber")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        op.create_index("ix_devices_status_groups", "devices", list(GROUPS))
        op.execute(f"CREATE INDEX ix_device_events_degraded ON device_events (ts, device_id) WHERE {DEGRADED}")
        op.execute(f"CREATE INDEX ix_devices_search_text ON devices ({SEARCH_TEXT})")
        for col in REDUNDANT:
            op.drop_index(f"ix_devices_{col}", table_name="devices")
        return
    index_builds.build([("ix_devices_status_groups", "devices", f"({', '.join(GROUPS)})"),
                        ("ix_device_events_degraded", "device_events", f"(ts, device_id) WHERE {DEGRADED}")])
    index_builds.drop([(f"ix_devices_{col}", "devices") for col in REDUNDANT])


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        for col in REDUNDANT:
            op.create_index(f"ix_devices_{col}", "devices", [col])
        op.drop_index("ix_devices_search_text", table_name="devices")
        op.drop_index("ix_device_events_degraded", table_name="device_events")
        op.drop_index("ix_devices_status_groups", table_name="devices")
        return
    index_builds.build([(f"ix_devices_{col}", "devices", f"({col})") for col in REDUNDANT])
    index_builds.drop([("ix_device_events_degraded", "device_events"), ("ix_devices_status_groups", "devices")])
