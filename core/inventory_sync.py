"""Inventory from the ACS: ``gateward devices sync --source genieacs`` and
the periodic sync inside ``gateward run`` / the worker.

Why it is shaped like this:

* **Incremental, resumable.** The source yields pages of devices that informed after a stored
  cursor (``_lastInform``, ``_id``; the source: ``core.kernel.ports.inventory``). Each page is applied in ONE
  transaction together with the cursor that follows it, so after a crash, a source that went down
  mid-scan or a timeout, the database holds whole pages and the cursor says exactly where to go on:
  nothing half-registered, nothing skipped, nothing applied twice.
* **Bounded memory.** A page at a time here, at most two more in the source's one-page-ahead
  reader (a prefetch thread, or for a long scan a reader child process:
  ``executors.genieacs.inventory_reader``; this module never lists the fleet): peak memory does
  not grow with the device count (``bench/inventory_sync.py`` measures the syncing process's and
  the reader's peak RSS at two sizes).
* **Cheap per device.** New rows go to the driver as tuples in one call per page (sqlite3's
  ``executemany``, PostgreSQL's ``COPY``; the columns' own converters, nothing per row through the
  ORM), one transaction per page; compare before write: a device whose identity fields are as
  stored (its fingerprint) gets no event and at most its new inform written, one that did not even
  inform again nothing at all.
* **Absent, never deleted.** A presence sweep (every ``_id`` the ACS holds, ids only) stamps
  ``acs_seen_at`` on each device it lists (unless this run's change scan already did); when the
  sweep completed, the active devices of the source's adapter it did not stamp become ``absent``
  (``absent_since``; selectors skip them, history is kept) and an absent device the ACS lists
  again becomes ``active``. On a first sync (no device of that adapter predates the run) the sweep
  only counts (one ``HEAD`` when the source can count): there is nothing it could stamp, mark or
  bring back. A sweep that failed part-way
  marks nothing; a sweep that listed no device at all while Gateward has some is refused (an
  empty or wrong ACS must not make the whole fleet absent).
* **One unit, one registration.** A new device is refused (reported per item, audited in the run's
  summary) when its id or its OUI + serial is registered under another adapter; a document that
  cannot be read (no ``_deviceId``, ``_id`` that does not match it, unknown root, bad dates, fields
  the inventory refuses) is skipped with its own error; the other devices of the page go on.
* **Audited.** Every registration, firmware/model change, absence and return is an audit event in
  the transaction that made it: ``devices.registered`` once per page, naming every device it
  registered (one event per device would cost more than the registration at 100,000 devices),
  ``device.updated`` (firmware/model/root changed), ``device.absent``, ``device.present``; each run
  ends with ``inventory.synced`` (counts and the first refusals).

The source is a port (``core.kernel.ports.inventory.InventorySource``: GenieACS today); the rows reach
the driver through ``core.inventory_rows``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import (
    Table,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from core import audit
from core.inventory import PROTOCOL_OF_ADAPTER, DeviceSpec, Registration, validation_message
from core.inventory_rows import (
    _among,
    _insert_devices,
    _Known,
    _plain_fields,
    _rows_by_id,
    _units,
    _update_devices,
)
from core.kernel.ids import is_escaped_id, split_escaped_id
from core.kernel.jsontypes import JsonObject
from core.kernel.models import utcnow
from core.kernel.ports.inventory import InventorySource, SourceCursor, SourceDevice, SourcePage
from core.results import Aggregate, DeviceResult
from core.store import repo
from core.store.schema import DeviceRow, InventorySyncRow

if TYPE_CHECKING:
    from sqlalchemy.engine import CursorResult
    from sqlalchemy.orm import Session

    from core.store import Store

log = logging.getLogger("gateward.inventory_sync")

SYNC_ACTOR = "inventory-sync"
ABSENT = "absent"
_STATE: Table = InventorySyncRow.__table__  # type: ignore[assignment]
_CHUNK = 900  # devices marked absent per transaction (bounded)
MAX_REPORTED = 50  # refusals kept in a report / audit event


class InventorySyncSettings(BaseSettings):
    """``GATEWARD_INVENTORY_*``: the periodic sync in ``gateward run`` / ``gateward worker``."""

    model_config = SettingsConfigDict(env_prefix="GATEWARD_INVENTORY_", extra="ignore")

    sync_s: float = Field(default=900.0, ge=0, description="seconds between syncs from the ACS (0: off)")
    page_size: int = Field(default=1000, ge=1, le=10_000, description="devices per NBI page")
    region: str = Field(default="EU", min_length=1, max_length=16, description="region of a newly synced device")
    service: str = Field(default="standard", min_length=1, max_length=32, description="its service tier")
    overlap_s: float = Field(
        default=600.0, ge=0, le=86_400,
        description="seconds of _lastInform before the stored cursor that every incremental sync reads again: "
                    "GenieACS saves a session's _lastInform (its start) when the session ends, so a long session "
                    "can land behind a cursor a shorter one moved past meanwhile; longer than the ACS's longest "
                    "session")


# ---------------------------------------------------------------------------- report
@dataclass
class SyncReport(Aggregate[Registration]):
    """What one run did. ``error`` is set when the source failed (the run stopped there; the next
    run resumes from ``cursor``).

    Its ``results`` are its refusals — the first :data:`MAX_REPORTED`, keyed by the ACS's id, with
    ``refused_count`` counting them all — so ``failed_ids`` and ``raise_on_error()`` work as on any
    report. The devices it registered, updated or left alone are counted, not kept: pages are
    written set-based, and a result per device would make a sync's memory grow with the fleet."""

    source: str
    pages: int = 0
    seen: int = 0
    registered: int = 0
    updated: int = 0
    unchanged: int = 0
    retired: int = 0
    reactivated: int = 0
    absent: int = 0
    listed: int = 0
    swept: bool = False
    results: dict[str, DeviceResult[Registration]] = field(default_factory=dict)
    refused_count: int = 0
    error: str | None = None
    cursor: JsonObject | None = None
    seconds: float = 0.0

    def refuse(self, acs_id: str | None, device_id: str | None, error: str) -> None:
        self.refused_count += 1
        if len(self.results) < MAX_REPORTED:
            key = acs_id or device_id or f"document {self.refused_count}"
            self.results[key] = DeviceResult(device_id or "", Registration.REFUSED, failed=True, error=error,
                                             reason=error, evidence={"acs_id": acs_id})
        log.warning("inventory sync from %s refused %s: %s", self.source, acs_id or device_id or "a document", error)

    @property
    def refused(self) -> list[JsonObject]:
        """The refusals kept, as the CLI, the audit event and the stored stats show them."""
        return [{"acs_id": r.evidence.get("acs_id"), "device_id": r.device_id or None, "error": r.error}
                for r in self.results.values()]

    def failed_total(self) -> int:
        return self.refused_count

    def as_dict(self) -> JsonObject:
        return {k: getattr(self, k) for k in (
            "source", "pages", "seen", "registered", "updated", "unchanged", "retired", "reactivated", "absent",
            "listed", "swept", "refused_count", "refused", "error", "cursor", "seconds")}


# ---------------------------------------------------------------------------- the sync
class InventorySync:
    """Apply a source's pages to the store (see the module docstring)."""

    def __init__(self, store: Store, source: InventorySource, *, region: str = "EU", service: str = "standard",
                 overlap_s: float | None = None) -> None:
        self.store = store
        self.source = source
        #: the adapter a synced device is registered on, and its protocol (the source says which)
        self.adapter = source.adapter
        self.protocol = str(PROTOCOL_OF_ADAPTER[source.adapter])
        self.region = region
        self.service = service
        self.overlap_s = InventorySyncSettings().overlap_s if overlap_s is None else overlap_s
        self._forward_only = True

    # ------------------------------------------------------------------ state
    def state(self) -> JsonObject:
        """The stored cursor and the last run's outcome (``gateward devices sync --status``)."""
        with self.store.read() as s:
            row = s.get(InventorySyncRow, self.source.name)
            if row is None:
                return {"source": self.source.name, "cursor": None, "last_started_at": None,
                        "last_finished_at": None, "last_error": None, "stats": {}}
            return {"source": row.source, "cursor": _cursor_dict(row.cursor_last_inform, row.cursor_id),
                    "last_started_at": _iso(row.last_started_at), "last_finished_at": _iso(row.last_finished_at),
                    "last_error": row.last_error, "stats": dict(row.stats or {})}

    def _cursor(self) -> SourceCursor | None:
        with self.store.write() as s:
            row = s.get(InventorySyncRow, self.source.name)
            if row is None:
                row = InventorySyncRow(source=self.source.name, stats={})
                s.add(row)
            row.last_started_at = utcnow()
            if row.cursor_last_inform is None or not row.cursor_id:
                return None
            return self.source.cursor_at(row.cursor_last_inform, row.cursor_id)

    # ------------------------------------------------------------------ run
    def run(self, *, sweep: bool = True, full: bool = False) -> SyncReport:
        """One sync: the change scan from the stored cursor (from the start with ``full``), then,
        if it completed and ``sweep``, the presence sweep. Never raises for a source failure: the
        report says what failed, and the state row keeps it for the next run."""
        started = time.perf_counter()
        report = SyncReport(self.source.name)
        errors = self.source.errors
        stored = self._cursor()  # also stamps last_started_at
        scan_started = utcnow()
        # Incremental scans look back ``overlap_s`` before the stored cursor (``Cursor.rewound``);
        # the stored cursor only ever moves forward (``_move_cursor``).
        cursor = None if full or stored is None else stored.rewound(self.overlap_s)
        self._forward_only = not full  # a full scan re-reads from the start and sets the cursor anew
        try:
            for page in self.source.changed(cursor):
                self._apply_page(page, report)
        except errors as exc:
            report.error = f"the ACS stopped answering during the change scan: {exc}"
        except _Raced as exc:
            report.error = str(exc)
        if sweep and report.error is None:
            try:
                self._sweep(report, scan_started)
            except errors as exc:
                report.error = f"the ACS stopped answering during the presence sweep (nothing marked absent): {exc}"
        report.seconds = round(time.perf_counter() - started, 3)
        self._finish(report)
        return report

    def _finish(self, report: SyncReport) -> None:
        stats = {k: v for k, v in report.as_dict().items() if k not in ("refused", "cursor", "source")}
        with self.store.write() as s:
            row = s.get(InventorySyncRow, self.source.name)
            if row is not None:
                row.last_finished_at, row.last_error, row.stats = utcnow(), report.error, stats
                report.cursor = _cursor_dict(row.cursor_last_inform, row.cursor_id)
            audit.append(s, actor=SYNC_ACTOR, action="inventory.synced",
                         data={"source": self.source.name, **stats, "refused": report.refused})
        if report.error:
            log.error("inventory sync from %s stopped: %s (resumes from the stored cursor)", self.source.name,
                      report.error)

    # ------------------------------------------------------------------ change scan
    def _apply_page(self, page: SourcePage, report: SyncReport) -> None:
        """Apply one page and move the cursor past it, in one transaction."""
        devices: list[SourceDevice] = []
        for item in page.items:
            if hasattr(item, "error"):
                report.refuse(item.acs_id, None, f"malformed device document: {item.error}")
            else:
                devices.append(item)
        try:
            with self.store.write() as s:
                self._apply_devices(s, devices, report)
                self._move_cursor(s, page.cursor)
        except IntegrityError:
            raise _Raced("another process registered some of the same devices at the same moment; this page was "
                         "not applied (run the sync again: it resumes from the stored cursor)") from None
        report.pages += 1
        report.seen += len(page.items)

    def _move_cursor(self, s: Session, cursor: SourceCursor | None) -> None:
        """Store the cursor after this page, in the page's transaction: one Core ``UPDATE`` (the
        run's first step created the row; the ORM's read-modify-flush was two statements a page),
        or the row created if something removed it meanwhile. In an incremental scan only forward:
        the pages it reads again (its look-back) never move the stored cursor back, so a run that
        stops among them does not make the next one read more. A ``--full`` scan sets it page by
        page from the start, as a first sync does (a cursor ahead of the ACS — its database
        restored from an older backup — is reset that way)."""
        if cursor is None:
            values: dict[str, Any] = {}
        else:
            values = {"cursor_last_inform": cursor.last_inform, "cursor_id": cursor.acs_id}
        if cursor is not None:
            stmt = update(_STATE).where(_STATE.c.source == self.source.name)
            if self._forward_only:
                at, after = _STATE.c.cursor_last_inform, _STATE.c.cursor_id
                stmt = stmt.where(or_(at.is_(None), after.is_(None), at < cursor.last_inform,
                                      (at == cursor.last_inform) & (after < cursor.acs_id)))
            if cast("CursorResult[Any]", s.execute(stmt.values(values))).rowcount:
                return
        if s.get(InventorySyncRow, self.source.name) is None:
            s.add(InventorySyncRow(source=self.source.name, stats={}, **values))

    def _apply_devices(self, s: Session, devices: list[SourceDevice], report: SyncReport) -> None:
        now = utcnow()
        existing = _rows_by_id(s, [d.device_id for d in devices])
        new = [d for d in devices if d.device_id not in existing]
        taken = _units(s, new)
        inserts: list[tuple[Any, ...]] = []
        events: list[audit.EventArgs] = []
        for d in new:
            unit = (d.oui.upper(), d.serial)
            if unit in taken:
                other_id, other_adapter = taken[unit]
                report.refuse(d.acs_id, d.device_id, f"the same unit (OUI {d.oui}, serial {d.serial}) is already "
                              f"registered as {other_id!r} on adapter {other_adapter!r}; one unit is registered once")
                continue
            row = self._new_row(d, report)
            if row is None:
                continue
            taken[unit] = (d.device_id, self.adapter)
            inserts.append(row)
        if inserts:
            _insert_devices(s, inserts, now, self.adapter)
            report.registered += len(inserts)
            # One event per page naming every device it registered (a per-device event costs more
            # than the registration itself at 100,000 devices); same transaction as the rows.
            events.append({"actor": SYNC_ACTOR, "action": "devices.registered", "data": {
                "source": self.adapter, "adapter": self.adapter, "protocol": self.protocol,
                "count": len(inserts),
                "devices": [[r[0], r[7], r[1], r[2], r[6]] for r in inserts],
                "fields": ["id", "root", "vendor", "model", "firmware"]}})
        updates: list[dict[str, Any]] = []
        active = repo.ACTIVE
        for d in devices:
            cur = existing.get(d.device_id)
            if cur is None:
                continue
            # Compare before write: a device the sync already knows whose identity fields are as
            # stored (the fingerprint) needs no event and at most its last inform written; one
            # that did not even inform again needs nothing at all (a ``--full`` re-read).
            if (cur.status == active and cur.known and cur.adapter == self.adapter
                    and (cur.vendor, cur.model, cur.firmware, cur.root)
                    == (d.manufacturer[:64], d.model[:64], d.firmware[:64], str(d.root))):
                report.unchanged += 1
                li = d.last_inform
                if li is not None and (cur.last_seen is None or li > cur.last_seen):
                    updates.append({"id": cur.id, "acs_seen_at": now, "last_seen": li})
                continue
            change = self._update_of(cur, d, now, report)
            if change is None:
                continue
            values, event = change
            updates.append(values)
            if event is not None:
                events.append(event)
        if updates:
            _update_devices(s, updates)
        if events:
            audit.append_many(s, events)

    def _new_row(self, d: SourceDevice, report: SyncReport) -> tuple[Any, ...] | None:
        """The per-device values (``_ROW_COLUMNS``) of a device to register, checked by every rule
        ``core.inventory.DeviceSpec`` applies. The plain case (what nearly every ACS document is)
        is checked by :func:`_plain_fields` without building two pydantic models per device (that
        was a fifth of a first sync's CPU); anything else goes through ``DeviceSpec`` itself, which
        refuses with its own words or normalises the fields. A tuple, not a dict: the rows go to
        the driver as they are (:func:`_insert_devices`)."""
        fields = _plain_fields(d, self.region, self.service, self.protocol)
        if fields is None:
            try:
                spec = DeviceSpec.model_validate({
                    "id": d.device_id, "adapter": self.adapter, "root": str(d.root), "vendor": d.manufacturer[:64],
                    "model": d.model[:64], "firmware": d.firmware[:64], "product_class": d.product_class,
                    "oui": d.oui, "serial": d.serial, "region": self.region, "service": self.service})
            except ValidationError as exc:
                report.refuse(d.acs_id, d.device_id, f"cannot be registered: {validation_message(exc)}")
                return None
            dev = spec.to_device()
            fields = (dev.id, dev.vendor, dev.model, dev.product_class, dev.oui, dev.serial, dev.firmware,
                      str(dev.root), str(dev.protocol), dev.region, dev.service)
        return (*fields, d.last_inform)

    def _update_of(self, cur: _Known, d: SourceDevice, now: datetime,
                   report: SyncReport) -> tuple[dict[str, Any], audit.EventArgs | None] | None:
        """The row update (and audit event) an already registered device needs, if any."""
        if cur.adapter != self.adapter:
            report.refuse(d.acs_id, d.device_id, f"{d.device_id!r} is registered on adapter {cur.adapter!r}, not "
                          f"{self.adapter}; one unit is registered once (retire it there first)")
            return None
        if cur.status == repo.RETIRED:
            report.retired += 1
            return None
        values: dict[str, Any] = {"id": cur.id, "acs_seen_at": now}
        if d.last_inform is not None and (cur.last_seen is None or d.last_inform > cur.last_seen):
            values["last_seen"] = d.last_inform
        before = {"vendor": cur.vendor, "model": cur.model, "firmware": cur.firmware, "root": cur.root}
        after = {"vendor": d.manufacturer[:64], "model": d.model[:64], "firmware": d.firmware[:64],
                 "root": str(d.root)}
        changed = {k: {"before": before[k], "after": v} for k, v in after.items()
                   if v != before[k] and v != "unknown"}
        values.update({k: c["after"] for k, c in changed.items()})
        event: audit.EventArgs | None = None
        if cur.status == ABSENT:
            values.update(status=repo.ACTIVE, absent_since=None)
            report.reactivated += 1
            event = {"actor": SYNC_ACTOR, "action": "device.present", "device_id": cur.id,
                     "data": {"source": self.adapter, "absent_since": _iso(cur.absent_since),
                              "changed": changed}}
        elif changed:
            event = {"actor": SYNC_ACTOR, "action": "device.updated", "device_id": cur.id,
                     "data": {"source": self.adapter, "changed": changed}}
        if changed or cur.status == ABSENT:
            report.updated += 1
        else:
            report.unchanged += 1
        return values, event

    # ------------------------------------------------------------------ presence sweep
    def _sweep(self, report: SyncReport, scan_started: datetime | None = None) -> None:
        """List every id the ACS holds, stamp them, then mark the unlisted absent. Seen "now" means
        since ``scan_started`` (this run's change scan, which stamped what it read): a device the
        change scan already stamped is not written again.

        A first sync (no device of the source's adapter was registered before this run) only counts
        what the ACS lists: every such device then is one this run's change scan registered and
        stamped, so stamping would write nothing, none can be absent (none to bring back) and
        none is old enough to be marked absent. That was a tenth of a first sync's CPU: one
        statement per page over every id. Nor does it list the ids only to count them: a source
        that can count (``count()``: GenieACS's ``HEAD /devices/``) answers in one request what
        100 pages of ids said (the NBI rendered, and this process decoded, every ``_id``)."""
        started = scan_started or utcnow()
        with self.store.read() as s:
            first = s.scalar(select(DeviceRow.id).where(DeviceRow.adapter == self.adapter,
                                                        DeviceRow.created_at < started).limit(1)) is None
        count = getattr(self.source, "count", None) if first else None
        counted = count() if count is not None else None  # a first sync only counts: one request, no ids
        for acs_ids in self.source.present_ids() if counted is None else ():
            report.listed += len(acs_ids)
            if first:
                continue
            ids = []
            for acs_id in acs_ids:
                if "%" not in acs_id and "--" not in acs_id and is_escaped_id(acs_id) and 1 <= acs_id.count("-") <= 2:
                    ids.append(acs_id)  # nothing escaped: the Gateward id is the _id itself
                    continue
                try:
                    oui, pc, serial = split_escaped_id(acs_id)
                except ValueError:
                    continue  # reported by the change scan when its document is read
                ids.append(f"{oui}-{pc}-{serial}" if pc else f"{oui}-{serial}")
            with self.store.write() as s:
                self._stamp(s, ids, started, report)
        with self.store.read() as s:
            ours = s.scalar(select(DeviceRow.id).where(DeviceRow.adapter == self.adapter,
                                                       DeviceRow.status == repo.ACTIVE).limit(1))
        if counted is not None:
            report.listed = counted
        if report.listed == 0 and ours is not None:
            report.error = (f"the ACS listed no device at all while Gateward has active {self.adapter} devices; "
                            "refusing to mark them all absent (wrong GATEWARD_GENIEACS_URL, or an emptied ACS?)")
            return
        if not first:
            self._mark_absent(started, report)
        report.swept = True

    def _stamp(self, s: Session, ids: list[str], now: datetime, report: SyncReport) -> None:
        """Set-based: one statement stamps a whole page of listed ids; absent ones come back."""
        if not ids:
            return
        listed = _among(s, DeviceRow.id, ids)
        back = list(s.execute(select(DeviceRow.id, DeviceRow.absent_since).where(
            listed, DeviceRow.adapter == self.adapter, DeviceRow.status == ABSENT)))
        stale = or_(DeviceRow.acs_seen_at.is_(None), DeviceRow.acs_seen_at < now)  # not stamped in this run yet
        s.execute(update(DeviceRow).where(listed, DeviceRow.adapter == self.adapter, stale)
                  .values(acs_seen_at=now).execution_options(synchronize_session=False))
        if back:
            s.execute(update(DeviceRow).where(_among(s, DeviceRow.id, [b[0] for b in back]))
                      .values(status=repo.ACTIVE, absent_since=None).execution_options(synchronize_session=False))
            report.reactivated += len(back)
            audit.append_many(s, [{"actor": SYNC_ACTOR, "action": "device.present", "device_id": did,
                                   "data": {"source": self.adapter, "absent_since": _iso(since)}}
                                  for did, since in back])

    def _mark_absent(self, sweep_started: datetime, report: SyncReport) -> None:
        """Active devices of the adapter the completed sweep did not list → absent (in chunks: bounded)."""
        while True:
            with self.store.write() as s:
                ids = list(s.scalars(select(DeviceRow.id).where(
                    DeviceRow.adapter == self.adapter, DeviceRow.status == repo.ACTIVE,
                    DeviceRow.created_at < sweep_started,
                    or_(DeviceRow.acs_seen_at.is_(None), DeviceRow.acs_seen_at < sweep_started),
                ).order_by(DeviceRow.id).limit(_CHUNK)))
                if not ids:
                    return
                now = utcnow()
                s.execute(update(DeviceRow).where(_among(s, DeviceRow.id, ids)).values(status=ABSENT, absent_since=now)
                          .execution_options(synchronize_session=False))
                audit.append_many(s, [{"actor": SYNC_ACTOR, "action": "device.absent", "device_id": did,
                                       "data": {"source": self.adapter,
                                                "reason": "the ACS no longer lists this device"}}
                                      for did in ids])
                report.absent += len(ids)


class _Raced(Exception):
    """A page lost a race with another process (unique key); nothing of it was applied."""


def _iso(dt: datetime | None) -> str | None:
    return dt.isoformat() if dt is not None else None


def _cursor_dict(last_inform: datetime | None, acs_id: str | None) -> JsonObject | None:
    if last_inform is None or not acs_id:
        return None
    return {"last_inform": last_inform.isoformat(), "acs_id": acs_id}


# ---------------------------------------------------------------------------- periodic
class PeriodicSync:
    """The sync every ``interval_s`` in a daemon thread (``gateward run`` / ``gateward worker``),
    one run at a time; a failing run is logged and retried at the next tick."""

    def __init__(self, make_sync: Callable[[], InventorySync], interval_s: float) -> None:
        self.make_sync = make_sync
        self.interval_s = interval_s
        self.last: SyncReport | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> PeriodicSync:
        self._thread = threading.Thread(target=self._loop, name="inventory-sync", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.last = self.make_sync().run()
            except Exception:  # the thread must outlive a bad run (database restart, bug): log, retry later
                log.exception("inventory sync run failed")
            if self._stop.wait(self.interval_s):
                return

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)


__all__ = ["ABSENT", "SYNC_ACTOR", "InventorySource", "InventorySync", "InventorySyncSettings", "PeriodicSync",
           "SyncReport"]
