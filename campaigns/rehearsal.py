"""Rehearse a campaign before ring 1: replay its change on a twin copy of every target.

Why: the lifecycle's gates validate a campaign per device class (one device's data model stands
for its model and firmware), preview a fleet from stored snapshots with a live sample, and decide
per class. Each is right for what it checks, and none says, before the first write, *which*
targets will fail and why. A rehearsal does, offline, for every target: it copies the device's
stored tree (its latest full snapshot: the values it lists as supported, what it has) and its
class's discovered data model, and replays the change on that copy the way the device would
take it — would each write validate (the data model), land (the device's own lists, its own
tree) and verify (read back) — then says what a rollback could and could not restore, how long
the rings would take at the campaign's rate, and which targets are offline, in a closed change
window or behind a degraded upstream. Devices are grouped by the firmware their own tree
reports, so a device the inventory calls 7.4 that runs 7.2 is rehearsed as 7.2 — and said.

What a twin cannot know is said, not guessed: faults of the device itself (a firmware bug, a value
it takes and later reverts), whether it answers at run time, whether a real firmware install
succeeds or a rebooted device comes back.

Fresh trees: a stored tree is as old as its snapshot. A target whose tree is missing, older than
``MAX_TREE_AGE_H`` or silent about a path the change touches has those paths (with the lists that
say what they may take, and the firmware) read from the device through the read-only executor path
before the replay; one that cannot be read is *not rehearsed*, saying why. The report gives the
trees' ages. A rehearsal is valid for the targets as it saw them: each target's model, firmware
(inventory and tree) and presence are fingerprinted (``state``, ``state_hash``), and a start after
any of them changed is refused naming the targets (:func:`changed_targets`). From
``JOB_MIN_TARGETS`` targets it runs as a queued job (``Orchestrator.run_rehearsal``). Ring times come
from the batches measured here, or the simulator's measured rate — never an assumed figure for
real devices.

The result is stored with the campaign (``plan["rehearsal"]``, bound to the proposal's hash) and
shown to approvers; policy may require a clean rehearsal before a large campaign starts
(``obligation.rehearsal``, enforced by :meth:`Campaigns.start`).
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaigns import obligations
from campaigns import rate as ratelimit
from campaigns.schema import CampaignBatchRow, CampaignDeviceRow, CampaignRow
from campaigns.spec import CampaignSpec, parse_spec
from core.capabilities import CapabilitySet, for_devices
from core.kernel.clock import elapsed_now
from core.kernel.jsontypes import Json
from core.kernel.models import Change, Device, Proposal, utcnow
from core.kernel.secrets import is_secret_path
from core.services import CoreServices
from core.store import repo
from core.store.schema import DEGRADED_EVENT_KINDS, DeviceEventRow, DeviceRow
from core.topology import OUTAGE_DEGRADED_SHARE, OUTAGE_MIN_SIBLINGS
from core.validation import listed_by, validate_changes

KEEP_IDS = 2000  # device ids kept per list in the stored report (counts are always exact)
SIM_DEVICE_S = 0.0055  # a simulated device in a batch, as `gateward bench campaign_run` measured (docs/performance.md)
MAX_TREE_AGE_H = 24.0  # a stored tree older than this is refreshed from the device, or not trusted
REFRESH_MAX = 2000  # targets a rehearsal in a request reads live (the paths the change touches) when old
JOB_MIN_TARGETS = 10_000  # from this many targets a rehearsal runs as a queued job, not inside a request
SOFTWARE = "Device.DeviceInfo.SoftwareVersion"
NOT_RESTORED = {"download": "a firmware install is not undone by a rollback: the old image must be sent again",
                "factory_reset": "a factory reset wipes what the device held; a rollback cannot put it back"}
CANNOT_KNOW = {"download": "whether a real firmware install succeeds on each device (the image, the flash, the "
                           "boot) — the twin only checks the device class may take the image",
               "reboot": "whether each device comes back after the reboot",
               "factory_reset": "whether each device comes back and re-provisions after the reset"}


def _value(raw: Any) -> Any:
    return raw.get("value") if isinstance(raw, dict) else getattr(raw, "value", raw)


def _covers(tree: Mapping[str, Json], path: str) -> bool:
    """Does the stored tree hold the object ``path`` belongs to (so its absence means something)?"""
    parent = path.rsplit(".", 1)[0] + "."
    return any(k.startswith(parent) for k in tree)


def replay(device: Device, changes: Sequence[Change], tree: Mapping[str, Json] | None,
           caps: CapabilitySet | None) -> tuple[str, str, str]:
    """One device: ``(stage, outcome, reason)`` — stage validate|land|verify|none, outcome
    ok|fail|unknown|unverifiable."""
    if not changes:
        return "none", "ok", ""
    if tree is None:
        return "none", "unknown", "no stored tree: the device was never snapshotted, so nothing can be replayed"
    for issue in validate_changes(device, changes, tree, caps):
        stage = "land" if issue.rule == "device_listed" else "validate"
        why = "the device would refuse it" if stage == "land" else "it does not validate"
        return stage, "fail", f"{why}: {issue.message}"
    copy = dict(tree)
    for c in changes:
        if c.path not in copy and not is_secret_path(c.path):
            if _covers(copy, c.path):
                return "land", "fail", f"the device would refuse it: its tree has no {c.path}"
            return "land", "unknown", f"the stored tree does not cover {c.path.rsplit('.', 1)[0]}."
        copy[c.path] = {"value": c.value}
    secrets = [c.path for c in changes if is_secret_path(c.path)]
    if secrets:
        return "verify", "unverifiable", f"{', '.join(secrets)} cannot be read back (secret): verified by the " \
                                         "device's answer only"
    return "verify", "ok", ""


def _firmware_of(device: Device, tree: Mapping[str, Json] | None) -> str:
    reported = _value(tree.get(SOFTWARE)) if tree else None
    return str(reported) if reported else device.firmware


def _drift(devices: Mapping[str, Device], trees: Mapping[str, Mapping[str, Json]], changes: Sequence[Change]
           ) -> list[dict[str, Any]]:
    """Per changed path whose firmwares in the slice disagree: what each firmware has (absent,
    or the values it lists as supported)."""
    out = []
    for c in changes:
        source = listed_by(c.path)
        per: dict[str, Counter[str]] = defaultdict(Counter)
        for d_id, d in devices.items():
            tree = trees.get(d_id)
            if tree is None:
                continue
            fw = f"{d.model} {_firmware_of(d, tree)}"
            if c.path not in tree and not is_secret_path(c.path):
                per[fw]["absent"] += 1
            elif source is not None and source in tree:
                per[fw][f"{source.rsplit('.', 1)[-1]}: {_value(tree[source])}"] += 1
            else:
                per[fw]["present"] += 1
        variants = {k for counts in per.values() for k in counts}
        if len(variants) > 1:
            out.append({"path": c.path, "firmwares": {fw: dict(v) for fw, v in sorted(per.items())}})
    return out


def _degraded_upstreams(s: Session, upstreams: set[str], now: datetime) -> dict[str, float]:
    """Upstreams (PON port, CMTS) where at least half the gateways reported the WAN down or
    degraded in the last day (``core.topology``'s rule): upstream → degraded share."""
    if not upstreams:
        return {}
    since = now - timedelta(hours=24)
    ups = sorted(upstreams)
    totals: dict[str, int] = {}
    bad: dict[str, int] = {}
    for i in range(0, len(ups), 500):
        part = ups[i:i + 500]
        totals.update({str(u): int(n) for u, n in s.execute(select(DeviceRow.upstream_id, func.count()).where(
            DeviceRow.upstream_id.in_(part)).group_by(DeviceRow.upstream_id))})
        bad.update({str(u): int(n) for u, n in s.execute(
            select(DeviceRow.upstream_id, func.count(func.distinct(DeviceEventRow.device_id)))
            .join(DeviceEventRow, DeviceEventRow.device_id == DeviceRow.id)
            .where(DeviceRow.upstream_id.in_(part), DeviceEventRow.kind.in_(DEGRADED_EVENT_KINDS),
                   DeviceEventRow.ts >= since).group_by(DeviceRow.upstream_id))})
    return {u: bad.get(u, 0) / n for u, n in totals.items()
            if n - 1 >= OUTAGE_MIN_SIBLINGS and bad.get(u, 0) / n >= OUTAGE_DEGRADED_SHARE}


def _device_seconds(s: Session, adapters: Counter[str]) -> tuple[float | None, str]:
    """Seconds a device takes in a batch here: the median over the last 200 finished batches;
    before any, the rate measured for the simulator (when every target is simulated) — never a
    guess for real devices, whose time is said to be unknown until a batch has run."""
    rows = s.execute(select(CampaignBatchRow.duration_s, CampaignBatchRow.device_ids).where(
        CampaignBatchRow.state == "done", CampaignBatchRow.duration_s.is_not(None))
        .order_by(CampaignBatchRow.finished_at.desc()).limit(200)).all()
    per = [float(d) / len(ids) for d, ids in rows if ids]
    if per:
        return statistics.median(per), f"the median of the last {len(per)} batches run here"
    if set(adapters) <= {"sim"}:
        return SIM_DEVICE_S, (f"no batch has run here yet: {SIM_DEVICE_S * 1000:g} ms a simulated device, as "
                              "`gateward bench campaign_run` measured")
    return None, "no batch has run here yet: the devices' own time is unknown (only the waits are counted)"


def _tree_ages(s: Session, ids: Sequence[str], now: datetime) -> dict[str, float]:
    """Hours since each device's newest full stored tree was taken."""
    from core.store.schema import ParameterSnapshotRow, SnapshotHeadRow

    out: dict[str, float] = {}
    for i in range(0, len(ids), 500):
        for dev, taken in s.execute(select(SnapshotHeadRow.device_id, ParameterSnapshotRow.taken_at).join(
                ParameterSnapshotRow, ParameterSnapshotRow.id == SnapshotHeadRow.snapshot_id)
                .where(SnapshotHeadRow.device_id.in_(list(ids[i:i + 500])))):
            out[str(dev)] = max(0.0, (now - taken).total_seconds() / 3600.0)
    return out


def _paths_to_read(changes: Sequence[Change]) -> list[str]:
    """What a rehearsal reads live when a tree is old: each changed path, the list that says what
    it may take, and the firmware."""
    out = {SOFTWARE}
    for c in changes:
        if not is_secret_path(c.path):
            out.add(c.path)
        if (src := listed_by(c.path)) is not None:
            out.add(src)
    return sorted(out)


def _refresh(rt: CoreServices, devices: Mapping[str, Device], stale: Sequence[str], changes: Sequence[Change],
             trees: dict[str, dict[str, Any]], online: Mapping[str, bool], limit: int) -> list[str]:
    """Read the paths the change touches from each stale target that is online (the read-only
    executor path: nothing is written, nothing stored) and lay them over its stored tree, at most
    ``limit`` targets — counted among the online ones only: an offline target is never read, and
    counting it left online targets unread. Returns the devices refreshed."""
    paths = _paths_to_read(changes)
    done = []
    for d_id in _readable(stale, online)[:limit]:
        d = devices[d_id]
        got: dict[str, Any] = {}
        for path in paths:  # one at a time: a path the device lacks must not hide the others
            try:
                got.update(rt.router.reader(d).read(d, [path]))
            except Exception:  # absent on this device, or it stopped answering: what was read stays
                continue
        if got:
            trees[d_id] = {**(trees.get(d_id) or {}), **{k: {"value": _value(v)} for k, v in got.items()}}
            done.append(d_id)
    return done


def _readable(stale: Sequence[str], online: Mapping[str, bool]) -> list[str]:
    """The stale targets a live read may reach (online), in order."""
    return [d for d in stale if online.get(d)]


def _presence(rt: CoreServices, devices: Mapping[str, Device]) -> dict[str, bool]:
    out = {}
    for d in devices.values():
        try:
            out[d.id] = bool(rt.router.reader(d).presence(d).online)
        except Exception:  # an adapter that cannot say is as good as offline for a rehearsal
            out[d.id] = False
    return out


def fingerprint(d: Device, tree_firmware: str, online: bool) -> str:
    """What a rehearsal saw of one target, in 10 characters: its model, the firmware the inventory
    and its own tree say, and whether it was present. A start is refused when it changed."""
    import hashlib

    return hashlib.sha256(f"{d.model}|{d.firmware}|{tree_firmware}|{int(online)}".encode()).hexdigest()[:10]


def state_hash(state: Mapping[str, str]) -> str:
    import hashlib

    return hashlib.sha256("\n".join(f"{k}={v}" for k, v in sorted(state.items())).encode()).hexdigest()


def current_state(rt: CoreServices, cid: str) -> dict[str, str]:
    """Each target's fingerprint as it is now (the same reads a rehearsal makes)."""
    with rt.store.read() as s:
        ids = sorted(s.scalars(select(CampaignDeviceRow.device_id).where(CampaignDeviceRow.campaign_id == cid)))
        devices = repo.get_devices(s, ids)
        trees = repo.latest_snapshots(s, ids)
    online = _presence(rt, devices)
    return {d_id: fingerprint(d, _firmware_of(d, trees.get(d_id)), online[d_id]) for d_id, d in devices.items()}


def changed_targets(rt: CoreServices, c: CampaignRow) -> list[str]:
    """The targets whose state (model, firmware, presence) differs from what the stored rehearsal
    saw — what a start after a change is refused for (``Campaigns._check_rehearsal``)."""
    r = stored(c)
    seen = (r or {}).get("state")
    if not isinstance(seen, dict):
        return []
    now = current_state(rt, c.id)
    return sorted(d for d in set(now) | set(seen) if now.get(d) != seen.get(d))


def timing(spec: CampaignSpec, sizes: Sequence[int], device_s: float | None, offline_by_ring: Mapping[int, int]
           ) -> list[dict[str, Any]]:
    """Each ring at the campaign's rate: batches grow by ``rate.factor`` up to the caps, ``window``
    of them at once; then the sweeps for unreached devices, the KPI observation and the promotion."""
    out = []
    for ring, size in enumerate(sizes):
        lim = ratelimit.initial(spec.rate)
        left, seconds, batches = size, 0.0, 0
        while left > 0:
            wave = min(left, lim.batch_size * lim.window)
            seconds += min(lim.batch_size, wave) * (device_s or 0.0)
            batches += -(-wave // lim.batch_size)
            left -= wave
            for _ in range(lim.window):
                lim = ratelimit.after_batch(spec.rate, lim, failed=0)
        waits = []
        if offline_by_ring.get(ring) and spec.retry_unreached:
            seconds += spec.retry_unreached * spec.sweep_delay_s
            waits.append(f"{spec.retry_unreached} sweep(s) of {spec.sweep_delay_s:g} s for "
                         f"{offline_by_ring[ring]} offline device(s)")
        observe = spec.gate.observe_s if spec.gate.observe_s is not None else \
            max((k.window_h for k in spec.gate.kpis), default=0.0) * 3600
        if spec.gate.kpis and observe:
            seconds += observe
            waits.append(f"KPI observation {observe:g} s")
        last = ring == len(sizes) - 1
        if not last and spec.promotion.mode == "auto":
            seconds += spec.promotion.pause_s
        elif not last:
            waits.append("a person promotes the next ring")
        out.append({"ring": ring + 1, "devices": size, "batches": batches, "seconds": round(seconds, 1),
                    "waits": waits})
    return out


def _holds(tree: Mapping[str, Json], path: str) -> bool:
    """Whether a stored tree says anything about ``path``: has it, or covers its object."""
    return is_secret_path(path) or path in tree or _covers(tree, path)


@dataclass
class _Scene:
    """What the store says about a campaign's targets when its rehearsal starts (one read)."""

    spec: CampaignSpec
    proposal: Proposal
    placed: dict[str, int]
    devices: dict[str, Device]
    trees: dict[str, dict[str, Json]]
    ages: dict[str, float]
    caps: dict[str, CapabilitySet]
    degraded: dict[str, float]
    device_s: float | None
    device_s_from: str
    plan: dict[str, Any]


def _read_scene(rt: CoreServices, cid: str) -> _Scene:
    with rt.store.read() as s:
        c = s.get(CampaignRow, cid)
        if c is None:
            from core.kernel.errors import NotFound

            raise NotFound(f"unknown campaign {cid!r}; list campaigns with `gateward campaign status`")
        placed = dict(s.execute(select(CampaignDeviceRow.device_id, CampaignDeviceRow.ring).where(
            CampaignDeviceRow.campaign_id == cid)).all())
        devices = repo.get_devices(s, sorted(placed))
        wall = elapsed_now(rt.lifecycle.clock)
        adapters = Counter(str(a) for a in s.scalars(select(DeviceRow.adapter).where(DeviceRow.id.in_(
            sorted(devices)[:KEEP_IDS]))))
        device_s, device_s_from = _device_seconds(s, adapters)
        return _Scene(spec=parse_spec(c.spec), proposal=rt.lifecycle.get(c.proposal_id), placed=placed,
                      devices=devices, trees=repo.latest_snapshots(s, sorted(devices)),
                      ages=_tree_ages(s, sorted(devices), wall), caps=for_devices(s, devices.values()),
                      degraded=_degraded_upstreams(s, {d.upstream_id for d in devices.values() if d.upstream_id},
                                                   wall),
                      device_s=device_s, device_s_from=device_s_from, plan=dict(c.plan))


_STAGES = ("validate", "land", "verify")


def _stage_outcome(st: str, stage: str, outcome: str) -> str:
    """What one stage (validate, land, verify) of a replay that ended at ``stage`` with ``outcome`` says."""
    later = _STAGES.index(st) > _STAGES.index(stage) if stage in _STAGES else True
    if outcome == "fail":
        return "not reached" if later else "fail" if st == stage else "ok"
    if outcome == "unknown" and (stage == "none" or st == stage or later):
        return "unknown"
    return "unverifiable" if outcome == "unverifiable" and st == "verify" else "ok"


@dataclass
class _Tally:
    """Each target's replay, counted by device class (vendor, model, the firmware its tree reports)."""

    failures: dict[str, str] = field(default_factory=dict)
    unknown: dict[str, str] = field(default_factory=dict)
    classes: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    drifted: list[str] = field(default_factory=list)

    def add(self, d: Device, fw: str, stage: str, outcome: str, reason: str) -> None:
        k = self.classes.setdefault((d.vendor, d.model, fw), {
            "vendor": d.vendor, "model": d.model, "firmware": fw, "devices": 0, "validate": Counter(),
            "land": Counter(), "verify": Counter(), "reasons": Counter(), "sample": []})
        k["devices"] += 1
        for st in _STAGES:
            k[st][_stage_outcome(st, stage, outcome)] += 1
        if reason:
            k["reasons"][reason] += 1
        if outcome == "fail":
            self.failures[d.id] = reason
            if len(k["sample"]) < 5:
                k["sample"].append(d.id)
        elif outcome == "unknown":
            self.unknown[d.id] = reason

    def class_rows(self) -> list[dict[str, Any]]:
        return [{**k, **{st: dict(k[st]) for st in _STAGES},
                 "reasons": [{"reason": r, "devices": n} for r, n in k["reasons"].most_common(5)]}
                for k in sorted(self.classes.values(), key=lambda k: (k["model"], k["firmware"]))]


def _replay_all(sc: _Scene, too_old: Mapping[str, str]) -> _Tally:
    """Replay the change on every target's tree (or say why a target cannot be: ``too_old`` maps a
    target whose tree is too old to trust to why it was not read now)."""
    tally = _Tally()
    changes = sc.proposal.changes
    for d_id, d in sc.devices.items():
        tree = sc.trees.get(d_id)
        fw = _firmware_of(d, tree)
        if fw != d.firmware:
            tally.drifted.append(d_id)
        if d_id in too_old and changes:
            stage, outcome, reason = ("none", "unknown", f"its stored tree is older than the {MAX_TREE_AGE_H:g} h a "
                                      f"rehearsal trusts and it could not be read now: {too_old[d_id]}")
        else:
            stage, outcome, reason = replay(d, changes, tree, sc.caps.get(d_id))
        tally.add(d, fw, stage, outcome, reason)
    return tally


def _rollback(sc: _Scene, ops: Sequence[str]) -> dict[str, Any]:
    """What a rollback restores and what it cannot (a secret's unknown old value, an install, a reset)."""
    changes = sc.proposal.changes
    cannot = ([{"path": c.path, "restorable": False, "why": "a secret reads back empty, so its old value "
                "was never known: if the change is rolled back, the new value stays"}
               for c in changes if is_secret_path(c.path)]
              + [{"operation": op, "restorable": False, "why": NOT_RESTORED[op]} for op in ops if op in NOT_RESTORED])
    return {"restorable": [c.path for c in changes if not is_secret_path(c.path)], "not_restorable": cannot}


def _trees_part(sc: _Scene, refreshed: set[str], too_old: Collection[str]) -> dict[str, Any]:
    known = [sc.ages[d] for d in sc.devices if d in sc.ages]
    return {"max_age_h": MAX_TREE_AGE_H, "oldest_h": round(max(known), 2) if known else None,
            "median_h": round(statistics.median(known), 2) if known else None,
            "missing": len(sc.devices) - len(known), "refreshed": sorted(refreshed)[:KEEP_IDS],
            "too_old": sorted(too_old)[:KEEP_IDS]}


def _timing_part(sc: _Scene, offline: list[str]) -> dict[str, Any]:
    rings = timing(sc.spec, sc.plan["sizes"], sc.device_s, Counter(sc.placed[d] for d in offline))
    return {"device_s": round(sc.device_s, 4) if sc.device_s is not None else None,
            "device_s_from": sc.device_s_from, "rings": rings, "seconds": round(sum(r["seconds"] for r in rings), 1)}


def _closed_windows(sc: _Scene, now: datetime) -> tuple[list[str], list[dict[str, Any]]]:
    """The targets in a region whose change window is closed now, and each such window."""
    closed = obligations.from_plan(sc.plan).closed_windows(now)
    regions = {w.region for w in closed}
    rows = [{"region": w.region, "window": w.text(),
             "devices": sum(1 for d in sc.devices.values() if d.region == w.region)} for w in closed]
    return [d.id for d in sc.devices.values() if d.region in regions], rows


def _refresh_stale(rt: CoreServices, sc: _Scene, online: dict[str, bool], refresh_max: int
                   ) -> tuple[set[str], dict[str, str]]:
    """The targets whose trees were read live now, and those whose trees are too old to trust, each
    with why it was not read (offline, beyond the live-read budget, or no answer).

    A fresh tree silent about a changed path is stale too (read live when it can be), but one that
    could not be read is not *too old*: the replay says what its tree does not cover (it was once
    reported as older than 24 h)."""
    changes = sc.proposal.changes
    old = {d for d in sc.devices if sc.ages.get(d) is None or sc.ages[d] > MAX_TREE_AGE_H}
    stale = sorted(d for d in sc.devices if d in old or not all(_holds(sc.trees.get(d) or {}, c.path)
                                                                for c in changes))
    refreshed = set(_refresh(rt, sc.devices, stale, changes, sc.trees, online, refresh_max)) if changes else set()
    within = set(_readable(stale, online)[:refresh_max])
    return refreshed, {d: ("it is offline" if not online.get(d) else "it did not answer the read" if d in within
                           else f"it is beyond the {refresh_max} targets a rehearsal reads live")
                       for d in stale if d in old and d not in refreshed and d in sc.trees}


def rehearse(rt: CoreServices, cid: str, *, refresh_max: int = REFRESH_MAX) -> dict[str, Any]:
    """Rehearse campaign ``cid`` (no device is written; presence is what the adapters already
    know). Returns the report; :func:`store` records it."""
    now = rt.lifecycle.clock()
    sc = _read_scene(rt, cid)
    devices = sc.devices
    online = _presence(rt, devices)
    stored_fw = {d_id: _firmware_of(d, sc.trees.get(d_id)) for d_id, d in devices.items()}  # what a start re-reads
    refreshed, too_old = _refresh_stale(rt, sc, online, refresh_max)
    tally = _replay_all(sc, too_old)
    offline = [d_id for d_id, up in online.items() if not up]
    state = {d_id: fingerprint(d, stored_fw[d_id], online[d_id]) for d_id, d in devices.items()}
    in_closed, closed_windows = _closed_windows(sc, now)
    behind = [d.id for d in devices.values() if d.upstream_id in sc.degraded]
    ops = [o.command for o in sc.spec.all_operations()]
    before = stored_state(sc.plan)
    changed = sorted(d for d in state if before is not None and before.get(d) != state[d])
    return {
        "hash": sc.proposal.hash, "taken_at": utcnow().isoformat(), "devices": len(devices),
        "clean": not tally.failures and not tally.unknown,
        "counts": {"fail": len(tally.failures), "unknown": len(tally.unknown), "offline": len(offline),
                   "closed_window": len(in_closed), "degraded_upstream": len(behind),
                   "inventory_drift": len(tally.drifted), "changed_since_last": len(changed),
                   "refreshed": len(refreshed), "tree_too_old": len(too_old)},
        "state": state, "state_hash": state_hash(state),
        "changed_since_last": changed[:KEEP_IDS],
        "trees": _trees_part(sc, refreshed, too_old),
        "classes": tally.class_rows(),
        "failures": dict(sorted(tally.failures.items())[:KEEP_IDS]),
        "unknown": dict(sorted(tally.unknown.items())[:KEEP_IDS]),
        "offline": sorted(offline)[:KEEP_IDS],
        "closed_windows": closed_windows,
        "degraded_upstream": {"upstreams": {u: round(x, 2) for u, x in sorted(sc.degraded.items())},
                              "devices": sorted(behind)[:KEEP_IDS]},
        "inventory_drift": sorted(tally.drifted)[:KEEP_IDS],
        "drift": _drift(devices, sc.trees, sc.proposal.changes),
        "rollback": _rollback(sc, ops),
        "timing": _timing_part(sc, offline),
        "cannot_know": ["faults of a device itself (a firmware bug, a value it takes and later reverts) and "
                        "whether it answers at run time"] + [CANNOT_KNOW[op] for op in ops if op in CANNOT_KNOW],
    }


def note_job(rt: CoreServices, cid: str, job: int, by: str) -> None:
    """A rehearsal queued as a job: said on the campaign until its report is stored."""
    with rt.store.write() as s:
        c = s.get(CampaignRow, cid)
        if c is not None:
            c.plan = {**c.plan, "rehearsal_job": {"job": job, "by": by, "state": "queued",
                                                  "queued_at": utcnow().isoformat()}}


def store(rt: CoreServices, cid: str, report: dict[str, Any], by: str) -> None:
    """Keep the report with the campaign (the last one counts) and audit it."""
    from core import audit

    with rt.store.write() as s:
        c = s.get(CampaignRow, cid)
        if c is None:
            return
        plan = {k: v for k, v in c.plan.items() if k != "rehearsal_job"}
        c.plan = {**plan, "rehearsal": {**report, "by": by}}
        audit.append(s, actor=by, action="campaign.rehearsed", proposal_id=c.proposal_id, data={
            "campaign": cid, "clean": report["clean"], "counts": report["counts"], "hash": report["hash"]})


def stored(c: CampaignRow) -> dict[str, Any] | None:
    out = (c.plan or {}).get("rehearsal")
    return dict(out) if isinstance(out, dict) else None


def stored_state(plan: Mapping[str, Any]) -> dict[str, str] | None:
    r = plan.get("rehearsal")
    state = r.get("state") if isinstance(r, dict) else None
    return dict(state) if isinstance(state, dict) else None
