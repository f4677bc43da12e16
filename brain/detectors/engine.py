"""Evaluate detector rules over the store: one grouped query per rule for the whole fleet (or a
subset of devices), never a loop over devices.

Why SQL per rule: a storm is tens of thousands of devices raising one problem at once; the
detector has to find them in one pass whose cost grows with the matching rows, not with the
number of devices times the number of rules. The only per-row Python is the sustained-threshold
rule, over samples already above the threshold (few on a healthy fleet).

Why "since the device's last change": telemetry, events and snapshots a device reported before a
change was applied to it describe the device as it was, not as it is. A fixed device was reopened
from the pre-fix samples still inside a rule's window, so every rule reads only what
came after the device's last finished execution that may have written it (:data:`CHANGED`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVarTuple

from sqlalchemy import ColumnElement, Select, SQLColumnExpression, Subquery, func, literal, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from brain.detectors.rules import Rule, RuleSet
from core.kernel.jsontypes import JsonObject
from core.kernel.models import Scalar, utcnow
from core.kernel.values import parse_bool
from core.store.schema import DeviceEventRow, DeviceRow, ExecutionRow, ParameterSnapshotRow, TelemetryRow

# expected(device row, path) -> the baseline profile's value for that device, or None
Expected = Callable[[Any, str], Scalar | None]
CHUNK = 5000
# Executions that may have written the device (a failed or skipped one wrote nothing that stayed).
CHANGED = ("applied", "verified", "verify_failed", "rolled_back", "rollback_failed")


@dataclass(frozen=True)
class Detection:
    """One rule firing for one device, with the numbers that made it fire."""

    device_id: str
    problem: str
    rule: str
    value: Any
    threshold: str
    last_ts: datetime | None
    data: JsonObject = field(default_factory=dict)

    def evidence(self) -> JsonObject:
        return {"rule": self.rule, "value": self.value, "threshold": self.threshold,
                "last_ts": self.last_ts.isoformat() if self.last_ts else None, **self.data}


_Row = TypeVarTuple("_Row")  # a query's column types, kept through the device filter


def _label(s: Session, column: SQLColumnExpression[Any], key: str) -> ColumnElement[Any]:
    if s.get_bind().dialect.name == "postgresql":
        return column.op("->>")(literal(key))
    return func.json_extract(column, literal(f'$."{key}"'))


def _last_change() -> Subquery:
    """Per device, when its last change finished (applied, verified or rolled back)."""
    return (select(ExecutionRow.device_id.label("device_id"), func.max(ExecutionRow.finished_at).label("at"))
            .where(ExecutionRow.status.in_(CHANGED), ExecutionRow.finished_at.is_not(None))
            .group_by(ExecutionRow.device_id).subquery("last_change"))


def _after_change(q: Select[*_Row], device: InstrumentedAttribute[str],
                  ts: InstrumentedAttribute[datetime]) -> Select[*_Row]:
    """Only rows newer than the device's last change (all of them for a device never changed)."""
    lc = _last_change()
    return q.outerjoin(lc, lc.c.device_id == device).where(or_(lc.c.at.is_(None), ts > lc.c.at))


def _restrict(q: Select[*_Row], col: InstrumentedAttribute[str], rule: Rule,
              ids: Sequence[str] | None) -> list[Select[*_Row]]:
    """Apply the rule's device filter (a join on devices) and the optional device subset."""
    if not rule.where.empty:
        q = q.join(DeviceRow, DeviceRow.id == col)
        for f, allowed in (("vendor", rule.where.vendor), ("model", rule.where.model),
                           ("firmware", rule.where.firmware), ("region", rule.where.region)):
            if allowed:
                q = q.where(getattr(DeviceRow, f).in_(allowed))
    if ids is None:
        return [q]
    return [q.where(col.in_(list(ids[i:i + CHUNK]))) for i in range(0, len(ids), CHUNK)]


def _event_count(s: Session, r: Rule, since: datetime, ids: Sequence[str] | None) -> Iterable[Detection]:
    n = func.count().label("n")
    q = (select(DeviceEventRow.device_id, n, func.max(DeviceEventRow.ts).label("last"))
         .where(DeviceEventRow.kind == r.event, DeviceEventRow.ts >= since))
    q = _after_change(q, DeviceEventRow.device_id, DeviceEventRow.ts)
    for part in _restrict(q, DeviceEventRow.device_id, r, ids):
        for row in s.execute(part.group_by(DeviceEventRow.device_id).having(func.count() >= r.min)):
            yield Detection(row.device_id, r.problem, r.id, int(row.n), r.threshold_text(), row.last,
                            {"event": r.event, "window_h": r.window_h})


def _metric_base(s: Session, r: Rule, since: datetime) -> list[ColumnElement[bool]]:
    conds = [TelemetryRow.metric == r.metric, TelemetryRow.ts >= since]
    conds += [_label(s, TelemetryRow.labels, k) == v for k, v in sorted(r.labels.items())]
    return conds


def _metric_sum(s: Session, r: Rule, since: datetime, ids: Sequence[str] | None) -> Iterable[Detection]:
    total = func.sum(TelemetryRow.value)
    q = (select(TelemetryRow.device_id, total.label("v"), func.max(TelemetryRow.ts).label("last"))
         .where(*_metric_base(s, r, since)))
    q = _after_change(q, TelemetryRow.device_id, TelemetryRow.ts)
    for part in _restrict(q, TelemetryRow.device_id, r, ids):
        for row in s.execute(part.group_by(TelemetryRow.device_id).having(total >= r.min)):
            yield Detection(row.device_id, r.problem, r.id, round(float(row.v), 2), r.threshold_text(), row.last,
                            {"metric": r.metric, "window_h": r.window_h})


def _metric_mean(s: Session, r: Rule, since: datetime, ids: Sequence[str] | None) -> Iterable[Detection]:
    mean = func.avg(TelemetryRow.value)
    q = (select(TelemetryRow.device_id, mean.label("v"), func.count().label("n"),
                func.max(TelemetryRow.ts).label("last")).where(*_metric_base(s, r, since)))
    q = _after_change(q, TelemetryRow.device_id, TelemetryRow.ts)
    cond = mean < r.below if r.below is not None else mean > r.above
    for part in _restrict(q, TelemetryRow.device_id, r, ids):
        grouped = part.group_by(TelemetryRow.device_id).having(func.count() >= r.min_samples, cond)
        for row in s.execute(grouped):
            yield Detection(row.device_id, r.problem, r.id, round(float(row.v), 2), r.threshold_text(), row.last,
                            {"metric": r.metric, "samples": int(row.n), "window_h": r.window_h})


def _metric_sustained(s: Session, r: Rule, since: datetime, ids: Sequence[str] | None) -> Iterable[Detection]:
    """Longest run of consecutive samples above the threshold (a gap of more than 1.5 sample
    intervals breaks the run); fires when the run lasts at least ``for_minutes``."""
    assert r.above is not None and r.for_minutes is not None
    q = (select(TelemetryRow.device_id, TelemetryRow.ts, TelemetryRow.value)
         .where(*_metric_base(s, r, since), TelemetryRow.value > r.above))
    q = _after_change(q, TelemetryRow.device_id, TelemetryRow.ts)
    step = timedelta(minutes=r.sample_minutes)
    need = max(1, round(r.for_minutes / r.sample_minutes))
    for part in _restrict(q, TelemetryRow.device_id, r, ids):
        runs: dict[str, tuple[int, int, datetime | None, float]] = {}  # best, current, last ts, peak
        for dev, ts, value in s.execute(part.order_by(TelemetryRow.device_id, TelemetryRow.ts)):
            best, cur, last, peak = runs.get(dev, (0, 0, None, 0.0))
            cur = cur + 1 if last is not None and ts - last <= step * 1.5 else 1
            runs[dev] = (max(best, cur), cur, ts, max(peak, float(value)))
        for dev, (best, _cur, last, peak) in runs.items():
            if best >= need:
                yield Detection(dev, r.problem, r.id, round(best * r.sample_minutes), r.threshold_text(), last,
                                {"metric": r.metric, "minutes_above": round(best * r.sample_minutes),
                                 "peak": peak, "labels": dict(r.labels)})


def _param_drift(s: Session, r: Rule, ids: Sequence[str] | None, expected: Expected | None) -> Iterable[Detection]:
    from core.fleet_facts import json_value

    assert r.path is not None
    latest = (select(ParameterSnapshotRow.device_id, func.max(ParameterSnapshotRow.id).label("mid"))
              .group_by(ParameterSnapshotRow.device_id).subquery())
    value = json_value(s, ParameterSnapshotRow.params, r.path).label("v")
    q = (select(DeviceRow, value, ParameterSnapshotRow.taken_at)
         .join(latest, latest.c.device_id == DeviceRow.id)
         .join(ParameterSnapshotRow, ParameterSnapshotRow.id == latest.c.mid)
         .where(value.is_not(None)))
    q = _after_change(q, DeviceRow.id, ParameterSnapshotRow.taken_at)  # a snapshot from before the change
    if not r.where.empty:
        for f in ("vendor", "model", "firmware", "region"):
            allowed = getattr(r.where, f)
            if allowed:
                q = q.where(getattr(DeviceRow, f).in_(allowed))
    parts = [q] if ids is None else [q.where(DeviceRow.id.in_(list(ids[i:i + CHUNK])))
                                     for i in range(0, len(ids), CHUNK)]
    for part in parts:
        for dev, got, taken in s.execute(part):
            want = expected(dev, r.path) if expected is not None else None
            if want is None:
                want = r.expected
            if want is None or _same(got, want):
                continue
            yield Detection(dev.id, r.problem, r.id, got, f"{r.path} should be {want}", taken,
                            {"path": r.path, "expected": want, "stored": got})


def _same(got: Any, want: Any) -> bool:
    g = str(got).strip().strip('"').lower()
    if isinstance(want, bool):
        return parse_bool(g) is want
    try:
        return float(g) == float(want)
    except (TypeError, ValueError):
        return g == str(want).lower()


def detect(s: Session, rules: RuleSet, *, device_ids: Sequence[str] | None = None, now: datetime | None = None,
           expected: Expected | None = None, problems: Iterable[str] | None = None) -> list[Detection]:
    """Every rule firing, one :class:`Detection` per (device, rule). ``device_ids`` limits the scan
    (after ingesting a few devices' events); ``problems`` limits the rules."""
    now = now or utcnow()
    wanted = set(problems) if problems is not None else None
    out: list[Detection] = []
    for r in rules.rules:
        if wanted is not None and r.problem not in wanted:
            continue
        since = now - timedelta(hours=r.window_h)
        if r.kind == "event_count":
            out += _event_count(s, r, since, device_ids)
        elif r.kind == "metric_sum":
            out += _metric_sum(s, r, since, device_ids)
        elif r.kind == "metric_mean":
            out += _metric_mean(s, r, since, device_ids)
        elif r.kind == "metric_sustained":
            out += _metric_sustained(s, r, since, device_ids)
        else:
            out += _param_drift(s, r, device_ids, expected)
    return out


def by_problem(found: Iterable[Detection]) -> dict[tuple[str, str], list[Detection]]:
    """Detections grouped per (device, problem): several rules may report the same problem."""
    out: dict[tuple[str, str], list[Detection]] = {}
    for d in found:
        out.setdefault((d.device_id, d.problem), []).append(d)
    return out
