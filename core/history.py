"""What happened to a device and to its kind: telemetry windows, events, past proposals and
their outcomes.

Why a module of its own: the planner's history tool, the remediation detectors and the console
all ask the same questions ("how busy was the 2.4 GHz channel this evening?", "did a change on
this firmware roll back last week?"), and the answers must come from one set of queries over
``telemetry``, ``device_events``, ``proposals`` and ``executions`` rather than be re-derived in
each caller. Everything here only reads.

Values that came from the device (event payload strings) are returned as stored; callers that
hand them to a language model wrap them as untrusted (``brain.untrusted``).
"""

from __future__ import annotations

import math
import re
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.kernel.jsontypes import Json, JsonObject
from core.kernel.models import SERIES_MAX_POINTS, utcnow
from core.store.schema import (
    DeviceEventRow,
    DeviceRow,
    ExecutionRow,
    ProposalDeviceRow,
    ProposalRow,
    TelemetryRow,
)

# Local evening hours: when residential Wi-Fi is busiest and complaints are about.
EVENING_HOURS = range(18, 24)
UTC_OFFSET_HOURS = {"DE": 1, "FR": 1, "NL": 1, "GB": 0, "US": -5}


@dataclass(frozen=True)
class MetricWindow:
    """Summary of one metric (optionally one label set, e.g. one radio) over a window."""

    metric: str
    labels: dict[str, str]
    count: int
    mean: float | None
    minimum: float | None
    maximum: float | None
    last: float | None
    evening_mean: float | None
    since: datetime

    def as_dict(self) -> JsonObject:
        def r(x: float | None) -> float | None:
            return None if x is None else round(x, 2)

        return {"metric": self.metric, "labels": dict(self.labels), "count": self.count, "mean": r(self.mean),
                "min": r(self.minimum), "max": r(self.maximum), "last": r(self.last),
                "evening_mean": r(self.evening_mean), "since": self.since.isoformat()}


@dataclass(frozen=True)
class EventItem:
    ts: datetime
    kind: str
    data: JsonObject

    def as_dict(self) -> JsonObject:
        return {"ts": self.ts.isoformat(), "kind": self.kind, "data": dict(self.data)}


@dataclass
class ProposalOutcome:
    id: str
    state: str
    intent: str
    author: str
    created_at: datetime
    paths: list[str]
    operations: list[str]
    error: str | None = None
    device_id: str | None = None

    def as_dict(self) -> JsonObject:
        return {"id": self.id, "state": self.state, "intent": self.intent, "author": self.author,
                "created_at": self.created_at.isoformat(), "paths": self.paths, "operations": self.operations,
                "error": self.error, "device_id": self.device_id}


@dataclass
class OutcomeStats:
    """How changes went on a model/firmware: counts by final state and by parameter path."""

    model: str
    firmware: str | None
    total: int = 0
    by_state: dict[str, int] = field(default_factory=dict)
    rolled_back_paths: dict[str, int] = field(default_factory=dict)
    recent: list[ProposalOutcome] = field(default_factory=list)

    def as_dict(self) -> JsonObject:
        return {"model": self.model, "firmware": self.firmware, "total": self.total, "by_state": dict(self.by_state),
                "rolled_back_paths": dict(self.rolled_back_paths), "recent": [p.as_dict() for p in self.recent]}


def local_hour(ts: datetime, region: str) -> int:
    return (ts.hour + UTC_OFFSET_HOURS.get(region, 0)) % 24


def _labels_match(labels: Mapping[str, Json] | None, want: dict[str, str] | None) -> bool:
    if not want:
        return True
    have = labels or {}
    return all(str(have.get(k)) == str(v) for k, v in want.items())


def metric_window(s: Session, device_id: str, metric: str, *, hours: float = 24, labels: dict[str, str] | None = None,
                  region: str = "GB", now: datetime | None = None) -> MetricWindow:
    """Summary statistics of ``metric`` for ``device_id`` over the last ``hours``."""
    since = (now or utcnow()) - timedelta(hours=hours)
    rows = s.execute(select(TelemetryRow.ts, TelemetryRow.value, TelemetryRow.labels).where(
        TelemetryRow.device_id == device_id, TelemetryRow.metric == metric, TelemetryRow.ts >= since,
    ).order_by(TelemetryRow.ts)).all()
    values = [(ts, float(v)) for ts, v, lab in rows if _labels_match(lab, labels)]
    if not values:
        return MetricWindow(metric, dict(labels or {}), 0, None, None, None, None, None, since)
    nums = [v for _, v in values]
    evening = [v for ts, v in values if local_hour(ts, region) in EVENING_HOURS]
    return MetricWindow(
        metric=metric, labels=dict(labels or {}), count=len(nums), mean=statistics.fmean(nums), minimum=min(nums),
        maximum=max(nums), last=nums[-1], evening_mean=statistics.fmean(evening) if evening else None, since=since,
    )


def metric_windows(s: Session, device_id: str, metrics: Sequence[str], *, hours: float = 24, region: str = "GB",
                   now: datetime | None = None) -> list[MetricWindow]:
    """One window per (metric, label set) — e.g. one per radio — in a single query. The
    ``channel`` label is ignored when grouping (a radio that moved is still one radio)."""
    since = (now or utcnow()) - timedelta(hours=hours)
    rows = s.execute(select(TelemetryRow.metric, TelemetryRow.ts, TelemetryRow.value, TelemetryRow.labels).where(
        TelemetryRow.device_id == device_id, TelemetryRow.metric.in_(list(metrics)), TelemetryRow.ts >= since,
    ).order_by(TelemetryRow.ts)).all()
    groups: dict[tuple[str, tuple[tuple[str, str], ...]], list[tuple[datetime, float]]] = {}
    for metric, ts, value, labels in rows:
        key = tuple(sorted((str(k), str(v)) for k, v in (labels or {}).items() if k != "channel"))
        groups.setdefault((metric, key), []).append((ts, float(value)))
    out = []
    for (metric, key), values in groups.items():
        nums = [v for _, v in values]
        evening = [v for ts, v in values if local_hour(ts, region) in EVENING_HOURS]
        out.append(MetricWindow(metric=metric, labels=dict(key), count=len(nums), mean=statistics.fmean(nums),
                                minimum=min(nums), maximum=max(nums), last=nums[-1],
                                evening_mean=statistics.fmean(evening) if evening else None, since=since))
    order = {m: i for i, m in enumerate(metrics)}
    return sorted(out, key=lambda w: (order.get(w.metric, 0), sorted(w.labels.items())))


def metric_series_labels(s: Session, device_id: str, metric: str, *, hours: float = 24,
                         now: datetime | None = None) -> list[dict[str, str]]:
    """The distinct label sets a metric was reported with (e.g. one per radio)."""
    since = (now or utcnow()) - timedelta(hours=hours)
    seen: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}
    for (lab,) in s.execute(select(TelemetryRow.labels).where(
            TelemetryRow.device_id == device_id, TelemetryRow.metric == metric, TelemetryRow.ts >= since)):
        labels = {str(k): str(v) for k, v in (lab or {}).items()}
        key = tuple(sorted((k, v) for k, v in labels.items() if k != "channel"))
        seen.setdefault(key, {k: v for k, v in labels.items() if k != "channel"})
    return list(seen.values())


# Metric ids in words, with their unit: what every chart is titled — an approver's (evidence series)
# and the device page's (the history API sends them with each series; the console keeps no copy).
METRIC_NAMES: dict[str, tuple[str, str]] = {
    "wifi.client_rssi_dbm": ("Wi-Fi client signal", "dBm"),
    "wifi.channel_utilization_pct": ("Wi-Fi channel busy", "%"),
    "wifi.dfs_radar_events": ("Radar (DFS) events", "per interval"),
    "wifi.retransmissions_pct": ("Wi-Fi retransmissions", "%"),
    "wifi.client_count": ("Wi-Fi clients", "devices"),
    "wan.latency_ms": ("Internet latency", "ms"),
    "wan.up": ("Internet link up", "1 = up, 0 = down"),
    "dns.failures": ("DNS failures", "per interval"),
}
_UNIT_SUFFIX = re.compile(r"^(.*)_(pct|ms|dbm|db|s)$", re.IGNORECASE)
_UNITS = {"pct": "%", "ms": "ms", "dbm": "dBm", "db": "dB", "s": "s"}


def metric_name(metric: str) -> tuple[str, str]:
    """``(name, unit)`` of a metric id: the known ones in words, any other from its id
    (``vendor.odd_thing_ms`` → ``("Odd thing", "ms")``)."""
    if metric in METRIC_NAMES:
        return METRIC_NAMES[metric]
    rest = metric.split(".", 1)[-1]
    m = _UNIT_SUFFIX.match(rest)
    words = (m.group(1) if m else rest).replace("_", " ").replace(".", " ")
    return words[:1].upper() + words[1:], _UNITS[m.group(2).lower()] if m else ""


def metric_series(s: Session, device_id: str, metric: str, *, labels: dict[str, str] | None = None,
                  hours: float = 24, max_points: int = SERIES_MAX_POINTS, how: Literal["mean", "max"] = "mean",
                  now: datetime | None = None) -> list[tuple[datetime, float]]:
    """The samples of ``metric`` (those with ``labels``; other labels, such as a radio's channel,
    do not split it) over the last ``hours``, oldest first, never more than ``max_points``: more
    samples than that are cut into ``max_points`` equal slices of the window, each one point at its
    last sample's time with the slice's mean — or its maximum (``how="max"``), for counts, where a
    mean would flatten the burst a diagnosis saw. Nothing reported: an empty list."""
    end = now or utcnow()
    since = end - timedelta(hours=hours)
    rows = s.execute(select(TelemetryRow.ts, TelemetryRow.value, TelemetryRow.labels).where(
        TelemetryRow.device_id == device_id, TelemetryRow.metric == metric, TelemetryRow.ts >= since,
        TelemetryRow.ts <= end).order_by(TelemetryRow.ts)).all()
    values = [(ts, float(v)) for ts, v, lab in rows if _labels_match(lab, labels) and math.isfinite(float(v))]
    if len(values) <= max_points:
        return values
    width = (end - since) / max_points
    slices: dict[int, list[tuple[datetime, float]]] = {}
    for ts, v in values:
        slices.setdefault(min(max_points - 1, int((ts - since) / width)), []).append((ts, v))
    return [(part[-1][0], round(max(v for _, v in part) if how == "max" else statistics.fmean(v for _, v in part), 2))
            for _, part in sorted(slices.items())]


def recent_events(s: Session, device_id: str, *, hours: float = 24, kinds: Sequence[str] | None = None,
                  limit: int = 50, now: datetime | None = None) -> list[EventItem]:
    """Newest first."""
    since = (now or utcnow()) - timedelta(hours=hours)
    q = select(DeviceEventRow).where(DeviceEventRow.device_id == device_id, DeviceEventRow.ts >= since)
    if kinds:
        q = q.where(DeviceEventRow.kind.in_(list(kinds)))
    rows = s.scalars(q.order_by(DeviceEventRow.ts.desc(), DeviceEventRow.id.desc()).limit(limit))
    return [EventItem(r.ts, r.kind, dict(r.data or {})) for r in rows]


def event_counts(s: Session, device_id: str, *, hours: float = 24, now: datetime | None = None) -> dict[str, int]:
    since = (now or utcnow()) - timedelta(hours=hours)
    rows = s.execute(select(DeviceEventRow.kind, func.count()).where(
        DeviceEventRow.device_id == device_id, DeviceEventRow.ts >= since).group_by(DeviceEventRow.kind)).all()
    return {str(k): int(n) for k, n in rows}


def _outcomes(rows: Sequence[ProposalRow]) -> list[ProposalOutcome]:
    return [ProposalOutcome(id=r.id, state=r.state, intent=r.intent, author=r.author, created_at=r.created_at,
                            paths=[str(c.get("path")) for c in (r.changes or [])],
                            operations=[str(o.get("command")) for o in (r.operations or [])], error=r.error)
            for r in rows]


def device_proposals(s: Session, device_id: str, *, limit: int = 10) -> list[ProposalOutcome]:
    """Past proposals that targeted this device, newest first, with their final state."""
    rows = s.scalars(select(ProposalRow).join(ProposalDeviceRow, ProposalDeviceRow.proposal_id == ProposalRow.id)
                     .where(ProposalDeviceRow.device_id == device_id)
                     .order_by(ProposalRow.created_at.desc(), ProposalRow.id).limit(limit)).all()
    out = _outcomes(rows)
    for o in out:
        o.device_id = device_id
    return out


def model_outcomes(s: Session, model: str, firmware: str | None = None, *, days: int = 30,
                   limit: int = 200) -> OutcomeStats:
    """How proposals went on every device of this model (and firmware): the fleet's memory of
    what works on this kind of box."""
    since = utcnow() - timedelta(days=days)
    q = (select(ProposalRow, ProposalDeviceRow.device_id)
         .join(ProposalDeviceRow, ProposalDeviceRow.proposal_id == ProposalRow.id)
         .join(DeviceRow, DeviceRow.id == ProposalDeviceRow.device_id)
         .where(DeviceRow.model == model, ProposalRow.created_at >= since))
    if firmware:
        q = q.where(DeviceRow.firmware == firmware)
    rows = s.execute(q.order_by(ProposalRow.created_at.desc()).limit(limit)).all()
    stats = OutcomeStats(model=model, firmware=firmware)
    seen: set[str] = set()
    states: Counter[str] = Counter()
    rolled: Counter[str] = Counter()
    for prow, dev in rows:
        if prow.id in seen:
            continue
        seen.add(prow.id)
        states[prow.state] += 1
        if prow.state in ("rolled_back", "failed"):
            for c in prow.changes or []:
                rolled[str(c.get("path"))] += 1
        if len(stats.recent) < 5:
            o = _outcomes([prow])[0]
            o.device_id = dev
            stats.recent.append(o)
    stats.total = len(seen)
    stats.by_state = dict(states)
    stats.rolled_back_paths = dict(rolled)
    return stats


def failed_executions(s: Session, device_id: str, *, days: int = 7) -> int:
    since = utcnow() - timedelta(days=days)
    bad = ("failed", "rolled_back", "rollback_failed", "verify_failed")
    return int(s.scalar(select(func.count()).select_from(ExecutionRow).where(
        ExecutionRow.device_id == device_id, ExecutionRow.status.in_(bad), ExecutionRow.started_at >= since)) or 0)
