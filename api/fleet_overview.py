"""The fleet at a glance, at any fleet size: counts by the database, presence from a sample kept
for a while.

Why: the overview read every active device's id, region, model and firmware into Python and asked
the executors for the presence of 2,000 of them on every request — 1.2 to 6.7 s at 100,000 devices.
Now:

* the inventory counts are ``GROUP BY`` queries (one row per region × model × firmware, not per
  device);
* presence — which has no stored flag: the ACS, the USP controller or the twin says it now — is
  asked of an even sample of the fleet (every n-th device by id, chosen by the database and read in
  the same statement) at most every ``GATEWARD_FLEET_PRESENCE_S`` seconds (30) per process, each
  adapter asked for its devices at once (``presence_many``), and the answer says when it was asked.
  A request that finds the sample older than that is answered from it while one refresh runs
  beside it. A server takes its first sample at start-up (``PresenceCache.prime``), so only a
  request after the fleet's size changed waits for one.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from api import presence
from api.fleet_metrics import env_seconds
from core.kernel.models import Device, utcnow
from core.readmodels.device import DeviceView
from core.store import repo
from core.store.schema import DeviceRow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from api.deps import AppRuntime

log = logging.getLogger("gateward.api.fleet")
PRESENCE_LIMIT = 2000
DEFAULT_PRESENCE_S = 30.0
GROUPS = ("region", "model", "firmware")
_DEV = DeviceRow.__table__


def presence_ttl_s() -> float:
    """``GATEWARD_FLEET_PRESENCE_S``: how long a presence sample stands (0: ask on every request)."""
    return env_seconds("GATEWARD_FLEET_PRESENCE_S", DEFAULT_PRESENCE_S, zero_ok=True)


@dataclass(frozen=True)
class Inventory:
    """Active devices per region, model and firmware ("model version" keys), counted by the database."""

    devices: int
    by_status: dict[str, int]
    groups: dict[str, Counter[str]]


def inventory(s: Session) -> Inventory:
    """One ``GROUP BY`` in the order of ``ix_devices_status_groups`` (migration 0036): the index
    alone answers it, without a table row or a sort (at 100,000 devices on SQLite 19 ms, where a count
    by status and another of the active devices by group read the table twice in 200 ms)."""
    by_status: Counter[str] = Counter()
    groups: dict[str, Counter[str]] = {g: Counter() for g in GROUPS}
    for status, region, model, firmware, n in s.execute(
            select(DeviceRow.status, DeviceRow.region, DeviceRow.model, DeviceRow.firmware, func.count())
            .group_by(DeviceRow.status, DeviceRow.region, DeviceRow.model, DeviceRow.firmware)):
        by_status[str(status)] += int(n)
        if status != "active":
            continue
        for g, key in zip(GROUPS, _keys(str(region), str(model), str(firmware)), strict=True):
            groups[g][key] += int(n)
    return Inventory(devices=by_status.get("active", 0), by_status=dict(by_status), groups=groups)


def _keys(region: str, model: str, firmware: str) -> tuple[str, str, str]:
    return region, model, f"{model} {firmware}"


@dataclass(frozen=True)
class PresenceSample:
    """Presence of an even sample of the active fleet: per state, and per state within each group."""

    at: datetime
    fleet: int  # active devices when it was taken
    asked: int
    states: Counter[str]
    groups: dict[str, dict[str, Counter[str]]] = field(default_factory=dict)  # group → key → state → n


Ask = Callable[["AppRuntime", list[Device]], dict[str, str]]


def take_sample(rt: AppRuntime, ask: Ask, limit: int = PRESENCE_LIMIT) -> PresenceSample:
    """Every n-th active device by id (n = fleet / ``limit``, rounded up), chosen by the database
    and read whole in the same statement, asked through ``ask`` (devices → online | unreachable |
    offline by id)."""
    with rt.store.read() as s:
        fleet = int(s.scalar(select(func.count()).select_from(DeviceRow).where(DeviceRow.status == "active")) or 0)
        step = max(1, math.ceil(fleet / limit)) if fleet else 1
        ranked = (select(DeviceRow.id, func.row_number().over(order_by=DeviceRow.id).label("rn"))
                  .where(DeviceRow.status == "active").subquery())
        rows = s.execute(select(*(_DEV.c[n] for n in DeviceView._fields))
                         .join(ranked, ranked.c.id == _DEV.c.id).where((ranked.c.rn - 1) % step == 0)).all()
    devices = [repo.device_from_row(DeviceView(*r)) for r in rows]  # type: ignore[arg-type]  # a DeviceRow's fields
    presence = ask(rt, devices)
    groups: dict[str, dict[str, Counter[str]]] = {g: defaultdict(Counter) for g in GROUPS}
    for d in devices:
        state = presence.get(d.id)
        if state is None:
            continue
        for g, key in zip(GROUPS, _keys(d.region, d.model, d.firmware), strict=True):
            groups[g][key][state] += 1
    return PresenceSample(at=utcnow(), fleet=fleet, asked=len(presence), states=Counter(presence.values()),
                          groups={g: dict(v) for g, v in groups.items()})


def ask_presence(rt: AppRuntime, devices: list[Device]) -> dict[str, str]:
    """device id → online | unreachable | offline, by the one definition every surface uses
    (:mod:`api.presence`): unknown presence is not "online"."""
    return dict(presence.ask_states(rt, devices))


class PresenceCache:
    """One process's latest :class:`PresenceSample`, refreshed beside the requests that find it old.

    A server takes its first sample at start-up, in the background (:meth:`prime`); a request that
    finds no sample waits for one being taken rather than take another beside it."""

    def __init__(self, ttl_s: float | None = None, ask: Ask = ask_presence) -> None:
        self.ttl_s = presence_ttl_s() if ttl_s is None else ttl_s
        self.ask = ask
        self._lock = threading.Lock()
        self._first = threading.Lock()  # held while a sample is taken for want of any
        self._sample: PresenceSample | None = None
        self._taken = -math.inf
        self._refreshing = False

    def prime(self, rt: AppRuntime) -> threading.Thread:
        """Take a first sample now, in the background (a server's start-up): the first request then
        finds it taken, or waits for it. An error is logged; the first request then asks itself."""
        thread = threading.Thread(target=self.take_first, args=(rt,), name="fleet-presence-first", daemon=True)
        thread.start()
        return thread

    def take_first(self, rt: AppRuntime) -> None:
        """:meth:`prime`'s work, on the caller's thread."""
        try:
            with self._first:
                if self._sample is None:
                    self._refresh(rt)
        except Exception:
            log.warning("the fleet's first presence sample failed at start-up; the first request takes it",
                        exc_info=True)

    def get(self, rt: AppRuntime, fleet: int) -> PresenceSample:
        """The sample to answer with: the kept one while it is fresh; an old one while a refresh
        runs; a new one taken now when there is none, the fleet's size changed or the time to keep
        one is 0."""
        if self.ttl_s <= 0:
            return self._refresh(rt)
        kept = self._kept(rt, fleet)
        if kept is not None:
            return kept
        with self._first:
            kept = self._kept(rt, fleet)  # taken while this request waited (at start-up, by another request)
            return kept if kept is not None else self._refresh(rt)

    def _kept(self, rt: AppRuntime, fleet: int) -> PresenceSample | None:
        """The kept sample if it is of a fleet of this size (a refresh started beside it if it is
        old); ``None`` when a new one must be taken."""
        with self._lock:
            sample, age = self._sample, time.monotonic() - self._taken
            if sample is None or sample.fleet != fleet:
                return None
            if age >= self.ttl_s and not self._refreshing:
                self._refreshing = True
                threading.Thread(target=self._refresh, args=(rt,), name="fleet-presence", daemon=True).start()
            return sample

    def _refresh(self, rt: AppRuntime) -> PresenceSample:
        try:
            sample = take_sample(rt, self.ask)
            with self._lock:
                self._sample, self._taken = sample, time.monotonic()
            return sample
        finally:
            with self._lock:
                self._refreshing = False


__all__ = ["PRESENCE_LIMIT", "Ask", "Inventory", "PresenceCache", "PresenceSample", "ask_presence", "inventory",
           "presence_ttl_s", "take_sample"]
