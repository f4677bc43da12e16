"""What people (CLI, API, console) do with campaigns: create, preview, start, pause, resume,
abort, promote, and read status.

Why a service apart from the orchestrator: this is where *who may do what* is decided and where a
definition becomes a proposal. Creating a campaign runs the lifecycle's own gates on one staged
proposal — validate, a fleet preview, one policy decision per equivalence class — and freezes the
ring plan. Approval is the proposal's, given by people through the usual ``approve`` command; the
campaign never starts before the lifecycle says the proposal is approved.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, insert, select

from campaigns import obligations
from campaigns import rate as ratelimit
from campaigns.orchestrator import (
    ABORTED,
    ABORTING,
    CREATED,
    PAUSED,
    RUNNING,
    TERMINAL,
    Orchestrator,
)
from campaigns.planner import plan_rings
from campaigns.schema import CampaignAnalysisRow, CampaignBatchRow, CampaignDeviceRow, CampaignRow
from campaigns.spec import CampaignSpec, Target, check_stages, parse_spec
from core import audit, rbac
from core.errors import Conflict, Forbidden, Invalid, NotFound
from core.ids import new_id
from core.models import Actor, ExecutionStatus, ProposalDraft, ProposalState, utcnow
from core.services import CoreServices
from core.store import repo
from core.store.schema import DeviceRow, ExecutionRow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from campaigns.queue import Queue

DEFAULT_CANARY = 5.0
DEFAULT_RINGS = [10.0, 50.0, 100.0]
P = ProposalState
X = ExecutionStatus


class Campaigns:
    """Campaign operations over one runtime. ``queue`` (optional) hands work to the job queue at
    once; without it the workers' watchdog picks it up within half a second."""

    def __init__(self, runtime: CoreServices, queue: Queue | None = None) -> None:
        self.rt = runtime
        self.store = runtime.store
        self.lc = runtime.lifecycle
        self.orch = Orchestrator(runtime, queue)

    # ================================================================== create
    def create(self, data: dict[str, Any] | CampaignSpec, actor: Actor) -> dict[str, Any]:
        spec = parse_spec(data)
        if not rbac.can_apply(actor):
            raise Forbidden(f"{actor.id} (roles: {', '.join(actor.roles) or 'none'}) may not create campaigns")
        ids, fleet = self._select(spec)
        draft = ProposalDraft(intent=spec.intent or f"campaign: {spec.name}", targets=ids, changes=spec.changes,
                              operations=spec.all_operations(), rationale=spec.rationale, staged=True,
                              emergency=spec.emergency, source="campaign")
        p = self.lc.create(draft, actor)
        try:
            self.lc.validate(p.id, actor)
        except Invalid as exc:
            raise Invalid(f"campaign refused, the change does not validate on the selection: {exc.message}",
                          proposal_id=p.id) from exc
        self.lc.preview(p.id, actor)
        decision = self.lc.decide(p.id, actor)
        plan_policy = obligations.parse(decision.obligation_items)
        stages, threshold = self._stages(spec, plan_policy)
        problems = obligations.violations(plan_policy, stages, threshold)
        if problems:
            self._cancel_quietly(p.id, actor, "campaign plan is looser than policy")
            raise Invalid("campaign plan is looser than policy allows: " + "; ".join(problems) +
                          " (leave out rings / gate.failure_threshold to use the policy's plan)",
                          proposal_id=p.id, errors=problems)
        spec = spec.model_copy(update={"gate": spec.gate.model_copy(update={"failure_threshold": threshold})})
        cid = new_id("c")
        with self.store.read() as s:
            devices = repo.get_devices(s, ids)
        plan = plan_rings(cid, [devices[i] for i in ids], stages, spec.control_pct)
        limits = ratelimit.initial(spec.rate)
        now = utcnow()
        # The coded obligations are what the orchestrator reads (windows); "policy" is for display.
        policy_items = [o.model_dump(mode="json") for o in decision.obligation_items]
        with self.store.write() as s:
            row = CampaignRow(id=cid, name=spec.name, proposal_id=p.id, author=actor.id, kind=spec.kind,
                              spec=spec.model_dump(mode="json"), plan={**plan.summary(), "fleet": fleet,
                                                                         "policy": decision.obligations,
                                                                         "policy_items": policy_items},
                              state=CREATED, ring=0, ring_state="active", cursor=0, sweeps=0,
                              window=limits.window, batch_size=limits.batch_size, created_at=now, updated_at=now)
            s.add(row)
            s.flush()
            rows = [{"campaign_id": cid, "device_id": pl.device_id, "ring": pl.ring, "pos": pl.pos,
                     "stratum": pl.stratum[:140], "control": pl.control} for pl in plan.placements]
            for i in range(0, len(rows), 5000):
                s.execute(insert(CampaignDeviceRow), rows[i:i + 5000])
            audit.append(s, actor=actor.id, action="campaign.created", proposal_id=p.id, data={
                "campaign": cid, "name": spec.name, "kind": spec.kind, "target": spec.target.describe(),
                "devices": len(ids), "stages": stages, "sizes": plan.sizes, "control": plan.control})
        return self.status(cid)

    def _select(self, spec: CampaignSpec) -> tuple[list[str], int]:
        with self.store.read() as s:
            ids = repo.select_devices(s, spec.target.selector())
            fleet = int(s.scalar(select(func.count()).select_from(DeviceRow)) or 0)
        what = spec.target.describe()
        if not ids:
            raise Invalid(f"the selector ({what}) matches no device; check it with `gateward devices` "
                          "(model, firmware and region must match exactly)")
        if len(ids) == fleet and not spec.target.all_fleet:
            raise Invalid(f"the selector ({what}) matches every device of the fleet ({fleet}); confirm a "
                          "fleet-wide campaign with --all (target.all_fleet = true) or narrow the selector")
        return ids, fleet

    @staticmethod
    def _stages(spec: CampaignSpec, plan: obligations.PolicyPlan) -> tuple[list[float], float]:
        explicit = "failure_threshold" in spec.gate.model_fields_set
        threshold = spec.gate.failure_threshold
        if not explicit and plan.max_failure_rate is not None:
            threshold = min(threshold, plan.max_failure_rate)
        if spec.rings is not None:
            return check_stages(spec.canary_pct, spec.rings, spec.control_pct), threshold
        if plan.stages:
            stages = list(plan.stages)
            if spec.canary_pct is not None and plan.has_canary:
                stages[0] = min(stages[0], spec.canary_pct)
            if stages[-1] != 100:
                stages.append(100.0)
        else:
            stages = [spec.canary_pct or DEFAULT_CANARY, *DEFAULT_RINGS]
        try:
            return check_stages(stages[0], stages[1:], spec.control_pct), threshold
        except ValueError as exc:
            raise Invalid(f"the rollout plan does not fit: {exc}") from exc

    def _cancel_quietly(self, pid: str, actor: Actor, reason: str) -> None:
        with contextlib.suppress(Conflict, Forbidden):
            self.lc.cancel(pid, actor, reason)

    # ================================================================== people's commands
    def _get(self, cid: str) -> CampaignRow:
        with self.store.read() as s:
            c = s.get(CampaignRow, cid)
        if c is None:
            raise NotFound(f"unknown campaign {cid!r}; list campaigns with `gateward campaign status`")
        return c

    def start(self, cid: str, actor: Actor) -> dict[str, Any]:
        c = self._get(cid)
        if not rbac.can_apply(actor):
            raise Forbidden(f"{actor.id} (roles: {', '.join(actor.roles) or 'none'}) may not start campaigns")
        if c.state != CREATED:
            raise Conflict(f"campaign {cid} is {c.state}; only a new campaign can be started "
                           "(a paused one is resumed)")
        p = self.lc.get(c.proposal_id)
        if p.state is not P.APPROVED:
            hint = {P.AWAITING_APPROVAL: f"it waits for approval: `gateward approve {p.id} --as APPROVER`",
                    P.DENIED: f"policy denied it: {p.error}"}.get(p.state, f"its proposal {p.id} is {p.state}")
            raise Conflict(f"campaign {cid} cannot start: {hint}", proposal_state=str(p.state))
        with self.store.write() as s:
            row = self.orch._lock(s, cid)
            if row.state != CREATED:
                raise Conflict(f"campaign {cid} is {row.state}")
            row.state, row.started_at, row.updated_at = RUNNING, utcnow(), utcnow()
            row.run_by = actor.id  # its device writes are made for this person, through workers
            self.orch._event(s, row, actor.id, "campaign.started", sizes=row.plan["sizes"])
        self.orch.step(cid)
        return self.status(cid)

    def pause(self, cid: str, actor: Actor, reason: str = "") -> dict[str, Any]:
        self._need(actor, rbac.can_apply(actor) or rbac.can_review(actor), "pause")
        self.orch.halt(cid, PAUSED, f"paused by {actor.id}" + (f": {reason}" if reason else ""), actor.id)
        return self.status(cid)

    def resume(self, cid: str, actor: Actor) -> dict[str, Any]:
        self._need(actor, rbac.can_review(actor) or "admin" in actor.roles, "resume")
        self.orch.resume(cid, actor.id)
        return self.status(cid)

    def promote(self, cid: str, actor: Actor) -> dict[str, Any]:
        self._need(actor, rbac.can_review(actor) or "admin" in actor.roles, "promote")
        self.orch.promote(cid, actor.id)
        return self.status(cid)

    def abort(self, cid: str, actor: Actor, reason: str) -> dict[str, Any]:
        if not reason.strip():
            raise Invalid("an abort needs a reason (--reason TEXT); it goes into the audit trail")
        self._need(actor, rbac.can_apply(actor) or rbac.can_review(actor), "abort")
        c = self._get(cid)
        if c.state == CREATED:  # nothing ran: close the proposal, no rollback to do
            self._cancel_quietly(c.proposal_id, actor, f"campaign aborted: {reason}")
            with self.store.write() as s:
                row = self.orch._lock(s, cid)
                row.state, row.finished_at, row.halt_reason, row.halted_by = "aborted", utcnow(), reason, actor.id
                self.orch._event(s, row, actor.id, "campaign.aborted", reason=reason, restored=0)
            return self.status(cid)
        self.orch.halt(cid, ABORTING, f"aborted by {actor.id}: {reason}", actor.id)
        return self.status(cid)

    @staticmethod
    def _need(actor: Actor, ok: bool, what: str) -> None:
        if not ok:
            raise Forbidden(f"{actor.id} (roles: {', '.join(actor.roles) or 'none'}) may not {what} campaigns")

    # ================================================================== reading
    def list(self, limit: int = 50) -> list[dict[str, Any]]:
        with self.store.read() as s:
            rows = list(s.scalars(select(CampaignRow).order_by(CampaignRow.created_at.desc()).limit(limit)))
        return [self._summary(c) for c in rows]

    @staticmethod
    def _summary(c: CampaignRow) -> dict[str, Any]:
        return {"id": c.id, "name": c.name, "kind": c.kind, "state": c.state, "proposal_id": c.proposal_id,
                "author": c.author, "run_by": c.run_by, "ring": c.ring, "rings": len(c.plan["sizes"]),
                "ring_state": c.ring_state,
                "devices": int(c.plan["total"]), "created_at": c.created_at.isoformat(),
                "halt_reason": c.halt_reason, "error": c.error}

    def status(self, cid: str) -> dict[str, Any]:
        c = self._get(cid)
        p = self.lc.get(c.proposal_id)
        with self.store.read() as s:
            per_ring = s.execute(select(
                CampaignBatchRow.ring, func.count(), func.sum(CampaignBatchRow.n_failed),
            ).where(CampaignBatchRow.campaign_id == cid).group_by(CampaignBatchRow.ring)).all()
            now = ring_statuses(s, cid, c.proposal_id)
            states = dict(s.execute(select(CampaignBatchRow.state, func.count()).where(
                CampaignBatchRow.campaign_id == cid).group_by(CampaignBatchRow.state)).all())
            analyses = list(s.scalars(select(CampaignAnalysisRow).where(CampaignAnalysisRow.campaign_id == cid)
                                      .order_by(CampaignAnalysisRow.id.desc()).limit(40)))
            # The workers that carried batches out for the person (issue 34: never an anonymous robot).
            workers = [{"worker": w, "batches": int(n)} for w, n in s.execute(
                select(CampaignBatchRow.worker, func.count()).where(
                    CampaignBatchRow.campaign_id == cid, CampaignBatchRow.worker.is_not(None))
                .group_by(CampaignBatchRow.worker).order_by(CampaignBatchRow.worker)).all()]
        progress = self.lc.staged_progress(c.proposal_id)
        by_ring = {int(r[0]): r for r in per_ring}
        rings = []
        for i, size in enumerate(c.plan["sizes"]):
            r = by_ring.get(i)
            n = now.get(i, {})
            rolled_back = n.get(str(X.ROLLED_BACK), 0)
            rings.append({"ring": i, "name": "canary" if i == 0 else f"ring {i}", "stage_pct": c.plan["stages"][i],
                          "size": int(size), "batches": int(r[1]) if r else 0,
                          "verified": n.get(str(X.VERIFIED), 0), "failed": int(r[2] or 0) if r else 0,
                          "rolled_back": rolled_back, "rollback_failed": n.get(str(X.ROLLBACK_FAILED), 0),
                          "strata": c.plan["strata"][i], "status": _ring_status(c, i, rolled_back)})
        now_t = self.lc.clock()
        held = [w.text() for w in obligations.from_plan(c.plan).closed_windows(now_t)]
        return {**self._summary(c), "spec": c.spec, "plan": {k: v for k, v in c.plan.items() if k != "acks"},
                "window_hold": held if c.state == "running" else [],
                "windows": window_info(obligations.plan_items(c.plan), now_t),
                "emergency": bool(c.spec.get("emergency")), "emergency_path": EMERGENCY_PATH,
                "proposal": {"id": p.id, "state": str(p.state), "hash": p.hash, "error": p.error, "risk": p.risk},
                "rings_detail": rings, "batches": states, "progress": progress, "workers": workers,
                "rate": {"batch_size": c.batch_size, "window": c.window},
                "halted_at": c.halted_at.isoformat() if c.halted_at else None, "halted_by": c.halted_by,
                "started_at": c.started_at.isoformat() if c.started_at else None,
                "finished_at": c.finished_at.isoformat() if c.finished_at else None,
                "promote_at": c.promote_at.isoformat() if c.promote_at else None,
                "analyses": [{"ring": a.ring, "ts": a.ts.isoformat(), "outcome": a.outcome, "final": a.final,
                              "metrics": a.metrics, "reasons": a.reasons} for a in reversed(analyses)],
                "terminal": c.state in TERMINAL}

    def preview(self, cid: str) -> dict[str, Any]:
        """The whole campaign before it runs: selection, ring plan, per-class diffs, policy."""
        c = self._get(cid)
        p = self.lc.get(c.proposal_id)
        prev = self.lc.preview_of(c.proposal_id) or {}
        with self.store.read() as s:
            rec = repo.latest_decision(s, c.proposal_id)
            decision = dict(rec.result) if rec is not None else None
            would_deny = list(rec.would_deny or []) if rec is not None else []
            regions = Counter(r for (r,) in s.execute(select(DeviceRow.region).join(
                CampaignDeviceRow, (CampaignDeviceRow.device_id == DeviceRow.id)
                & (CampaignDeviceRow.campaign_id == cid))).all())
        classes = prev.get("classes")
        if classes is None:  # a small selection was previewed live, device by device
            classes = _classes_from_live(prev.get("devices", []), c.plan)
        return {"campaign": self._summary(c), "proposal": {"id": p.id, "state": str(p.state), "hash": p.hash},
                "selection": {"devices": int(c.plan["total"]), "fleet": c.plan.get("fleet"),
                              "regions": dict(regions), "strata": _strata_totals(c.plan)},
                "plan": {"stages": c.plan["stages"], "sizes": c.plan["sizes"], "control": c.plan["control"],
                         "strata": c.plan["strata"], "policy_obligations": c.plan.get("policy", [])},
                "gate": c.spec.get("gate"), "promotion": c.spec.get("promotion"), "rate": c.spec.get("rate"),
                "classes": classes, "absent": len(prev.get("absent", [])), "preview_source": prev.get("source"),
                "sample": prev.get("devices", [])[:20], "decision": decision, "would_deny": would_deny}


    def selection(self, target: Target) -> dict[str, Any]:
        """How many devices a selector matches now (the console's live count while a campaign is
        defined), whether that is the whole fleet (which ``create`` refuses without ``all_fleet``),
        and the fleet's models, firmware and regions with their counts to pick from."""
        with self.store.read() as s:
            ids = repo.select_devices(s, target.selector())
            fleet = int(s.scalar(select(func.count()).select_from(DeviceRow)) or 0)
            facets = {name: {str(v): int(n) for v, n in s.execute(
                select(col, func.count()).where(DeviceRow.status == repo.ACTIVE).group_by(col).order_by(col)).all()}
                for name, col in (("model", DeviceRow.model), ("firmware", DeviceRow.firmware),
                                  ("region", DeviceRow.region), ("vendor", DeviceRow.vendor))}
        return {"devices": len(ids), "fleet": fleet, "target": target.describe(),
                "whole_fleet": bool(ids) and len(ids) == fleet, "facets": facets}


EMERGENCY_PATH = ("outside a change window only an emergency proceeds: create the campaign with "
                  "emergency on (--emergency); policy then asks a senior approver to sign it, and the "
                  "campaign runs without waiting for the window")


def window_info(policy: list[Any], now: datetime) -> list[dict[str, Any]]:
    """The change windows a campaign's decision bound it to, each with whether it is open now and,
    when closed, the UTC time it next opens — so the console can say *when*, not only *closed*."""
    out = []
    for w in obligations.parse(list(policy)).windows:
        is_open = w.open_at(now)
        opens = None if is_open else _next_open(w, now)
        out.append({"region": w.region, "text": w.text(), "open": is_open,
                    "opens_at": opens.isoformat() if opens else None,
                    # relative to the policy's clock (GATEWARD_POLICY_TIME may pin it), not the browser's
                    "opens_in_s": int((opens - now).total_seconds()) if opens else None})
    return out


def _next_open(w: obligations.Window, now: datetime) -> datetime | None:
    """First quarter hour within the next day at which ``w`` is open (offsets may be fractional)."""
    t = now.replace(second=0, microsecond=0) + timedelta(minutes=15 - now.minute % 15)
    for _ in range(4 * 24 + 1):
        if w.open_at(t):
            return t
        t += timedelta(minutes=15)
    return None


def ring_statuses(s: Session, cid: str, pid: str) -> dict[int, dict[str, int]]:
    """Per ring, how many of its devices are in each execution status *now*.

    Why from the execution rows and not the batch rows: a batch row is written once, when the
    batch finishes; an abort's rollback (or a later ``gateward rollback`` of the proposal) moves
    devices from verified to rolled back without touching it, so sums over batches showed an
    aborted campaign as fully green with "rolled back 0"."""
    rows = s.execute(select(CampaignDeviceRow.ring, ExecutionRow.status, func.count()).join(
        ExecutionRow, (ExecutionRow.device_id == CampaignDeviceRow.device_id) & (ExecutionRow.proposal_id == pid))
        .where(CampaignDeviceRow.campaign_id == cid).group_by(CampaignDeviceRow.ring, ExecutionRow.status)).all()
    out: dict[int, dict[str, int]] = {}
    for ring, status, n in rows:
        out.setdefault(int(ring), {})[str(status)] = int(n)
    return out


def _ring_status(c: CampaignRow, i: int, rolled_back: int) -> str:
    """A ring's word for people: an aborted campaign's rings that were restored say so."""
    if rolled_back and c.state in (ABORTING, ABORTED):
        return "rolling back" if c.state == ABORTING else "rolled back"
    if i < c.ring or (i == c.ring and c.state == "completed"):
        return "done"
    return c.ring_state if i == c.ring else "pending"


def _strata_totals(plan: dict[str, Any]) -> dict[str, int]:
    out: Counter[str] = Counter()
    for ring in plan["strata"]:
        out.update(ring)
    return dict(out)


def _classes_from_live(devices: list[dict[str, Any]], plan: dict[str, Any]) -> list[dict[str, Any]]:
    lines: dict[str, dict[str, Any]] = {}
    for d in devices:
        for ln in d.get("lines", []):
            entry = lines.setdefault(ln["path"], {"path": ln["path"], "after": ln["after"], "before": Counter(),
                                                  "unchanged": 0})
            entry["before"][repr(ln["before"])] += 1
            entry["unchanged"] += int(bool(ln.get("unchanged")))
    return [{"model": "all", "firmware": "*", "count": len(devices),
             "lines": [{**v, "before": dict(v["before"])} for v in lines.values()]}]
