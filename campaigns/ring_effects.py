"""A ring's effect on each KPI the gate names, from the campaign's own records.

Who is compared with whom: the ring's devices whose change verified, each from the moment its
change was verified, against the control cohort recorded at creation (``campaign_devices.control``)
that no batch has touched yet, from the moment the ring started — the same calendar windows, so
the evening and the weekend cancel (``campaigns/effects.py``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from campaigns.effects import device_changes, estimate, kpi_of, tolerance_of
from campaigns.schema import CampaignBatchRow, CampaignDeviceRow, CampaignRow
from campaigns.spec import KpiGate
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


def ring_effects(s: Session, c: CampaignRow, ring: int, gates: list[KpiGate], *, now: datetime) -> dict[str, Any]:
    """KPI → the effect as a dict (``Effect.as_dict`` plus ``tolerance``, ``harm``, ``judged``)."""
    if not gates:
        return {}
    start = ring_start(s, c, ring)
    if start is None:
        return {}
    treated, control = cohorts(s, c, ring, start)
    out: JsonObject = {}
    for g in gates:
        kpi = kpi_of(g.metric, g.higher_is_worse)
        t = device_changes(s, kpi, treated, window_h=g.window_h, now=now, labels=g.labels, before=g.before)
        k = device_changes(s, kpi, control, window_h=g.window_h, now=now, labels=g.labels, before=g.before)
        eff = estimate(kpi, t, k, confidence=g.confidence, min_devices=g.min_devices)
        if eff.estimate is not None and min(eff.samples.values()) < g.min_samples:
            eff.note = f"fewer than {g.min_samples} samples in a group"
        judged = eff.estimate is not None and min(eff.samples.values()) >= g.min_samples
        tol = tolerance_of(kpi, eff, g.max_degradation, g.margin)
        if not control:
            eff.note = "no untouched control device is left (the control cohort runs in the last ring)"
        out[g.metric] = {**eff.as_dict(), "tolerance": round(tol, 4), "judged": judged,
                         "harm": judged and eff.harm(tol), "at": now.isoformat(),
                         "labels": dict(g.labels), "window_h": g.window_h, "before": g.before}
    return out


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
