"""Fleet-scale facts computed by the database: device classes and per-class preview summaries.

For a proposal over tens of thousands to millions of devices, building one Python dict per device
dominates the gate. The equivalence key that ``policies.classes`` uses (model, firmware, region,
root, protocol, presence, radio band/auto signature, reboot-limit flag, failed-changes bucket,
overlap with other live proposals) is computed here with one ``GROUP BY`` over devices, their
latest stored snapshot and their recent history, returning a count and a representative per class.
Policy is then evaluated once per class on the representative's full facts, exactly as
``policies.classes.decide_fleet`` does in Python (a test checks that the two agree).

Devices that overlap another live proposal are few and carry a per-device context signature, so
they are left to the Python path.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, literal, select
from sqlalchemy.orm import QueryableAttribute, Session

from core.models import ExecutionStatus, utcnow
from core.store.schema import DeviceEventRow, DeviceRow, ExecutionRow, ParameterSnapshotRow, ProposalDeviceRow
from core.values import parse_bool

RADIOS = (1, 2, 3)
STALE_AFTER = timedelta(hours=24)


def json_value(session: Session, column: QueryableAttribute[Any], key: str) -> ColumnElement[Any]:
    """``column[key]["value"]`` as text, for snapshot params stored as ``{path: {"value": ...}}``."""
    if session.get_bind().dialect.name == "postgresql":
        return column.op("->")(literal(key)).op("->>")(literal("value"))
    return func.json_extract(column, literal(f'$."{key}".value'))


def _truthy(v: Any) -> bool | None:
    if v is None:
        return None
    return parse_bool(v) is True


@dataclass(frozen=True)
class DeviceClass:
    key: tuple[Any, ...]
    count: int
    representative: str


def _latest_snapshot_ids(pid: str) -> Any:
    """The newest *full* snapshot of each target: a partial row (an old backup) read as the device's
    state would drop its radios and break class building (issue 10, defect 12)."""
    from core.store.repo import full_snapshot

    return (select(ParameterSnapshotRow.device_id, func.max(ParameterSnapshotRow.id).label("mid"))
            .join(ProposalDeviceRow, ProposalDeviceRow.device_id == ParameterSnapshotRow.device_id)
            .where(ProposalDeviceRow.proposal_id == pid, full_snapshot())
            .group_by(ParameterSnapshotRow.device_id).subquery())


def unsnapshotted(s: Session, pid: str, limit: int = 10000) -> list[str]:
    """Targets of ``pid`` with no full stored snapshot: a snapshot preview knows nothing of their
    current values unless its live sample read them."""
    latest = _latest_snapshot_ids(pid)
    q = (select(ProposalDeviceRow.device_id)
         .outerjoin(latest, latest.c.device_id == ProposalDeviceRow.device_id)
         .where(ProposalDeviceRow.proposal_id == pid, latest.c.mid.is_(None))
         .order_by(ProposalDeviceRow.device_id).limit(limit))
    return list(s.scalars(q))


def device_classes(s: Session, pid: str, *, max_reboots_24h: int, failed_steps: tuple[float, ...],
                   exclude: set[str] | None = None) -> list[DeviceClass]:
    """Classes of the targets of ``pid`` keyed like ``policies.classes.device_key`` (without the
    context signature: ``exclude`` the devices that have one)."""
    now = utcnow()
    latest = _latest_snapshot_ids(pid)
    boots = (select(DeviceEventRow.device_id, func.count().label("n"))
             .join(ProposalDeviceRow, ProposalDeviceRow.device_id == DeviceEventRow.device_id)
             .where(ProposalDeviceRow.proposal_id == pid, DeviceEventRow.kind == "boot",
                    DeviceEventRow.ts >= now - timedelta(hours=24))
             .group_by(DeviceEventRow.device_id).subquery())
    bad = [str(x) for x in (ExecutionStatus.FAILED, ExecutionStatus.ROLLED_BACK, ExecutionStatus.ROLLBACK_FAILED,
                            ExecutionStatus.VERIFY_FAILED)]
    fails = (select(ExecutionRow.device_id, func.count().label("n"))
             .join(ProposalDeviceRow, ProposalDeviceRow.device_id == ExecutionRow.device_id)
             .where(ProposalDeviceRow.proposal_id == pid, ExecutionRow.status.in_(bad),
                    ExecutionRow.started_at >= now - timedelta(days=7))
             .group_by(ExecutionRow.device_id).subquery())
    params = ParameterSnapshotRow.params
    radio_cols = []
    for i in RADIOS:
        radio_cols.append(json_value(s, params, f"Device.WiFi.Radio.{i}.OperatingFrequencyBand").label(f"b{i}"))
        radio_cols.append(json_value(s, params, f"Device.WiFi.Radio.{i}.AutoChannelEnable").label(f"a{i}"))
    reboot_n = func.coalesce(boots.c.n, 0)
    failed_n = func.coalesce(fails.c.n, 0)
    failed_bucket = sum((case((failed_n >= step, 1), else_=0) for step in failed_steps), literal(0))
    present = case((DeviceRow.last_seen >= now - STALE_AFTER, 1), else_=0)
    keys = [DeviceRow.vendor, DeviceRow.model, DeviceRow.firmware, DeviceRow.region, DeviceRow.root,
            DeviceRow.protocol, present.label("present"), case((reboot_n >= max_reboots_24h, 1), else_=0)
            .label("reboot_flag"), failed_bucket.label("failed_bucket"), *radio_cols]
    q = (select(*keys, func.count().label("n"), func.min(DeviceRow.id).label("rep"))
         .select_from(ProposalDeviceRow)
         .join(DeviceRow, DeviceRow.id == ProposalDeviceRow.device_id)
         .outerjoin(latest, latest.c.device_id == DeviceRow.id)
         .outerjoin(ParameterSnapshotRow, ParameterSnapshotRow.id == latest.c.mid)
         .outerjoin(boots, boots.c.device_id == DeviceRow.id)
         .outerjoin(fails, fails.c.device_id == DeviceRow.id)
         .where(ProposalDeviceRow.proposal_id == pid))
    if exclude:
        q = q.where(DeviceRow.id.not_in(sorted(exclude)))
    q = q.group_by(*[k.element if hasattr(k, "element") else k for k in keys])
    merged: dict[tuple[Any, ...], list[Any]] = {}
    for row in s.execute(q):
        m = row._mapping
        radios = tuple((i, m[f"b{i}"], _truthy(m[f"a{i}"])) for i in RADIOS if m[f"b{i}"] is not None)
        key = (row.vendor, row.model, row.firmware, row.region, row.root, row.protocol, bool(row.present),
               bool(row.reboot_flag), int(row.failed_bucket), radios)
        cur = merged.get(key)
        if cur is None:
            merged[key] = [int(row.n), row.rep]
        else:  # boolean spellings (1/'true') that SQL grouped apart
            cur[0] += int(row.n)
            cur[1] = min(cur[1], row.rep)
    return [DeviceClass(k, n, rep) for k, (n, rep) in merged.items()]


def preview_summary(s: Session, pid: str, changes: list[tuple[str, Any, bool]]) -> list[dict[str, Any]]:
    """Per (vendor, model, firmware): device count, devices without a snapshot, and for each changed
    path the distribution of current values (top five) — secrets counted, never read."""
    latest = _latest_snapshot_ids(pid)
    base = (select(DeviceRow.vendor, DeviceRow.model, DeviceRow.firmware)
            .select_from(ProposalDeviceRow)
            .join(DeviceRow, DeviceRow.id == ProposalDeviceRow.device_id)
            .outerjoin(latest, latest.c.device_id == DeviceRow.id)
            .outerjoin(ParameterSnapshotRow, ParameterSnapshotRow.id == latest.c.mid)
            .where(ProposalDeviceRow.proposal_id == pid))
    group = (DeviceRow.vendor, DeviceRow.model, DeviceRow.firmware)
    classes: dict[tuple[str, str, str], dict[str, Any]] = {}
    counts = base.add_columns(func.count().label("n"),
                              func.sum(case((latest.c.mid.is_(None), 1), else_=0)).label("missing")).group_by(*group)
    for row in s.execute(counts):
        classes[(row.vendor, row.model, row.firmware)] = {
            "vendor": row.vendor, "model": row.model, "firmware": row.firmware, "count": int(row.n),
            "no_snapshot": int(row.missing or 0), "lines": []}
    for path, after, secret in changes:
        dist: dict[tuple[str, str, str], Counter[str]] = {}
        if secret:
            for key, cls in classes.items():
                dist[key] = Counter({"********": cls["count"]})
        else:
            value = json_value(s, ParameterSnapshotRow.params, path).label("v")
            q = base.add_columns(value, func.count().label("n")).group_by(*group, value)
            for row in s.execute(q):
                dist.setdefault((row.vendor, row.model, row.firmware), Counter())[repr(row.v)] += int(row.n)
        for key, cls in classes.items():
            d = dist.get(key, Counter())
            unchanged = 0 if secret else sum(n for v, n in d.items() if _same(v, after))
            cls["lines"].append({"path": path, "after": "********" if secret else after,
                                 "before": dict(d.most_common(5)), "unchanged": unchanged,
                                 "secret": secret, "restorable": not secret})
    return list(classes.values())


def _same(text_repr: str, target: Any) -> bool:
    """Compare a grouped SQL value (its repr) with a target value, across JSON spellings."""
    raw = text_repr.strip("'\"")
    if isinstance(target, bool):
        return parse_bool(raw) is target
    return raw == str(target)


def absent_devices(s: Session, pid: str, limit: int = 10000) -> list[str]:
    stale = utcnow() - STALE_AFTER
    q = (select(DeviceRow.id).join(ProposalDeviceRow, ProposalDeviceRow.device_id == DeviceRow.id)
         .where(ProposalDeviceRow.proposal_id == pid,
                and_(True, (DeviceRow.last_seen.is_(None)) | (DeviceRow.last_seen < stale)))
         .limit(limit))
    return list(s.scalars(q))


@dataclass
class FleetOutcome:
    decision: Any
    would_deny: list[str]
    classes: int
    stored_input: dict[str, Any]


def decide_by_class(s: Session, p: Any, engine: Any, author: Any, preview: dict[str, Any],
                    now: datetime | None = None) -> FleetOutcome:
    """Decide a fleet proposal: classes from SQL, one evaluation per class, merged fail-closed.

    Devices whose facts are not the stored ones — the preview's live sample (live presence and
    radio state) and devices another live proposal also targets (per-device precedence context) —
    go through ``policies.classes.decide_fleet`` with their own facts instead.
    """
    from core import compat
    from core import policy_input as pinput
    from core.store import repo
    from policies.classes import Buckets, _engine_data, decide_fleet, merge_decisions

    buckets = Buckets.from_data(_engine_data(engine))
    base = pinput.build(s, p, [], author, preview, now=now)
    base["proposal"]["target_count"] = len(p.targets)
    overlap = {d for _, shared in repo.live_overlapping(s, p.id, len(p.targets)) for d in shared}
    individual = overlap | {d["device_id"] for d in preview.get("devices", [])}
    classes = device_classes(s, p.id, max_reboots_24h=buckets.max_reboots_24h,
                             failed_steps=buckets.failed_change_steps, exclude=individual)
    rep_ids = [c.representative for c in classes]
    data = compat.policy_data(engine)
    workflows = compat.workflows_for(p.changes, p.operations, data)
    rep_rows = repo.target_rows_for(s, rep_ids)
    # Evidence status is per (vendor, model, firmware), part of the class key: one per class.
    reps = {f["id"]: f for f in pinput.devices_facts(s, rep_rows, {},
                                                      compat.statuses_for(s, rep_rows, workflows, data))}
    ids = sorted(individual)
    rows = repo.target_rows_for(s, ids) if ids else []
    facts = pinput.devices_facts(s, rows, preview, compat.statuses_for(s, rows, workflows, data)) if ids else []
    present = sum(c.count for c in classes if c.key[6]) + sum(1 for f in facts if f["present"])
    base["proposal"]["preview"] = {**base["proposal"]["preview"], "devices_total": len(p.targets),
                                   "devices_present": present}
    detailed = getattr(engine, "decide_detailed", None)
    decisions, woulds, sample = [], [], []
    for c in classes:
        rep = {**reps[c.representative], "present": c.key[6]}  # presence as SQL computed it for the class
        doc = {**base, "proposal": {**base["proposal"], "targets": [rep["id"]]}, "devices": [rep]}
        if detailed is not None:
            d, w = detailed(doc)
        else:
            d, w = engine.decide(doc), []
        decisions.append(d)
        woulds.append(list(w))
        sample.append({**rep, "class_size": c.count})
    n_classes = len(classes)
    if ids:
        fleet = decide_fleet(engine, {**base, "proposal": {**base["proposal"], "targets": ids}, "devices": facts})
        decisions += [c.decision for c in fleet.classes]
        woulds += [c.would_deny for c in fleet.classes]
        n_classes += len(fleet.classes)
    merged, would_deny = merge_decisions(decisions, woulds)
    stored = {**base, "proposal": {**base["proposal"], "targets": p.targets[:50]},
              "devices": sample[:200], "classes": n_classes, "devices_omitted": len(p.targets)}
    return FleetOutcome(merged, would_deny, n_classes, stored)
