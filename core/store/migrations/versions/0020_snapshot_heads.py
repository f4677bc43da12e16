"""snapshot_heads: each device's newest full snapshot and its radio facts, kept by triggers

Revision ID: 0020
Revises: 0018
Create Date: 2026-11-23

Why (issue 15, campaign gate at a million devices): the fleet preview and the fleet decision each
found every target's newest full snapshot with ``max(id) ... GROUP BY device_id`` over
``parameter_snapshots`` and parsed the whole JSON document of each to read six radio values — at
1M targets on SQLite that was ~14 s of a 30 s gate. ``snapshot_heads`` keeps, per device, the id of
that newest full snapshot and the six radio values as the database's own JSON extraction gives
them (the same text the grouped query used to produce), written when the snapshot is written.

Triggers keep it, not application code: every path that writes a snapshot (the lifecycle's
verified-state merge, the seed, bulk loads, tests, a future sync) keeps it right without knowing
of it; a snapshot deleted or updated recomputes its device's head from what is left. Backup rows
(source ``backup``, core.store.repo.PARTIAL_SNAPSHOT_SOURCES) are never a head. A document the
database cannot parse is recorded as ``radios = 'invalid'`` (the decision then fails, and so
denies) rather than refusing the snapshot's write. No foreign key to ``devices``: a device's
snapshots go with it (their cascade), and each deletion recomputes the head from what is left.

Revises 0019 (the audit append functions).
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# core.fleet_facts.RADIO_PATHS at the time of writing (a migration must not follow later code).
RADIO_PATHS = tuple(f"Device.WiFi.Radio.{i}.{leaf}" for i in (1, 2, 3)
                    for leaf in ("OperatingFrequencyBand", "AutoChannelEnable"))
PARTIAL = "'backup'"


def _sqlite_radios(col: str) -> str:
    paths = ", ".join(f"'$.\"{p}\".value'" for p in RADIO_PATHS)
    return f"CASE WHEN json_valid({col}) THEN json_extract({col}, {paths}) ELSE 'invalid' END"


def _pg_doc(col: str) -> str:
    """``col`` as json, a ``\\u0000`` escape read as U+FFFD (as migration 0021 and new rows store it):
    json text keeps such an escape, but reading any value out of that document fails ("\\u0000
    cannot be converted to text"), so one snapshot a device reported with a NUL stopped this
    upgrade. Only documents that spell the escape pay for the rewrite."""
    text = f"({col})::text"
    fixed = rf"regexp_replace({text}, '(?<!\\)((?:\\\\)*)\\u0000', '\1\\ufffd', 'g')"
    return f"(CASE WHEN strpos({text}, '\\u0000') > 0 THEN {fixed} ELSE {text} END)::json"


def _pg_radios(col: str) -> str:
    doc = _pg_doc(col)
    return "json_build_array(" + ", ".join(f"{doc} -> '{p}' ->> 'value'" for p in RADIO_PATHS) + ")::text"


def _recompute(dev: str, radios: str) -> list[str]:
    """Statements that make ``dev``'s head what its snapshots now say (none left: no head)."""
    return [
        f"DELETE FROM snapshot_heads WHERE device_id = {dev}",
        "INSERT INTO snapshot_heads (device_id, snapshot_id, radios) "
        f"SELECT s.device_id, s.id, {radios} FROM parameter_snapshots s WHERE s.id = "
        f"(SELECT max(id) FROM parameter_snapshots WHERE device_id = {dev} AND source NOT IN ({PARTIAL}))",
    ]


def upgrade() -> None:
    op.create_table(
        "snapshot_heads",
        sa.Column("device_id", sa.String(length=128), nullable=False),
        sa.Column("snapshot_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("radios", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("device_id", name=op.f("pk_snapshot_heads")),
        sqlite_with_rowid=False,  # one seek per target on SQLite (the row is in the key's B-tree)
    )
    dialect = op.get_bind().dialect.name
    radios = _sqlite_radios("s.params") if dialect == "sqlite" else _pg_radios("s.params")
    op.execute(
        "INSERT INTO snapshot_heads (device_id, snapshot_id, radios) "
        f"SELECT s.device_id, s.id, {radios} FROM parameter_snapshots s JOIN "
        f"(SELECT max(id) AS mid FROM parameter_snapshots WHERE source NOT IN ({PARTIAL}) GROUP BY device_id) m "
        "ON s.id = m.mid")
    if dialect == "sqlite":
        new = _sqlite_radios("NEW.params")
        op.execute(
            "CREATE TRIGGER snapshot_heads_insert AFTER INSERT ON parameter_snapshots "
            f"WHEN NEW.source NOT IN ({PARTIAL}) BEGIN "
            f"INSERT INTO snapshot_heads (device_id, snapshot_id, radios) VALUES (NEW.device_id, NEW.id, {new}) "
            "ON CONFLICT (device_id) DO UPDATE SET snapshot_id = excluded.snapshot_id, radios = excluded.radios "
            "WHERE excluded.snapshot_id > snapshot_heads.snapshot_id; END")
        s_radios = _sqlite_radios("s.params")
        body = "; ".join(_recompute("OLD.device_id", s_radios))
        op.execute(f"CREATE TRIGGER snapshot_heads_delete AFTER DELETE ON parameter_snapshots BEGIN {body}; END")
        body = "; ".join(_recompute("OLD.device_id", s_radios) + _recompute("NEW.device_id", s_radios))
        op.execute("CREATE TRIGGER snapshot_heads_update AFTER UPDATE OF device_id, source, params "
                   f"ON parameter_snapshots BEGIN {body}; END")
    elif dialect == "postgresql":
        s_radios = _pg_radios("s.params")
        old = "; ".join(_recompute("OLD.device_id", s_radios))
        new_dev = "; ".join(_recompute("NEW.device_id", s_radios))
        op.execute(
            "CREATE OR REPLACE FUNCTION gateward_snapshot_heads() RETURNS trigger AS $$ BEGIN "
            "IF TG_OP = 'INSERT' THEN "
            f"  IF NEW.source NOT IN ({PARTIAL}) THEN "
            "    INSERT INTO snapshot_heads (device_id, snapshot_id, radios) "
            f"    VALUES (NEW.device_id, NEW.id, {_pg_radios('NEW.params')}) "
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


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for name in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS snapshot_heads_{name}")
    elif dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS snapshot_heads_write ON parameter_snapshots")
        op.execute("DROP FUNCTION IF EXISTS gateward_snapshot_heads()")
    op.drop_table("snapshot_heads")
