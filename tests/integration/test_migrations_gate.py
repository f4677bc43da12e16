"""Migration 0021 (snapshot params jsonb on PostgreSQL) keeps every row and every trigger, and goes
back down (issue 15, campaign gate); on SQLite it changes nothing."""

from __future__ import annotations

from typing import Any

from alembic import command
from sqlalchemy import insert, select, text

from core.kernel.models import utcnow
from core.store.db import Store
from core.store.schema import ParameterSnapshotRow, ProposalDeviceRow, ProposalRow, SnapshotHeadRow
from testing.bulk_fleet import seed_bulk_fleet


def _shape(s: Any) -> dict[str, Any]:
    if s.get_bind().dialect.name == "postgresql":
        kind = s.execute(text("SELECT data_type FROM information_schema.columns WHERE table_schema = "
                              "current_schema() AND table_name = 'parameter_snapshots' AND column_name = 'params'"))
        return {"params": kind.scalar()}
    return {}


def _rows(s: Any) -> tuple[Any, ...]:
    return (sorted(map(tuple, s.execute(select(ProposalDeviceRow.proposal_id, ProposalDeviceRow.device_id)))),
            sorted((r.id, r.device_id, r.params["Device.WiFi.Radio.2.Channel"]["value"])
                   for r in s.scalars(select(ParameterSnapshotRow))),
            sorted(map(tuple, s.execute(select(SnapshotHeadRow.device_id, SnapshotHeadRow.snapshot_id,
                                               SnapshotHeadRow.radios)))))


def test_down_and_up_keep_rows_and_triggers(db_url: str) -> None:
    store = Store(db_url)
    try:
        seed_bulk_fleet(store, 30, seed=2)
        now = utcnow()
        with store.write() as s:
            devs = list(s.scalars(select(ParameterSnapshotRow.device_id).order_by(ParameterSnapshotRow.device_id)))
            s.execute(insert(ProposalRow), [{"id": "p-m", "author": "dave", "author_kind": "human", "intent": "m",
                                             "targets": devs[:9], "changes": [], "operations": [], "rationale": "",
                                             "evidence": [], "emergency": False, "staged": False, "source": "test",
                                             "state": "draft", "hash": "x", "version": 1, "created_at": now,
                                             "updated_at": now}])
            s.execute(insert(ProposalDeviceRow), [{"proposal_id": "p-m", "device_id": d} for d in devs[:9]])
        pg = store.dialect == "postgresql"
        with store.read() as s:
            assert _shape(s) == ({"params": "jsonb"} if pg else {})
            before = _rows(s)
        cfg = store.alembic_config()
        with store._write_engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0020")
        with store.read() as s:
            assert _shape(s) == ({"params": "json"} if pg else {})
            assert _rows(s) == before
        store._migrated = False
        store.migrate()
        with store.read() as s:
            assert _shape(s) == ({"params": "jsonb"} if pg else {})
            assert _rows(s) == before
        # The heads' trigger still follows every write: a newer snapshot becomes the head, with its radios.
        params = {"Device.WiFi.Radio.1.OperatingFrequencyBand": {"value": "2.4GHz", "type": "string"},
                  "Device.WiFi.Radio.1.AutoChannelEnable": {"value": False, "type": "boolean"},
                  "Device.WiFi.Radio.2.Channel": {"value": 149, "type": "unsignedInt"}}
        with store.write() as s:
            s.execute(insert(ParameterSnapshotRow), [{"device_id": devs[0], "taken_at": now, "source": "test",
                                                      "params": params}])
        with store.read() as s:
            newest = s.scalar(select(ParameterSnapshotRow.id).where(ParameterSnapshotRow.device_id == devs[0])
                              .order_by(ParameterSnapshotRow.id.desc()).limit(1))
            head = s.execute(select(SnapshotHeadRow.snapshot_id, SnapshotHeadRow.radios)
                             .where(SnapshotHeadRow.device_id == devs[0])).one()
            assert head.snapshot_id == newest
            assert head.radios.replace(" ", "") == ('["2.4GHz","false",null,null,null,null]' if pg
                                                    else '["2.4GHz",false,null,null,null,null]')
            # Deleting the proposal still takes its targets with it (the foreign key's cascade).
        with store.write() as s:
            s.execute(text("DELETE FROM proposals WHERE id = 'p-m'"))
        with store.read() as s:
            assert s.scalar(select(ProposalDeviceRow.device_id).where(ProposalDeviceRow.proposal_id == "p-m")) is None
    finally:
        store.dispose()


def _nul_params() -> dict[str, Any]:
    return {"Device.DeviceInfo.Description": {"value": "a\x00b", "type": "string"},
            "Device.DeviceInfo.Manufacturer": {"value": "lit\\u0000", "type": "string"},
            "Device.WiFi.Radio.2.Channel": {"value": 36, "type": "unsignedInt"}}


def _stored_values(store: Store, device_id: str) -> list[Any]:
    with store.read() as s:
        docs = s.scalars(select(ParameterSnapshotRow.params).where(ParameterSnapshotRow.device_id == device_id)
                         .order_by(ParameterSnapshotRow.id)).all()
    return [(d["Device.DeviceInfo.Description"]["value"], d["Device.DeviceInfo.Manufacturer"]["value"])
            for d in docs if "Device.DeviceInfo.Description" in d]


def test_a_nul_in_a_reported_value_is_stored_not_refused(db_url: str) -> None:
    """A NUL a device reported (a USP agent's protobuf string can carry one) is stored — as U+FFFD
    on PostgreSQL, where jsonb cannot hold it — and a row json kept with one survives 0021's
    upgrade the same way; text that only spells ``\\u0000`` is kept as it is."""
    store = Store(db_url)
    try:
        seed_bulk_fleet(store, 3, seed=2)
        with store.read() as s:
            dev = s.scalars(select(ParameterSnapshotRow.device_id).order_by(ParameterSnapshotRow.device_id)).first()
        pg = store.dialect == "postgresql"
        with store.write() as s:  # the column type (both the ORM and Core insert take it)
            s.execute(insert(ParameterSnapshotRow), [{"device_id": dev, "taken_at": utcnow(), "source": "test",
                                                      "params": _nul_params()}])
        expect = ("a\ufffdb" if pg else "a\x00b", "lit\\u0000")
        assert _stored_values(store, dev) == [expect]
        if not pg:
            return
        cfg = store.alembic_config()
        with store._write_engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0020")
        with store._write_engine.begin() as conn:  # json keeps the escape as text: as an older database holds it
            # (written before 0020's heads trigger, which cannot read such a document either)
            conn.execute(text("ALTER TABLE parameter_snapshots DISABLE TRIGGER snapshot_heads_write"))
            conn.execute(text("INSERT INTO parameter_snapshots (device_id, taken_at, source, params) "
                              "VALUES (:d, now(), 'old', CAST(:p AS json))"),
                         {"d": dev, "p": '{"Device.DeviceInfo.Description": {"value": "c\\u0000d"}, '
                                         '"Device.DeviceInfo.Manufacturer": {"value": "\\\\\\u0000"}}'})
            conn.execute(text("ALTER TABLE parameter_snapshots ENABLE TRIGGER snapshot_heads_write"))
        store._migrated = False
        store.migrate()  # 0021 again: the row with a NUL escape does not stop the upgrade
        assert _stored_values(store, dev) == [expect, ("c\ufffdd", "\\\ufffd")]
    finally:
        store.dispose()


def test_an_upgrade_from_before_the_heads_reads_a_document_with_a_nul(db_url: str) -> None:
    """A database from before 0020 may hold a snapshot (json text) with a ``\\u0000`` escape: reading
    any value out of such a document fails on PostgreSQL, which stopped 0020's backfill of the
    heads. The upgrade now goes through, the device's head is that snapshot with its radios, and
    0021 stores the NUL as U+FFFD."""
    store = Store(db_url)
    try:
        seed_bulk_fleet(store, 3, seed=2)
        with store.read() as s:
            dev = s.scalars(select(ParameterSnapshotRow.device_id).order_by(ParameterSnapshotRow.device_id)).first()
        cfg = store.alembic_config()
        with store._write_engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0019")
        doc = ('{"Device.DeviceInfo.Description": {"value": "c\\u0000d"}, '
               '"Device.WiFi.Radio.1.OperatingFrequencyBand": {"value": "2.4GHz"}, '
               '"Device.WiFi.Radio.1.AutoChannelEnable": {"value": true}}')
        with store._write_engine.begin() as conn:
            cast = "CAST(:p AS json)" if store.dialect == "postgresql" else ":p"
            conn.execute(text("INSERT INTO parameter_snapshots (device_id, taken_at, source, params) "
                              f"VALUES (:d, CURRENT_TIMESTAMP, 'old', {cast})"), {"d": dev, "p": doc})
            newest = conn.execute(text("SELECT max(id) FROM parameter_snapshots WHERE device_id = :d"),
                                  {"d": dev}).scalar()
        store._migrated = False
        store.migrate()
        with store.read() as s:
            head = s.execute(select(SnapshotHeadRow.snapshot_id, SnapshotHeadRow.radios)
                             .where(SnapshotHeadRow.device_id == dev)).one()
            assert head.snapshot_id == newest
            pg = store.dialect == "postgresql"
            assert head.radios.replace(" ", "").startswith('["2.4GHz",' + ('"true"' if pg else "true"))
        values = [d["Device.DeviceInfo.Description"]["value"] for d in _docs(store, dev)]
        assert values[-1] == ("c\ufffdd" if store.dialect == "postgresql" else "c\x00d")
    finally:
        store.dispose()


def _docs(store: Store, device_id: str) -> list[Any]:
    with store.read() as s:
        return [d for d in s.scalars(select(ParameterSnapshotRow.params).where(
            ParameterSnapshotRow.device_id == device_id).order_by(ParameterSnapshotRow.id))
            if "Device.DeviceInfo.Description" in d]
