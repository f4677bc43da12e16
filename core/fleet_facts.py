"""Fleet-scale facts computed by the database: device classes and per-class preview summaries.

For a proposal over tens of thousands to millions of devices, building one Python dict per device
dominates the gate. The equivalence key that ``policies.classes`` uses (model, firmware, region,
root, protocol, presence, radio band/auto signature, reboot-limit flag, failed-changes bucket,
overlap with other live proposals) is computed here in one pass over the targets, their device
row, their ``snapshot_heads`` row (newest full snapshot and its radio values, kept by triggers:
migration 0020) and their recent history, returning a count and a representative per class
(counted by ``core.fleet_group``: in Python on SQLite, by the database on PostgreSQL).
Policy is then evaluated once per class on the representative's full facts, exactly as
``policies.classes.decide_fleet`` does in Python (a test checks that the two agree).

Devices that overlap another live proposal are few and carry a per-device context signature, so
they are left to the Python path.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from core import fleet_group, fleet_pass, preview_sample
from core.kernel.jsontypes import JsonObject
from core.kernel.models import Actor, Decision, Proposal, utcnow
from core.kernel.values import parse_bool
from core.snapshot_values import decoded_from_key, split_row, value_columns
from core.snapshot_values import json_value as json_value  # its readers import it from here
from core.store.schema import (
    DeviceRow,
    ParameterSnapshotRow,
    ProposalDeviceRow,
    SnapshotHeadRow,
)

if TYPE_CHECKING:
    from policies.base import PolicyEngine

RADIOS = (1, 2, 3)
# What ``snapshot_heads.radios`` holds, in this order (migration 0020 spells the same list).
RADIO_PATHS = tuple(f"Device.WiFi.Radio.{i}.{leaf}" for i in RADIOS for leaf in ("OperatingFrequencyBand",
                                                                                 "AutoChannelEnable"))
INVALID = "invalid"
STALE_AFTER = fleet_pass.STALE_AFTER


def _truthy(v: Any) -> bool | None:
    if v is None:
        return None
    return parse_bool(v) is True


@dataclass(frozen=True)
class DeviceClass:
    key: tuple[Any, ...]
    count: int
    representative: str


def unsnapshotted(s: Session, pid: str, limit: int = 10000) -> list[str]:
    """Targets of ``pid`` with no full stored snapshot (no ``snapshot_heads`` row): a snapshot
    preview knows nothing of their current values unless its live sample read them."""
    q = (select(ProposalDeviceRow.device_id)
         .outerjoin(SnapshotHeadRow, SnapshotHeadRow.device_id == ProposalDeviceRow.device_id)
         .where(ProposalDeviceRow.proposal_id == pid, SnapshotHeadRow.snapshot_id.is_(None))
         .order_by(ProposalDeviceRow.device_id).limit(limit))
    return list(s.scalars(q))


def radios_of(raw: str | None) -> tuple[Any, ...]:
    """The six values of a ``snapshot_heads.radios`` array (``RADIO_PATHS`` order), as the single-path
    extraction of each dialect gives them (SQLite: a JSON boolean as 1/0). A head the database
    could not parse (``invalid``) raises: the decision fails, and so denies."""
    if raw is None:
        return (None,) * len(RADIO_PATHS)
    if raw == INVALID:
        raise ValueError("a stored snapshot is not valid JSON; its device's radios are unknown")
    return tuple(int(v) if isinstance(v, bool) else v for v in orjson.loads(raw))


def device_classes(s: Session, pid: str, *, max_reboots_24h: int, failed_steps: tuple[float, ...],
                   exclude: set[str] | None = None, targets: int | None = None) -> list[DeviceClass]:
    """Classes of the targets of ``pid`` keyed like ``policies.classes.device_key`` (without the
    context signature: ``exclude`` the devices that have one).

    One pass over the targets joined to their device row and ``snapshot_heads`` (radio facts
    stored when the snapshot was written): :func:`core.fleet_pass.grouped_rows`. Reboots and failed
    changes are counted per device and bucketed here, so SQL keys carry raw counts (the few devices
    with history form their own keys, merged after bucketing). ``targets``: how many ``pid`` has, if
    the caller knows (a large pass may then use every core: ``core.store.grouping.sqlite_groups``)."""
    rows = fleet_pass.grouped_rows(s, pid, targets=targets, exclude=exclude or ())
    return merged_classes([(key[:fleet_pass.NO_HEAD], n, rep) for key, n, rep in rows], max_reboots_24h, failed_steps)


def merged_classes(rows: list[tuple[tuple[Any, ...], int, str]], max_reboots_24h: int,
                   failed_steps: tuple[float, ...]) -> list[DeviceClass]:
    """The decision's classes from grouped rows keyed (vendor, model, firmware, region, root, protocol,
    present, boots, failed changes, stored radios): history bucketed at policy's thresholds, radios as
    the rules read them, keys that then agree merged (count summed, smallest id kept)."""
    merged: dict[tuple[Any, ...], list[Any]] = {}
    for (vendor, model, firmware, region, root, protocol, up, n_boots, n_fails, raw), n, rep in rows:
        vals = radios_of(raw)
        radios = tuple((i, vals[2 * k], _truthy(vals[2 * k + 1])) for k, i in enumerate(RADIOS)
                       if vals[2 * k] is not None)
        failed = int(n_fails or 0)
        key = (vendor, model, firmware, region, root, protocol, bool(up), int(n_boots or 0) >= max_reboots_24h,
               sum(1 for step in failed_steps if failed >= step), radios)
        cur = merged.get(key)
        if cur is None:
            merged[key] = [n, rep]
        else:  # history counts in one bucket, boolean spellings (1/'true') that SQL keyed apart
            cur[0] += n
            cur[1] = min(cur[1], rep)
    return [DeviceClass(k, n, rep) for k, (n, rep) in merged.items()]


@dataclass
class PreviewFacts:
    """What a fleet preview learns from stored snapshots in one pass over the targets."""

    classes: list[dict[str, Any]]
    missing: int  # targets without a full stored snapshot
    stale: int  # targets not seen within STALE_AFTER (their ids: absent_devices)


def preview_facts(s: Session, pid: str, changes: list[tuple[str, Any, bool]], targets: int | None = None, *,
                  target_ids: Sequence[str] | None = None, exact_up_to: int | None = None,
                  proposal_hash: str | None = None, **sampling: int) -> PreviewFacts:
    """Per (vendor, model, firmware): device count, devices without a snapshot, and for each changed
    path the distribution of current values (top five) — secrets counted, never read — plus how
    many targets have no snapshot and how many are stale.

    One pass over the targets, the snapshot their ``snapshot_heads`` row names and the changed
    paths' values (SQLite extracts every path from one parse of the snapshot): the per-path queries, the count
    query and the searches for unsnapshotted and absent devices each walked every target again
    (a million-device preview took ~45 s on SQLite).

    ``target_ids`` (the frozen target list) longer than ``exact_up_to``: the pass reads no
    document, and the values come from a random sample of the targets (:mod:`core.preview_sample`,
    ``sampling`` its sizes); each class then says how many targets its counts hold
    (``values_read``) and ``sampled``. Counts, missing and stale stay exact either way.

    ``proposal_hash`` (with ``target_ids`` above ``core.fleet_pass.FLEET_MIN``): a pass that reads no
    document is the gate's shared one (:mod:`core.fleet_pass`), recalled or taken and kept."""
    readable = [path for path, _, secret in changes if not secret]
    exact_up_to = preview_sample.VALUES_EXACT_UP_TO if exact_up_to is None else exact_up_to
    sample = bool(readable) and target_ids is not None and len(target_ids) > exact_up_to
    shared = (proposal_hash is not None and target_ids is not None and len(target_ids) > fleet_pass.FLEET_MIN
              and (sample or not readable))
    if shared and target_ids is not None and proposal_hash is not None:
        fp = fleet_pass.take(s, pid, proposal_hash, target_ids)
        rows: list[tuple[Any, Any, Any, list[Any], int, int, int]] = [
            (vendor, model, firmware, [], n, missing, stale)
            for vendor, model, firmware, n, missing, stale in fleet_pass.model_counts(fp)]
    else:
        rows = _class_pass(s, pid, [] if sample else readable, targets)
    if sample and target_ids is not None:
        sizes: dict[preview_sample.ClassKey, int] = {}
        for vendor, model, firmware, _, n, _, _ in rows:
            sizes[(vendor, model, firmware)] = sizes.get((vendor, model, firmware), 0) + n
        values = preview_sample.sampled_values(s, pid, target_ids, readable, sizes, **sampling)
    else:
        values = preview_sample.SampledValues()
        for vendor, model, firmware, vals, n, _, _ in rows:
            key = (vendor, model, firmware)
            values.counts.setdefault(key, Counter())[tuple(repr(v) for v in vals)] += n
            values.read[key] = values.read.get(key, 0) + n
    classes: dict[tuple[str, str, str], dict[str, Any]] = {}
    missing = stale_n = 0
    for vendor, model, firmware, _, n, row_missing, row_stale in rows:
        key = (vendor, model, firmware)
        cls = classes.get(key)
        if cls is None:
            cls = classes[key] = {"vendor": key[0], "model": key[1], "firmware": key[2], "count": 0,
                                  "no_snapshot": 0, "lines": []}
        cls["count"] += n
        cls["no_snapshot"] += row_missing
        missing += row_missing
        stale_n += row_stale
    for key, cls in classes.items():
        read = values.read.get(key, 0) if readable else cls["count"]
        if sample:
            cls["values_read"] = read
            cls["sampled"] = read < cls["count"]
        dist: list[Counter[str]] = [Counter() for _ in readable]
        for combo, n in values.counts.get(key, Counter()).items():
            for i, v in enumerate(combo):
                dist[i][v] += n
        readable_i = 0
        for path, after, secret in changes:
            if secret:
                d: Counter[str] = Counter({"********": cls["count"]})
            else:
                d = dist[readable_i]
                readable_i += 1
            unchanged = 0 if secret else sum(n for v, n in d.items() if _same(v, after))
            cls["lines"].append({"path": path, "after": "********" if secret else after,
                                 "before": dict(d.most_common(5)), "unchanged": unchanged,
                                 "secret": secret, "restorable": not secret})
    return PreviewFacts(list(classes.values()), missing, stale_n)


def _class_pass(s: Session, pid: str, readable: list[str], targets: int | None
                ) -> list[tuple[Any, Any, Any, list[Any], int, int, int]]:
    """One pass over ``pid``'s targets: (vendor, model, firmware, values of ``readable``, count,
    of them without a snapshot, of them stale) per distinct combination. With no ``readable``
    path it joins no snapshot document."""
    values = value_columns(s, ParameterSnapshotRow.params, readable)
    stale_at = utcnow() - STALE_AFTER
    stale = case(((DeviceRow.last_seen.is_(None)) | (DeviceRow.last_seen < stale_at), 1), else_=0)
    group = [DeviceRow.vendor, DeviceRow.model, DeviceRow.firmware, *values]
    no_head = case((SnapshotHeadRow.snapshot_id.is_(None), 1), else_=0)
    joined = (select().select_from(ProposalDeviceRow)
              .join(DeviceRow, DeviceRow.id == ProposalDeviceRow.device_id)
              .outerjoin(SnapshotHeadRow, SnapshotHeadRow.device_id == DeviceRow.id)
              .where(ProposalDeviceRow.proposal_id == pid))
    if readable:
        joined = joined.outerjoin(ParameterSnapshotRow, ParameterSnapshotRow.id == SnapshotHeadRow.snapshot_id)
    rows: list[tuple[Any, Any, Any, list[Any], int, int, int]] = []  # vendor, model, fw, values, n, missing, stale
    if s.get_bind().dialect.name == "sqlite":  # one key per target, counted by core.fleet_group
        split = fleet_group.TargetSplit(pid, targets) if targets is not None else None
        for k, n in fleet_group.count_keys(s, joined.add_columns(fleet_group.json_key(*group, no_head, stale)), split):
            rows.append((k[0], k[1], k[2], decoded_from_key(k[3:3 + len(values)], len(readable)), n,
                         n if k[-2] else 0, n if k[-1] else 0))
    else:
        q = (joined.add_columns(*group, func.count(), func.sum(no_head), func.sum(stale))
             .group_by(*[g.element if hasattr(g, "element") else g for g in group]))
        with fleet_group.hash_grouping(s):
            result = s.execute(q).all()
        for row in result:
            rows.append((row[0], row[1], row[2], split_row([row[3 + j] for j in range(len(values))], len(readable)),
                         int(row[-3]), int(row[-2] or 0), int(row[-1] or 0)))
    return rows


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
    decision: Decision
    would_deny: list[str]
    classes: int
    stored_input: JsonObject


def decide_by_class(s: Session, p: Proposal, engine: PolicyEngine, author: Actor, preview: dict[str, Any],
                    now: datetime | None = None) -> FleetOutcome:
    """Decide a fleet proposal: classes from SQL, one evaluation per class, merged fail-closed.

    Devices whose facts are not the stored ones — the preview's live sample (live presence and
    radio state) and devices another live proposal also targets (per-device precedence context) —
    go through ``policies.classes.decide_fleet`` with their own facts instead.
    """
    from core import compat
    from core import policy_input as pinput
    from core.store import repo
    from policies.classes import buckets_for, decide_fleet, merge_decisions

    buckets = buckets_for(engine)
    base = pinput.build(s, p, [], author, preview, now=now)
    base["proposal"]["target_count"] = len(p.targets)
    overlap = {d for _, shared in repo.live_overlapping(s, p.id, len(p.targets)) for d in shared}
    individual = overlap | {d["device_id"] for d in preview.get("devices", [])}
    # The gate's pass when this process took one moments ago (core.fleet_pass), else a pass of its own.
    fp = fleet_pass.recall(s, p.id, p.hash)
    shared = fleet_pass.decision_rows(fp, individual) if fp is not None else None
    read_at = fp.taken_at if fp is not None and shared is not None else utcnow()
    classes = (merged_classes(shared, buckets.max_reboots_24h, buckets.failed_change_steps) if shared is not None
               else device_classes(s, p.id, max_reboots_24h=buckets.max_reboots_24h, exclude=individual,
                                   failed_steps=buckets.failed_change_steps, targets=len(p.targets)))
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
              "devices": sample[:200], "classes": n_classes, "devices_omitted": len(p.targets),
              "facts_read_at": read_at.isoformat()}
    return FleetOutcome(merged, would_deny, n_classes, stored)
