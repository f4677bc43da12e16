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
succeeds or a rebooted device comes back. A target with no stored tree is *not rehearsed*.

The result is stored with the campaign (``plan["rehearsal"]``, bound to the proposal's hash) and
shown to approvers; policy may require a clean rehearsal before a large campaign starts
(``obligation.rehearsal``, enforced by :meth:`Campaigns.start`).
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
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
from core.kernel.models import Change, Device, utcnow
from core.kernel.secrets import is_secret_path
from core.services import CoreServices
from core.store import repo
from core.store.schema import DeviceEventRow, DeviceRow
from core.topology import DEGRADED_EVENT_KINDS, OUTAGE_DEGRADED_SHARE, OUTAGE_MIN_SIBLINGS
from core.validation import listed_by, validate_changes

KEEP_IDS = 2000  # device ids kept per list in the stored report (counts are always exact)
DEFAULT_DEVICE_S = 0.5  # seconds a device takes in a batch when no batch has run here yet
SOFTWARE = "Device.DeviceInfo.SoftwareVersion"
NOT_RESTORED = {"download": "a firmware install is not undone by a rollback: the old image must be sent again",
                "factory_reset": "a factory reset wipes what the device held; a rollback cannot put it back"}
CANNOT_KNOW = {"download": "whether a real firmware install succeeds on each device (the image, the flash, the "
                           "boot) — the twin only checks the device class may take the image",
               "reboot": "whether each device comes back after the reboot",
               "factory_reset": "whether each device comes back and re-provisions after the reset"}


def _value(raw: Any) -> Any:
    return raw.get("value") if isinstance(raw, dict) else raw


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
            return "land", "unknown", f"the stored tree does not cover {c.path.rsplit('.', 2)[0]}."
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


def _device_seconds(s: Session) -> tuple[float, str]:
    """Seconds a device takes in a batch here: the median over the last 200 finished batches."""
    rows = s.execute(select(CampaignBatchRow.duration_s, CampaignBatchRow.device_ids).where(
        CampaignBatchRow.state == "done", CampaignBatchRow.duration_s.is_not(None))
        .order_by(CampaignBatchRow.finished_at.desc()).limit(200)).all()
    per = [float(d) / len(ids) for d, ids in rows if ids]
    if not per:
        return DEFAULT_DEVICE_S, f"no batch has run here yet: {DEFAULT_DEVICE_S:g} s a device assumed"
    return statistics.median(per), f"the median of the last {len(per)} batches run here"


def timing(spec: CampaignSpec, sizes: Sequence[int], device_s: float, offline_by_ring: Mapping[int, int]
           ) -> list[dict[str, Any]]:
    """Each ring at the campaign's rate: batches grow by ``rate.factor`` up to the caps, ``window``
    of them at once; then the sweeps for unreached devices, the KPI observation and the promotion."""
    out = []
    for ring, size in enumerate(sizes):
        lim = ratelimit.initial(spec.rate)
        left, seconds, batches = size, 0.0, 0
        while left > 0:
            wave = min(left, lim.batch_size * lim.window)
            seconds += min(lim.batch_size, wave) * device_s
            batches += -(-wave // lim.batch_size)
            left -= wave
            for _ in range(lim.window):
                lim = ratelimit.after_batch(spec.rate, lim, failed=0)
        waits = []
        if offline_by_ring.get(ring) and spec.retry_unreached:
            seconds += spec.retry_unreached * spec.sweep_delay_s
            waits.append(f"{spec.retry_unreached} sweep(s) of {spec.sweep_delay_s:g} s for "
                         f"{offline_by_ring[ring]} offline device(s)")
        if spec.gate.kpis and spec.gate.observe_s:
            seconds += spec.gate.observe_s
            waits.append(f"KPI observation {spec.gate.observe_s:g} s")
        last = ring == len(sizes) - 1
        if not last and spec.promotion.mode == "auto":
            seconds += spec.promotion.pause_s
        elif not last:
            waits.append("a person promotes the next ring")
        out.append({"ring": ring + 1, "devices": size, "batches": batches, "seconds": round(seconds, 1),
                    "waits": waits})
    return out


def rehearse(rt: CoreServices, cid: str) -> dict[str, Any]:
    """Rehearse campaign ``cid`` (no device is written; presence is what the adapters already
    know). Returns the report; :func:`store` records it."""
    now = rt.lifecycle.clock()
    with rt.store.read() as s:
        c = s.get(CampaignRow, cid)
        if c is None:
            from core.kernel.errors import NotFound

            raise NotFound(f"unknown campaign {cid!r}; list campaigns with `gateward campaign status`")
        spec = parse_spec(c.spec)
        p = rt.lifecycle.get(c.proposal_id)
        placed = dict(s.execute(select(CampaignDeviceRow.device_id, CampaignDeviceRow.ring).where(
            CampaignDeviceRow.campaign_id == cid)).all())
        devices = repo.get_devices(s, sorted(placed))
        trees = repo.latest_snapshots(s, sorted(devices)) if p.changes else {}
        caps = for_devices(s, devices.values())
        degraded = _degraded_upstreams(s, {d.upstream_id for d in devices.values() if d.upstream_id},
                                       elapsed_now(rt.lifecycle.clock))
        device_s, device_s_from = _device_seconds(s)
        plan = dict(c.plan)
    failures: dict[str, str] = {}
    unknown: dict[str, str] = {}
    classes: dict[tuple[str, str, str], dict[str, Any]] = {}
    drifted: list[str] = []
    for d_id, d in devices.items():
        tree = trees.get(d_id)
        fw = _firmware_of(d, tree)
        if fw != d.firmware:
            drifted.append(d_id)
        stage, outcome, reason = replay(d, p.changes, tree, caps.get(d_id))
        k = classes.setdefault((d.vendor, d.model, fw), {
            "vendor": d.vendor, "model": d.model, "firmware": fw, "devices": 0, "validate": Counter(),
            "land": Counter(), "verify": Counter(), "reasons": Counter(), "sample": []})
        k["devices"] += 1
        for st in ("validate", "land", "verify"):
            order = ("validate", "land", "verify")
            if outcome == "fail" and order.index(st) > order.index(stage):
                k[st]["not reached"] += 1
            elif outcome == "fail" and st == stage:
                k[st]["fail"] += 1
            elif outcome == "unknown" and (stage == "none" or st == stage or order.index(st) > order.index(stage)):
                k[st]["unknown"] += 1
            elif outcome == "unverifiable" and st == "verify":
                k[st]["unverifiable"] += 1
            else:
                k[st]["ok"] += 1
        if reason:
            k["reasons"][reason] += 1
        if outcome == "fail":
            failures[d_id] = reason
            if len(k["sample"]) < 5:
                k["sample"].append(d_id)
        elif outcome == "unknown":
            unknown[d_id] = reason
    offline: list[str] = []
    for d in devices.values():
        try:
            if not rt.router.reader(d).presence(d).online:
                offline.append(d.id)
        except Exception:  # an adapter that cannot say is as good as offline for a rehearsal
            offline.append(d.id)
    pol = obligations.from_plan(plan)
    closed = pol.closed_windows(now)
    closed_regions = {w.region for w in closed}
    in_closed = [d.id for d in devices.values() if d.region in closed_regions]
    behind = [d.id for d in devices.values() if d.upstream_id in degraded]
    ops = [o.command for o in spec.all_operations()]
    rollback = ([{"path": c.path, "restorable": False, "why": "a secret reads back empty, so its old value "
                  "was never known: if the change is rolled back, the new value stays"}
                 for c in p.changes if is_secret_path(c.path)]
                + [{"operation": op, "restorable": False, "why": NOT_RESTORED[op]} for op in ops if op in NOT_RESTORED])
    restorable = [c.path for c in p.changes if not is_secret_path(c.path)]
    offline_by_ring = Counter(placed[d] for d in offline)
    cannot_know = ["faults of a device itself (a firmware bug, a value it takes and later reverts) and whether "
                   "it answers at run time"] + [CANNOT_KNOW[op] for op in ops if op in CANNOT_KNOW]
    rings = timing(spec, plan["sizes"], device_s, offline_by_ring)
    report: dict[str, Any] = {
        "hash": p.hash, "taken_at": utcnow().isoformat(), "devices": len(devices),
        "clean": not failures and not unknown,
        "counts": {"fail": len(failures), "unknown": len(unknown), "offline": len(offline),
                   "closed_window": len(in_closed), "degraded_upstream": len(behind),
                   "inventory_drift": len(drifted)},
        "classes": [{**k, **{st: dict(k[st]) for st in ("validate", "land", "verify")},
                     "reasons": [{"reason": r, "devices": n} for r, n in k["reasons"].most_common(5)]}
                    for k in sorted(classes.values(), key=lambda k: (k["model"], k["firmware"]))],
        "failures": dict(sorted(failures.items())[:KEEP_IDS]),
        "unknown": dict(sorted(unknown.items())[:KEEP_IDS]),
        "offline": sorted(offline)[:KEEP_IDS],
        "closed_windows": [{"region": w.region, "window": w.text(),
                            "devices": sum(1 for d in devices.values() if d.region == w.region)} for w in closed],
        "degraded_upstream": {"upstreams": {u: round(x, 2) for u, x in sorted(degraded.items())},
                              "devices": sorted(behind)[:KEEP_IDS]},
        "inventory_drift": sorted(drifted)[:KEEP_IDS],
        "drift": _drift(devices, trees, p.changes),
        "rollback": {"restorable": restorable, "not_restorable": rollback},
        "timing": {"device_s": round(device_s, 4), "device_s_from": device_s_from, "rings": rings,
                   "seconds": round(sum(r["seconds"] for r in rings), 1)},
        "cannot_know": cannot_know,
    }
    return report


def store(rt: CoreServices, cid: str, report: dict[str, Any], by: str) -> None:
    """Keep the report with the campaign (the last one counts) and audit it."""
    from core import audit

    with rt.store.write() as s:
        c = s.get(CampaignRow, cid)
        if c is None:
            return
        c.plan = {**c.plan, "rehearsal": {**report, "by": by}}
        audit.append(s, actor=by, action="campaign.rehearsed", proposal_id=c.proposal_id, data={
            "campaign": cid, "clean": report["clean"], "counts": report["counts"], "hash": report["hash"]})


def stored(c: CampaignRow) -> dict[str, Any] | None:
    out = (c.plan or {}).get("rehearsal")
    return dict(out) if isinstance(out, dict) else None
