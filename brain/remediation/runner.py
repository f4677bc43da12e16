"""Running one unit of work: a group of cases → planner → proposal → policy → apply → case outcome.

Why a unit is a *group*: when a storm of devices of one class raises one problem, the fix is the
same change on each of them; one proposal over the group is one policy decision per class, one
approver review if one is needed, and one audit story — instead of thousands. Groups stay below
the policy's staged-rollout threshold and follow the problem's ramp (``breaker``), so automation
never issues a proposal that policy would want staged, and a bad fix is caught on the first few.

Idempotent by construction: a case records its proposal before the proposal is applied; a unit
that is delivered again (a worker died) follows that proposal — applies it if it is approved,
reads its outcome if it ran — and never plans or applies a second one.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from brain.remediation import breaker
from brain.remediation.cases import close
from brain.remediation.schema import RemediationCaseRow
from brain.remediation.ztp import plan_provisioning
from core.kernel.errors import DeviceUnavailable, GatewardError, Locked, ShuttingDown
from core.kernel.models import Device, Evidence, Proposal, ProposalDraft, ProposalState
from core.results import Aggregate, DeviceResult
from core.store import repo
from executors.base import ExecutorError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from brain.plan import Plan
    from brain.remediation.service import Remediation

S = ProposalState
CLASS_PLAN_TTL_S = 60.0
WINDOW_RECHECK_S = 900.0
WINDOW_CLOSED = "window.closed"  # policy's deny code (policies/README.md), never its message


def window_only(result: dict[str, Any]) -> bool:
    """A stored decision (``Decision.model_dump``) whose every deny is ``window.closed``."""
    codes = [item.get("code") if isinstance(item, dict) else None for item in result.get("deny_items") or []]
    return bool(codes) and all(code == WINDOW_CLOSED for code in codes)


FAILED_STATES = {S.DENIED, S.INVALID, S.REJECTED, S.CANCELLED, S.FAILED, S.ROLLED_BACK}


@dataclass
class Verdict:
    kind: str  # applied | waiting | retry | escalate | closed
    reason: str = ""


class CaseOutcome(StrEnum):
    """Where a unit of work left one case: the case's new status, or ``retry`` (back in the queue
    for a later attempt). An escalated case is the unit's failure: a person must look at it."""

    APPLIED = "applied"
    PROPOSED = "proposed"
    ESCALATED = "escalated"
    CLOSED = "closed"
    RETRY = "retry"


@dataclass
class UnitReport(Aggregate[CaseOutcome]):
    """What one unit of work did: a :class:`~core.results.DeviceResult` per case it settled, keyed by
    device (a unit holds one case per device: one problem, one class), and ``outcomes`` counted from
    them. ``cases`` is how many cases the unit was handed, ``proposals`` the ones it submitted."""

    unit_id: str
    cases: int = 0
    proposals: list[str] = field(default_factory=list)
    results: dict[str, DeviceResult[CaseOutcome]] = field(default_factory=dict)

    def settle(self, case: RemediationCaseRow, outcome: CaseOutcome, resolution: str) -> None:
        failed = outcome is CaseOutcome.ESCALATED
        self.add(DeviceResult(case.device_id, outcome, failed=failed, reason=resolution if failed else None,
                              evidence={"case": case.id, "resolution": resolution}))

    @property
    def outcomes(self) -> dict[str, int]:
        """Cases per outcome (``{"applied": 4, "retry": 1}``)."""
        return self.counts()


class Runner:
    def __init__(self, svc: Remediation) -> None:
        self.svc = svc
        self.rt = svc.rt
        self.lc = svc.rt.lifecycle
        self._plans: dict[tuple[str, str], tuple[float, Plan]] = {}
        self._closed_windows: dict[str, float] = {}

    # ------------------------------------------------------------------ entry
    def run_unit(self, unit_id: str) -> UnitReport:
        rep = UnitReport(unit_id)
        with self.svc.store.read() as s:
            cases = list(s.scalars(select(RemediationCaseRow).where(
                RemediationCaseRow.unit_id == unit_id, RemediationCaseRow.status == "dispatched")
                .order_by(RemediationCaseRow.opened_at)))
            devices = repo.get_devices(s, [c.device_id for c in cases])
        rep.cases = len(cases)
        if not cases:
            return rep
        gone = [c for c in cases if c.device_id not in devices and c.kind != "ztp"]
        if gone:
            self._finish(gone, Verdict("closed", "the device is no longer in the inventory"), rep)
        cases = [c for c in cases if c not in gone]
        following = [c for c in cases if c.proposal_ids]
        for key in dict.fromkeys(tuple(c.proposal_ids) for c in following):
            group = [c for c in following if tuple(c.proposal_ids) == key]
            self._settle(group, [self.lc.get(pid) for pid in key], rep)
        fresh = [c for c in cases if not c.proposal_ids]
        for c in [c for c in fresh if c.kind == "ztp"]:
            self._run_ztp(c, devices.get(c.device_id), rep)
        detector = [c for c in fresh if c.kind != "ztp"]
        if detector:
            self._run_detector(detector, devices, rep)
        return rep

    # ------------------------------------------------------------------ detector cases
    def _run_detector(self, cases: list[RemediationCaseRow], devices: dict[str, Device], rep: UnitReport) -> None:
        problem = cases[0].problem
        spec = self.svc.rules.problems.get(problem)
        if spec is None or spec.trigger is None:
            why = spec.summary if spec is not None else "unknown problem"
            self._finish(cases, Verdict("escalate", f"no automated remedy for {problem} ({why}); "
                                                    "a person must look at the evidence"), rep)
            return
        present = self._present(cases, devices, rep)
        if not present:
            return
        plan0 = None
        if spec.plan_scope == "class":
            plan0 = self._class_plan(problem, present[0], devices[present[0].device_id], spec.trigger)
            if plan0.outcome != "change":  # the representative may have recovered: judge each device
                self._plans.pop((problem, present[0].class_key), None)
                plan0 = None
        if plan0 is not None:
            groups = [(plan0, present)]
        else:
            by_key: dict[str, tuple[Any, list[RemediationCaseRow]]] = {}
            for c in present:
                plan = self.svc.planner(self.rt, devices[c.device_id], spec.trigger, self.svc.actor)
                key = plan.outcome + (plan.draft.model_dump_json(include={"changes", "operations", "action_type"})
                                      if plan.draft is not None else f":{c.id}")
                by_key.setdefault(key, (plan, []))[1].append(c)
            groups = list(by_key.values())
        for plan, group in groups:
            if plan.outcome != "change" or plan.draft is None:
                kind = "closed" if plan.outcome == "answer" else "escalate"
                self._finish(group, Verdict(kind, f"planner: {plan.text}"), rep)
                continue
            for chunk in self._chunks(plan.draft, group):
                self._propose(problem, plan.draft, chunk, devices, rep)

    def _class_plan(self, problem: str, case: RemediationCaseRow, device: Device, trigger: str) -> Plan:
        """One planner run per (problem, class) for a storm: every device of the class raising the
        problem within ``CLASS_PLAN_TTL_S`` gets the same fix (and the planner's evidence from the
        first of them, named in the proposal). Only for problems whose rules say ``plan_scope: class``."""
        key = (problem, case.class_key)
        now = time.monotonic()
        hit = self._plans.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        plan = self.svc.planner(self.rt, device, trigger, self.svc.actor)
        self._plans[key] = (now + CLASS_PLAN_TTL_S, plan)
        return plan

    def _chunks(self, draft: ProposalDraft, cases: list[RemediationCaseRow]) -> list[list[RemediationCaseRow]]:
        cap = self.svc.group_cap()
        region = cases[0].class_key.rsplit("|", 1)[-1] if cases else ""
        if self._closed_windows.get(region, 0.0) > time.monotonic():
            cap = 1
        types = (self.svc.policy_data().get("catalogue") or {}).get("types") or {}
        if draft.action_type in types:
            cap = min(cap, int(types[draft.action_type].get("max_targets", cap)))
        cap = max(1, cap)
        return [cases[i:i + cap] for i in range(0, len(cases), cap)]

    def _propose(self, problem: str, draft: ProposalDraft, cases: list[RemediationCaseRow],
                 devices: dict[str, Device], rep: UnitReport) -> None:
        ids = [c.device_id for c in cases]
        first = devices[ids[0]]
        n = len(ids)
        intent = draft.intent if n == 1 else f"{draft.intent} (same fix on {n} {first.vendor} {first.model} devices)"
        detections = {c.device_id: (c.evidence or {}).get("rules", [])[:2] for c in cases[:50]}
        ev = Evidence(kind="detector", summary=f"{problem} detected on {n} device(s) (remediation cases)",
                      data={"problem": problem, "cases": [c.id for c in cases[:200]], "detections": detections,
                            "planned_on": ids[0]})
        d = draft.model_copy(update={"targets": ids, "intent": intent[:300], "evidence": [*draft.evidence, ev],
                                     "staged": n > 1})
        p = self._submit(d, cases, rep)
        if p is None:
            return
        if len(cases) > 1 and p.state is S.DENIED and self._window_only(p.id):
            # Outside the change window a multi-device proposal is a fleet change; one device at a
            # time is a single-device fix, which policy allows at any hour. Split, remember the
            # region's window is closed for a while, and let policy decide each one.
            region = cases[0].class_key.rsplit("|", 1)[-1]
            self._closed_windows[region] = time.monotonic() + WINDOW_RECHECK_S
            self._drop(cases, p.id)
            for c in cases:
                self._propose(problem, draft, [c], devices, rep)
            return
        self._settle(cases, [p], rep)

    def _window_only(self, pid: str) -> bool:
        """Was the proposal denied for the change window and nothing else? Read from the deny
        codes: a decision without them (stored before codes existed) is not window-only."""
        with self.svc.store.read() as s:
            rec = repo.latest_decision(s, pid)
        return window_only((rec.result or {}) if rec is not None else {})

    def _drop(self, cases: list[RemediationCaseRow], pid: str) -> None:
        """Forget a proposal that will not be followed (kept in the case's evidence)."""
        with self.svc.store.write() as s:
            for c in self._rows(s, cases):
                c.proposal_ids = [x for x in (c.proposal_ids or []) if x != pid]
                c.proposal_id = c.proposal_ids[0] if c.proposal_ids else None
                c.evidence = {**(c.evidence or {}), "split_from": pid}
        for c in cases:
            c.proposal_ids = [x for x in (c.proposal_ids or []) if x != pid]

    def _submit(self, draft: ProposalDraft, cases: list[RemediationCaseRow], rep: UnitReport) -> Proposal | None:
        try:
            p = self.lc.create(draft, self.svc.actor)
        except GatewardError as exc:
            self._finish(cases, Verdict("escalate", f"the proposal could not be created: {exc.message}"), rep)
            return None
        rep.proposals.append(p.id)
        now = self.svc.clock()
        with self.svc.store.write() as s:  # recorded before any gate runs: a redelivery follows it
            for c in self._rows(s, cases):
                c.proposal_ids = [*(c.proposal_ids or []), p.id]
                c.proposal_id = c.proposal_id or p.id
                c.updated_at = now
        for c in cases:
            c.proposal_ids = [*(c.proposal_ids or []), p.id]
        try:
            self.lc.validate(p.id, self.svc.actor)
            self.lc.preview(p.id, self.svc.actor)
            self.lc.decide(p.id, self.svc.actor)
        except GatewardError:
            pass  # the proposal's state (invalid, …) says what happened; _settle reads it
        return self.lc.get(p.id)

    # ------------------------------------------------------------------ zero-touch cases
    def _run_ztp(self, case: RemediationCaseRow, device: Device | None, rep: UnitReport) -> None:
        if device is None:
            self._finish([case], Verdict("escalate", "not in the inventory: register the device (subscriber, "
                                                     "region, service); it is provisioned on its next contact"), rep)
            return
        baseline = self.svc.profiles.baseline(device)
        if baseline.conflicts:
            text = "; ".join(c.describe() for c in baseline.conflicts)
            self._finish([case], Verdict("escalate", f"profile conflict, not provisioned until resolved: {text}"), rep)
            return
        if not baseline.parameters:
            self._finish([case], Verdict("closed", "no profile matches this device: nothing to provision"), rep)
            return
        if not self._present([case], {device.id: device}, rep):
            return
        trigger = str((case.evidence or {}).get("trigger", "bootstrap"))
        try:
            plan = plan_provisioning(self.rt, device, baseline, trigger, self.svc.policy_data(), case_id=case.id,
                                     event=(case.evidence or {}).get("event"))
        except ExecutorError as exc:
            self._retry([case], f"the device could not be read: {exc.message}", rep)
            return
        if not plan.drafts:
            note = f"already at its baseline ({len(plan.compliant)} parameter(s) of " \
                   f"{', '.join(p.id for p in baseline.profiles)})"
            if plan.unreadable:
                note += f"; not on this model: {', '.join(sorted(plan.unreadable))}"
            self._finish([case], Verdict("closed", note), rep)
            return
        proposals = [p for d in plan.drafts if (p := self._submit(d, [case], rep)) is not None]
        if proposals:
            self._settle([case], proposals, rep)

    # ------------------------------------------------------------------ outcomes
    def _advance(self, p: Proposal, cases: list[RemediationCaseRow]) -> dict[str, Verdict]:
        """Apply an approved proposal (or continue a group's batch); the verdict for each of the
        cases' devices this proposal targets."""
        ids = [c.device_id for c in cases if c.device_id in set(p.targets)]
        if p.staged and p.state in (S.APPROVED, S.APPLYING):
            return self._advance_group(p, ids, cases[0].problem)
        if p.state is S.APPROVED:
            try:
                out = self.lc.apply(p.id, self.svc.actor)
            except (DeviceUnavailable, Locked) as exc:
                self._cancel(p, exc.message)
                return dict.fromkeys(ids, Verdict("retry", exc.message))
            except ShuttingDown as exc:  # this process is stopping: nothing was written
                return dict.fromkeys(ids, Verdict("retry", exc.message))
            except GatewardError as exc:
                return dict.fromkeys(ids, Verdict("escalate", f"apply of {p.id} refused: {exc.message}"))
            p = out.proposal
            failed = len(out.failed) + (len(out.rolled_back) if p.state is not S.DONE else 0)
            self.svc.account(cases[0].problem, executed=len(p.targets), failed=min(failed, len(p.targets)),
                             rollback_failed=len(out.alarms), proposal=p.id)
        return dict.fromkeys(ids, self._state_verdict(p))

    @staticmethod
    def _state_verdict(p: Proposal) -> Verdict:
        if p.state is S.DONE:
            return Verdict("applied", f"{p.id} applied and verified")
        if p.state is S.AWAITING_APPROVAL:
            return Verdict("waiting", f"{p.id} waits for approval")
        if p.state in FAILED_STATES:
            return Verdict("escalate", f"{p.id} {p.state}: {p.error or 'no detail'}")
        return Verdict("waiting", f"{p.id} is {p.state}")

    def _advance_group(self, p: Proposal, ids: list[str], problem: str) -> dict[str, Verdict]:
        """A group proposal runs through the lifecycle's staged path (``apply_batch``) as one batch:
        every gate re-checked, and the failure unit is the device — one device that does not hold
        is restored on its own instead of rolling back the whole group. A redelivered batch verifies
        and never re-writes."""
        try:
            out = self.lc.apply_batch(p.id, ids, self.svc.actor)
        except ShuttingDown as exc:  # this process is stopping: nothing was written
            return dict.fromkeys(ids, Verdict("retry", exc.message))
        except GatewardError as exc:
            return dict.fromkeys(ids, Verdict("escalate", f"batch of {p.id} refused: {exc.message}"))
        verdicts: dict[str, Verdict] = {}
        for d in ids:
            if d in out.verified or d in out.already_done:
                verdicts[d] = Verdict("applied", f"{p.id} applied and verified on this device")
            elif d in out.failed:
                verdicts[d] = Verdict("escalate", f"{p.id} on this device: {out.failed[d]}"
                                      + (" (restored from backup)" if d in out.rolled_back else ""))
            else:
                why = out.skipped.get(d) or ("halted" if d in out.halted else "not run")
                verdicts[d] = Verdict("retry", f"{p.id}: {why}")
        if out.already_done:
            self._redone(p.id, out.already_done, verdicts)
        self.svc.account(problem, executed=out.executed, failed=len(out.failed), rollback_failed=len(out.alarms),
                         proposal=p.id)
        self._maybe_finish(p.id)
        return verdicts

    def _redone(self, pid: str, ids: list[str], verdicts: dict[str, Verdict]) -> None:
        """Devices a previous delivery already ran: their recorded outcome decides."""
        from core.store.schema import ExecutionRow

        with self.svc.store.read() as s:
            rows = {r.device_id: r for r in s.scalars(select(ExecutionRow).where(
                ExecutionRow.proposal_id == pid, ExecutionRow.device_id.in_(ids)))}
        for d in ids:
            r = rows.get(d)
            if r is not None and r.status != "verified":
                verdicts[d] = Verdict("escalate", f"{pid} on this device: {r.status}: {r.error or ''}")

    def _maybe_finish(self, pid: str) -> None:
        """Close a group proposal once no target can still run: every device has a final outcome,
        or its case stopped waiting (escalated after its retries)."""
        from core.staged import RESUMABLE

        prog = self.lc.staged_progress(pid)
        if any(prog.get(str(x), 0) for x in RESUMABLE):
            return
        if prog.get("not_started", 0):
            with self.svc.store.read() as s:
                waiting = [c for c in s.scalars(select(RemediationCaseRow).where(
                    RemediationCaseRow.status.in_(("open", "dispatched", "proposed"))))
                           if pid in (c.proposal_ids or [])]
            if waiting:
                return
        with contextlib.suppress(GatewardError):
            self.lc.finish_staged(pid, self.svc.actor, "remediation group finished")

    def _settle(self, cases: list[RemediationCaseRow], proposals: Sequence[Proposal], rep: UnitReport) -> None:
        per_device: dict[str, list[Verdict]] = {}
        for p in proposals:
            for dev, v in self._advance(p, cases).items():
                per_device.setdefault(dev, []).append(v)
        buckets: dict[tuple[str, str], list[RemediationCaseRow]] = {}
        for c in cases:
            verdicts = per_device.get(c.device_id) or [Verdict("waiting", "no proposal targets this device")]
            kind = next((k for k in ("escalate", "retry", "waiting") if any(v.kind == k for v in verdicts)), "applied")
            reason = "; ".join(v.reason for v in verdicts if v.kind == kind)
            buckets.setdefault((kind, reason), []).append(c)
        for (kind, reason), group in buckets.items():
            if kind == "retry":
                self._retry(group, reason, rep, drop_proposals=not any(p.staged for p in proposals))
            else:
                self._finish(group, Verdict(kind, reason), rep)
        for p in proposals:  # a device given up on may have been the group's last one
            if p.staged and self.lc.get(p.id).state is S.APPLYING:
                self._maybe_finish(p.id)

    def _cancel(self, p: Proposal, why: str) -> None:
        with contextlib.suppress(GatewardError):
            self.lc.cancel(p.id, self.svc.actor, f"device not reachable, retried later: {why}"[:300])

    def _present(self, cases: list[RemediationCaseRow], devices: dict[str, Device],
                 rep: UnitReport) -> list[RemediationCaseRow]:
        out: list[RemediationCaseRow] = []
        away: list[RemediationCaseRow] = []
        for c in cases:
            d = devices[c.device_id]
            try:
                pres = self.rt.router.reader(d).presence(d)
                ok = pres.online and pres.reachable
            except ExecutorError:
                ok = False
            (out if ok else away).append(c)
        if away:
            self._retry(away, "the device is not reachable now", rep)
        return out

    def _retry(self, cases: list[RemediationCaseRow], reason: str, rep: UnitReport, *,
               drop_proposals: bool = False) -> None:
        now = self.svc.clock()
        lim = self.svc.limits.retry
        with self.svc.store.write() as s:
            for c in self._rows(s, cases):
                c.attempts += 1
                if drop_proposals and c.proposal_ids:
                    c.evidence = {**(c.evidence or {}), "cancelled_proposals": [
                        *(c.evidence or {}).get("cancelled_proposals", []), *c.proposal_ids]}
                    c.proposal_ids, c.proposal_id = [], None
                if c.attempts >= lim.max_attempts:
                    c.status, c.resolution = "escalated", f"gave up after {c.attempts} attempts: {reason}"
                    rep.settle(c, CaseOutcome.ESCALATED, c.resolution)
                else:
                    c.status, c.unit_id = "open", None
                    c.not_before = now + timedelta(seconds=lim.offline_delay_s)
                    c.resolution = f"retry {c.attempts}/{lim.max_attempts}: {reason}"
                    rep.settle(c, CaseOutcome.RETRY, c.resolution)
                c.updated_at = now

    def _finish(self, cases: list[RemediationCaseRow], v: Verdict, rep: UnitReport) -> None:
        now = self.svc.clock()
        status = {"applied": CaseOutcome.APPLIED, "waiting": CaseOutcome.PROPOSED, "escalate": CaseOutcome.ESCALATED,
                  "closed": CaseOutcome.CLOSED}[v.kind]
        cooldown = self.svc.cooldown(cases[0].problem) if cases else 0.0
        with self.svc.store.write() as s:
            for c in self._rows(s, cases):
                if status is CaseOutcome.CLOSED:
                    close(c, now, v.reason, cooldown)
                else:
                    c.status, c.resolution, c.updated_at = str(status), v.reason[:2000], now
                    if status is CaseOutcome.APPLIED:
                        c.applied_at = now
                rep.settle(c, status, v.reason)

    @staticmethod
    def _rows(s: Session, cases: list[RemediationCaseRow]) -> list[RemediationCaseRow]:
        ids = [c.id for c in cases]
        return list(s.scalars(select(RemediationCaseRow).where(RemediationCaseRow.id.in_(ids))))


def account(svc: Remediation, problem: str, *, executed: int, failed: int, rollback_failed: int, proposal: str
            ) -> None:
    with svc.store.write() as s:
        breaker.record(s, problem, executed=executed, failed=failed, rollback_failed=rollback_failed,
                       ramp=svc.limits.ramp, breaker=svc.limits.breaker, cap=svc.group_cap(), now=svc.clock(),
                       detail={"proposal": proposal})
