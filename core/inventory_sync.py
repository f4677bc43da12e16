"""Inventory from the ACS (issue 11, deliverable 1): ``gateward devices sync --source genieacs`` and
the periodic sync inside ``gateward run`` / the worker.

Why it is shaped like this:

* **Incremental, resumable.** The source yields pages of devices that informed after a stored
  cursor (``_lastInform``, ``_id``; ``executors.genieacs.inventory``). Each page is applied in ONE
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
  sweep completed, the active ``genieacs`` devices it did not stamp become ``absent``
  (``absent_since``; selectors skip them, history is kept) and an absent device the ACS lists
  again becomes ``active``. On a first sync (no ``genieacs`` device predates the run) the sweep
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
"""

from __future__ import annotations

import functools
import json
import logging
import operator
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple, Protocol

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import (
    ARRAY,
    String,
    Table,
    any_,
    bindparam,
    func,
    insert,
    literal_column,
    or_,
    select,
    type_coerce,
    update,
)
from sqlalchemy.exc import IntegrityError

from core import audit
from core.ids import product_class_problem, serial_problem
from core.inventory import _CONTROL, _OUI, _TOKEN, PROTOCOL_OF_ADAPTER, DeviceSpec, validation_message
from core.models import Root, utcnow
from core.store import repo
from core.store.fastsql import faster
from core.store.schema import DeviceRow, InventorySyncRow

log = logging.getLogger("gateward.inventory_sync")

SYNC_ACTOR = "inventory-sync"
ABSENT = "absent"
ADAPTER = "genieacs"
_DEVICES: Table = DeviceRow.__table__  # type: ignore[assignment]
_STATE: Table = InventorySyncRow.__table__  # type: ignore[assignment]
_CHUNK = 900  # devices marked absent per transaction (bounded)
MAX_REPORTED = 50  # refusals kept in a report / audit event
_ROOTS = frozenset(str(r) for r in Root)
_NULL_COLUMNS = frozenset({"subscriber", "upstream_id", "retired_at", "absent_since"})  # NULL for a synced device
_NO_TAGS: list[str] = []  # shared by every new row; never mutated
_CWMP = str(PROTOCOL_OF_ADAPTER[ADAPTER])


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


# ---------------------------------------------------------------------------- what a source yields
class AcsDeviceLike(Protocol):
    """One device as the source reports it (``executors.genieacs.inventory.AcsDevice``)."""

    @property
    def acs_id(self) -> str: ...
    @property
    def device_id(self) -> str: ...
    @property
    def oui(self) -> str: ...
    @property
    def product_class(self) -> str: ...
    @property
    def serial(self) -> str: ...
    @property
    def root(self) -> Any: ...
    @property
    def manufacturer(self) -> str: ...
    @property
    def model(self) -> str: ...
    @property
    def firmware(self) -> str: ...
    @property
    def last_inform(self) -> datetime | None: ...


class CursorLike(Protocol):
    @property
    def last_inform(self) -> datetime: ...
    @property
    def acs_id(self) -> str: ...


class PageLike(Protocol):
    @property
    def items(self) -> Sequence[Any]: ...
    @property
    def cursor(self) -> Any: ...


class InventorySource(Protocol):
    """What the sync reads: ``executors.genieacs.inventory.AcsInventorySource``."""

    name: str

    def changed(self, since: Any) -> Iterator[Any]: ...
    def present_ids(self) -> Iterator[list[str]]: ...


# ---------------------------------------------------------------------------- report
@dataclass
class SyncReport:
    """What one run did. ``error`` is set when the source failed (the run stopped there; the next
    run resumes from ``cursor``)."""

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
    refused: list[dict[str, Any]] = field(default_factory=list)
    refused_count: int = 0
    error: str | None = None
    cursor: dict[str, Any] | None = None
    seconds: float = 0.0

    def refuse(self, acs_id: str | None, device_id: str | None, error: str) -> None:
        self.refused_count += 1
        if len(self.refused) < MAX_REPORTED:
            self.refused.append({"acs_id": acs_id, "device_id": device_id, "error": error})
        log.warning("inventory sync from %s refused %s: %s", self.source, acs_id or device_id or "a document", error)

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in (
            "source", "pages", "seen", "registered", "updated", "unchanged", "retired", "reactivated", "absent",
            "listed", "swept", "refused_count", "refused", "error", "cursor", "seconds")}


def _source_error_types() -> tuple[type[Exception], ...]:
    from executors.genieacs.inventory import SourceError

    return (SourceError,)


# ---------------------------------------------------------------------------- the sync
class InventorySync:
    """Apply a source's pages to the store (see the module docstring)."""

    def __init__(self, store: Any, source: InventorySource, *, region: str = "EU", service: str = "standard",
                 overlap_s: float | None = None) -> None:
        self.store = store
        self.source = source
        self.region = region
        self.service = service
        self.overlap_s = InventorySyncSettings().overlap_s if overlap_s is None else overlap_s
        self._forward_only = True

    # ------------------------------------------------------------------ state
    def state(self) -> dict[str, Any]:
        """The stored cursor and the last run's outcome (``gateward devices sync --status``)."""
        with self.store.read() as s:
            row = s.get(InventorySyncRow, self.source.name)
            if row is None:
                return {"source": self.source.name, "cursor": None, "last_started_at": None,
                        "last_finished_at": None, "last_error": None, "stats": {}}
            return {"source": row.source, "cursor": _cursor_dict(row.cursor_last_inform, row.cursor_id),
                    "last_started_at": _iso(row.last_started_at), "last_finished_at": _iso(row.last_finished_at),
                    "last_error": row.last_error, "stats": dict(row.stats or {})}

    def _cursor(self) -> Any:
        from executors.genieacs.inventory import Cursor

        with self.store.write() as s:
            row = s.get(InventorySyncRow, self.source.name)
            if row is None:
                row = InventorySyncRow(source=self.source.name, stats={})
                s.add(row)
            row.last_started_at = utcnow()
            if row.cursor_last_inform is None or not row.cursor_id:
                return None
            return Cursor(row.cursor_last_inform, row.cursor_id)

    # ------------------------------------------------------------------ run
    def run(self, *, sweep: bool = True, full: bool = False) -> SyncReport:
        """One sync: the change scan from the stored cursor (from the start with ``full``), then,
        if it completed and ``sweep``, the presence sweep. Never raises for a source failure: the
        report says what failed, and the state row keeps it for the next run."""
        started = time.perf_counter()
        report = SyncReport(self.source.name)
        errors = _source_error_types()
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
    def _apply_page(self, page: PageLike, report: SyncReport) -> None:
        """Apply one page and move the cursor past it, in one transaction."""
        devices: list[AcsDeviceLike] = []
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

    def _move_cursor(self, s: Any, cursor: CursorLike | None) -> None:
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
            if s.execute(stmt.values(values)).rowcount:
                return
        if s.get(InventorySyncRow, self.source.name) is None:
            s.add(InventorySyncRow(source=self.source.name, stats={}, **values))

    def _apply_devices(self, s: Any, devices: list[AcsDeviceLike], report: SyncReport) -> None:
        now = utcnow()
        existing = _rows_by_id(s, [d.device_id for d in devices])
        new = [d for d in devices if d.device_id not in existing]
        taken = _units(s, new)
        inserts: list[tuple[Any, ...]] = []
        events: list[dict[str, Any]] = []
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
            taken[unit] = (d.device_id, ADAPTER)
            inserts.append(row)
        if inserts:
            _insert_devices(s, inserts, now)
            report.registered += len(inserts)
            # One event per page naming every device it registered (a per-device event costs more
            # than the registration itself at 100,000 devices); same transaction as the rows.
            events.append({"actor": SYNC_ACTOR, "action": "devices.registered", "data": {
                "source": ADAPTER, "adapter": ADAPTER, "protocol": "cwmp", "count": len(inserts),
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
            if (cur.status == active and cur.known and cur.adapter == ADAPTER
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

    def _new_row(self, d: AcsDeviceLike, report: SyncReport) -> tuple[Any, ...] | None:
        """The per-device values (``_ROW_COLUMNS``) of a device to register, checked by every rule
        ``core.inventory.DeviceSpec`` applies. The plain case (what nearly every ACS document is)
        is checked by :func:`_plain_fields` without building two pydantic models per device (that
        was a fifth of a first sync's CPU); anything else goes through ``DeviceSpec`` itself, which
        refuses with its own words or normalises the fields. A tuple, not a dict: the rows go to
        the driver as they are (:func:`_insert_devices`)."""
        fields = _plain_fields(d, self.region, self.service)
        if fields is None:
            try:
                spec = DeviceSpec.model_validate({
                    "id": d.device_id, "adapter": ADAPTER, "root": str(d.root), "vendor": d.manufacturer[:64],
                    "model": d.model[:64], "firmware": d.firmware[:64], "product_class": d.product_class,
                    "oui": d.oui, "serial": d.serial, "region": self.region, "service": self.service})
            except ValidationError as exc:
                report.refuse(d.acs_id, d.device_id, f"cannot be registered: {validation_message(exc)}")
                return None
            dev = spec.to_device()
            fields = (dev.id, dev.vendor, dev.model, dev.product_class, dev.oui, dev.serial, dev.firmware,
                      str(dev.root), str(dev.protocol), dev.region, dev.service)
        return (*fields, d.last_inform)

    def _update_of(self, cur: Any, d: AcsDeviceLike, now: datetime,
                   report: SyncReport) -> tuple[dict[str, Any], dict[str, Any] | None] | None:
        """The row update (and audit event) an already registered device needs, if any."""
        if cur.adapter != ADAPTER:
            report.refuse(d.acs_id, d.device_id, f"{d.device_id!r} is registered on adapter {cur.adapter!r}, not "
                          "genieacs; one unit is registered once (retire it there first)")
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
        event = None
        if cur.status == ABSENT:
            values.update(status=repo.ACTIVE, absent_since=None)
            report.reactivated += 1
            event = {"actor": SYNC_ACTOR, "action": "device.present", "device_id": cur.id,
                     "data": {"source": ADAPTER, "absent_since": _iso(cur.absent_since), "changed": changed}}
        elif changed:
            event = {"actor": SYNC_ACTOR, "action": "device.updated", "device_id": cur.id,
                     "data": {"source": ADAPTER, "changed": changed}}
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

        A first sync (no ``genieacs`` device was registered before this run) only counts what the
        ACS lists: every ``genieacs`` device then is one this run's change scan registered and
        stamped, so stamping would write nothing, none can be absent (none to bring back) and
        none is old enough to be marked absent. That was a tenth of a first sync's CPU: one
        statement per page over every id. Nor does it list the ids only to count them: a source
        that can count (``count()``: GenieACS's ``HEAD /devices/``) answers in one request what
        100 pages of ids said (the NBI rendered, and this process decoded, every ``_id``)."""
        from executors.genieacs.ids import is_device_id, split_device_id

        started = scan_started or utcnow()
        with self.store.read() as s:
            first = s.scalar(select(DeviceRow.id).where(DeviceRow.adapter == ADAPTER,
                                                        DeviceRow.created_at < started).limit(1)) is None
        count = getattr(self.source, "count", None) if first else None
        counted = count() if count is not None else None  # a first sync only counts: one request, no ids
        for acs_ids in self.source.present_ids() if counted is None else ():
            report.listed += len(acs_ids)
            if first:
                continue
            ids = []
            for acs_id in acs_ids:
                if "%" not in acs_id and "--" not in acs_id and is_device_id(acs_id) and 1 <= acs_id.count("-") <= 2:
                    ids.append(acs_id)  # nothing escaped: the Gateward id is the _id itself
                    continue
                try:
                    oui, pc, serial = split_device_id(acs_id)
                except ValueError:
                    continue  # reported by the change scan when its document is read
                ids.append(f"{oui}-{pc}-{serial}" if pc else f"{oui}-{serial}")
            with self.store.write() as s:
                self._stamp(s, ids, started, report)
        with self.store.read() as s:
            ours = s.scalar(select(DeviceRow.id).where(DeviceRow.adapter == ADAPTER,
                                                       DeviceRow.status == repo.ACTIVE).limit(1))
        if counted is not None:
            report.listed = counted
        if report.listed == 0 and ours is not None:
            report.error = ("the ACS listed no device at all while Gateward has active genieacs devices; refusing to "
                            "mark them all absent (wrong GATEWARD_GENIEACS_URL, or an emptied ACS?)")
            return
        if not first:
            self._mark_absent(started, report)
        report.swept = True

    def _stamp(self, s: Any, ids: list[str], now: datetime, report: SyncReport) -> None:
        """Set-based: one statement stamps a whole page of listed ids; absent ones come back."""
        if not ids:
            return
        listed = _among(s, DeviceRow.id, ids)
        back = list(s.execute(select(DeviceRow.id, DeviceRow.absent_since).where(
            listed, DeviceRow.adapter == ADAPTER, DeviceRow.status == ABSENT)))
        stale = or_(DeviceRow.acs_seen_at.is_(None), DeviceRow.acs_seen_at < now)  # not stamped in this run yet
        s.execute(update(DeviceRow).where(listed, DeviceRow.adapter == ADAPTER, stale)
                  .values(acs_seen_at=now).execution_options(synchronize_session=False))
        if back:
            s.execute(update(DeviceRow).where(_among(s, DeviceRow.id, [b[0] for b in back]))
                      .values(status=repo.ACTIVE, absent_since=None).execution_options(synchronize_session=False))
            report.reactivated += len(back)
            audit.append_many(s, [{"actor": SYNC_ACTOR, "action": "device.present", "device_id": did,
                                   "data": {"source": ADAPTER, "absent_since": _iso(since)}} for did, since in back])

    def _mark_absent(self, sweep_started: datetime, report: SyncReport) -> None:
        """Active genieacs devices the completed sweep did not list → absent (in chunks: bounded)."""
        while True:
            with self.store.write() as s:
                ids = list(s.scalars(select(DeviceRow.id).where(
                    DeviceRow.adapter == ADAPTER, DeviceRow.status == repo.ACTIVE,
                    DeviceRow.created_at < sweep_started,
                    or_(DeviceRow.acs_seen_at.is_(None), DeviceRow.acs_seen_at < sweep_started),
                ).order_by(DeviceRow.id).limit(_CHUNK)))
                if not ids:
                    return
                now = utcnow()
                s.execute(update(DeviceRow).where(_among(s, DeviceRow.id, ids)).values(status=ABSENT, absent_since=now)
                          .execution_options(synchronize_session=False))
                audit.append_many(s, [{"actor": SYNC_ACTOR, "action": "device.absent", "device_id": did,
                                       "data": {"source": ADAPTER, "reason": "the ACS no longer lists this device"}}
                                      for did in ids])
                report.absent += len(ids)


class _Raced(Exception):
    """A page lost a race with another process (unique key); nothing of it was applied."""


class _Known(NamedTuple):
    """What the sync needs of a device already registered (one per device of a page)."""

    id: str
    adapter: str
    status: str
    vendor: str
    model: str
    firmware: str
    root: str
    last_seen: datetime | None
    absent_since: datetime | None
    known: bool  # the ACS has listed it before (``acs_seen_at`` is set)


def _rows_by_id(s: Any, ids: list[str]) -> dict[str, _Known]:
    """The registered devices among ``ids``. The two dates come back as the driver stores them
    (``type_coerce``) and are read by :func:`_stored_time`: the ORM's per-value conversion chain
    was most of this query's cost when a re-sync re-reads every device."""
    if not ids:
        return {}
    cols = (DeviceRow.id, DeviceRow.adapter, DeviceRow.status, DeviceRow.vendor, DeviceRow.model,
            DeviceRow.firmware, DeviceRow.root, type_coerce(DeviceRow.last_seen, String),
            type_coerce(DeviceRow.absent_since, String), DeviceRow.acs_seen_at.is_not(None))
    out = {}
    for did, adapter, status, vendor, model, firmware, root, seen, absent, known in s.execute(
            select(*cols).where(_among(s, DeviceRow.id, ids))):
        out[did] = _Known(did, adapter, status, vendor, model, firmware, root, _stored_time(seen),
                          _stored_time(absent), bool(known))
    return out


def _stored_time(value: Any) -> datetime | None:
    """A ``UTCDateTime`` value as the driver returns it → aware UTC (``UTCDateTime``'s own rule):
    text on SQLite (naive UTC), a datetime on PostgreSQL."""
    if value is None:
        return None
    dt = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _units(s: Any, devices: list[AcsDeviceLike]) -> dict[tuple[str, str], tuple[str, str]]:
    """``(OUI, serial) → (id, adapter)`` already registered, for the devices about to be added.

    Asked by serial alone (``ix_devices_serial``, one probe per serial), the OUI compared
    case-blind here: measured 1.6x cheaper than asking for every case spelling of each OUI with
    the serials, and the only unit index ``devices`` keeps (migration 0018)."""
    wanted = {(d.oui.upper(), d.serial) for d in devices}
    if not wanted:
        return {}
    out: dict[tuple[str, str], tuple[str, str]] = {}
    for did, oui, serial, adapter in s.execute(_units_query(s, sorted({serial for _, serial in wanted}))):
        key = ((oui or "").upper(), serial)
        if key in wanted:
            out[key] = (did, adapter)
    return out


def _units_query(s: Any, serials: list[str]) -> Any:
    """``id, oui, serial, adapter`` of the devices with these serials (``ix_devices_serial``)."""
    return select(DeviceRow.id, DeviceRow.oui, DeviceRow.serial, DeviceRow.adapter).where(
        _among(s, DeviceRow.serial, serials))


def _insert_devices(s: Any, rows: list[tuple[Any, ...]], now: datetime) -> None:
    """Insert a page of new device rows (``_ROW_COLUMNS`` tuples) in one driver call: sqlite3's
    ``executemany`` (its loop runs in C), PostgreSQL's ``COPY`` (:func:`_copy_devices`).

    Why not ``session.execute(insert(table), rows)``: SQLAlchemy then converts every value of
    every row through its type (about 20 µs a row, most of a first sync's database time). Here the
    statement is compiled by SQLAlchemy for the session's dialect (once), each converter is the
    column type's own ``bind_processor`` (so values are stored exactly as the ORM stores them),
    the page's constants (``_PAGE_COLUMNS``: adapter, tags, timestamps, status) are converted once
    a page, and only a column whose type converts (``last_seen``) is converted per row. A table
    with a column this does not know (a later migration) takes the plain Core path, so no column
    is ever silently left NULL."""
    dialect = s.get_bind().dialect
    page = {"adapter": ADAPTER, "tags": _NO_TAGS, "created_at": now, "status": repo.ACTIVE, "acs_seen_at": now}
    plan = _insert_plan(dialect)
    if plan is None:
        s.execute(insert(_DEVICES), [{**dict(zip(_ROW_COLUMNS, r, strict=True)), **page} for r in rows])
        return
    sql, convert, order = plan
    consts = tuple(_column_value(name, page[name], dialect) for name in _PAGE_COLUMNS)
    last = len(_ROW_COLUMNS) - 1
    copy = dialect.name == "postgresql" and dialect.driver == "psycopg"  # COPY names the columns in row order
    if (order is None or copy) and [i for i, _ in convert] == [last]:  # the common plan: rows built in one pass
        fn = convert[0][1]
        params: list[Any] = [(*r[:last], fn(r[last]), *consts) for r in rows]
        if copy:
            _copy_devices(s, params)
        else:
            s.connection().exec_driver_sql(sql, params)
        return
    for i, fn in convert:  # the per-row columns whose type converts (``last_seen``)
        rows = [(*r[:i], fn(r[i]), *r[i + 1:]) for r in rows]
    if copy:
        _copy_devices(s, [r + consts for r in rows])
        return
    params = [r + consts for r in rows]
    if order is not None:  # the dialect's own placeholder order / named style
        params = [order(p) for p in params]
    s.connection().exec_driver_sql(sql, params)


def _copy_devices(s: Any, rows: list[tuple[Any, ...]]) -> None:
    """PostgreSQL: the page's rows in one ``COPY … FROM STDIN`` on the session's own connection
    (its transaction): psycopg writes each row in C, where its ``executemany`` adapted every
    parameter in Python (25 µs a row, twice SQLite's insert). A duplicate key fails the whole
    COPY, raised as SQLAlchemy's ``IntegrityError`` like the ``INSERT`` it replaces."""
    import psycopg

    conn = s.connection()
    raw = conn.connection.driver_connection
    statement = f"COPY {_DEVICES.name} ({', '.join(_INSERT_COLUMNS)}) FROM STDIN"
    try:
        with raw.cursor() as cur, cur.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
    except psycopg.IntegrityError as exc:
        raise IntegrityError(statement, None, exc) from exc


#: What :func:`_insert_devices` writes: the per-device values (:meth:`InventorySync._new_row`'s
#: tuple, in this order), then the page's constants; every other column is NULL (``_NULL_COLUMNS``).
_ROW_COLUMNS = ("id", "vendor", "model", "product_class", "oui", "serial", "firmware", "root", "protocol", "region",
                "service", "last_seen")
_PAGE_COLUMNS = ("adapter", "tags", "created_at", "status", "acs_seen_at")
_INSERT_COLUMNS = _ROW_COLUMNS + _PAGE_COLUMNS


def _column_value(name: str, value: Any, dialect: Any) -> Any:
    """One value as the driver takes it (the column type's own ``bind_processor``)."""
    convert = _DEVICES.c[name].type.dialect_impl(dialect).bind_processor(dialect)
    return value if convert is None or value is None else convert(value)


@functools.lru_cache(maxsize=8)
def _insert_plan(dialect: Any) -> tuple[str, list[tuple[int, Any]], Any] | None:
    """The compiled ``INSERT`` for ``_INSERT_COLUMNS`` on ``dialect``, the per-row converters
    (index, function) and how to turn a row tuple into the driver's parameters (``None``: as it
    is); ``None`` when the table has columns this module does not fill (the Core path then)."""
    if {c.name for c in _DEVICES.columns} - _NULL_COLUMNS != set(_INSERT_COLUMNS):
        return None
    compiled = insert(_DEVICES).compile(dialect=dialect, column_keys=list(_INSERT_COLUMNS))
    if not compiled.positional and dialect.name == "postgresql":  # psycopg takes %s too: tuples, not dicts
        compiled = insert(_DEVICES).compile(dialect=type(dialect)(paramstyle="format"),
                                            column_keys=list(_INSERT_COLUMNS))
    convert = []
    for i, name in enumerate(_ROW_COLUMNS):
        fn = _DEVICES.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        if fn is not None:  # a TypeDecorator's processor passes None through
            convert.append((i, faster(fn)))
    order: Any = None
    sql = str(compiled)
    if compiled.positional and dialect.paramstyle == "qmark":
        # SQLAlchemy lists the columns in the table's order; the same statement listing them in
        # the row's order needs no per-row reorder (sqlite3 binds the tuples as they are).
        prep = dialect.identifier_preparer
        sql = (f"INSERT INTO {prep.format_table(_DEVICES)} ({', '.join(prep.quote(n) for n in _INSERT_COLUMNS)}) "
               f"VALUES ({', '.join('?' * len(_INSERT_COLUMNS))})")
    elif compiled.positional:  # the statement lists the columns in the table's order: one C-level reorder
        names = list(compiled.positiontup or ())
        if names != list(_INSERT_COLUMNS):
            order = operator.itemgetter(*(_INSERT_COLUMNS.index(n) for n in names))
    else:
        order = lambda row: dict(zip(_INSERT_COLUMNS, row, strict=True))  # noqa: E731
    return sql, convert, order


def _update_devices(s: Any, rows: list[dict[str, Any]]) -> None:
    """``UPDATE devices SET … WHERE id = …`` for a page of rows, one driver ``executemany`` per
    set of columns (nearly always one: ``last_seen`` and ``acs_seen_at``), values converted by the
    columns' own types as in :func:`_insert_devices` (the ORM's bulk update cost ~20 µs a row)."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(tuple(sorted(r)), []).append(r)
    dialect = s.get_bind().dialect
    for keys, group in groups.items():
        names = [k for k in keys if k != "id"]
        stmt = (update(_DEVICES).where(_DEVICES.c.id == bindparam("key_id"))
                .values({k: bindparam(f"set_{k}") for k in names}))
        compiled = stmt.compile(dialect=dialect)
        values = {f"set_{k}": _column_values(_DEVICES.c[k], [r[k] for r in group], dialect) for k in names}
        values["key_id"] = _column_values(_DEVICES.c.id, [r["id"] for r in group], dialect)
        s.connection().exec_driver_sql(str(compiled), _driver_params(compiled, values))


def _column_values(column: Any, values: list[Any], dialect: Any) -> list[Any]:
    """A column's values as the driver takes them (the column type's own ``bind_processor``)."""
    convert = column.type.dialect_impl(dialect).bind_processor(dialect)
    return values if convert is None else _converted(values, convert)


def _driver_params(compiled: Any, values: dict[str, list[Any]]) -> list[Any]:
    """Per-row parameters in the compiled statement's own style (positional or named)."""
    if compiled.positional:
        order = [values[name] for name in compiled.positiontup or ()]
        return list(zip(*order, strict=True))
    names = list(values)
    return [dict(zip(names, row, strict=True)) for row in zip(*values.values(), strict=True)]


def _converted(column: list[Any], convert: Any) -> list[Any]:
    """A column's values for the driver: one conversion when the page shares the value."""
    first = column[0]
    if all(v is first for v in column):
        return [convert(first)] * len(column)
    return [convert(v) for v in column]


def _among(s: Any, column: Any, values: list[str]) -> Any:
    """``column IN values`` as ONE bound parameter, whatever the number of values: a JSON array
    read with ``json_each`` on SQLite, an array with ``= ANY`` on PostgreSQL. Binding a thousand
    parameters per statement (and SQLite's cap on them) cost more than the statement's work."""
    dialect = s.get_bind().dialect.name
    if dialect == "sqlite":
        return column.in_(select(literal_column("value")).select_from(func.json_each(json.dumps(values))))
    if dialect == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(String)))
    return column.in_(values)


def _token(value: str, max_len: int) -> bool:
    """A stripped, non-empty identity part of at most ``max_len`` characters: printable, no spaces."""
    return 0 < len(value) <= max_len and _TOKEN.match(value) is not None


def _text_ok(value: str, max_len: int) -> bool:
    """A stripped, non-empty free-text field of at most ``max_len`` characters, no control characters."""
    return 0 < len(value) <= max_len and value == value.strip() and _CONTROL.search(value) is None


@functools.lru_cache(maxsize=4096)
def _plain_model(oui: str, pc: str, vendor: str, model: str, firmware: str, root: str, region: str,
                 service: str) -> bool:
    """The per-model part of :func:`_plain_fields` (a fleet has a few hundred models and
    firmwares, not 100,000): memoised, as it depends on nothing but its arguments."""
    return bool(_OUI.match(oui) and "-" not in pc and _token(pc, 64) and product_class_problem(pc) is None
                and root in _ROOTS and _text_ok(vendor, 64)
                and _text_ok(model, 64) and _text_ok(firmware, 64) and _text_ok(region, 16)
                and _text_ok(service, 32))


def _plain_fields(d: AcsDeviceLike, region: str, service: str) -> tuple[str, ...] | None:
    """The device fields when ``DeviceSpec`` would accept them unchanged, else ``None``.

    Conservative on purpose: it accepts only what ``DeviceSpec`` accepts *and leaves as given*
    (an upper-case six-hex-digit OUI, a product class without ``-``, identity parts that are
    printable without spaces, stripped text within the column sizes, a known root); the rest
    (refusals, normalisation) is ``DeviceSpec``'s, so the two cannot disagree on a device
    (``tests/inventory/test_acs_sync.py`` checks both paths give the same row)."""
    oui, pc, serial = d.oui, d.product_class, d.serial
    vendor, model, firmware = d.manufacturer[:64], d.model[:64], d.firmware[:64]
    root = str(d.root)
    if serial_problem(serial) is not None:
        return None
    if not (_token(serial, 64) and _plain_model(oui, pc, vendor, model, firmware, root, region, service)):
        return None
    device_id = f"{oui}-{pc}-{serial}"
    if len(device_id) > 128 or d.device_id != device_id:
        return None
    return (device_id, vendor, model, pc, oui, serial, firmware, root, _CWMP, region, service)  # _ROW_COLUMNS


def _iso(dt: datetime | None) -> str | None:
    return dt.isoformat() if dt is not None else None


def _cursor_dict(last_inform: datetime | None, acs_id: str | None) -> dict[str, Any] | None:
    if last_inform is None or not acs_id:
        return None
    return {"last_inform": last_inform.isoformat(), "acs_id": acs_id}


# ---------------------------------------------------------------------------- periodic
class PeriodicSync:
    """The sync every ``interval_s`` in a daemon thread (``gateward run`` / ``gateward worker``),
    one run at a time; a failing run is logged and retried at the next tick."""

    def __init__(self, make_sync: Any, interval_s: float) -> None:
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
