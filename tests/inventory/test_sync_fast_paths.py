"""The inventory sync's fast paths (issue 11 benchmark) must do exactly what the general ones do.

Each fast path exists only because it is cheaper per device; each is checked here against the path
it shortcuts, on inputs chosen to sit on both sides of its conditions: the one-pass document reader
against the general reader, the local NBI's shared-tree listing against its full document
renderer, compare-before-write against what a re-sync must record (nothing when nothing changed;
the new inform, the new firmware and its audit event when something did), the presence sweep that
skips what the change scan already stamped, and the prefetch that must stay one page ahead.
Real store (SQLite, and PostgreSQL when configured), real HTTP to the local NBI.
"""

from __future__ import annotations

import copy
import itertools
import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from core.inventory_sync import InventorySync
from core.store.db import Store
from core.store.schema import AuditEventRow, DeviceRow
from executors.genieacs.ids import genieacs_device_id
from executors.genieacs.inventory import (
    PROJECTION,
    AcsDevice,
    AcsInventorySource,
    ItemError,
    _parse_general,
    _parse_plain,
    parse_device,
)
from executors.genieacs.nbi import NbiClient
from testing.genieacs.fake_nbi import FakeNbi
from testing.genieacs.fake_store import listing_json, listing_record, listing_template

OUI, PC = "00D09E", "CGW3400"
_batch = itertools.count(1)


# ---------------------------------------------------------------------------- fixtures

def _listing(serial: str, at: float, firmware: str = "7.4", *, tr098: bool = False) -> Any:
    tpl = (listing_template("InternetGatewayDevice", "Sinotel", "HG8020", firmware, "", 1.7e9) if tr098
           else listing_template("Device", "Vantec", "CGW-3400", firmware, "B1", 1.7e9))
    return listing_record(genieacs_device_id(OUI, PC, serial),
                          {"Manufacturer": "Vantec", "OUI": OUI, "ProductClass": PC, "SerialNumber": serial}, at, *tpl)


def _load(acs: FakeNbi, count: int, start: float = 1.7e9) -> list[str]:
    b = next(_batch)
    serials = [f"FP{b:03d}{i:05d}" for i in range(count)]
    acs.load_devices(_listing(sn, start + i * 0.01, tr098=i % 4 == 3) for i, sn in enumerate(serials))
    return serials


def _sync(store: Store, acs: FakeNbi, page: int = 25, overlap_s: float | None = None) -> InventorySync:
    return InventorySync(store, AcsInventorySource(NbiClient(acs.url, timeout_s=10), page_size=page),
                         overlap_s=overlap_s)


def _rows(store: Store) -> dict[str, DeviceRow]:
    with store.read() as s:
        return {r.id: r for r in s.scalars(select(DeviceRow).where(DeviceRow.adapter == "genieacs"))}


def _actions(store: Store) -> list[str]:
    with store.read() as s:
        return list(s.scalars(select(AuditEventRow.action).order_by(AuditEventRow.seq)))


# ---------------------------------------------------------------------------- the document reader
def _doc(**over: Any) -> dict[str, Any]:
    leaf = {"_object": False, "_writable": False, "_timestamp": "2024-01-31T12:00:00.000Z", "_type": "xsd:string"}
    doc: dict[str, Any] = {
        "_id": f"{OUI}-{PC}-SN0001",
        "_deviceId": {"_Manufacturer": "Vantec", "_OUI": OUI, "_ProductClass": PC, "_SerialNumber": "SN0001"},
        "_lastInform": "2024-01-31T12:00:00.123Z", "_lastBoot": "2024-01-30T08:00:00.000Z",
        "Device": {"DeviceInfo": {"Manufacturer": {**leaf, "_value": "Vantec"},
                                  "ModelName": {**leaf, "_value": "CGW-3400"},
                                  "SoftwareVersion": {**leaf, "_value": "7.4"}}},
    }
    for path, value in over.items():
        node = doc
        *parents, last = path.split("/")
        for part in parents:
            node = node[part]
        if value is _DROP:
            node.pop(last, None)
        else:
            node[last] = value
    return doc


_DROP = object()
_DOCS: dict[str, dict[str, Any]] = {
    "plain": {},
    "tr098": {"Device": _DROP, "InternetGatewayDevice": {"DeviceInfo": {"SoftwareVersion": {"_value": "S105"}}}},
    "no product class": {"_id": f"{OUI}-SN0001", "_deviceId/_ProductClass": ""},
    "escaped id": {"_id": f"{OUI}-CGW%2D34-SN0001", "_deviceId/_ProductClass": "CGW-34"},
    "id of another unit": {"_id": f"{OUI}-{PC}-SN0002"},
    "serial with a dash": {"_id": f"{OUI}-SN-1", "_deviceId/_ProductClass": "", "_deviceId/_SerialNumber": "SN-1"},
    "serial with a newline": {"_id": f"{OUI}-{PC}-SN0001", "_deviceId/_SerialNumber": "SN0001\n"},
    "numeric serial": {"_id": f"{OUI}-{PC}-1234", "_deviceId/_SerialNumber": 1234},
    "padded values": {"Device/DeviceInfo/ModelName": {"_value": "  CGW-3400 "}},
    "numeric firmware": {"Device/DeviceInfo/SoftwareVersion": {"_value": 74}},
    "bare scalar leaf": {"Device/DeviceInfo/Manufacturer": "Vantec"},
    "no manufacturer leaf": {"Device/DeviceInfo/Manufacturer": _DROP},
    "no DeviceInfo": {"Device": {}},
    "DeviceInfo not an object": {"Device": {"DeviceInfo": "x"}},
    "no root": {"Device": _DROP},
    "offset date": {"_lastInform": "2024-01-31T13:00:00.123+01:00"},
    "bad date": {"_lastInform": "yesterday"},
    "bad Z date": {"_lastInform": "2024-13-31T12:00:00.000Z"},
    "no last inform": {"_lastInform": _DROP},
    "empty date": {"_lastBoot": ""},
    "no _id": {"_id": _DROP},
    "no _deviceId": {"_deviceId": _DROP},
    "odd _id characters": {"_id": "00D09E CGW3400 SN0001"},
    # The one-pass reader checks the joined _id with one regex: a dash inside any part, an empty
    # part, or a character outside [A-Za-z0-9_] must still leave it to the general reader.
    "product class with a dash, unescaped _id": {"_id": f"{OUI}-CGW-34-SN0001", "_deviceId/_ProductClass": "CGW-34"},
    "OUI with a dash": {"_id": "00-D09E-CGW3400-SN0001", "_deviceId/_OUI": "00-D09E"},
    "empty OUI": {"_id": f"-{PC}-SN0001", "_deviceId/_OUI": ""},
    "empty serial": {"_id": f"{OUI}-{PC}-", "_deviceId/_SerialNumber": ""},
    "dash as product class": {"_id": f"{OUI}---SN0001", "_deviceId/_ProductClass": "-"},
    "dot in serial": {"_id": f"{OUI}-{PC}-SN.0001", "_deviceId/_SerialNumber": "SN.0001"},
    "no product class, serial with a dash, two-dash _id": {"_id": f"{OUI}-SN-0001", "_deviceId/_ProductClass": "",
                                                          "_deviceId/_SerialNumber": "SN-0001"},
}


@pytest.mark.parametrize("name", list(_DOCS))
def test_the_one_pass_reader_reads_a_document_exactly_as_the_general_one(name: str) -> None:
    doc = _doc(**_DOCS[name])
    general = _parse_general(copy.deepcopy(doc))
    fast = _parse_plain(copy.deepcopy(doc))
    if fast is not None:
        assert isinstance(general, AcsDevice) and fast == general
        assert fast.device_id == general.device_id
    assert parse_device(doc) == general  # whichever path took it
    if name in ("plain", "tr098", "no product class", "no manufacturer leaf", "padded values"):
        assert fast is not None  # the common shapes take the one-pass reader
    if name in ("escaped id", "id of another unit", "serial with a dash", "bad date", "bad Z date"):
        assert fast is None  # ... and what needs a second look does not


def test_a_refused_document_says_why_whichever_reader_saw_it_first() -> None:
    wrong = parse_device(_doc(_id=f"{OUI}-{PC}-SN0002"))
    assert isinstance(wrong, ItemError) and "_id does not match _deviceId" in wrong.error
    bad = parse_device(_doc(_lastInform="2024-13-31T12:00:00.000Z"))
    assert isinstance(bad, ItemError) and "is not a date" in bad.error


# ---------------------------------------------------------------------------- the local NBI's listing
@pytest.mark.parametrize("projection", [
    list(PROJECTION), ["_id"], ["_deviceId._OUI", "Device.DeviceInfo"], ["Device"], ["_tags", "_lastBootstrap"],
    ["_lastInform", "InternetGatewayDevice.DeviceInfo.SoftwareVersion", "_registered"], None,
], ids=str)
def test_a_listing_document_is_the_full_renderers_byte_for_byte(projection: list[str] | None) -> None:
    tagged = _listing("LJ0001", 1.7e9 + 0.5)
    tagged.tags.append("ring-1")
    records = [_listing("LJ0000", 1.7e9), tagged, _listing("LJ0002", 1.7e9 + 1, tr098=True)]
    for rec in records * 2:  # the second time from the shared tree
        assert orjson.dumps(listing_json(rec, rec.inform_ts, projection)) == \
            orjson.dumps(rec.to_json(rec.inform_ts, projection))


def test_a_projected_attribute_keeps_only_that_attribute_of_its_node() -> None:
    """GenieACS hands the projection to MongoDB, whose stored node nests each attribute:
    ``X._value`` keeps ``_value`` alone; a whole-subtree entry covers its attributes."""
    rec = _listing("AT0001", 1.7e9)
    every = {"_object", "_writable", "_timestamp", "_value", "_type"}
    doc = rec.to_json(rec.inform_ts, ["Device.DeviceInfo.SoftwareVersion._value", "Device.DeviceInfo.ModelName"])
    assert doc["Device"]["DeviceInfo"]["SoftwareVersion"] == {"_value": "7.4"}
    assert set(doc["Device"]["DeviceInfo"]["ModelName"]) == every and "Manufacturer" not in doc["Device"]["DeviceInfo"]
    doc = rec.to_json(rec.inform_ts, ["Device.DeviceInfo", "Device.DeviceInfo.SoftwareVersion._value"])
    assert set(doc["Device"]["DeviceInfo"]["SoftwareVersion"]) == every
    doc = rec.to_json(rec.inform_ts, ["Device.DeviceInfo._object",
                                      "InternetGatewayDevice.DeviceInfo.Manufacturer._value"])
    assert doc == {"_id": rec.id, "Device": {"DeviceInfo": {"_object": True}}}
    assert parse_device(listing_json(rec, rec.inform_ts, list(PROJECTION))) == \
        parse_device(rec.to_json(rec.inform_ts, [p.removesuffix("._value") for p in PROJECTION]))


def test_a_first_sync_counts_the_acs_in_one_request_instead_of_listing_every_id(store: Store, acs: FakeNbi) -> None:
    _load(acs, 30)
    before = acs.requests
    first = _sync(store, acs).run()
    assert (first.registered, first.listed, first.absent, first.swept) == (30, 30, 0, True)
    assert acs.requests - before == 3  # the change scan's two pages (25 + 5), one HEAD that counts


# ---------------------------------------------------------------------------- compare before write
def test_a_resync_of_unchanged_devices_writes_nothing(store: Store, acs: FakeNbi) -> None:
    _load(acs, 60)
    first = _sync(store, acs).run()
    assert first.registered == 60 and first.error is None
    before = {i: (r.last_seen, r.acs_seen_at, r.firmware) for i, r in _rows(store).items()}
    events = len(_actions(store))

    again = _sync(store, acs).run(full=True, sweep=False)  # every document read again, none changed

    assert (again.seen, again.unchanged, again.updated, again.registered) == (60, 60, 0, 0)
    assert {i: (r.last_seen, r.acs_seen_at, r.firmware) for i, r in _rows(store).items()} == before
    assert _actions(store)[events:] == ["inventory.synced"]  # no device event: nothing happened to one


def test_a_resync_records_each_inform_and_audits_only_real_changes(store: Store, acs: FakeNbi) -> None:
    serials = _load(acs, 40)
    assert _sync(store, acs).run().registered == 40
    before = _rows(store)
    later = 1.8e9
    # every device informs again (periodic informs); two of them with a new firmware
    acs.load_devices(_listing(sn, later + i * 0.01, "7.6" if i in (5, 9) else "7.4", tr098=i % 4 == 3)
                     for i, sn in enumerate(serials))

    report = _sync(store, acs).run()

    assert report.error is None and (report.seen, report.updated, report.unchanged) == (40, 2, 38)
    after = _rows(store)
    for i, sn in enumerate(serials):
        gid = f"{OUI}-{PC}-{sn}"
        row = after[gid]
        assert row.last_seen is not None and abs(row.last_seen.timestamp() - (later + i * 0.01)) < 1e-3
        was = before[gid].acs_seen_at
        assert row.acs_seen_at is not None and was is not None and row.acs_seen_at > was
        assert row.firmware == ("7.6" if i in (5, 9) else before[gid].firmware)
    with store.read() as s:
        updated = list(s.scalars(select(AuditEventRow).where(AuditEventRow.action == "device.updated")))
    assert sorted(e.device_id or "" for e in updated) == sorted(f"{OUI}-{PC}-{serials[i]}" for i in (5, 9))
    assert all(e.data["changed"]["firmware"]["after"] == "7.6" for e in updated)


def test_the_sweep_after_a_first_sync_marks_nothing_absent_and_a_later_one_still_does(store: Store,
                                                                                     acs: FakeNbi) -> None:
    serials = _load(acs, 30)
    first = _sync(store, acs).run()
    assert (first.registered, first.listed, first.absent, first.swept) == (30, 30, 0, True)
    assert all(r.acs_seen_at is not None and r.status == "active" for r in _rows(store).values())

    gone = f"{OUI}-{PC}-{serials[4]}"
    acs.forget_device(genieacs_device_id(OUI, PC, serials[4]))
    second = _sync(store, acs, overlap_s=0).run()  # nothing informed: the sweep alone stamps the 29, finds the gap

    assert (second.seen, second.listed, second.absent) == (0, 29, 1)
    rows = _rows(store)
    assert rows[gone].status == "absent"
    assert all(r.status == "active" for i, r in rows.items() if i != gone)


# ---------------------------------------------------------------------------- the prefetch
class _Counting(AcsInventorySource):
    """The real source; counts the pages asked of the ACS."""

    def __init__(self, acs: FakeNbi, page_size: int) -> None:
        super().__init__(NbiClient(acs.url, timeout_s=10), page_size=page_size)
        self.asked = 0
        self.lock = threading.Lock()

    def _page(self, query: Any, projection: tuple[str, ...], sort: Any) -> list[Any]:
        with self.lock:
            self.asked += 1
        return super()._page(query, projection, sort)


def test_the_change_scan_reads_one_page_ahead_and_no_more(acs: FakeNbi) -> None:
    _load(acs, 100)
    source = _Counting(acs, page_size=10)
    seen, ahead = 0, []
    for page in source.changed(None):
        time.sleep(0.05)  # a slow consumer: the prefetch has all the time it wants
        seen += len(page.items)
        ahead.append(source.asked - seen // 10)
    assert seen == 100
    assert max(ahead) == 1  # the next page was already asked for while this one was applied ...
    assert source.asked <= 11  # ... never two ahead (10 full pages, then the empty one that ends the scan)


# ---------------------------------------------------------------------------- first-sync shortcuts, the insert
def test_a_first_sync_still_marks_absent_a_genieacs_device_registered_before_it(store: Store, acs: FakeNbi) -> None:
    """The first-sync shortcut (the sweep only counts) applies only when no ``genieacs`` device
    predates the run: one registered earlier and not listed by the ACS is still marked absent."""
    from core.inventory import register
    from core.kernel.models import Device

    _load(acs, 12)
    with store.write() as s:
        register(s, Device(id=f"{OUI}-{PC}-OLD00001", vendor="Vantec", model="CGW-3400", oui=OUI, product_class=PC,
                           serial="OLD00001", firmware="7.2", adapter="genieacs"), "dave", "manual")
    report = _sync(store, acs).run()

    assert (report.registered, report.listed, report.absent, report.swept) == (12, 12, 1, True)
    rows = _rows(store)
    assert rows[f"{OUI}-{PC}-OLD00001"].status == "absent"
    assert sum(r.status == "active" for r in rows.values()) == 12


@pytest.mark.parametrize("value", [
    datetime(2024, 1, 31, 12, 0, 0, 123000, tzinfo=UTC), datetime(2024, 1, 31, 12, 0, tzinfo=UTC),
    datetime(2024, 1, 31, 13, 0, 0, 5, tzinfo=timezone(timedelta(hours=1))), datetime(2024, 1, 31, 12, 0, 0, 7),
    datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), None,
])
def test_the_sqlite_time_shortcut_stores_what_the_column_type_stores(value: datetime | None) -> None:
    """``last_seen`` is written by a one-call shortcut on SQLite; it must be the type's own text."""
    from sqlalchemy.dialects import sqlite

    from core.inventory_rows import _DEVICES, _insert_plan
    from core.store.fastsql import sqlite_time as _sqlite_time

    dialect = sqlite.dialect()
    processor = _DEVICES.c.last_seen.type.dialect_impl(dialect).bind_processor(dialect)
    assert processor is not None and _sqlite_time(value) == processor(value)
    plan = _insert_plan(dialect)
    assert plan is not None and (11, _sqlite_time) in plan[1]  # the shortcut is the one in use


def test_synced_rows_read_back_as_the_orm_wrote_them(store: Store, acs: FakeNbi) -> None:
    """The driver-level insert (executemany on SQLite, COPY on PostgreSQL) stores every column as
    the ORM would: read back through the ORM, each synced row has the document's values."""
    serials = _load(acs, 8)
    reader = AcsInventorySource(NbiClient(acs.url, timeout_s=10))
    informed = {d.device_id: d.last_inform for page in reader.changed(None) for d in page.items
                if isinstance(d, AcsDevice)}
    report = _sync(store, acs, page=3).run()
    assert report.registered == 8 and report.error is None
    rows = _rows(store)
    for i, sn in enumerate(serials):
        r = rows[f"{OUI}-{PC}-{sn}"]
        tr098 = i % 4 == 3
        expected = (("Sinotel", "HG8020", "7.4", "InternetGatewayDevice.") if tr098
                    else ("Vantec", "CGW-3400", "7.4", "Device."))
        assert (r.vendor, r.model, r.firmware, r.root) == expected
        assert (r.oui, r.serial, r.product_class, r.protocol, r.status, r.tags) == (OUI, sn, PC, "cwmp", "active", [])
        assert r.last_seen is not None and r.last_seen == informed[r.id]
        assert r.created_at is not None and r.acs_seen_at == r.created_at and r.subscriber is None


def test_the_unit_lookup_is_answered_by_the_serial_index(store: Store) -> None:
    """The duplicate-unit check asks by serial alone: ``ix_devices_serial`` answers it (the
    ``(oui, serial)`` index is gone, migration 0018), never a scan of ``devices``."""
    from sqlalchemy import inspect, text

    from core.inventory_rows import _units_query

    indexes = {ix["name"] for ix in inspect(store.engine).get_indexes("devices")}
    assert "ix_devices_serial" in indexes and "ix_devices_oui_serial" not in indexes
    if store.dialect != "sqlite":
        return
    with store.read() as s:
        compiled = _units_query(s, ["SN1", "SN2"]).compile(dialect=s.get_bind().dialect,
                                                           compile_kwargs={"literal_binds": True})
        plan = " | ".join(str(r[-1]) for r in s.execute(text(f"EXPLAIN QUERY PLAN {compiled}")))
    assert "SCAN devices" not in plan and "ix_devices_serial" in plan, plan


def test_a_page_that_loses_a_race_on_postgresql_is_not_applied_and_the_next_run_goes_on(
        store: Store, acs: FakeNbi, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another process registers one of a page's devices between the sync's checks and its COPY:
    the COPY's duplicate key fails the whole page (nothing of it, cursor not moved), and the next
    run registers the rest and refuses that one by name."""
    if store.dialect != "postgresql":
        pytest.skip("SQLite's write lock leaves no gap for a concurrent writer")
    import core.inventory_sync as sync_module
    from core.inventory import register
    from core.kernel.models import Device

    serials = _load(acs, 6)
    racer = f"{OUI}-{PC}-{serials[2]}"
    real_units = sync_module._units
    other = Store(store.url)

    def units_then_race(s: Any, devices: list[Any]) -> Any:
        found = real_units(s, devices)
        if any(d.device_id == racer for d in devices):
            with other.write() as o:  # another process, its own committed transaction
                register(o, Device(id=racer, vendor="Vantec", model="CGW-3400", oui=OUI, product_class=PC,
                                   serial=serials[2], firmware="7.4", adapter="sim"), "dave", "manual")
        return found

    monkeypatch.setattr(sync_module, "_units", units_then_race)
    raced = _sync(store, acs, page=10).run()
    other.engine.dispose()
    assert raced.error is not None and raced.registered == 0 and not raced.swept
    assert _rows(store) == {} and _sync(store, acs).state()["cursor"] is None

    monkeypatch.setattr(sync_module, "_units", real_units)
    again = _sync(store, acs, page=10).run()
    assert again.error is None and again.registered == 5 and again.refused_count == 1
    assert again.refused[0]["device_id"] == racer and racer not in _rows(store)
