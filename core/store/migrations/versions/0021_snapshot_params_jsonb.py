"""parameter_snapshots.params is jsonb on PostgreSQL, so a fleet preview reads a value without parsing

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-23

Why (issue 15, campaign gate at a million devices): a snapshot preview reads each changed path's
current value from every target's newest snapshot. With ``json`` (text) PostgreSQL parses the whole
document for every path of every target — measured on 100,000 snapshots of the bench (~580 bytes
each): 2.3 s to extract two paths from ``json``, 0.25 s from ``jsonb`` (a binary document, a key is
found by binary search). At a million targets that was most of an 11.8 s preview.

``jsonb`` stores the same values; what differs is only how the document is kept: keys in jsonb's
own order (readers get a dict; nothing reads the order), a number in its canonical spelling, and a
``\\u0000`` escape refused (no device string carries a NUL: TR-069 is XML, and the agents' values
are printable). SQLite is unchanged (its JSON is text, read once per row by ``json_extract``).

The ``snapshot_heads`` trigger (0020) names ``params`` in its ``UPDATE OF`` list, so it is dropped
while the column changes type and created again, reading the radio values with jsonb's own
operators (the same text: ``->>`` of a jsonb string or boolean is what it was of json).
"""
from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# core.fleet_facts.RADIO_PATHS at the time of writing (a migration must not follow later code).
RADIO_PATHS = tuple(f"Device.WiFi.Radio.{i}.{leaf}" for i in (1, 2, 3)
                    for leaf in ("OperatingFrequencyBand", "AutoChannelEnable"))
PARTIAL = "'backup'"


def _radios(col: str, kind: str) -> str:
    """0020's radio array, read from a ``kind`` column (json: through a cast, as 0020 wrote it)."""
    cast = "::json" if kind == "json" else ""
    return "json_build_array(" + ", ".join(f"({col}){cast} -> '{p}' ->> 'value'" for p in RADIO_PATHS) + ")::text"


def _recompute(dev: str, radios: str) -> list[str]:
    return [
        f"DELETE FROM snapshot_heads WHERE device_id = {dev}",
        "INSERT INTO snapshot_heads (device_id, snapshot_id, radios) "
        f"SELECT s.device_id, s.id, {radios} FROM parameter_snapshots s WHERE s.id = "
        f"(SELECT max(id) FROM parameter_snapshots WHERE device_id = {dev} AND source NOT IN ({PARTIAL}))",
    ]


def _trigger(kind: str) -> None:
    s_radios = _radios("s.params", kind)
    old = "; ".join(_recompute("OLD.device_id", s_radios))
    new_dev = "; ".join(_recompute("NEW.device_id", s_radios))
    op.execute(
        "CREATE OR REPLACE FUNCTION gateward_snapshot_heads() RETURNS trigger AS $$ BEGIN "
        "IF TG_OP = 'INSERT' THEN "
        f"  IF NEW.source NOT IN ({PARTIAL}) THEN "
        "    INSERT INTO snapshot_heads (device_id, snapshot_id, radios) "
        f"    VALUES (NEW.device_id, NEW.id, {_radios('NEW.params', kind)}) "
        "    ON CONFLICT (device_id) DO UPDATE SET snapshot_id = excluded.snapshot_id, radios = excluded.radios "
        "    WHERE excluded.snapshot_id > snapshot_heads.snapshot_id; "
        "  END IF; "
        "  RETURN NULL; "
        "END IF; "
        f"{old}; "
        f"IF TG_OP = 'UPDATE' THEN {new_dev}; END IF; "
        "RETURN NULL; END; $$ LANGUAGE plpgsql")
    op.execute("CREATE TRIGGER snapshot_heads_write AFTER INSERT OR DELETE OR UPDATE OF device_id, source, params "
               "ON parameter_snapshots FOR EACH ROW EXECUTE FUNCTION gateward_snapshot_heads()")


def _change(kind: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS snapshot_heads_write ON parameter_snapshots")
    op.execute(f"ALTER TABLE parameter_snapshots ALTER COLUMN params TYPE {kind} USING {_USING[kind]}")
    _trigger(kind)


# jsonb refuses a ``\\u0000`` escape, which json kept: an escape preceded by an even number of
# backslashes (an escaped backslash before "u0000" is text, not a NUL) becomes U+FFFD, as new rows
# get it (``core.store.schema.SnapshotDocument``), instead of failing the whole upgrade.
_USING = {
    "jsonb": r"""regexp_replace(params::text, '(?<!\\)((?:\\\\)*)\\u0000', '\1\\ufffd', 'g')::jsonb""",
    "json": "params::json",
}


def upgrade() -> None:
    _change("jsonb")


def downgrade() -> None:
    _change("json")
