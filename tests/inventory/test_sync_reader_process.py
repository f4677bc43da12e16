"""The change scan's reader in a child process (``executors.genieacs.inventory_reader``).

A long first sync reads its pages in a child so that parsing does not compete with the database
work for the GIL. That must change nothing a sync does: the same pages (devices, malformed
documents, cursors) as the in-process reader, one page ahead and no more, the same typed error
with the same words when the ACS fails mid-scan (whole pages applied, the cursor after the last
one, the next run resumes there), a ``SourceError`` when the child dies, and a child that cannot
start leaves the scan in-process. Real store, real HTTP to the local NBI, a real child process.
"""

from __future__ import annotations

import itertools
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from core.inventory_sync import InventorySync
from core.store.db import Store
from core.store.schema import AuditEventRow, DeviceRow
from executors.genieacs.ids import genieacs_device_id
from executors.genieacs.inventory import AcsInventorySource, ItemError, Page, SourceError
from executors.genieacs.nbi import NbiClient
from testing.genieacs.fake_nbi import FakeNbi
from testing.genieacs.fake_store import listing_record, listing_template

OUI, PC = "00D09E", "CGW3400"
_batch = itertools.count(1)
TPL = listing_template("Device", "Vantec", "CGW-3400", "7.4", "B1", 1.7e9)
TPL_098 = listing_template("InternetGatewayDevice", "Sinotel", "HG8020", "S105", "", 1.7e9)



def _load(acs: FakeNbi, count: int, *, malformed: bool = False) -> list[str]:
    """``count`` listings 10 ms apart (every fourth TR-098); with ``malformed``, every seventh
    document's ``_id`` does not match its ``_deviceId``. Returns the Gateward ids of the good ones."""
    b = next(_batch)
    recs, good = [], []
    for i in range(count):
        sn = f"RP{b:03d}{i:05d}"
        rec = listing_record(genieacs_device_id(OUI, PC, sn),
                             {"Manufacturer": "Vantec", "OUI": OUI, "ProductClass": PC, "SerialNumber": sn},
                             1.7e9 + i * 0.01, *(TPL_098 if i % 4 == 3 else TPL))
        if malformed and i % 7 == 6:
            rec.id = genieacs_device_id(OUI, PC, f"OTHER{b:03d}{i:05d}")
        else:
            good.append(f"{OUI}-{PC}-{sn}")
        recs.append(rec)
    acs.load_devices(recs)
    return good


def _source(acs: FakeNbi, *, page: int = 20, child: bool = True, timeout_s: float = 10.0) -> AcsInventorySource:
    """The stock source; with ``child`` it hands the scan to a child at the first page boundary
    (waiting for it to start: these fleets are too small to outlast its start-up otherwise)."""
    return AcsInventorySource(NbiClient(acs.url, timeout_s=timeout_s), page_size=page,
                              process_min=0 if child else None, process_wait_s=60.0 if child else 0.0)


def _flat(pages: list[Page]) -> list[tuple[Any, ...]]:
    return [(tuple((type(i).__name__, i) for i in p.items), p.cursor, p.full) for p in pages]


def _rows(store: Store) -> dict[str, tuple[Any, ...]]:
    with store.read() as s:
        return {r.id: (r.vendor, r.model, r.firmware, r.root, r.oui, r.serial, r.product_class, r.last_seen, r.status)
                for r in s.scalars(select(DeviceRow).where(DeviceRow.adapter == "genieacs"))}


# ---------------------------------------------------------------------------- same pages
def test_the_child_reads_the_same_pages_as_the_in_process_reader(acs: FakeNbi) -> None:
    _load(acs, 230, malformed=True)
    in_process = list(_source(acs, child=False).changed(None))
    source = _source(acs)
    by_child = list(source.changed(None))

    assert source.process_pages == len(by_child) - 1  # the first page in-process, every other from the child
    assert _flat(by_child) == _flat(in_process) and len(by_child) == 12
    assert sum(isinstance(i, ItemError) for p in by_child for i in p.items) == 230 // 7


def test_a_first_sync_through_the_child_stores_what_the_in_process_one_stores(
        tmp_path: Path, acs: FakeNbi) -> None:
    good = _load(acs, 150, malformed=True)
    stores = [Store(f"sqlite:///{tmp_path / name}.db") for name in ("in_process", "child")]
    reports = [InventorySync(st, _source(acs, child=child)).run() for st, child in zip(stores, (False, True),
                                                                                         strict=True)]
    try:
        same = [r.as_dict() | {"seconds": 0} for r in reports]
        assert same[0] == same[1]
        assert reports[1].registered == len(good) and reports[1].refused_count == 150 - len(good)
        assert _rows(stores[0]) == _rows(stores[1]) and set(_rows(stores[1])) == set(good)
        for st in stores:  # one devices.registered event per page, naming every device registered
            with st.read() as s:
                named = [d[0] for e in s.scalars(select(AuditEventRow)
                                                 .where(AuditEventRow.action == "devices.registered"))
                         for d in e.data["devices"]]
            assert sorted(named) == sorted(good)
    finally:
        for st in stores:
            st.engine.dispose()


def test_the_child_reads_one_page_ahead_and_no_more(acs: FakeNbi) -> None:
    _load(acs, 200)
    source = _source(acs, page=10)
    before = acs.requests
    seen, ahead = 0, []
    for page in source.changed(None):
        time.sleep(0.05)  # a slow consumer: the child has all the time it wants
        seen += len(page.items)
        ahead.append(acs.requests - before - seen // 10)
    assert seen == 200 and source.process_pages == 19
    assert max(ahead) == 1  # the page after this one was asked for while this one was applied, never two
    assert acs.requests - before <= 21  # 20 full pages, then the empty one that ends the scan


# ---------------------------------------------------------------------------- failures
@pytest.mark.parametrize("mode", ["drop", "http500", "delay"])
def test_an_acs_that_fails_under_the_child_stops_the_scan_with_the_same_error(
        store: Store, acs: FakeNbi, mode: str) -> None:
    """The third page (the child's second) fails: two pages applied, the cursor after them,
    the same error words as the in-process reader, and the next run resumes there."""
    ids = _load(acs, 100)
    acs.inject_nbi_failure(mode, count=1, delay_s=4.0, after=2)  # 8x the timeout: a margin for a loaded machine
    source = _source(acs, timeout_s=0.5)
    report = InventorySync(store, source).run()

    assert report.error is not None and "change scan" in report.error and not report.swept
    assert source.process_pages == 1  # the failure came through the child
    expected = {"drop": "gave no answer", "http500": "failed GET /devices/ with 500",
                "delay": "did not answer GET /devices/ within 0.5s"}[mode]
    assert expected in report.error
    assert report.registered == 40 and len(_rows(store)) == 40  # whole pages only
    assert report.cursor is not None and report.cursor["acs_id"] == ids[39]

    resumed = InventorySync(store, _source(acs, child=False), overlap_s=0).run()
    assert resumed.error is None and (resumed.seen, resumed.registered) == (60, 60)
    assert set(_rows(store)) == set(ids)


def test_a_child_that_dies_mid_scan_is_a_source_error_and_the_sync_resumes(store: Store, acs: FakeNbi) -> None:
    ids = _load(acs, 100)
    source = _source(acs)
    sync = InventorySync(store, source)
    real_apply = sync._apply_page
    applied = 0

    def apply_then_kill(page: Any, report: Any) -> None:
        nonlocal applied
        real_apply(page, report)
        applied += 1
        if applied == 3:
            os.kill(source.reader_process.proc.pid, signal.SIGKILL)

    sync._apply_page = apply_then_kill  # type: ignore[method-assign]
    report = sync.run()

    assert report.error is not None and "page reader process ended" in report.error
    assert report.registered == 60 and len(_rows(store)) == 60
    assert report.cursor is not None and report.cursor["acs_id"] == ids[59]
    resumed = InventorySync(store, _source(acs, child=False)).run()
    assert resumed.error is None and resumed.registered == 40 and set(_rows(store)) == set(ids)


def test_a_child_that_cannot_start_leaves_the_scan_in_process(acs: FakeNbi, monkeypatch: pytest.MonkeyPatch) -> None:
    import executors.genieacs.inventory_reader as reader

    _load(acs, 90)
    expected = _flat(list(_source(acs, child=False).changed(None)))
    monkeypatch.setattr(reader, "MODULE", "executors.genieacs.no_such_reader")  # the child exits at once
    source = _source(acs)
    assert _flat(list(source.changed(None))) == expected and source.process_pages == 0

    monkeypatch.setattr(reader.sys, "executable", "/nonexistent/python")  # no interpreter at all
    source = _source(acs)
    assert _flat(list(source.changed(None))) == expected and source.process_pages == 0


def test_a_scan_abandoned_by_its_consumer_stops_the_child(acs: FakeNbi) -> None:
    _load(acs, 100)
    source = _source(acs)
    scan = source.changed(None)
    next(scan), next(scan)
    child = source.reader_process
    assert child is not None and child.proc.poll() is None
    scan.close()
    assert child.proc.wait(timeout=10) is not None and source.reader_process is None


def test_a_short_scan_never_starts_a_child(acs: FakeNbi) -> None:
    """Off by default; switched on, a scan with fewer documents to go than the threshold reads
    in-process (a child costs about half a second of CPU to start)."""
    from executors.genieacs.inventory import PROCESS_MIN

    _load(acs, 60)
    for process_min in (None, PROCESS_MIN, 51):
        source = AcsInventorySource(NbiClient(acs.url, timeout_s=10), page_size=10, process_min=process_min)
        assert sum(len(p.items) for p in source.changed(None)) == 60 and source.process_pages == 0


def test_a_source_error_from_the_child_is_raised_where_the_next_page_was_expected(acs: FakeNbi) -> None:
    _load(acs, 100)
    acs.inject_nbi_failure("http500", after=3)
    pages = []
    with pytest.raises(SourceError, match="failed GET /devices/ with 500"):
        for page in _source(acs).changed(None):
            pages.append(page)
    assert [len(p.items) for p in pages] == [20, 20, 20]


def test_a_single_core_never_starts_a_child(acs: FakeNbi, monkeypatch: pytest.MonkeyPatch) -> None:
    """With one core the child could only add its own CPU to the sync's: the scan stays in-process."""
    import executors.genieacs.inventory as inventory

    _load(acs, 60)
    monkeypatch.setattr(inventory, "_cores", lambda: 1)
    source = _source(acs)
    assert sum(len(p.items) for p in source.changed(None)) == 60 and source.process_pages == 0


def test_the_reader_child_is_configured_by_gateward_inventory_reader_process_min(
        acs: FakeNbi, monkeypatch: pytest.MonkeyPatch) -> None:
    from executors.genieacs.inventory import PROCESS_MIN, source_from_settings

    monkeypatch.setenv("GATEWARD_GENIEACS_URL", acs.url)
    monkeypatch.delenv("GATEWARD_INVENTORY_READER_PROCESS_MIN", raising=False)
    assert source_from_settings().process_min is None  # off by default: the in-process reader
    monkeypatch.setenv("GATEWARD_INVENTORY_READER_PROCESS_MIN", "0")  # never, said explicitly
    assert source_from_settings().process_min is None
    monkeypatch.setenv("GATEWARD_INVENTORY_READER_PROCESS_MIN", str(PROCESS_MIN))
    assert source_from_settings().process_min == PROCESS_MIN
