"""Inventory from the ACS (issue 11, deliverable 1): ``gateward devices sync --source genieacs``.

Real store (SQLite, and PostgreSQL when configured), real HTTP to the local GenieACS NBI, real
device documents: some produced by CWMP sessions with the simulated CPE (TR-181 and TR-098 roots,
a serial GenieACS has to escape), the rest bulk-loaded listings. What is tried: a first sync, an
incremental one, a source that dies or stalls mid-scan (resume, nothing half-applied), malformed
documents, a unit registered under another adapter, devices that vanish and come back, an ACS that
lists nothing, and that the fake NBI answers keyset pages exactly like its general query path.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from core.inventory_sync import ABSENT, InventorySync, PeriodicSync
from core.kernel.models import Device, Protocol, Root, Selector
from core.store import repo
from core.store.db import Store
from core.store.schema import AuditEventRow, DeviceRow
from executors.genieacs.ids import genieacs_device_id, url_segment
from executors.genieacs.inventory import ORDER, PROJECTION, AcsInventorySource, parse_device
from executors.genieacs.nbi import NbiClient
from testing.genieacs.fake_nbi import FakeNbi
from testing.genieacs.fake_store import listing_record, listing_template

OUI, PC = "00D09E", "CGW3400"
_n = itertools.count(1)
TPL = listing_template("Device", "Vantec", "CGW-3400", "7.4", "B1", 1.7e9)
TPL_098 = listing_template("InternetGatewayDevice", "Sinotel", "HG8020", "S105", "", 1.7e9)


@pytest.fixture
def twin(tmp_path: Path) -> Iterator[Any]:
    from executors.sim.twin import Twin

    t = Twin(f"sqlite:///{tmp_path / 'twin.db'}")
    yield t
    t.close()


@pytest.fixture
def acs(twin: Any) -> Iterator[FakeNbi]:
    nbi = FakeNbi(twin, tick_s=None)
    nbi.start()
    yield nbi
    nbi.stop()


def listing(serial: str, at: float, *, firmware: str | None = None, pc: str = PC, tr098: bool = False) -> Any:
    params, objects = TPL_098 if tr098 else TPL
    if firmware is not None:
        params, objects = listing_template("Device", "Vantec", "CGW-3400", firmware, "B1", at)
    return listing_record(genieacs_device_id(OUI, pc, serial),
                          {"Manufacturer": "Vantec", "OUI": OUI, "ProductClass": pc, "SerialNumber": serial},
                          at, params, objects)


def load(acs: FakeNbi, count: int, *, start: float = 1.7e9, prefix: str = "SN", step: float = 0.01) -> list[str]:
    """``count`` listings informing ``step`` seconds apart; returns their Gateward ids."""
    batch = next(_n)
    serials = [f"{prefix}{batch:03d}{i:05d}" for i in range(count)]
    acs.load_devices(listing(sn, start + i * step) for i, sn in enumerate(serials))
    return [f"{OUI}-{PC}-{sn}" for sn in serials]


def sync(store: Store, acs: FakeNbi, *, page: int = 50, timeout_s: float = 10.0,
         overlap_s: float | None = None) -> InventorySync:
    """A sync with the product's look-back (``GATEWARD_INVENTORY_OVERLAP_S``) unless told otherwise."""
    return InventorySync(store, AcsInventorySource(NbiClient(acs.url, timeout_s=timeout_s), page_size=page),
                         overlap_s=overlap_s)


def inform(acs: FakeNbi, gid: str) -> None:
    """A CWMP session of a twin-backed CPE, now (GenieACS creates or refreshes its document)."""
    assert httpx.post(f"{acs.url}/_gateward/inform/{url_segment(gid)}", timeout=60).status_code == 200


def row(store: Store, device_id: str) -> DeviceRow | None:
    with store.read() as s:
        return s.get(DeviceRow, device_id)


def events(store: Store, action: str) -> list[AuditEventRow]:
    with store.read() as s:
        return list(s.scalars(select(AuditEventRow).where(AuditEventRow.action == action).order_by(AuditEventRow.seq)))


def count_genieacs(store: Store) -> int:
    with store.read() as s:
        return len(list(s.scalars(select(DeviceRow.id).where(DeviceRow.adapter == "genieacs"))))


# ---------------------------------------------------------------------------- first and incremental sync
def test_first_sync_registers_what_the_acs_reports_with_its_identity(store: Store, twin: Any, acs: FakeNbi) -> None:
    tr181 = twin.add_device("lumenet-g240w-3.2", "LM-NT/9002", region="GB")  # GenieACS escapes '-' and '/'
    tr098 = twin.add_device("sinotel-hg8020-s105", "4857544391000001", region="DE")
    ids = load(acs, 120)
    for d in (tr181, tr098):  # a CWMP session: GenieACS creates the document from the CPE's own answers
        gid = genieacs_device_id(d.oui, d.product_class, d.serial)
        assert httpx.post(f"{acs.url}/_gateward/inform/{url_segment(gid)}", timeout=30).status_code == 200

    report = sync(store, acs).run()

    assert report.error is None and report.refused == [], report.as_dict()
    assert (report.registered, report.seen, report.pages, report.listed, report.swept) == (122, 122, 3, 122, True)
    odd = row(store, f"{tr181.oui}-{tr181.product_class}-LM-NT/9002")
    assert odd is not None and (odd.serial, odd.root, odd.adapter, odd.protocol) == ("LM-NT/9002", "Device.",
                                                                                      "genieacs", "cwmp")
    assert (odd.vendor, odd.firmware) == (tr181.vendor, tr181.firmware)
    old = row(store, f"{tr098.oui}-{tr098.product_class}-{tr098.serial}")
    assert old is not None and old.root == "InternetGatewayDevice." and old.firmware == tr098.firmware
    first = row(store, ids[0])
    assert first is not None and (first.vendor, first.model, first.firmware, first.status) == (
        "Vantec", "CGW-3400", "7.4", "active")
    assert first.last_seen is not None and abs(first.last_seen.timestamp() - 1.7e9) < 0.01
    registered = [d[0] for ev in events(store, "devices.registered") for d in ev.data["devices"]]
    assert sorted(registered) == sorted([*ids, odd.id, old.id])  # every registration is in the audit trail
    [summary] = events(store, "inventory.synced")
    assert summary.data["registered"] == 122 and summary.data["error"] is None


def test_an_incremental_sync_reads_only_devices_that_informed_since(store: Store, acs: FakeNbi) -> None:
    ids = load(acs, 30, step=60.0)  # one inform a minute, the last at +29 min
    assert sync(store, acs).run().registered == 30
    again = sync(store, acs, overlap_s=0).run()
    assert (again.seen, again.registered, again.updated) == (0, 0, 0)  # nothing informed: nothing read
    # The default look-back (10 min) reads the documents of the last ten minutes before the cursor
    # again (+19..+29 min), and writes nothing for them: they did not change.
    looked_back = sync(store, acs).run()
    assert (looked_back.seen, looked_back.unchanged, looked_back.registered, looked_back.updated) == (11, 11, 0, 0)
    assert sync(store, acs).state()["cursor"] == again.cursor  # the stored cursor never moved back

    serial = ids[7].split("-", 2)[2]
    acs.load_devices([listing(serial, 1.8e9, firmware="7.6")])  # the unit informed with a new firmware
    third = sync(store, acs, overlap_s=0).run()
    assert (third.seen, third.updated, third.registered) == (1, 1, 0)
    changed = row(store, ids[7])
    assert changed is not None and changed.firmware == "7.6"
    [ev] = events(store, "device.updated")
    assert ev.device_id == ids[7] and ev.data["changed"]["firmware"] == {"before": "7.4", "after": "7.6"}


def test_a_session_still_running_during_a_sync_is_found_by_the_next_one(store: Store, twin: Any,
                                                                        acs: FakeNbi) -> None:
    """GenieACS stamps ``_lastInform`` with a session's start and saves it when the session ends
    (seen against GenieACS 1.2.16: a device whose long session straddled a sync landed behind the
    cursor a shorter session had moved past, and its change was missed until it informed again).
    An incremental sync reads the last ``overlap_s`` before its cursor again and finds it."""
    long_cpe = twin.add_device("lumenet-g240w-3.2", "LONG0001", region="DE")
    short_cpe = twin.add_device("lumenet-g240w-3.2", "SHORT0001", region="DE")
    gid_long, gid_short = (genieacs_device_id(d.oui, d.product_class, d.serial) for d in (long_cpe, short_cpe))
    for gid in (gid_long, gid_short):
        inform(acs, gid)
    assert sync(store, acs).run().registered == 2

    def upgrade(state: Any) -> None:  # the CPE's next Inform reports a new firmware
        state.set_values({"Device.DeviceInfo.SoftwareVersion": "3.3.1"})

    twin.transact(long_cpe.id, upgrade)
    held, release = threading.Event(), threading.Event()

    def hold(gid: str) -> None:
        if gid == gid_long:
            held.set()
            release.wait(30)

    acs.before_session_end = hold
    long_session = threading.Thread(target=inform, args=(acs, gid_long))
    long_session.start()
    try:
        assert held.wait(30)
        time.sleep(0.01)
        inform(acs, gid_short)  # a shorter session starts after it and ends first
        mid = sync(store, acs, overlap_s=0).run()
        assert mid.seen == 1 and mid.cursor is not None and mid.cursor["acs_id"] == gid_short
    finally:
        release.set()
        long_session.join(30)
    device_id = f"{long_cpe.oui}-{long_cpe.product_class}-{long_cpe.serial}"
    # Saved now with the session's start — behind the cursor: a scan from the cursor alone misses it.
    missed = sync(store, acs, overlap_s=0).run()
    assert missed.seen == 0 and (r := row(store, device_id)) is not None and r.firmware != "3.3.1"
    found = sync(store, acs).run()
    assert found.updated == 1 and (r := row(store, device_id)) is not None and r.firmware == "3.3.1"
    [ev] = events(store, "device.updated")
    assert ev.device_id == device_id and ev.data["changed"]["firmware"]["after"] == "3.3.1"


# ---------------------------------------------------------------------------- bad input
class _DiesAfter(AcsInventorySource):
    """The real source over HTTP; once ``pages`` pages were answered, the NBI is told to drop (or
    stall, or fail) the next request, as a GenieACS that goes down or hangs mid-scan would."""

    def __init__(self, acs: FakeNbi, pages: int, mode: str, **kw: Any) -> None:
        super().__init__(NbiClient(acs.url, timeout_s=kw.pop("timeout_s", 10.0)), **kw)
        self.acs, self.pages, self.mode, self.asked = acs, pages, mode, 0

    def _page(self, query: Any, projection: tuple[str, ...], sort: Any) -> list[Any]:
        self.asked += 1
        if self.asked == self.pages + 1:
            self.acs.inject_nbi_failure(self.mode, count=1, delay_s=2.0)
        return super()._page(query, projection, sort)


@pytest.mark.parametrize("mode", ["drop", "http500", "delay"])
def test_a_source_that_fails_mid_scan_resumes_from_the_cursor(store: Store, acs: FakeNbi, mode: str) -> None:
    ids = load(acs, 100)
    report = InventorySync(store, _DiesAfter(acs, 2, mode, page_size=20, timeout_s=0.5)).run()

    assert report.error is not None and "change scan" in report.error and not report.swept
    assert report.registered == 40 and count_genieacs(store) == 40  # whole pages only, nothing half-applied
    assert report.cursor == {"last_inform": row(store, ids[39]).last_seen.isoformat(),  # type: ignore[union-attr]
                             "acs_id": ids[39]}
    state = sync(store, acs).state()
    assert state["last_error"] == report.error

    resumed = sync(store, acs, page=20, overlap_s=0).run()
    assert resumed.error is None and resumed.seen == 60 and resumed.registered == 60  # from page 3 on, once each
    assert count_genieacs(store) == 100 and sync(store, acs).state()["last_error"] is None


def test_a_resume_with_the_look_back_registers_each_device_once(store: Store, acs: FakeNbi) -> None:
    load(acs, 100)  # all within the look-back: the resumed scan reads the applied pages again
    report = InventorySync(store, _DiesAfter(acs, 2, "http500", page_size=20, timeout_s=0.5)).run()
    assert report.registered == 40 and report.error is not None
    resumed = sync(store, acs, page=20).run()
    assert (resumed.error, resumed.seen, resumed.registered, resumed.unchanged) == (None, 100, 60, 40)
    assert count_genieacs(store) == 100 and len(events(store, "device.updated")) == 0
    assert sum(len(ev.data["devices"]) for ev in events(store, "devices.registered")) == 100  # once each


def test_malformed_documents_are_skipped_each_with_its_own_error(store: Store, acs: FakeNbi) -> None:
    good = load(acs, 5)
    bad_id = listing("BADID0001", 1.71e9)
    bad_id.id = genieacs_device_id(OUI, PC, "SOMEONEELSE")  # _id that does not match _deviceId
    no_root = listing_record(genieacs_device_id(OUI, PC, "NOROOT001"),
                             {"OUI": OUI, "ProductClass": PC, "SerialNumber": "NOROOT001"}, 1.71e9 + 1, {}, {})
    spaced = listing("SP ACE01", 1.71e9 + 2)  # GenieACS takes it; Gateward ids have no spaces
    acs.load_devices([bad_id, no_root, spaced])

    report = sync(store, acs).run()

    assert report.registered == 5 and report.refused_count == 3
    errors = {r["acs_id"]: r["error"] for r in report.refused}
    assert "_id does not match _deviceId" in errors[bad_id.id]
    assert "data-model root unknown" in errors[no_root.id]
    assert "without spaces" in errors[spaced.id]
    assert all(row(store, i) is not None for i in good) and count_genieacs(store) == 5
    [summary] = events(store, "inventory.synced")
    assert summary.data["refused_count"] == 3 and len(summary.data["refused"]) == 3


def test_parse_device_names_what_is_wrong() -> None:
    assert parse_device([]).error.startswith("expected a device document")  # type: ignore[union-attr]
    assert parse_device({"_id": "x y"}).error.startswith("its _id holds")  # type: ignore[union-attr]
    assert "no _deviceId" in parse_device({"_id": "A-B-C"}).error  # type: ignore[union-attr]
    doc = {"_id": f"{OUI}-{PC}-S1", "_deviceId": {"_OUI": OUI, "_ProductClass": PC, "_SerialNumber": "S1"},
           "Device": {"DeviceInfo": {"SoftwareVersion": {"_value": "1.0"}}}, "_lastInform": "yesterday"}
    assert "_lastInform 'yesterday' is not a date" in parse_device(doc).error  # type: ignore[union-attr]


def test_a_unit_registered_under_another_adapter_is_refused_and_reported(store: Store, acs: FakeNbi) -> None:
    from core.inventory import register

    with store.write() as s:  # the same gateway, already managed through the broker
        register(s, Device(id="os::00D09E-DUP00001", vendor="Vantec", model="CGW-3400", oui=OUI, serial="DUP00001",
                           firmware="7.4", root=Root.DEVICE, protocol=Protocol.USP, adapter="usp"), "dave", "manual")
        register(s, Device(id=f"{OUI}-{PC}-SIM00001", vendor="Vantec", model="CGW-3400", oui=OUI, product_class=PC,
                           serial="SIM00001", firmware="7.4", adapter="sim"), "dave", "manual")
    acs.load_devices([listing("DUP00001", 1.7e9), listing("SIM00001", 1.7e9 + 1), listing("FINE0001", 1.7e9 + 2)])

    report = sync(store, acs).run()

    assert report.registered == 1 and report.refused_count == 2
    errors = {r["device_id"]: r["error"] for r in report.refused}
    assert "already registered as 'os::00D09E-DUP00001' on adapter 'usp'" in errors[f"{OUI}-{PC}-DUP00001"]
    assert "registered on adapter 'sim'" in errors[f"{OUI}-{PC}-SIM00001"]
    assert row(store, f"{OUI}-{PC}-DUP00001") is None
    assert row(store, f"{OUI}-{PC}-SIM00001").adapter == "sim"  # type: ignore[union-attr]  # untouched


# ---------------------------------------------------------------------------- absent, never deleted
def test_devices_gone_from_the_acs_are_marked_absent_and_come_back(store: Store, acs: FakeNbi) -> None:
    ids = load(acs, 10)
    sync(store, acs).run()
    gone = ids[3]
    assert httpx.delete(f"{acs.url}/devices/{url_segment(gone)}").status_code == 200  # deleted in GenieACS

    report = sync(store, acs).run()

    assert report.absent == 1 and report.swept
    r = row(store, gone)
    assert r is not None and r.status == ABSENT and r.absent_since is not None  # kept, with its history
    with store.read() as s:
        assert gone not in repo.select_devices(s, Selector(model="CGW-3400"))  # no longer targeted
        assert len(repo.select_devices(s, Selector(model="CGW-3400"))) == 9
    [ev] = events(store, "device.absent")
    assert ev.device_id == gone

    acs.load_devices([listing(gone.split("-", 2)[2], 1.75e9)])  # it informs again
    back = sync(store, acs).run()
    assert back.reactivated == 1 and back.absent == 0
    r = row(store, gone)
    assert r is not None and r.status == "active" and r.absent_since is None
    assert [e.device_id for e in events(store, "device.present")] == [gone]


def test_a_retired_device_stays_retired_when_the_acs_still_lists_it(store: Store, acs: FakeNbi) -> None:
    ids = load(acs, 3)
    sync(store, acs).run()
    with store.write() as s:
        s.get(DeviceRow, ids[0]).status = repo.RETIRED  # type: ignore[union-attr]
    acs.load_devices([listing(ids[0].split("-", 2)[2], 1.8e9, firmware="9.9")])
    report = sync(store, acs).run()
    assert report.retired == 1
    r = row(store, ids[0])
    assert r is not None and r.status == repo.RETIRED and r.firmware == "7.4"


def test_an_acs_that_lists_nothing_marks_nothing_absent(store: Store, twin: Any, acs: FakeNbi) -> None:
    load(acs, 5)
    sync(store, acs).run()
    empty = FakeNbi(twin, tick_s=None)  # e.g. GATEWARD_GENIEACS_URL pointed at a fresh, empty GenieACS
    empty.start()
    try:
        report = sync(store, empty).run()
    finally:
        empty.stop()
    assert report.error is not None and "refusing to mark them all absent" in report.error
    with store.read() as s:
        assert not list(s.scalars(select(DeviceRow.id).where(DeviceRow.status == ABSENT)))


def test_a_sweep_that_fails_part_way_marks_nothing_absent(store: Store, acs: FakeNbi) -> None:
    ids = load(acs, 30)
    sync(store, acs).run()
    httpx.delete(f"{acs.url}/devices/{url_segment(ids[0])}")

    class _SweepDies(AcsInventorySource):
        def present_ids(self) -> Iterator[list[str]]:
            for n, page in enumerate(super().present_ids(), start=1):
                yield page
                if n == 1:
                    acs.inject_nbi_failure("drop")

    report = InventorySync(store, _SweepDies(NbiClient(acs.url), page_size=10)).run()  # change scan: 0 pages
    assert report.error is not None and "nothing marked absent" in report.error and report.absent == 0
    assert row(store, ids[0]).status == "active"  # type: ignore[union-attr]


# ---------------------------------------------------------------------------- the local NBI, faithfully
def _get(acs: FakeNbi, query: dict[str, Any], sort: dict[str, int], limit: int, skip: int = 0) -> httpx.Response:
    params = {"query": json.dumps(query), "projection": ",".join(PROJECTION), "sort": json.dumps(sort),
              "limit": str(limit), "skip": str(skip)}
    return httpx.get(f"{acs.url}/devices/", params=params, timeout=30)


def test_fake_nbi_total_counts_the_query_not_the_page(acs: FakeNbi) -> None:
    load(acs, 25)
    resp = _get(acs, {}, ORDER, limit=10, skip=5)
    assert len(resp.json()) == 10 and resp.headers["total"] == "25"  # cursor.count() ignores skip/limit
    resp = _get(acs, {"_deviceId._OUI": OUI}, {"_id": -1}, limit=3)  # the general (unindexed) path
    assert len(resp.json()) == 3 and resp.headers["total"] == "25"


def test_fake_nbi_keyset_pages_equal_its_general_query_path(acs: FakeNbi) -> None:
    load(acs, 40, start=1.7e9)
    load(acs, 5, start=1.7e9)  # ties on _lastInform: the _id breaks them
    at = "2023-11-14T22:13:20.100Z"
    keyset = {"$or": [{"_lastInform": {"$gt": at}}, {"_lastInform": at, "_id": {"$gt": ""}}]}
    for query in ({}, {"_lastInform": {"$gt": at}}, {"_lastInform": {"$gte": at}}, keyset):
        fast = _get(acs, query, ORDER, limit=7, skip=2)
        # The same condition, spelled so that no index applies: every document is matched in Python.
        slow = _get(acs, {"$and": [query]}, ORDER, limit=7, skip=2)
        assert fast.json() == slow.json() and fast.headers["total"] == slow.headers["total"], query
    ids_fast = [d["_id"] for d in _get(acs, {"_id": {"$gt": "00D09E-CGW3400-SN"}}, {"_id": 1}, limit=0).json()]
    ids_slow = [d["_id"] for d in _get(acs, {"$and": [{"_id": {"$gt": "00D09E-CGW3400-SN"}}]}, {"_id": 1},
                                       limit=0).json()]
    assert ids_fast == ids_slow == sorted(ids_fast) and len(ids_fast) == 45


def test_the_change_scan_asks_for_only_what_gateward_needs(store: Store, twin: Any, acs: FakeNbi) -> None:
    d = twin.add_device("lumenet-g240w-3.2", "LMNT91000009", region="GB")
    gid = genieacs_device_id(d.oui, d.product_class, d.serial)
    httpx.post(f"{acs.url}/_gateward/inform/{url_segment(gid)}", timeout=30)
    [doc] = _get(acs, {}, ORDER, limit=1).json()
    assert set(doc) <= {"_id", "_deviceId", "_lastInform", "_lastBoot", "_registered", "Device"}
    assert set(doc["Device"]) == {"DeviceInfo"}  # not the Wi-Fi, hosts, … of the whole tree
    assert set(doc["Device"]["DeviceInfo"]) <= {"Manufacturer", "ModelName", "SoftwareVersion", "HardwareVersion"}


# ---------------------------------------------------------------------------- CLI and periodic
def test_cli_devices_sync(store: Store, acs: FakeNbi, monkeypatch: pytest.MonkeyPatch) -> None:
    from rich.console import Console
    from typer.testing import CliRunner

    from core.kernel.config import Settings
    from gateward import cli as cli_module
    from gateward.runtime import build_runtime

    load(acs, 12)
    monkeypatch.setenv("GATEWARD_GENIEACS_URL", acs.url)
    rt = build_runtime(Settings(database_url=store.url, genieacs_url=acs.url))
    monkeypatch.setattr(cli_module, "_runtime", rt)
    monkeypatch.setattr(cli_module, "console", Console(width=300, color_system=None))
    monkeypatch.setattr(cli_module, "err", Console(width=300, color_system=None, stderr=True))
    try:
        out = CliRunner().invoke(cli_module.app, ["devices", "sync", "--source", "genieacs", "--page-size", "5"])
        assert out.exit_code == 0, out.output
        assert "12 read in 3 page(s), 12 registered" in out.output
        status = CliRunner().invoke(cli_module.app, ["devices", "sync", "--status"])
        assert status.exit_code == 0 and '"last_error": null' in status.output
        bad = CliRunner().invoke(cli_module.app, ["devices", "sync", "--source", "usp"])
        assert bad.exit_code == 2 and "not supported" in bad.output
    finally:
        rt.close()


def test_periodic_sync_runs_until_stopped(store: Store, acs: FakeNbi) -> None:
    load(acs, 4)
    periodic = PeriodicSync(lambda: sync(store, acs), interval_s=0.05).start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and count_genieacs(store) < 4:
            time.sleep(0.05)
    finally:
        periodic.stop()
    assert count_genieacs(store) == 4 and periodic.last is not None and periodic.last.error is None


def test_the_periodic_sync_is_off_without_an_acs(store: Store) -> None:
    from core.kernel.config import Settings
    from gateward.runtime import build_runtime, start_inventory_sync

    rt = build_runtime(Settings(database_url=store.url))
    try:
        started, said = start_inventory_sync(rt)
        assert started is None and "GATEWARD_GENIEACS_URL is not set" in said
    finally:
        rt.close()


# ---------------------------------------------------------------------------- the batch path (benchmark, issue 11)
def _acs_device(**over: Any) -> Any:
    from executors.genieacs.inventory import AcsDevice

    base: dict[str, Any] = {"acs_id": "x", "oui": OUI, "product_class": PC, "serial": "SN0001", "root": Root.DEVICE,
                            "manufacturer": "Vantec", "model": "CGW-3400", "firmware": "7.4", "hardware": "",
                            "last_inform": None, "last_boot": None, "registered": None}
    return AcsDevice(**{**base, **over})


@pytest.mark.parametrize("over", [
    {}, {"root": Root.IGD}, {"oui": "00d09e"}, {"product_class": ""}, {"product_class": "CGW-34"},
    {"manufacturer": " Vantec "}, {"model": "CGW\x073400"}, {"firmware": "7" * 70}, {"serial": "SN 1"},
    {"manufacturer": "Vantéc GmbH"}, {"serial": "LM-NT/9002"}, {"model": "\u00a0CGW"}, {"oui": "00D09"},
], ids=lambda o: ",".join(f"{k}={v!r}" for k, v in o.items()) or "plain")
def test_the_light_per_device_checks_register_exactly_what_device_spec_does(over: dict[str, Any]) -> None:
    """The sync checks a plain device without pydantic; whatever it accepts must be what
    ``DeviceSpec`` accepts and yields, field for field (and anything else goes to ``DeviceSpec``)."""
    from pydantic import ValidationError

    from core.inventory import DeviceSpec
    from core.inventory_rows import _ROW_COLUMNS, _plain_fields

    d = _acs_device(**over)
    fast = _plain_fields(d, "EU", "standard", "cwmp")
    try:
        dev = DeviceSpec.model_validate({
            "id": d.device_id, "adapter": "genieacs", "root": str(d.root), "vendor": d.manufacturer[:64],
            "model": d.model[:64], "firmware": d.firmware[:64], "product_class": d.product_class, "oui": d.oui,
            "serial": d.serial, "region": "EU", "service": "standard"}).to_device()
    except ValidationError:
        assert fast is None  # a refusal is DeviceSpec's, in its words
        return
    if fast is not None:
        assert dict(zip(_ROW_COLUMNS, fast, strict=False)) == {
            "id": dev.id, "vendor": dev.vendor, "model": dev.model, "product_class": dev.product_class,
            "oui": dev.oui, "serial": dev.serial, "firmware": dev.firmware, "root": str(dev.root),
            "protocol": str(dev.protocol), "region": dev.region, "service": dev.service}
    if over == {}:
        assert fast is not None  # the plain case takes the light path


def test_a_synced_row_is_stored_exactly_as_an_orm_registration(store: Store, acs: FakeNbi) -> None:
    """New rows go in through the driver's executemany with the columns' own converters: the
    stored values (timestamps, tags, NULLs) must be the ORM's, byte for byte on SQLite."""
    from sqlalchemy import text

    from core.inventory import register

    with store.write() as s:
        register(s, Device(id=f"{OUI}-{PC}-ORM00001", vendor="Vantec", model="CGW-3400", oui=OUI, product_class=PC,
                           serial="ORM00001", firmware="7.4", adapter="genieacs"), "dave", "manual")
    [synced] = load(acs, 1, start=1.7e9 + 0.123)
    assert sync(store, acs).run(sweep=False).registered == 1  # (a sweep would mark the ORM row absent)
    cols = "created_at, last_seen, acs_seen_at, tags, subscriber, upstream_id, retired_at, absent_since, status"
    with store.read() as s:
        orm = s.execute(text(f"SELECT {cols} FROM devices WHERE id = :i"), {"i": f"{OUI}-{PC}-ORM00001"}).one()
        ours = s.execute(text(f"SELECT {cols} FROM devices WHERE id = :i"), {"i": synced}).one()
    assert ours.tags == orm.tags == ([] if isinstance(orm.tags, list) else "[]")
    assert (ours.subscriber, ours.upstream_id, ours.retired_at, ours.absent_since) == (None, None, None, None)
    assert ours.status == orm.status == "active"
    assert type(ours.created_at) is type(orm.created_at) and type(ours.last_seen) is type(orm.created_at)
    if isinstance(orm.created_at, str):  # SQLite: the same text form, microseconds included
        assert len(ours.created_at) == len(orm.created_at) == len(ours.last_seen) == 26
    got = row(store, synced)
    assert got is not None and got.last_seen is not None and abs(got.last_seen.timestamp() - (1.7e9 + 0.123)) < 1e-3
    assert got.created_at.tzinfo is not None and got.acs_seen_at is not None and got.tags == []


def test_a_unit_under_another_adapter_is_found_whatever_the_case_of_its_oui(store: Store, acs: FakeNbi) -> None:
    """The duplicate-unit check reads by (OUI, serial) through the index; an OUI stored in lower
    case must still be the same unit."""
    from core.inventory import register

    with store.write() as s:
        register(s, Device(id="os::00d09e-LOW00001", vendor="Vantec", model="CGW-3400", oui="00d09e",
                           serial="LOW00001", firmware="7.4", root=Root.DEVICE, protocol=Protocol.USP, adapter="usp"),
                 "dave", "manual")
    acs.load_devices([listing("LOW00001", 1.7e9)])

    report = sync(store, acs).run()

    assert report.registered == 0 and report.refused_count == 1
    assert "already registered as 'os::00d09e-LOW00001' on adapter 'usp'" in report.refused[0]["error"]
