"""Ingestion: protocol events → ``device_events`` rows, ``last_seen``, zero-touch triggers, and a
detector pass over the devices they touched.

Why one ingestion path with several sources: a CWMP device says "factory reset" as an Inform with
``0 BOOTSTRAP`` (seen through GenieACS's ``_lastBootstrap``), a USP agent as an OnBoardRequest or a
``Boot!`` event whose Cause is ``LocalFactoryReset``/``RemoteFactoryReset``, the simulator as a
``bootstrap`` entry in its log. Each source turns its wire shape into :class:`Signal` s; everything
after that — which device, which row, which trigger — is decided once, here. Sources keep a
cursor in ``remediation_cursors`` so a restart neither loses nor replays events, and a trigger
older than the device's last provisioning is ignored (replays are harmless).

Pushed events have no cursor: a USP notification reaches every process subscribed to the
controller topic and is retransmitted until answered. Such a signal carries a ``key`` (endpoint,
subscription, ``msg_id``); its row is inserted with ``ON CONFLICT DO NOTHING`` on the unique
``device_events.event_key``, and only the process whose insert won fires its zero-touch trigger —
so one notification is one row and one trigger, however many replicas heard it.

Sources: :class:`EventLogSource` over any adapter's :class:`core.kernel.ports.events.DeviceEventSource` (the
simulator's log through :class:`TwinSource`: tests, demo, the simulated fleet; no SQL here),
:class:`UspSource` (a listener on the USP controller's event stream, drained by an
:class:`IngestPump` that ``gateward run``/``gateward worker`` start), :class:`GenieAcsSource`
(polls the GenieACS NBI for devices whose ``_lastBootstrap`` moved).
"""

from __future__ import annotations

import hashlib
import logging
import queue
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from brain.remediation.schema import RemediationCursorRow
from core.kernel.jsontypes import Json, JsonObject
from core.kernel.models import utcnow
from core.kernel.ports.events import DeviceEventSource
from core.kernel.secrets import mask_value
from core.onboarding import AllowList, screen_first_contacts
from core.store.schema import DeviceEventRow, DeviceRow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from brain.remediation.service import Remediation

log = logging.getLogger("gateward.remediation.ingest")

FACTORY_RESET_CAUSES = {"LocalFactoryReset", "RemoteFactoryReset", "factory_reset"}
KEEP_KINDS = {"boot", "bootstrap", "inform", "value_change", "dfs_radar", "dns_lost", "offline", "online",
              "wan_down", "wan_degraded", "onboard"}


@dataclass(frozen=True)
class Signal:
    """One thing a device told us. ``device_id`` is Gateward's id when the source knows it;
    otherwise ``identity`` (oui, product_class, serial / endpoint_id) lets ingestion find it."""

    kind: str
    ts: datetime
    device_id: str | None = None
    identity: dict[str, str] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    ztp: str | None = None  # bootstrap | onboard | factory_reset
    source: str = ""
    key: str | None = None  # idempotency key of a pushed event (see the module docstring)


class Source(Protocol):
    name: str

    def poll(self, position: str | None) -> tuple[list[Signal], str | None]: ...


# What the sources below use of the adapters they read, named here so ingest imports no executor.
class EventLogOwner(Protocol):
    """A device-event log's owner (the digital twin)."""

    def device_events(self) -> DeviceEventSource: ...


class PushedEvent(Protocol):
    """One USP controller notification (``executors.usp.controller.UspEvent``)."""

    @property
    def kind(self) -> str: ...
    @property
    def endpoint_id(self) -> str: ...
    @property
    def ts(self) -> float: ...
    @property
    def data(self) -> JsonObject: ...


class PushedEvents(Protocol):
    """What hands out USP notifications (``executors.usp.executor.UspExecutor``)."""

    def add_event_listener(self, listener: Callable[[PushedEvent], None]) -> None: ...


class NbiQuery(Protocol):
    """The GenieACS NBI's collection query (``executors.genieacs.nbi.NbiClient.query``)."""

    def query(self, collection: str, query: Mapping[str, Json] | None = None, *,
              projection: Sequence[str] | None = None, limit: int | None = None,
              sort: Mapping[str, int] | None = None) -> list[dict[str, Any]]: ...


@dataclass
class IngestReport:
    """What one ingestion round did with its signals: counts of signals, stored events, unknown
    senders and duplicates — per signal, not per device (a device may send many in a round), and
    kept as counts at connect-wave rates. The cases it opened are ``OpenResult``'s."""

    signals: int = 0
    events: int = 0
    unknown: int = 0
    ztp_opened: int = 0
    duplicates: int = 0  # keyed signals another process (or an earlier round) already stored
    detect: JsonObject = field(default_factory=dict)

    def as_dict(self) -> JsonObject:
        return {"signals": self.signals, "events": self.events, "unknown_devices": self.unknown,
                "ztp_cases_opened": self.ztp_opened, "duplicates": self.duplicates, "detect": self.detect}


class Ingestor:
    def __init__(self, svc: Remediation) -> None:
        self.svc = svc
        self.store = svc.store

    def _resolve(self, signals: Iterable[Signal]) -> dict[int, str | None]:
        """Signal index → Gateward device id (by id, else OUI + serial, else None)."""
        out: dict[int, str | None] = {}
        sigs = list(signals)
        ids = {s.device_id for s in sigs if s.device_id}
        serials = {s.identity.get("serial", "") for s in sigs if not s.device_id and s.identity.get("serial")}
        with self.store.read() as s:
            known = set(s.scalars(select(DeviceRow.id).where(DeviceRow.id.in_(sorted(ids))))) if ids else set()
            by_serial: dict[tuple[str, str], str] = {}
            if serials:
                for did, oui, serial in s.execute(select(DeviceRow.id, DeviceRow.oui, DeviceRow.serial)
                                                  .where(DeviceRow.serial.in_(sorted(serials)))):
                    by_serial[(oui.upper(), serial)] = did
        for i, sig in enumerate(sigs):
            if sig.device_id:
                out[i] = sig.device_id if sig.device_id in known else None
            else:
                out[i] = by_serial.get((sig.identity.get("oui", "").upper(), sig.identity.get("serial", "")))
        return out

    def ingest(self, signals: list[Signal], *, detect: bool = True, retry: bool = False) -> IngestReport:
        """Store ``signals`` as events, move ``last_seen``, fire zero-touch triggers, run detectors.

        A keyed signal whose row already exists is a duplicate: no second row and no second trigger
        — unless ``retry`` says these signals were handed in before and that round failed part-way
        (its rows may have committed before its triggers ran; the triggers themselves dedupe)."""
        rep = IngestReport(signals=len(signals))
        if not signals:
            return rep
        # USP agents the fleet does not know: onboard (allow list), hold pending, or refuse (core.onboarding)
        signals = screen_first_contacts(self.store, signals, self._allow_list())
        resolved = self._resolve(signals)
        rows: list[dict[str, Any]] = []
        keyed: dict[str, dict[str, Any]] = {}
        seen: dict[str, datetime] = {}
        ztp: list[tuple[str, Signal]] = []
        for i, sig in enumerate(signals):
            dev = resolved[i]
            if dev is None:
                rep.unknown += 1
                if sig.ztp:  # a first contact from a device nobody registered: a case says so
                    ident = sig.device_id or "-".join(x for x in (sig.identity.get("oui"),
                                                                  sig.identity.get("product_class"),
                                                                  sig.identity.get("serial")) if x)
                    if ident:
                        ztp.append((ident, sig))
                continue
            if sig.kind in KEEP_KINDS:
                row = {"device_id": dev, "ts": sig.ts, "kind": sig.kind, "data": {**sig.data, "source": sig.source}}
                if sig.key is None:
                    rows.append(row)
                else:
                    keyed.setdefault(sig.key, {**row, "event_key": sig.key})
            if sig.kind != "offline":
                seen[dev] = max(seen.get(dev, sig.ts), sig.ts)
            if sig.ztp:
                ztp.append((dev, sig))
        with self.store.write() as s:
            for i in range(0, len(rows), 5000):
                s.execute(insert(DeviceEventRow), rows[i:i + 5000])
            won = self._insert_keyed(s, list(keyed.values()))
            for dev, ts in seen.items():
                s.execute(update(DeviceRow).where(DeviceRow.id == dev, (DeviceRow.last_seen.is_(None))
                                                  | (DeviceRow.last_seen < ts)).values(last_seen=ts))
        rep.events = len(rows) + len(won)
        rep.duplicates = len(keyed) - len(won)
        if not retry:  # a trigger whose row another process (or an earlier round) stored is theirs
            ztp = [(dev, sig) for dev, sig in ztp if sig.key is None or sig.key in won or sig.key not in keyed]
        fired: set[str] = set()
        for dev, sig in ztp:
            if sig.key is not None:
                if sig.key in fired:  # the same notification twice in one round: one trigger
                    continue
                fired.add(sig.key)
            res = self.svc.trigger_ztp(dev, sig.ztp or "bootstrap", ts=sig.ts, source=sig.source,
                                       data={"kind": sig.kind, **{k: v for k, v in sig.data.items()
                                                                  if isinstance(v, (str, int, float, bool))}})
            rep.ztp_opened += len(res.opened)
        if detect and seen:
            rep.detect = self.svc.detect(device_ids=sorted(seen))
        return rep

    def _allow_list(self) -> AllowList:
        """The onboarding allow list in force: ``GATEWARD_ONBOARDING_FILE`` when set, else the runtime's
        policy pack's (``policies/data/onboarding.json``)."""
        from core.compat import policy_data

        rt = getattr(self.svc, "rt", None)
        return AllowList.configured(policy_data(getattr(rt, "policy", None)), getattr(rt, "settings", None))

    def _insert_keyed(self, s: Session, rows: list[dict[str, Any]]) -> set[str]:
        """Insert keyed rows, skipping keys already stored (by anyone); returns the keys this call
        stored. The unique index decides, so concurrent processes cannot both win."""
        ins: Any = postgresql.insert if self.store.dialect == "postgresql" else sqlite.insert
        won: set[str] = set()
        for i in range(0, len(rows), 500):
            stmt = ins(DeviceEventRow).values(rows[i:i + 500]).on_conflict_do_nothing(index_elements=["event_key"])
            won.update(str(k) for k in s.scalars(stmt.returning(DeviceEventRow.event_key)))
        return won

    # ------------------------------------------------------------------ cursors
    def position(self, source: str) -> str | None:
        with self.store.read() as s:
            row = s.get(RemediationCursorRow, source)
            return row.position if row is not None else None

    def _save(self, source: str, position: str | None) -> None:
        if position is None:
            return
        with self.store.write() as s:
            row = s.get(RemediationCursorRow, source)
            if row is None:
                s.add(RemediationCursorRow(source=source, position=position, updated_at=utcnow()))
            else:
                row.position, row.updated_at = position, utcnow()

    def poll(self, source: Source, *, detect: bool = True) -> IngestReport:
        """One round: read what ``source`` has after its cursor, ingest it, move the cursor."""
        signals, pos = source.poll(self.position(source.name))
        rep = self.ingest(signals, detect=detect)
        self._save(source.name, pos)
        return rep


# ============================================================================ sources
def twin_signal(kind: str, device_id: str, ts: datetime, data: dict[str, Any]) -> Signal | None:
    """The simulator's log entry as a signal (its own ``set`` writes and fault bookkeeping are not)."""
    events = [str(e) for e in data.get("events", []) or []]
    if kind == "bootstrap":
        trigger = "factory_reset" if data.get("cause") == "factory_reset" else "bootstrap"
        return Signal("bootstrap", ts, device_id, data=data, ztp=trigger, source="twin")
    if kind == "inform" and "0 BOOTSTRAP" in events:
        return Signal("bootstrap", ts, device_id, data=data, ztp="bootstrap", source="twin")
    if kind in KEEP_KINDS:
        return Signal(kind, ts, device_id, data=data, source="twin")
    return None


class EventLogSource:
    """Signals from any adapter's :class:`core.kernel.ports.events.DeviceEventSource` (a pollable device-event
    log), read after the cursor ingest keeps in ``remediation_cursors``. ``to_signal`` maps the
    adapter's event kinds onto signals (``None`` drops an event); the default is the simulator's
    vocabulary, :func:`twin_signal`, which any log speaking it can reuse."""

    def __init__(self, events: DeviceEventSource, batch: int = 5000,
                 to_signal: Callable[[str, str, datetime, dict[str, Any]], Signal | None] = twin_signal) -> None:
        self.events = events
        self.name = events.name
        self.batch = batch
        self.to_signal = to_signal

    def poll(self, position: str | None) -> tuple[list[Signal], str | None]:
        events, cursor = self.events.read_after(position, limit=self.batch)
        out = [sig for e in events if (sig := self.to_signal(e.kind, e.device_id, e.ts, dict(e.data))) is not None]
        return out, cursor


class TwinSource(EventLogSource):
    """The digital twin's event log, through the simulator's own :class:`DeviceEventSource`
    (``Twin.device_events()``); kept so callers holding a twin need not know the interface."""

    def __init__(self, twin: EventLogOwner, batch: int = 5000) -> None:
        super().__init__(twin.device_events(), batch)


def usp_event_key(endpoint_id: str, subscription_id: str, msg_id: str) -> str:
    """The idempotency key of one USP notification: an agent keeps a notification's ``msg_id`` when
    it retransmits it, and every controller process that hears it computes the same digest."""
    raw = "\x1f".join(("usp", endpoint_id, subscription_id, msg_id))
    return hashlib.sha256(raw.encode()).hexdigest()


class UspSource:
    """USP controller events (TR-369 Notify): OnBoardRequest → first contact; ``Boot!`` with a
    factory-reset Cause → re-provision; other boots and ValueChange → events. The controller calls
    :meth:`on_event` on its own event-loop thread; it only enqueues (never blocks the loop).
    Each signal is keyed by :func:`usp_event_key`, so it is stored once however often it arrives.
    A ValueChange of a secret parameter is stored masked, as everywhere else."""

    name = "usp"

    def __init__(self) -> None:
        self._q: queue.SimpleQueue[Signal] = queue.SimpleQueue()

    def attach(self, executor: PushedEvents) -> UspSource:
        """Listen on a :class:`~executors.usp.executor.UspExecutor` (``add_event_listener``)."""
        executor.add_event_listener(self.on_event)
        return self

    def on_event(self, event: PushedEvent) -> None:
        ident = _endpoint_identity(event.endpoint_id)
        ts = datetime.fromtimestamp(float(event.ts), UTC) if event.ts else utcnow()
        data = {k: v for k, v in dict(event.data).items() if isinstance(v, (str, int, float, bool))}
        data["endpoint_id"] = event.endpoint_id
        msg_id = str(getattr(event, "msg_id", "") or "")
        sub = str(getattr(event, "subscription_id", "") or "")
        key = usp_event_key(event.endpoint_id, sub, msg_id) if msg_id else None
        if msg_id:
            data["msg_id"], data["subscription_id"] = msg_id, sub
        if event.kind == "onboard":
            ident = {**ident, "oui": str(event.data.get("oui") or ident.get("oui", "")),
                     "product_class": str(event.data.get("product_class", "")),
                     "serial": str(event.data.get("serial_number") or ident.get("serial", ""))}
            self._q.put(Signal("onboard", ts, identity=ident, data=data, ztp="onboard", source="usp", key=key))
        elif event.kind == "boot":
            cause = str(event.data.get("Cause", ""))
            ztp = "factory_reset" if cause in FACTORY_RESET_CAUSES else None
            self._q.put(Signal("bootstrap" if ztp else "boot", ts, identity=ident, data=data, ztp=ztp, source="usp",
                               key=key))
        elif event.kind == "connect":  # a first contact too: a factory-fresh real agent sends nothing else
            self._q.put(Signal("connect", ts, identity=ident, data=data, source="usp"))
        elif event.kind == "value_change":
            if "value" in data:
                data["value"] = mask_value(str(data.get("path", "")), data["value"])
            self._q.put(Signal("value_change", ts, identity=ident, data=data, source="usp", key=key))

    def poll(self, position: str | None) -> tuple[list[Signal], str | None]:
        out: list[Signal] = []
        while True:
            try:
                out.append(self._q.get_nowait())
            except queue.Empty:
                return out, position


class IngestPump:
    """Drains a push source (:class:`UspSource`) into the store on a background thread.

    Why a thread of its own: the source fills on the USP controller's event loop, which must never
    wait for the database, and the API and workers must not wait for it either. Every
    ``interval_s`` the pump calls ``prepare`` (the composition root connects the controller there and
    returns False while the broker is away), takes what the source holds and ingests it. A round that
    fails (database restarting) keeps its signals and hands them in again with ``retry`` after a
    back-off — nothing is lost, and keyed rows are not stored twice. ``stop`` runs one last round.
    """

    MAX_HELD = 200_000  # signals held while the database is away; beyond this the oldest are dropped, loudly

    def __init__(self, ingestor: Ingestor, source: Source, *, interval_s: float = 0.25, detect: bool = True,
                 prepare: Callable[[], bool] | None = None, name: str = "ingest") -> None:
        self.ingestor, self.source, self.interval_s, self.detect = ingestor, source, interval_s, detect
        self.prepare = prepare
        self.name = name
        self.totals = IngestReport()
        self.failures = 0
        self.dropped = 0
        self._held: list[Signal] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def step(self) -> IngestReport:
        """One round: the held signals (as a retry), then whatever arrived since the last round."""
        fresh, _ = self.source.poll(None)
        held, self._held = self._held, []
        rep = IngestReport()
        for batch, retry in ((held, True), (fresh, False)):
            if not batch:
                continue
            try:
                r = self.ingestor.ingest(batch, detect=self.detect, retry=retry)
            except Exception as exc:
                self._hold(batch)
                self.failures += 1
                log.warning("%s: storing %d event(s) failed (%s); keeping them for the next round",
                            self.name, len(batch), exc)
                continue
            for f in ("signals", "events", "unknown", "ztp_opened", "duplicates"):
                setattr(rep, f, getattr(rep, f) + getattr(r, f))
                setattr(self.totals, f, getattr(self.totals, f) + getattr(r, f))
        return rep

    def _hold(self, batch: list[Signal]) -> None:
        self._held.extend(batch)
        over = len(self._held) - self.MAX_HELD
        if over > 0:
            del self._held[:over]
            self.dropped += over
            log.error("%s: the database has been away too long: dropped the %d oldest held event(s) "
                      "(%d so far)", self.name, over, self.dropped)

    def run(self) -> None:
        """Loop until :meth:`stop` (the thread's body; callable directly in tests)."""
        delay = self.interval_s
        while not self._stop.is_set():
            ready = True
            if self.prepare is not None:
                try:
                    ready = self.prepare()
                except Exception:
                    log.exception("%s: preparing the source failed", self.name)
                    ready = False
            if ready:
                failures = self.failures
                self.step()
                delay = self.interval_s if self.failures == failures else min(max(delay * 2, 1.0), 30.0)
            self._stop.wait(delay if ready else self.interval_s)
        try:
            self.step()  # what arrived while stopping
        except Exception:
            log.exception("%s: the last round failed", self.name)

    def start(self) -> IngestPump:
        self._thread = threading.Thread(target=self.run, name=f"gateward-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)


def _iso(raw: str) -> datetime | None:
    try:
        dt = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _endpoint_identity(endpoint_id: str) -> dict[str, str]:
    """``os::<OUI>-<Serial>`` (TR-369 "os" authority) → oui and serial."""
    body = endpoint_id.split("::", 1)[-1]
    oui, _, serial = body.partition("-")
    return {"oui": oui, "serial": serial, "endpoint_id": endpoint_id}


class GenieAcsSource:
    """GenieACS NBI: devices whose ``_lastBootstrap`` is after the cursor informed with
    ``0 BOOTSTRAP`` (first contact or factory reset) since the last poll."""

    name = "genieacs"

    def __init__(self, client: NbiQuery) -> None:
        self.client = client

    def poll(self, position: str | None) -> tuple[list[Signal], str | None]:
        query: dict[str, Any] = {"_lastBootstrap": {"$gt": position}} if position else {}
        docs = self.client.query("devices", query, projection=["_id", "_deviceId", "_lastBootstrap"])
        out: list[Signal] = []
        newest = position
        for doc in docs:
            raw = doc.get("_lastBootstrap")
            if not isinstance(raw, str) or (position is not None and raw <= position):
                continue  # the server may compare at finer precision than it prints: the cursor decides
            ts = _iso(raw)
            if ts is None:
                continue
            dev = doc.get("_deviceId") or {}
            oui, pc, serial = (str(dev.get(k, "")) for k in ("_OUI", "_ProductClass", "_SerialNumber"))
            out.append(Signal("bootstrap", ts, device_id=f"{oui}-{pc}-{serial}" if pc else None,
                              identity={"oui": oui, "product_class": pc, "serial": serial},
                              data={"genieacs_id": str(doc.get("_id")), "events": ["0 BOOTSTRAP"]},
                              ztp="bootstrap", source="genieacs"))
            if newest is None or raw > newest:
                newest = raw
        if position is None:
            # first poll: remember where we are, do not provision every device GenieACS ever bootstrapped
            return [], newest or utcnow().isoformat()
        return out, newest
