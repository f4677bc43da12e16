"""Remediation jobs: detect → open cases → dispatch under storm limits → plan → propose → apply.

``Remediation(runtime)`` is the one object the CLI, the API, the workers and the benchmark use.
The job is an *author*, never an approver: it asks the planner for a proposal as the ``automation``
actor (user ``remediator``) and submits it through the lifecycle; policy pre-approves catalogue
actions within their limits and routes everything else to the approvers' queue (or denies it).
The job applies what policy or a person approved, through ``Lifecycle.apply`` — the only writer.

One step (:meth:`tick`) closes confirmed fixes, re-queues cases whose proposal a person approved,
recovers work a dead worker left, and dispatches open cases as units of work while tokens last.
:meth:`drain` runs ticks and units inline (CLI, tests, benchmark); the workers
(``brain.remediation.worker``) run the same tick and hand units to the job queue.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from brain.detectors import RuleSet, by_problem, detect, load_rules
from brain.remediation import breaker
from brain.remediation.cases import (
    NewCase,
    OpenResult,
    case_dict,
    close,
    confirm_applied,
    open_candidates,
    open_many,
    queue_depth,
    stale_dispatched,
)
from brain.remediation.planner import plan_for
from brain.remediation.profiles import ProfileSet, load_profiles
from brain.remediation.runner import Runner, UnitReport, account
from brain.remediation.schema import RemediationBucketRow, RemediationCaseRow, RemediationProblemRow
from brain.remediation.storm import GLOBAL, JobLimits, NodeChains, TokenBuckets, load_limits, node_keys
from core import audit, compat, rbac
from core.kernel.errors import Conflict, Forbidden, Invalid, NotFound
from core.kernel.ids import new_id
from core.kernel.jsontypes import JsonObject
from core.kernel.models import Actor, ActorKind, ProposalState, utcnow
from core.services import CoreServices
from core.store.schema import DeviceRow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from brain.plan import Plan
    from core.kernel.models import Device

    # ``planner(rt, device, trigger, actor) -> Plan``: the playbook planner, or a test's stand-in.
    Planner = Callable[[CoreServices, Device, str, Actor], Plan]

ZTP_PROBLEM = "provision"
ZTP_TRIGGERS = ("bootstrap", "onboard", "factory_reset", "manual")
Unit = tuple[str, list[str]]
# The statuses a tick acts on: applied (confirm), dispatched (recover), proposed (follow), open (dispatch).
ACTIVE = ("applied", "dispatched", "proposed", "open")
_ANY_ACTIVE = select(RemediationCaseRow.id).where(RemediationCaseRow.status.in_(ACTIVE)).limit(1)


def class_key(vendor: str, model: str, firmware: str, region: str) -> str:
    return f"{vendor}|{model}|{firmware}|{region}"


@dataclass
class TickReport:
    """One scheduling round: the units it dispatched and how many cases its set-based statements
    confirmed, recovered and re-queued. A tally of bookkeeping, not of devices acted on: the
    per-case outcomes are the units' (:class:`~brain.remediation.runner.UnitReport`)."""

    units: list[Unit] = field(default_factory=list)
    confirmed: int = 0
    recovered: int = 0
    requeued: int = 0
    depth: dict[str, int] = field(default_factory=dict)

    @property
    def dispatched(self) -> int:
        return sum(len(c) for _, c in self.units)


@dataclass
class DrainReport:
    """An inline drain (CLI, tests, benchmark): ticks, units and peaks, and ``outcomes`` summed over
    its units' derived counts — every unit run counts, so a case retried twice then escalated is two
    ``retry`` and one ``escalated``. Per-case results stay in each :class:`UnitReport`."""

    ticks: int = 0
    units: int = 0
    proposals: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    peak_queue_depth: int = 0
    peak_inflight: int = 0
    elapsed_s: float = 0.0
    drained: bool = False
    final: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> JsonObject:
        return {"ticks": self.ticks, "units": self.units, "proposals": self.proposals,
                "outcomes": dict(self.outcomes), "peak_queue_depth": self.peak_queue_depth,
                "peak_inflight": self.peak_inflight, "elapsed_s": round(self.elapsed_s, 3),
                "drained": self.drained, "cases": self.final}


def _round_robin(cases: list[RemediationCaseRow]) -> list[RemediationCaseRow]:
    """Oldest first within each upstream node, upstreams taken in turn: a region that returns from
    an outage with thousands of cases does not starve a single case elsewhere."""
    by: dict[str | None, list[RemediationCaseRow]] = {}
    for c in cases:
        by.setdefault(c.upstream_id, []).append(c)
    queues = list(by.values())
    out: list[RemediationCaseRow] = []
    for i in range(max((len(q) for q in queues), default=0)):
        out += [q[i] for q in queues if i < len(q)]
    return out


class Remediation:
    """Remediation over one runtime. ``planner(rt, device, trigger, actor) -> Plan`` defaults to
    the playbook planner; ``clock`` to UTC now (tests move it)."""

    def __init__(self, runtime: CoreServices, *, rules: RuleSet | None = None, profiles: ProfileSet | None = None,
                 limits: JobLimits | None = None, clock: Callable[[], datetime] | None = None,
                 planner: Planner | None = None) -> None:
        self.rt = runtime
        self.store = runtime.store
        self.rules = rules or load_rules()
        self.profiles = profiles or load_profiles()
        self.limits = limits or load_limits()
        self.clock = clock or utcnow
        self.planner = planner or plan_for
        self.runner = Runner(self)
        self._actor: Actor | None = None

    # ================================================================== basics
    @property
    def actor(self) -> Actor:
        """The job's identity from the user directory: kind ``job`` with the ``automation`` role."""
        if self._actor is None:
            from core.users import get_actor

            a = get_actor(self.store, self.limits.actor)
            if a.kind is not ActorKind.JOB or "automation" not in a.roles:
                raise Forbidden(f"{a.id} is not an automation job user (kind job, role automation); remediation "
                                "refuses to act as a person")
            self._actor = a
        return self._actor

    def policy_data(self) -> dict[str, Any]:
        return compat.policy_data(self.rt.policy)

    def group_cap(self) -> int:
        """Devices per proposal: the ramp's maximum, below policy's smallest staged-rollout plan."""
        plans = (self.policy_data().get("rollout") or {}).get("plans") or []
        floor = min((int(p.get("min_targets", 10**9)) for p in plans), default=10**9)
        return max(1, min(self.limits.ramp.max_batch, floor - 1))

    def cooldown(self, problem: str) -> float:
        spec = self.rules.problems.get(problem)
        return spec.cooldown_h if spec is not None else 0.0

    def cooldowns(self) -> dict[str, float]:
        return {k: v.cooldown_h for k, v in self.rules.problems.items()}

    def account(self, problem: str, *, executed: int, failed: int, rollback_failed: int, proposal: str) -> None:
        account(self, problem, executed=executed, failed=failed, rollback_failed=rollback_failed, proposal=proposal)

    # ================================================================== detect
    def detect(self, *, device_ids: Sequence[str] | None = None, problems: Iterable[str] | None = None,
               dry_run: bool = False) -> JsonObject:
        """Run the detector rules and open a case per (device, problem) found."""
        now = self.clock()
        t0 = time.perf_counter()
        with self.store.read() as s:
            found = detect(s, self.rules, device_ids=device_ids, now=now, expected=self.profiles.expected,
                           problems=problems)
            groups = by_problem(found)
            ids = sorted({d for d, _ in groups})
            devs = {}
            for i in range(0, len(ids), 5000):
                devs.update({r.id: r for r in s.execute(select(
                    DeviceRow.id, DeviceRow.vendor, DeviceRow.model, DeviceRow.firmware, DeviceRow.region,
                    DeviceRow.upstream_id).where(DeviceRow.id.in_(ids[i:i + 5000])))})
        items = []
        for (dev_id, problem), dets in groups.items():
            d = devs.get(dev_id)
            if d is None:
                continue
            spec = self.rules.problems[problem]
            last = max((x.last_ts for x in dets if x.last_ts is not None), default=None)
            items.append(NewCase(device_id=dev_id, problem=problem, kind="detector", upstream_id=d.upstream_id,
                                 class_key=class_key(d.vendor, d.model, d.firmware, d.region),
                                 last_evidence_at=last, cooldown_h=spec.cooldown_h,
                                 evidence={"summary": spec.summary, "rules": [x.evidence() for x in dets]}))
        by = Counter(i.problem for i in items)
        detect_s = time.perf_counter() - t0
        if dry_run:
            return {"detections": len(found), "devices": len(items), "by_problem": dict(by), "detect_s": detect_s}
        with self.store.write() as s:
            res = open_many(s, items, now)
            audit.append(s, actor=self.limits.actor, action="remediation.detected", data={
                "rules": len(self.rules.rules), "detections": len(found), "by_problem": dict(by), **res.as_dict()})
        return {"detections": len(found), "devices": len(items), "by_problem": dict(by), **res.as_dict(),
                "detect_s": round(detect_s, 3)}

    # ================================================================== zero-touch
    def trigger_ztp(self, device_id: str, trigger: str, *, ts: datetime | None = None,
                    data: dict[str, Any] | None = None, source: str = "manual") -> OpenResult:
        """A device's first contact or factory reset: open a provisioning case (deduplicated;
        an event older than the last provisioning is ignored, so replays do nothing)."""
        if trigger not in ZTP_TRIGGERS:
            raise Invalid(f"unknown provisioning trigger {trigger!r}; one of {', '.join(ZTP_TRIGGERS)}")
        now = self.clock()
        ev = {"summary": f"zero-touch provisioning: {trigger} ({source})", "trigger": trigger, "source": source,
              "event": data or {}}
        with self.store.write() as s:
            d = s.get(DeviceRow, device_id)
            if d is None:
                item = NewCase(device_id=device_id, problem=ZTP_PROBLEM, kind="ztp", evidence=ev,
                               last_evidence_at=ts or now, cooldown_h=0, status="escalated",
                               resolution="not in the inventory: register the device (subscriber, region, service); "
                                          "it is provisioned on its next contact")
            else:
                item = NewCase(device_id=device_id, problem=ZTP_PROBLEM, kind="ztp", evidence=ev,
                               upstream_id=d.upstream_id, class_key=class_key(d.vendor, d.model, d.firmware, d.region),
                               last_evidence_at=ts or now, cooldown_h=0)
            res = open_many(s, [item], now)
            if res.opened:
                audit.append(s, actor=self.limits.actor, action="remediation.ztp_triggered", device_id=device_id,
                             data={"trigger": trigger, "source": source, "case": res.opened[0],
                                   "known_device": d is not None})
        return res

    # ================================================================== the loop
    def tick(self, *, depth: bool = True) -> TickReport:
        """One round. ``depth=False`` skips counting the queue (the workers' watchdog ignores it).

        Every part of a round acts only on cases in an :data:`ACTIVE` status (applied → confirm,
        dispatched → recover, proposed → follow the proposal, open → dispatch), so when no case
        is in one the round is a no-op and only that one indexed read is paid: every worker ticks
        twice a second, and an idle round used to cost four transactions — more than half of
        an idle worker's CPU, paid during every rollout."""
        now = self.clock()
        rep = TickReport()
        if not self._has_active():
            if depth:
                with self.store.read() as s:
                    rep.depth = queue_depth(s)
            return rep
        with self.store.write() as s:
            rep.confirmed = confirm_applied(s, now, self.limits.confirm_h, self.cooldowns())
            rep.recovered = stale_dispatched(s, now, self.limits.stale_dispatch_s)
            rep.requeued = self._sync_proposed(s, now)
        rep.units = self._dispatch(now)
        if depth:
            with self.store.read() as s:
                rep.depth = queue_depth(s)
        return rep

    def _has_active(self) -> bool:
        """Is any case in a status a round acts on? One read of the status index."""
        with self.store.read() as s:
            return s.scalar(_ANY_ACTIVE) is not None

    def _sync_proposed(self, s: Session, now: datetime) -> int:
        """Cases waiting for people: approved → back in the queue (the job applies it); rejected,
        cancelled or denied → escalated; applied by someone else → applied."""
        from core.store.schema import ProposalRow

        rows = list(s.scalars(select(RemediationCaseRow).where(RemediationCaseRow.status == "proposed").limit(5000)))
        pids = sorted({p for r in rows for p in (r.proposal_ids or [])})
        states: dict[str, tuple[str, str | None]] = {}
        for i in range(0, len(pids), 1000):
            for pid, st, err in s.execute(select(ProposalRow.id, ProposalRow.state, ProposalRow.error).where(
                    ProposalRow.id.in_(pids[i:i + 1000]))):
                states[pid] = (st, err)
        n = 0
        for r in rows:
            got = [states.get(p, ("missing", "proposal not found")) for p in (r.proposal_ids or [])]
            if any(st == ProposalState.APPROVED for st, _ in got):
                r.status, r.unit_id, r.updated_at, r.not_before = "open", None, now, None
                n += 1
            elif any(st in {str(x) for x in (ProposalState.REJECTED, ProposalState.CANCELLED,
                                             ProposalState.DENIED, ProposalState.FAILED,
                                             ProposalState.ROLLED_BACK, ProposalState.INVALID)} or st == "missing"
                     for st, _ in got):
                r.status, r.updated_at = "escalated", now
                r.resolution = "; ".join(f"{p} {st}: {err or ''}" for p, (st, err) in
                                         zip(r.proposal_ids or [], got, strict=False))[:2000]
            elif got and all(st == ProposalState.DONE for st, _ in got):
                r.status, r.applied_at, r.updated_at = "applied", now, now
        return n

    def _dispatch(self, now: datetime) -> list[Unit]:
        storm = self.limits.storm
        cap = self.group_cap()
        with self.store.write() as s:
            halted = breaker.halted(s)
            cands = _round_robin(open_candidates(s, now, halted, storm.scan))
            if not cands:
                return []
            inflight_by = dict(s.execute(select(RemediationCaseRow.upstream_id, func.count()).where(
                RemediationCaseRow.status == "dispatched").group_by(RemediationCaseRow.upstream_id)).all())
            busy_problems = {p for (p,) in s.execute(select(RemediationCaseRow.problem).where(
                RemediationCaseRow.status == "dispatched").distinct())}
            inflight = int(sum(inflight_by.values()))
            chains = NodeChains.load(s, {c.upstream_id for c in cands})
            keys = sorted({k for c in cands for k in node_keys(chains.chain(c.upstream_id))})
            buckets = TokenBuckets(s, storm, now, keys, chains.kinds)
            ramps = {p: breaker.get_row(s, p, self.limits.ramp, cap, now) for p in {c.problem for c in cands}}
            units: dict[tuple[str, ...], list[RemediationCaseRow]] = {}
            started: set[str] = set()
            for c in cands:
                if inflight >= storm.max_inflight or buckets.level(GLOBAL) < 1:
                    break
                if c.kind == "ztp":
                    key: tuple[str, ...] = ("ztp", c.id)
                else:
                    size = ramps[c.problem].batch_size
                    ramping = size < cap
                    key = (c.problem, c.class_key)
                    group = units.get(key)
                    if group is None and ramping and (c.problem in busy_problems or c.problem in started):
                        continue  # a canary-sized proposal of this problem is still out: wait for its outcome
                    if group is not None and len(group) >= size:
                        if ramping:
                            continue
                        n = 1
                        while len(units.get((*key, str(n)), [])) >= size:
                            n += 1
                        key = (*key, str(n))
                if int(inflight_by.get(c.upstream_id, 0)) >= storm.max_inflight_per_node and c.upstream_id:
                    continue
                if not buckets.take(node_keys(chains.chain(c.upstream_id))):
                    continue
                units.setdefault(key, []).append(c)
                started.add(c.problem)
                inflight += 1
                inflight_by[c.upstream_id] = int(inflight_by.get(c.upstream_id, 0)) + 1
            out: list[Unit] = []
            for group in units.values():
                uid = new_id("ru")
                for c in group:
                    c.status, c.unit_id, c.dispatched_at, c.updated_at = "dispatched", uid, now, now
                out.append((uid, [c.id for c in group]))
        return out

    def recover_local(self) -> int:
        """In-memory queue (SQLite): units of a previous worker process died with it; their cases
        go back to open (a recorded proposal is followed, never made again)."""
        now = self.clock()
        with self.store.write() as s:
            return stale_dispatched(s, now, 0.0)

    def run_unit(self, unit_id: str) -> UnitReport:
        return self.runner.run_unit(unit_id)

    def drain(self, *, timeout_s: float = 300.0, idle_sleep_s: float = 0.05,
              on_tick: Callable[[TickReport], None] | None = None) -> DrainReport:
        """Tick and run units inline until nothing is ready (open cases waiting for a retry time,
        an approver or a halted problem do not count) or ``timeout_s`` passes."""
        rep = DrainReport()
        t0 = time.perf_counter()
        while True:
            tick = self.tick()
            rep.ticks += 1
            depth = tick.depth.get("open", 0) + tick.depth.get("dispatched", 0)
            rep.peak_queue_depth = max(rep.peak_queue_depth, depth)
            rep.peak_inflight = max(rep.peak_inflight, tick.depth.get("dispatched", 0))
            if on_tick is not None:
                on_tick(tick)
            for uid, _ in tick.units:
                ur = self.run_unit(uid)
                rep.units += 1
                rep.proposals += len(ur.proposals)
                rep.outcomes.update(ur.outcomes)
            if not tick.units:
                ready = self.ready_count(include_dispatched=False)  # ours all ran; others' are theirs
                if ready == 0:
                    rep.drained = True
                    break
                if time.perf_counter() - t0 > timeout_s:
                    break
                time.sleep(idle_sleep_s)  # waiting for tokens to refill
            elif time.perf_counter() - t0 > timeout_s:
                break
        rep.elapsed_s = time.perf_counter() - t0
        with self.store.read() as s:
            rep.final = queue_depth(s)
        return rep

    def ready_count(self, *, include_dispatched: bool = True) -> int:
        """Cases a worker could take now (open, due, problem not halted), plus those taken."""
        now = self.clock()
        with self.store.read() as s:
            halted = breaker.halted(s)
            due = (RemediationCaseRow.status == "open") & (RemediationCaseRow.not_before.is_(None)
                                                          | (RemediationCaseRow.not_before <= now))
            q = select(func.count()).select_from(RemediationCaseRow).where(
                due | (RemediationCaseRow.status == "dispatched") if include_dispatched else due)
            if halted:
                q = q.where(RemediationCaseRow.problem.not_in(halted))
            return int(s.scalar(q) or 0)

    # ================================================================== people
    def _case_row(self, s: Session, case_id: str) -> RemediationCaseRow:
        row = s.get(RemediationCaseRow, case_id)
        if row is None:
            raise NotFound(f"no remediation case {case_id!r}; `gateward remediation cases` lists them")
        return row

    def get(self, case_id: str) -> dict[str, Any]:
        with self.store.read() as s:
            return case_dict(self._case_row(s, case_id))

    def list(self, *, status: str | None = None, problem: str | None = None, device_id: str | None = None,
             limit: int = 100, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        q = select(RemediationCaseRow)
        if status:
            q = q.where(RemediationCaseRow.status.in_(status.split(",")))
        if problem:
            q = q.where(RemediationCaseRow.problem == problem)
        if device_id:
            q = q.where(RemediationCaseRow.device_id == device_id)
        with self.store.read() as s:
            total = int(s.scalar(select(func.count()).select_from(q.subquery())) or 0)
            rows = s.scalars(q.order_by(RemediationCaseRow.updated_at.desc(), RemediationCaseRow.id)
                             .limit(limit).offset(offset))
            return [case_dict(r) for r in rows], total

    def close_case(self, case_id: str, actor: Actor, reason: str) -> JsonObject:
        """A person closes a case (escalated ones, usually), with the reason; the cooldown applies."""
        if not reason.strip():
            raise Invalid("closing a case needs a reason (--reason TEXT)")
        if not (rbac.can_review(actor) or "admin" in actor.roles or "support_agent" in actor.roles):
            raise Forbidden(f"{actor.id} may not close remediation cases (support agents, approvers, admins)")
        with self.store.write() as s:
            row = self._case_row(s, case_id)
            if row.status in ("closed", "suppressed"):
                raise Conflict(f"case {case_id} is already {row.status}")
            if row.status == "dispatched":
                raise Conflict(f"case {case_id} is being worked on right now; close it when it settles")
            close(row, self.clock(), f"closed by {actor.id}: {reason}", self.cooldown(row.problem))
            audit.append(s, actor=actor.id, action="remediation.case_closed", device_id=row.device_id,
                         data={"case": case_id, "problem": row.problem, "reason": reason})
            return case_dict(row)

    def adopt(self, case_id: str, actor: Actor) -> JsonObject:
        """A person takes over an escalated case: the planner drafts the fix again with that person
        as the author, and policy decides (for a management-plane fix: a senior approver)."""
        if actor.kind is not ActorKind.HUMAN:
            raise Forbidden("only a person can adopt an escalated case")
        with self.store.read() as s:
            row = self._case_row(s, case_id)
            if row.status != "escalated":
                raise Conflict(f"case {case_id} is {row.status}; only escalated cases are adopted")
            device_id, problem = row.device_id, row.problem
        spec = self.rules.problems.get(problem)
        if spec is None or spec.trigger is None:
            raise Conflict(f"problem {problem} has no planner trigger; fix it by hand with `gateward propose`")
        from core.store import repo

        with self.store.read() as s:
            device = repo.get_device(s, device_id)
        plan = self.planner(self.rt, device, spec.trigger, actor)
        if plan.outcome != "change" or plan.draft is None:
            raise Conflict(f"the planner has no change for case {case_id}: {plan.text}")
        p = self.rt.lifecycle.submit(plan.draft.model_copy(update={"source": "remediation"}), actor)
        now = self.clock()
        with self.store.write() as s:
            row = self._case_row(s, case_id)
            row.proposal_ids, row.proposal_id = [p.id], p.id
            row.status = "proposed" if p.state in (ProposalState.AWAITING_APPROVAL, ProposalState.APPROVED) \
                else "escalated"
            row.resolution = f"adopted by {actor.id}: {p.id} is {p.state}" + (f" ({p.error})" if p.error else "")
            row.updated_at = now
            audit.append(s, actor=actor.id, action="remediation.case_adopted", proposal_id=p.id,
                         device_id=device_id, data={"case": case_id, "problem": problem, "state": str(p.state)})
            return case_dict(row)

    def set_problem(self, problem: str, state: str, actor: Actor, reason: str = "") -> JsonObject:
        """Halt or resume remediation of one problem (resume: approvers and admins)."""
        if state not in ("halted", "running"):
            raise Invalid("state must be halted or running")
        if state == "running" and not (rbac.can_review(actor) or "admin" in actor.roles):
            raise Forbidden(f"{actor.id} may not resume remediation (approvers, senior approvers, admins)")
        if state == "halted" and not (rbac.can_review(actor) or rbac.can_apply(actor)):
            raise Forbidden(f"{actor.id} may not halt remediation")
        if problem not in self.rules.problems and problem != ZTP_PROBLEM:
            raise NotFound(f"unknown problem {problem!r}; known: {', '.join(sorted(self.rules.problems))}")
        with self.store.write() as s:
            return breaker.as_dict(breaker.set_state(s, problem, state, actor.id, reason, self.limits.ramp,
                                                     self.group_cap(), self.clock()))

    def status(self) -> dict[str, Any]:
        with self.store.read() as s:
            depth = queue_depth(s)
            by_problem = [{"problem": p, "status": st, "count": int(n)} for p, st, n in s.execute(
                select(RemediationCaseRow.problem, RemediationCaseRow.status, func.count())
                .group_by(RemediationCaseRow.problem, RemediationCaseRow.status))]
            problems = [breaker.as_dict(r) for r in s.scalars(select(RemediationProblemRow))]
            g = s.get(RemediationBucketRow, GLOBAL)
        return {"cases": depth, "queue_depth": depth.get("open", 0) + depth.get("dispatched", 0),
                "by_problem": by_problem, "problems": problems,
                "global_tokens": round(g.tokens, 2) if g is not None else None,
                "limits": self.limits.storm.model_dump(by_alias=True), "group_cap": self.group_cap()}
