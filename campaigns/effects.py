"""What a change did: difference in differences against a matched control cohort, with an interval.

Why this and not "treated mean vs control mean since the ring started": two groups that differ
before a change (another neighbourhood, an older firmware, a busier evening) differ after it too,
and a mean compared with a mean calls that difference the change's effect. Difference in
differences takes each device's own change — its KPI after minus its KPI before — and compares the
changed devices' changes with the control cohort's over the same calendar windows, so what both
groups share (the evening, a weekend, a firmware's level) cancels and what remains is the change.

Each device contributes one number, its after-minus-before, and the interval is Welch's for the
difference of the two groups' means (SciPy, ``ttest_ind(..., equal_var=False)`` and its
``confidence_interval``): collapsing a device's series to one difference before testing is what
keeps serially correlated samples from inflating the evidence (Bertrand, Duflo and Mullainathan,
"How much should we trust differences-in-differences estimates?", 2004).

A verdict is read off the interval, never off the point estimate alone: *worse* or *better* only
when the whole interval lies on that side of zero, otherwise *no measurable effect* — so a change
whose interval straddles zero is not reported as a win. The gate halts a ring when the changed
devices are measurably worse **and** worse by more than the gate's tolerance (``KpiGate``).

The KPIs are read from what the store already keeps: telemetry series (channel busy, client
signal, retransmissions, DNS failures per hour, offline minutes from the WAN-up reports) and
device events (reboots). Everything here only reads.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import pairwise
from statistics import median
from typing import Any, Literal

from sqlalchemy import String, and_, case, cast, func, literal, select
from sqlalchemy.orm import Session

from core.kernel.jsontypes import JsonObject
from core.store.buckets import time_bucket
from core.store.schema import DeviceEventRow, TelemetryRow

Reduce = Literal["mean", "per_hour", "per_day", "events_per_day", "offline_minutes_per_day"]
COUNTS = ("per_hour", "per_day", "events_per_day")  # a device with nothing to report sends no row
Before = Literal["same_hours_day_before", "hours_before"]
DAY_BEFORE: Before = "same_hours_day_before"
HOURS_BEFORE: Before = "hours_before"
Verdict = Literal["worse", "better", "no measurable effect", "not enough data"]
CHUNK = 500  # device ids per IN (...) list
HOUR_S = 3600


@dataclass(frozen=True)
class Kpi:
    """One KPI as read from the store: a telemetry metric reduced per device and window, or a
    count of device events. ``higher_is_worse`` orients every verdict."""

    id: str
    title: str
    unit: str
    higher_is_worse: bool
    reduce: Reduce = "mean"
    metric: str | None = None
    events: tuple[str, ...] = ()
    relative: bool = True  # a tolerance as a share of its level means something (not for dBm)


KPIS: dict[str, Kpi] = {k.id: k for k in (
    Kpi("wifi.channel_utilization_pct", "Wi-Fi channel busy", "%", True, "mean", "wifi.channel_utilization_pct"),
    Kpi("wifi.client_rssi_dbm", "Wi-Fi client signal", "dB", False, "mean", "wifi.client_rssi_dbm", relative=False),
    Kpi("wifi.retransmissions_pct", "Wi-Fi retransmissions", "%", True, "mean", "wifi.retransmissions_pct"),
    # Reported only when non-zero (a device with no failures sends no row): summed per hour, over
    # the hours the device was reporting anything at all (a silent device is absent, not zero).
    Kpi("dns.failures", "DNS failures", "per hour", True, "per_hour", "dns.failures"),
    Kpi("wifi.dfs_radar_events", "Radar (DFS) events", "per day", True, "per_day", "wifi.dfs_radar_events"),
    Kpi("reboots", "Reboots", "per day", True, "events_per_day", events=("boot", "bootstrap")),
    Kpi("offline_minutes", "Offline", "minutes per day", True, "offline_minutes_per_day", "wan.up"),
)}


def level_text(confidence: float) -> str:
    """A confidence level as people write it: 95 %, 99 %, 99.9 % (``:.0%`` printed 0.999 as 100 %,
    an interval no one can have)."""
    return f"{confidence * 100:.4g}%"


def kpi_of(metric: str, higher_is_worse: bool | None = None) -> Kpi:
    """The catalogued KPI, or any other telemetry metric read as a mean (higher worse unless said)."""
    known = KPIS.get(metric)
    if known is None:
        return Kpi(metric, metric, "", True if higher_is_worse is None else higher_is_worse, "mean", metric)
    if higher_is_worse is None or higher_is_worse == known.higher_is_worse:
        return known
    return Kpi(known.id, known.title, known.unit, higher_is_worse, known.reduce, known.metric, known.events,
               known.relative)


# ----------------------------------------------------------------------------- per device


@dataclass
class DeviceChange:
    """One device's KPI before and after its event time (its own change, or the ring's start for
    a control device)."""

    before: float
    after: float
    n_before: int
    n_after: int

    @property
    def diff(self) -> float:
        return self.after - self.before


@dataclass
class _Acc:
    s_pre: float = 0.0
    n_pre: int = 0
    s_post: float = 0.0
    n_post: int = 0
    z_pre: int = 0
    z_post: int = 0


def _chunks(ids: Sequence[str]) -> Iterable[list[str]]:
    for i in range(0, len(ids), CHUNK):
        yield list(ids[i:i + CHUNK])


GROUP_SPAN = timedelta(minutes=5)  # devices changed this close together are read in one pass


def _groups(events: Mapping[str, datetime]) -> list[list[str]]:
    """Devices whose event times lie within ``GROUP_SPAN`` of each other: one aggregate query each.
    A group's *before* ends at its earliest event and its *after* starts at its latest, so no
    sample is ever counted on the wrong side (a few minutes of samples are left out instead)."""
    out: list[list[str]] = []
    start: datetime | None = None
    for dev, at in sorted(events.items(), key=lambda kv: kv[1]):
        if start is None or at - start > GROUP_SPAN:
            out.append([])
            start = at
        out[-1].append(dev)
    return out


def _label(s: Session, column: Any, key: str) -> Any:
    if s.get_bind().dialect.name == "postgresql":
        return column.op("->>")(literal(key))
    return func.json_extract(column, literal(f'$."{key}"'))


def _windowed(s: Session, kpi: Kpi, ids: list[str], pre: tuple[datetime, datetime],
              post: tuple[datetime, datetime], labels: Mapping[str, str]) -> Any:
    """Per device: sum, count and count below 0.5 (a WAN-down report) of its samples — or events —
    in the *before* and the *after* window, summed by the database (no sample reaches Python)."""
    dev: Any
    ts: Any
    value: Any
    where: list[Any]
    if kpi.reduce == "events_per_day":
        dev, ts, value = DeviceEventRow.device_id, DeviceEventRow.ts, literal(1.0)
        where = [DeviceEventRow.kind.in_(list(kpi.events))]
    else:
        dev, ts, value = TelemetryRow.device_id, TelemetryRow.ts, TelemetryRow.value
        where = [TelemetryRow.metric == kpi.metric]
        where += [_label(s, TelemetryRow.labels, k) == str(v) for k, v in sorted(labels.items())]
    in_pre = and_(ts >= pre[0], ts < pre[1])
    in_post = and_(ts >= post[0], ts < post[1])

    def total(cond: Any) -> Any:
        return func.sum(case((cond, value), else_=None))

    def count(cond: Any) -> Any:
        return func.count(case((cond, 1), else_=None))

    return (select(dev, total(in_pre), count(in_pre), count(and_(in_pre, value < 0.5)),
                   total(in_post), count(in_post), count(and_(in_post, value < 0.5)))
            .where(dev.in_(ids), ts >= min(pre[0], post[0]), ts < max(pre[1], post[1]), *where)
            .group_by(dev))


@dataclass
class _Beats:
    """A device's telemetry of any metric on each side: how many rows, and in which of the side's
    hours (numbered from its start) — what tells a count's zero (reporting, nothing happened) from its
    absence (not reporting at all), and over how many hours a count is a rate."""

    rows_pre: int = 0
    rows_post: int = 0
    hours_pre: set[int] = field(default_factory=set)
    hours_post: set[int] = field(default_factory=set)

    def cadence_h(self) -> float | None:
        """The device's reporting interval in hours: the median gap between its reporting hours on
        either side, at least an hour; ``None`` where no side has two (nothing to tell it by)."""
        gaps = [b - a for side in (self.hours_pre, self.hours_post) for a, b in pairwise(sorted(side))]
        return max(1.0, float(median(gaps))) if gaps else None

    def covered_h(self, hours: set[int], span_h: float) -> float:
        """The hours of a side (``span_h`` long) the device's reports stand for: each reporting hour
        one reporting interval, at most the side's span. A count summed over the whole span took an
        hour with no report as an hour without failures (docs/remediation.md); a device reporting
        every 4 h is still read over all its hours, each report standing for its own four."""
        cadence = self.cadence_h()
        return span_h if cadence is None else min(span_h, len(hours) * cadence)


def _hour_list(dialect: str, hour: Any) -> Any:
    """The distinct hours of a group, as one text ("3,4,7"): one row a device reaches Python, not one
    a device and hour (a 20,000-device read fetched 240,000 rows)."""
    if dialect == "postgresql":
        return func.string_agg(cast(hour, String).distinct(), literal(","))
    return func.group_concat(hour.distinct())


def _hours(text: str | None) -> set[int]:
    return {int(float(h)) for h in text.split(",")} if text else set()


def _heartbeats(s: Session, ids: list[str], pre: tuple[datetime, datetime], post: tuple[datetime, datetime]
                ) -> dict[str, _Beats]:
    """Per device: its telemetry rows of any metric before and after, and the hours of each side it
    reported in (counted from the side's start, so a side's silent first hour is seen as one),
    gathered by the database: one row a device reaches Python, never a sample."""
    ts = TelemetryRow.ts
    dialect = s.get_bind().dialect.name
    in_pre = and_(ts >= pre[0], ts < pre[1])
    in_post = and_(ts >= post[0], ts < post[1])
    hour_pre = case((in_pre, time_bucket(dialect, ts, HOUR_S, pre[0])), else_=None)
    hour_post = case((in_post, time_bucket(dialect, ts, HOUR_S, post[0])), else_=None)
    rows = s.execute(select(TelemetryRow.device_id, func.count(case((in_pre, 1), else_=None)),
                            func.count(case((in_post, 1), else_=None)),
                            _hour_list(dialect, hour_pre), _hour_list(dialect, hour_post))
                     .where(TelemetryRow.device_id.in_(ids), ts >= min(pre[0], post[0]), ts < max(pre[1], post[1]))
                     .group_by(TelemetryRow.device_id))
    return {str(d): _Beats(int(a or 0), int(b or 0), _hours(hp), _hours(hq)) for d, a, b, hp, hq in rows}


def device_changes(s: Session, kpi: Kpi, events: Mapping[str, datetime], *, window_h: float, now: datetime,
                   labels: Mapping[str, str] | None = None, settle_s: float = 0.0, before: Before = DAY_BEFORE,
                   need_after: bool = True) -> dict[str, DeviceChange]:
    """Each device's KPI before its event time and in the ``window_h`` hours after it (from
    ``settle_s`` after it, up to ``now``). *Before* is the same hours of the day before — those
    of the after window seen so far (``DAY_BEFORE``: a diurnal KPI — evening load, night — then
    compares like with like on every device, also mid-window) or the ``window_h`` hours just
    before (``HOURS_BEFORE``). A device without data on both sides is left out
    (``need_after=False``: without data before); for counts (DNS failures per hour, radar events,
    reboots) a side with no row is a zero over the hours that side spans — but only where the
    device reported some telemetry on that side: a device that went silent is absent, never a
    zero (it would look better for having stopped reporting). Its samples are those reports."""
    if not events:
        return {}
    win = timedelta(hours=window_h)
    settle = timedelta(seconds=settle_s)
    back = timedelta(hours=24) if before == DAY_BEFORE else win
    acc: dict[str, _Acc] = {}
    beats: dict[str, _Beats] = {}
    pre_h: dict[str, float] = {}
    for group in _groups(events):
        first, last = min(events[d] for d in group), max(events[d] for d in group)
        # the after window as seen by ``now``: a look reads the data up to its own time (rows after it —
        # a replayed or simulated series written ahead — were summed over the hours seen so far)
        after_w = (last + settle, max(last + settle, min(last + settle + win, now)))
        seen_until = after_w[1]
        if before == DAY_BEFORE and seen_until > after_w[0]:
            # the very hours the after window has seen so far, a day earlier: an analysis an hour
            # into a six-hour window compared that hour with six hours of the day before, and for a
            # KPI with a daily rhythm (evening load) the difference was the clock, not the change
            before_w = (after_w[0] - back, seen_until - back)
        else:
            before_w = (first - back, min(first - back + win, first))
        span_h = (before_w[1] - before_w[0]).total_seconds() / 3600.0
        pre_h.update(dict.fromkeys(group, span_h))
        for part in _chunks(group):
            for dev, s_pre, n_pre, z_pre, s_post, n_post, z_post in s.execute(
                    _windowed(s, kpi, part, before_w, after_w, labels or {})):
                acc[dev] = _Acc(float(s_pre or 0.0), int(n_pre or 0), float(s_post or 0.0), int(n_post or 0),
                                int(z_pre or 0), int(z_post or 0))
            if kpi.reduce in COUNTS:
                beats.update(_heartbeats(s, part, before_w, after_w))
    out: dict[str, DeviceChange] = {}
    for dev, t in events.items():
        a = acc.get(dev, _Acc())
        post_h = max(0.0, min(window_h, (now - t - settle).total_seconds() / 3600.0))
        if kpi.reduce in COUNTS:
            if (c := _count_change(kpi, a, beats.get(dev, _Beats()), pre_h[dev], post_h, need_after)) is not None:
                out[dev] = c
        elif not need_after:
            if a.n_pre:
                pre = 1440.0 * a.z_pre / a.n_pre if kpi.reduce == "offline_minutes_per_day" else a.s_pre / a.n_pre
                out[dev] = DeviceChange(pre, math.nan, a.n_pre, 0)
        elif kpi.reduce == "mean":
            if a.n_pre and a.n_post:
                out[dev] = DeviceChange(a.s_pre / a.n_pre, a.s_post / a.n_post, a.n_pre, a.n_post)
        elif a.n_pre and a.n_post:  # offline minutes per day
            out[dev] = DeviceChange(1440.0 * a.z_pre / a.n_pre, 1440.0 * a.z_post / a.n_post, a.n_pre, a.n_post)
    return out


def _count_change(kpi: Kpi, a: _Acc, beats: _Beats, pre_h: float, post_h: float, need_after: bool
                  ) -> DeviceChange | None:
    """A count's rate on each side: its sum over the hours the device's reports stand for
    (:meth:`_Beats.covered_h`), a side with no row a zero there — and no rate at all on a side where
    the device reported nothing (it went silent: absent, never "better")."""
    scale = 1.0 if kpi.reduce == "per_hour" else 24.0
    pre_cov = beats.covered_h(beats.hours_pre, pre_h) if beats.rows_pre else 0.0
    if not need_after:
        return DeviceChange(scale * a.s_pre / pre_cov, math.nan, beats.rows_pre, 0) if pre_cov > 0 else None
    post_cov = beats.covered_h(beats.hours_post, post_h) if beats.rows_post else 0.0
    if pre_cov <= 0 or post_cov <= 0:
        return None
    return DeviceChange(scale * a.s_pre / pre_cov, scale * a.s_post / post_cov, beats.rows_pre, beats.rows_post)


def baselines(s: Session, kpi: Kpi, device_ids: Sequence[str], *, now: datetime, window_h: float,
              labels: Mapping[str, str] | None = None) -> dict[str, float]:
    """Each device's KPI over the ``window_h`` hours before ``now`` (what a cohort is matched on)."""
    events = dict.fromkeys(device_ids, now)
    changes = device_changes(s, kpi, events, window_h=window_h, now=now, labels=labels, before=HOURS_BEFORE,
                             need_after=False)
    return {d: c.before for d, c in changes.items()}


# ----------------------------------------------------------------------------- the estimate


@dataclass
class Effect:
    """The change's effect on one KPI: changed devices' after-minus-before against the control's,
    with its interval. ``estimate``/``low``/``high`` are in the KPI's unit, signed as measured
    (after minus before); ``worse_by`` is the estimate oriented so that positive is worse."""

    kpi: str
    title: str
    unit: str
    higher_is_worse: bool
    n_treated: int
    n_control: int
    confidence: float
    estimate: float | None = None
    low: float | None = None
    high: float | None = None
    p_value: float | None = None
    baseline: float | None = None  # the changed devices' mean before
    control_change: float | None = None  # the control cohort's own after-minus-before
    verdict: Verdict = "not enough data"
    note: str = ""
    samples: dict[str, int] = field(default_factory=dict)
    level: float | None = None  # the interval's level: ``confidence``, or a sequential look's (campaigns.looks)
    method: str = ""  # how it was estimated, in words (campaigns.estimator)
    against: str = "the control cohort"
    look: dict[str, Any] = field(default_factory=dict)  # which planned look this is (campaigns.looks)
    tail: dict[str, Any] | None = None  # homes worse by more than the tolerance (campaigns.estimator.tail)
    individual: list[float] = field(default_factory=list, repr=False)  # each changed device's own effect
    residual: list[float] = field(default_factory=list, repr=False)  # each control device's own movement

    @property
    def worse_by(self) -> float | None:
        if self.estimate is None:
            return None
        return self.estimate if self.higher_is_worse else -self.estimate

    @property
    def worse_interval(self) -> tuple[float, float] | None:
        """The interval oriented like :attr:`worse_by` (low, high)."""
        if self.low is None or self.high is None:
            return None
        return (self.low, self.high) if self.higher_is_worse else (-self.high, -self.low)

    def harm(self, tolerance: float) -> bool:
        """Measurably worse (the whole interval on the worse side) and worse by more than
        ``tolerance`` (in the KPI's unit)."""
        wi = self.worse_interval
        return (self.verdict == "worse" and wi is not None and self.worse_by is not None
                and wi[0] > 0 and self.worse_by > tolerance)

    def text(self) -> str:
        """One line an approver reads: what the change did, by how much, how sure."""
        n = (f"{self.n_treated} changed device(s) against their own hours before" if self.against.startswith("their")
             else f"{self.n_treated} changed vs {self.n_control} control device(s)")
        if self.estimate is None or self.low is None or self.high is None:
            return f"{self.title}: not enough data ({n}{'; ' + self.note if self.note else ''})"
        unit = f" {self.unit}" if self.unit else ""
        ci = f"{level_text(self.level or self.confidence)} CI {self.low:+.3g} to {self.high:+.3g}"
        what = "measurably " + self.verdict if self.verdict in ("worse", "better") else self.verdict
        return f"{self.title}: {self.estimate:+.3g}{unit} after the change ({ci}; {n}): {what}"

    def as_dict(self) -> JsonObject:
        def r(x: float | None) -> float | None:
            return None if x is None else round(x, 4)

        return {"kpi": self.kpi, "title": self.title, "unit": self.unit, "higher_is_worse": self.higher_is_worse,
                "n_treated": self.n_treated, "n_control": self.n_control, "confidence": self.confidence,
                "estimate": r(self.estimate), "low": r(self.low), "high": r(self.high), "p_value": r(self.p_value),
                "worse_by": r(self.worse_by), "baseline": r(self.baseline), "control_change": r(self.control_change),
                "verdict": self.verdict, "note": self.note, "samples": dict(self.samples), "text": self.text(),
                "level": r(self.level), "method": self.method, "against": self.against, "look": dict(self.look),
                "tail": dict(self.tail) if self.tail is not None else None}


def tolerance_of(kpi: Kpi, eff: Effect, max_degradation: float, margin: float) -> float:
    """The gate's tolerance in the KPI's unit: ``margin``, or ``max_degradation`` of the changed
    devices' own level before the change, whichever is larger — the relative part only where a
    share of the level means something (a busy %, a count; not a signal in dBm)."""
    rel = max_degradation * abs(eff.baseline) if eff.baseline is not None and kpi.relative else 0.0
    return max(margin, rel)
