"""A ring's effect on each KPI the gate names, from the campaign's own records.

Who is compared with whom: the ring's devices whose change verified, each from the moment its
change was verified, against the control cohort recorded at creation (``campaign_devices.control``)
that no batch has touched yet, from the moment the ring started — the same calendar windows, so
the evening and the weekend cancel (``campaigns/effects.py``). The last ring changes the control
cohort itself: it is measured against its own hours before, shown and never failing the ring.

When: at the looks the gate plans over the ring's observation (``campaigns/looks.py``), each
reading the data up to its own time at the level left to it; how: ``campaigns/estimator.py``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaigns import looks
from campaigns.effects import device_changes, kpi_of, tolerance_of
from campaigns.estimator import estimate, estimate_before_after, tail
from campaigns.schema import CampaignBatchRow, CampaignDeviceRow, CampaignRow
from campaigns.spec import Gate, KpiGate
from core.kernel.jsontypes import JsonObject
from core.kernel.models import ExecutionStatus
from core.store.schema import ExecutionRow

X = ExecutionStatus


def ring_start(s: Session, c: CampaignRow, ring: int) -> datetime | None:
    return s.scalar(select(func.min(CampaignBatchRow.started_at)).where(
        CampaignBatchRow.campaign_id == c.id, CampaignBatchRow.ring == ring))


def ring_drained_at(s: Session, c: CampaignRow, ring: int) -> datetime | None:
    return s.scalar(select(func.max(CampaignBatchRow.finished_at)).where(
        CampaignBatchRow.campaign_id == c.id, CampaignBatchRow.ring == ring))


def cohorts(s: Session, c: CampaignRow, ring: int, start: datetime) -> tuple[dict[str, datetime], dict[str, datetime]]:
    """``(treated, control)``: device → the time its KPI windows turn around."""
    treated: dict[str, datetime] = {}
    for dev, fin, began in s.execute(select(ExecutionRow.device_id, ExecutionRow.finished_at, ExecutionRow.started_at)
                                     .join(CampaignDeviceRow, (CampaignDeviceRow.device_id == ExecutionRow.device_id)
                                           & (CampaignDeviceRow.campaign_id == c.id))
                                     .where(ExecutionRow.proposal_id == c.proposal_id, CampaignDeviceRow.ring == ring,
                                            CampaignDeviceRow.control.is_(False),
                                            ExecutionRow.status == str(X.VERIFIED))):
        at = fin or began
        if at is not None:
            treated[dev] = at
    touched = select(ExecutionRow.device_id).where(ExecutionRow.proposal_id == c.proposal_id,
                                                   ExecutionRow.status != str(X.PENDING))
    control = {dev: start for (dev,) in s.execute(select(CampaignDeviceRow.device_id).where(
        CampaignDeviceRow.campaign_id == c.id, CampaignDeviceRow.control.is_(True),
        CampaignDeviceRow.device_id.not_in(touched)))}
    return treated, control


def clusters_of(s: Session, ids: list[str], *, wifi: bool) -> dict[str, str]:
    """Device → the group whose homes share what moves a KPI together: the building (shared air)
    for a Wi-Fi KPI, the upstream node (its PON port or CMTS: shared outages) for any other —
    each falling back to the other, then to the device itself."""
    from core.store.schema import DeviceRow, SubscriberRow

    out: dict[str, str] = {}
    for i in range(0, len(ids), 500):
        for dev, up, building in s.execute(
                select(DeviceRow.id, DeviceRow.upstream_id, SubscriberRow.building)
                .outerjoin(SubscriberRow, SubscriberRow.id == DeviceRow.subscriber)
                .where(DeviceRow.id.in_(ids[i:i + 500]))):
            order = (("building", building), ("upstream", up)) if wifi else (("upstream", up), ("building", building))
            out[dev] = next((f"{kind}:{v}" for kind, v in order if v), f"device:{dev}")
    return out


def _one(s: Session, g: KpiGate, gate: Gate, treated: dict[str, datetime], control: dict[str, datetime],
         drained: datetime, now: datetime) -> JsonObject:
    """One KPI at the look that is due (``campaigns.looks``): its data up to that look's time,
    its interval at that look's level; judged only at a look, final at the last."""
    kpi = kpi_of(g.metric, g.higher_is_worse)
    lp = looks.plan(g.window_h, gate.observe_s, g.confidence)
    k = lp.reached(drained, now)
    upto = lp.at(drained, max(k, 1)) if k else now
    upto = min(upto, now)
    t = device_changes(s, kpi, treated, window_h=g.window_h, now=upto, labels=g.labels, before=g.before)
    groups = clusters_of(s, list(treated) + list(control), wifi=(g.metric.startswith("wifi.")))
    if control:
        k_ch = device_changes(s, kpi, control, window_h=g.window_h, now=upto, labels=g.labels, before=g.before)
        eff = estimate(kpi, t, k_ch, confidence=g.confidence, min_devices=g.min_devices, clusters=groups,
                       level=lp.level(max(k, 1)))
    else:  # the last ring: its control cohort is changed with it; its own hours before are all there is
        eff = estimate_before_after(kpi, t, confidence=g.confidence, min_devices=g.min_devices, clusters=groups,
                                    level=lp.level(max(k, 1)))
        eff.note = ("no untouched control device is left (the control cohort runs in the last ring): measured "
                    "against the same homes' hours before — weaker evidence, shown, never failing the ring")
    enough = eff.estimate is not None and min(eff.samples.values() or [0]) >= g.min_samples
    if eff.estimate is not None and not enough:
        eff.note = f"fewer than {g.min_samples} samples in a group"
    tol = tolerance_of(kpi, eff, g.max_degradation, g.margin)
    eff.tail = tail(eff, tol)
    eff.look = {**lp.describe(k), "at": upto.isoformat(), "next": lp.at(drained, k + 1).isoformat()
                if k < lp.looks else None}
    judged = bool(control) and k > 0 and enough
    return {**eff.as_dict(), "tolerance": round(tol, 4), "judged": judged,
            "harm": judged and eff.harm(tol), "final": k >= lp.looks, "gating": bool(control),
            "until": lp.at(drained, lp.looks).isoformat(), "at": now.isoformat(),
            "labels": dict(g.labels), "window_h": g.window_h, "before": g.before}


def ring_effects(s: Session, c: CampaignRow, ring: int, gate: Gate, *, now: datetime) -> dict[str, Any]:
    """KPI → the effect as a dict (``Effect.as_dict`` plus ``tolerance``, ``harm``, ``judged``,
    ``final``: the last planned look was taken, ``gating``: measured against a control, so it may
    fail the ring)."""
    if not gate.kpis:
        return {}
    start = ring_start(s, c, ring)
    if start is None:
        return {}
    drained = ring_drained_at(s, c, ring) or now
    treated, control = cohorts(s, c, ring, start)
    return {g.metric: _one(s, g, gate, treated, control, drained, now) for g in gate.kpis}


def effect_series(s: Session, cid: str) -> list[dict[str, Any]]:
    """Each KPI's effect as measured over time (every recorded analysis that measured it), oldest
    first: what the campaign page charts on a time axis, one point per measurement with its
    interval, the ring it belonged to and whether it was the ring's final verdict."""
    from campaigns.schema import CampaignAnalysisRow

    series: dict[str, dict[str, Any]] = {}
    for ts, ring, final, outcome, metrics in s.execute(
            select(CampaignAnalysisRow.ts, CampaignAnalysisRow.ring, CampaignAnalysisRow.final,
                   CampaignAnalysisRow.outcome, CampaignAnalysisRow.metrics)
            .where(CampaignAnalysisRow.campaign_id == cid).order_by(CampaignAnalysisRow.id)):
        for metric, k in ((metrics or {}).get("kpis") or {}).items():
            if not isinstance(k, dict) or k.get("estimate") is None:
                continue
            out = series.setdefault(metric, {"kpi": metric, "title": k.get("title", metric), "unit": k.get("unit", ""),
                                             "higher_is_worse": k.get("higher_is_worse", True), "points": []})
            out["points"].append({"ts": ts.isoformat(), "ring": ring + 1, "final": bool(final), "outcome": outcome,
                                  "estimate": k["estimate"], "low": k["low"], "high": k["high"],
                                  "verdict": k.get("verdict"), "n_treated": k.get("n_treated"),
                                  "n_control": k.get("n_control"), "text": k.get("text")})
    return list(series.values())
