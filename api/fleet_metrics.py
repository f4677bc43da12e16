"""The operator's series at ``/metrics``: the fleet, the change queue, campaigns, remediation.

Counted in the store at scrape time (so every API replica answers the same), with a short cache
(:data:`CACHE_S`): a scrape every 15 s by two Prometheus servers costs one set of grouped counts per
window, not per scrape. Each count is a ``GROUP BY`` over an indexed column; the campaign devices
are counted for unfinished campaigns only (``finished_at IS NULL``), so the cost does not grow with
history. A table that cannot be read (a database that blinked) sets ``gateward_store_up`` to 0 and
yields nothing else: a scrape never fails.

Series (all gauges):

* ``gateward_devices{state}`` — ``online`` (active, heard from — an inform, a USP notification, an
  ACS sync — within ``GATEWARD_METRICS_ONLINE_S``, a day: CPEs commonly inform once a day),
  ``offline`` (active, not heard from since), ``unknown`` (never heard from: added by hand before
  first contact, or simulated), ``absent`` (gone from the ACS), ``retired``;
* ``gateward_proposals{state}`` — every lifecycle state, zeros included;
* ``gateward_approvals_pending`` — proposals awaiting approval;
* ``gateward_campaigns{state}``, ``gateward_campaign_devices{state}`` (devices of unfinished
  campaigns by their execution status, ``pending`` before one);
* ``gateward_remediation_cases{state}``;
* ``gateward_store_up``.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import and_, case, func, select, text

from core.kernel.models import ProposalState, utcnow
from core.store.schema import DeviceRow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from core.store import Store

CACHE_S = 10.0
DEFAULT_ONLINE_S = 86400.0

#: every series this collector (and api.metrics) exports: the Grafana dashboard may read only these
SERIES = ("gateward_devices", "gateward_proposals", "gateward_approvals_pending", "gateward_campaigns",
          "gateward_campaign_devices", "gateward_remediation_cases", "gateward_store_up")

_PROPOSALS = text("SELECT state, count(*) FROM proposals GROUP BY state")
_CAMPAIGNS = text("SELECT state, count(*) FROM campaigns GROUP BY state")
_CAMPAIGN_DEVICES = text("""
SELECT COALESCE(e.status, 'pending') AS st, count(*)
FROM campaign_devices cd JOIN campaigns c ON c.id = cd.campaign_id
LEFT JOIN executions e ON e.proposal_id = c.proposal_id AND e.device_id = cd.device_id
WHERE c.finished_at IS NULL GROUP BY 1""")
_CASES = text("SELECT status, count(*) FROM remediation_cases GROUP BY status")


def env_seconds(name: str, default: float, *, zero_ok: bool = False) -> float:
    """A number of seconds from the environment variable ``name`` (``default`` when unset); a
    ValueError naming the variable when it is not a number, negative, or 0 where 0 means nothing."""
    raw = os.environ.get(name, "").strip()
    try:
        value = float(raw) if raw else default
    except ValueError:
        raise ValueError(f"{name}={raw!r}: not a number of seconds") from None
    if value < 0 or (value == 0 and not zero_ok):
        raise ValueError(f"{name}={raw!r}: must be {'>= 0' if zero_ok else '> 0'}")
    return value


def online_window_s() -> float:
    """``GATEWARD_METRICS_ONLINE_S``: a device heard from within this many seconds counts as online."""
    return env_seconds("GATEWARD_METRICS_ONLINE_S", DEFAULT_ONLINE_S)


def _grouped(s: Session, query: Any) -> dict[str, float]:
    return {str(k): float(n) for k, n in s.execute(query)}


def _devices(since: datetime) -> Any:
    """Devices by state; the time compared through the column's own type (UTC, as stored)."""
    active = DeviceRow.status == "active"
    state = case((and_(active, DeviceRow.last_seen >= since), "online"),
                 (and_(active, DeviceRow.last_seen.is_(None)), "unknown"), (active, "offline"), else_=DeviceRow.status)
    return select(state, func.count()).group_by(state)


class FleetCollector(Collector):
    """Gauges of the fleet and of every queue of governed work, cached for :data:`CACHE_S`."""

    def __init__(self, store: Store, *, cache_s: float = CACHE_S, online_s: float | None = None) -> None:
        self.store = store
        self.cache_s = cache_s
        self.online_s = online_window_s() if online_s is None else online_s
        self._lock = threading.Lock()
        self._at = -1e18
        self._counts: dict[str, dict[str, float]] | None = None

    def read(self) -> dict[str, dict[str, float]] | None:
        """Every count, from the cache while it is fresh; ``None`` when the store did not answer."""
        with self._lock:
            now = time.monotonic()
            if now - self._at < self.cache_s:
                return self._counts
            try:
                with self.store.read() as s:
                    counts = {
                        "devices": _grouped(s, _devices(utcnow() - timedelta(seconds=self.online_s))),
                        "proposals": _grouped(s, _PROPOSALS),
                        "campaigns": _grouped(s, _CAMPAIGNS),
                        "campaign_devices": _grouped(s, _CAMPAIGN_DEVICES),
                        "cases": _grouped(s, _CASES),
                    }
            except Exception:  # a scrape must not fail because the database blinked
                counts = None
            self._counts, self._at = counts, now
            return counts

    def collect(self) -> Iterator[Metric]:
        counts = self.read()
        up = GaugeMetricFamily("gateward_store_up", "1 if the store answered the last count")
        up.add_metric([], 0.0 if counts is None else 1.0)
        yield up
        if counts is None:
            return
        yield _family("gateward_devices", "Devices by state: online (heard from within GATEWARD_METRICS_ONLINE_S), "
                      "offline, unknown (never heard from), absent (gone from the ACS), retired",
                      {"online": 0.0, "offline": 0.0, "unknown": 0.0, **counts["devices"]})
        proposals = {str(s): 0.0 for s in ProposalState} | counts["proposals"]
        yield _family("gateward_proposals", "Proposals by lifecycle state", proposals)
        pending = GaugeMetricFamily("gateward_approvals_pending", "Proposals awaiting approval")
        pending.add_metric([], proposals.get("awaiting_approval", 0.0))
        yield pending
        yield _family("gateward_campaigns", "Campaigns by state", counts["campaigns"])
        yield _family("gateward_campaign_devices", "Devices of unfinished campaigns by execution status "
                      "(pending: none yet)", counts["campaign_devices"])
        yield _family("gateward_remediation_cases", "Remediation cases by state", counts["cases"])


def _family(name: str, doc: str, values: dict[str, float]) -> GaugeMetricFamily:
    g = GaugeMetricFamily(name, doc, labels=["state"])
    for state, n in sorted(values.items()):
        g.add_metric([state], n)
    return g


__all__ = ["CACHE_S", "SERIES", "FleetCollector", "online_window_s"]
