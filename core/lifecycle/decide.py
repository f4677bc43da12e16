"""The policy decision: the input document built from the store, evaluated per equivalence class
of devices (or per device for per-target values, or grouped by the database for a fleet), recorded
bound to the proposal's hash, moving it to ``denied``, ``awaiting_approval`` or ``approved``.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.orm import Session

from core import audit, compat
from core import policy_input as pinput
from core.kernel.errors import Conflict
from core.kernel.ids import new_id
from core.kernel.jsontypes import JsonObject
from core.kernel.models import Actor, ActorKind, Decision, Proposal, utcnow
from core.lifecycle.context import LifecycleContext, S
from core.states import require_state, set_state
from core.store import repo
from core.store.records import ProposalRecord, insert_rows
from core.store.schema import PolicyDecisionRow

_DECISIONS = cast(Table, PolicyDecisionRow.__table__)
FLEET_SQL_MIN = 1000  # above this many targets the database groups devices into policy classes


class Decisions:
    """Policy input, evaluation and the recorded decision."""

    def __init__(self, ctx: LifecycleContext) -> None:
        self.ctx = ctx

    def policy_input(self, pid: str) -> JsonObject:
        return self._policy_input(pid)[1]

    def _policy_input(self, pid: str) -> tuple[Proposal, JsonObject]:
        """The proposal and its decision input, read together (the input is of exactly that content)."""
        with self.ctx.store.read() as s:
            row = repo.get_proposal_row(s, pid)
            p = repo.proposal_from_row(row)
            return p, self._input_in(s, p, row.preview)

    def _input_in(self, s: Session, p: Proposal, preview: dict[str, Any] | None) -> dict[str, Any]:
        """The decision input of ``p`` with ``preview`` (stored, or just taken by ``submit``)."""
        order = {t: i for i, t in enumerate(p.targets)}
        devices = sorted(repo.target_rows(s, p.id), key=lambda r: order[r.id])
        author = self._author_actor(s, p)
        data = compat.policy_data(self.ctx.policy)
        statuses = compat.statuses_for(s, devices, compat.workflows_for(p.changes, p.operations, data), data)
        return pinput.build(s, p, devices, author, preview, compat=statuses, now=self.judged_at(p))

    def judged_at(self, p: Proposal) -> datetime:
        """The time policy judges ``p`` at: when its write will start — its not-before, for a change
        scheduled later (a two-device change for 03:00 inside a 01:00–05:00 window was denied in the
        afternoon) — else now, by policy's clock. The window is judged again when the write starts."""
        if p.not_before is not None and p.not_before > self.ctx.now():
            return p.not_before
        return self.ctx.clock()

    def _author_actor(self, s: Session, p: Proposal) -> Actor:
        u = repo.user_roles(s, p.author)
        if u is None:
            return Actor(id=p.author, roles=(), kind=p.author_kind)
        return Actor(id=p.author, roles=tuple(u[0]), kind=ActorKind(u[1]))

    def _evaluate(self, doc: dict[str, Any]) -> tuple[Decision, list[str], float]:
        """One evaluation for a one-device proposal; for more devices, one per equivalence class
        of devices (``policies.classes``), fanned out — identical results, far fewer evaluations."""
        t = time.perf_counter()
        if len(doc.get("devices", [])) > 1:
            from policies.classes import decide_fleet

            fleet = decide_fleet(self.ctx.policy, doc)
            decision, would_deny = fleet.decision, list(fleet.would_deny)
        else:
            detailed = getattr(self.ctx.policy, "decide_detailed", None)
            if callable(detailed):
                decision, would_deny = detailed(doc)
            else:
                decision, would_deny = self.ctx.policy.decide(doc), []
        return decision, list(would_deny), (time.perf_counter() - t) * 1e6

    def _decide_doc(self, pid: str) -> tuple[tuple[str, Decision, list[str], float, JsonObject], Proposal]:
        """(hash decided on, decision, would-deny, µs, input as stored) for the stored proposal and
        preview, and the proposal decided on."""
        with self.ctx.store.read() as s:
            row = ProposalRecord.load(s, pid)
            p = repo.proposal_from_row(row)
            if len(p.targets) <= FLEET_SQL_MIN:
                return self.decide_in(s, p, row.preview), p
        # A fleet: its classes may be grouped on every core (Store.fleet_read). Decided on the
        # proposal as read above: its hash is checked again under the row lock when recorded.
        with self.ctx.store.fleet_read(len(p.targets)) as s:
            return self.decide_in(s, p, row.preview), p

    def decide_in(self, s: Session, p: Proposal, preview: dict[str, Any] | None
                  ) -> tuple[str, Decision, list[str], float, dict[str, Any]]:
        """Evaluate policy on ``p`` with ``preview``, reading facts through ``s``. Fleet proposals
        are grouped into classes by the database; smaller ones build every device's facts."""
        if len(p.targets) > FLEET_SQL_MIN:
            from core import fleet_facts

            t = time.perf_counter()
            out = fleet_facts.decide_by_class(s, p, self.ctx.policy, self._author_actor(s, p), preview or {},
                                              now=self.judged_at(p))
            return p.hash, out.decision, out.would_deny, (time.perf_counter() - t) * 1e6, out.stored_input
        doc = self._input_in(s, p, preview)
        if p.per_target:  # each device is decided with its own values (never the union of all)
            own = pinput.device_changes(p, doc)
            decision, would_deny, us = self._evaluate_per_target(doc, own)
            return doc["proposal"]["hash"], decision, would_deny, us, {**pinput.compact(doc), "device_changes": own}
        decision, would_deny, us = self._evaluate(doc)
        return doc["proposal"]["hash"], decision, would_deny, us, pinput.compact(doc)

    def _evaluate_per_target(self, doc: dict[str, Any], own: dict[str, list[dict[str, Any]]]
                             ) -> tuple[Decision, list[str], float]:
        """A per-target proposal: one evaluation per device (devices identical in facts and values
        share one), each with exactly its own values, merged; every deny, would-deny and approval
        reason names the devices it is about (rules name device classes, not devices)."""
        from policies.classes import merge_decisions

        t = time.perf_counter()
        results = [(ids, *self._evaluate(narrowed)[:2]) for ids, narrowed in pinput.per_target_docs(doc, own)]
        decisions, would = pinput.name_per_device(results)
        merged, would_deny = merge_decisions(decisions, would)
        return merged, would_deny, (time.perf_counter() - t) * 1e6

    def decide(self, pid: str, actor: Actor | None = None, *, dry_run: bool = False) -> Decision:
        """Ask policy about exactly this proposal (bound to its hash). ``dry_run`` records the
        decision for explanation without moving the proposal (the planner's self-check)."""
        t0 = time.perf_counter()
        decided, known = self._decide_doc(pid)
        with self.ctx.store.write() as s:
            row, p = self.ctx.load(s, pid, known)
            self.record_in(s, row, p, decided, actor, dry_run=dry_run)
        self.ctx.time("decide", t0)
        return decided[1]

    def record_in(self, s: Session, row: ProposalRecord, p: Proposal,
                  decided: tuple[str, Decision, list[str], float, dict[str, Any]], actor: Actor | None,
                  *, dry_run: bool = False) -> dict[str, Any]:
        """Store a decision made on ``decided[0]`` (the hash) and move the proposal by it, in the
        caller's transaction, if the proposal is still exactly that content. Returns the decision's
        row as inserted."""
        pid = p.id
        decided_hash, decision, would_deny, us, stored_input = decided
        if p.hash != decided_hash or row.hash != decided_hash:
            raise Conflict(f"proposal {pid} changed while policy was evaluating; decide again")
        if not dry_run and row.state != S.PREVIEWED:
            require_state(repo.proposal_from_row(row), S.PREVIEWED, doing="decide on")
        decision_id = new_id("d")
        recorded = {
            "id": decision_id, "proposal_id": pid, "proposal_hash": p.hash, "revision": self.ctx.policy.revision,
            "engine": self.ctx.policy.name, "allow": decision.allow, "result": decision.model_dump(mode="json"),
            "input": pinput.stored(stored_input), "would_deny": would_deny, "duration_us": us, "dry_run": dry_run,
            "created_at": utcnow()}
        insert_rows(s, _DECISIONS, [recorded])
        summary: JsonObject = {"decision_id": decision_id, "allow": decision.allow, "deny": decision.deny,
                   "approvals_required": [a.model_dump() for a in decision.approvals_required],
                   "risk": decision.risk, "obligations": decision.obligations, "revision": self.ctx.policy.revision,
                   "would_deny": would_deny, "hash": p.hash}
        who = actor.id if actor else p.author
        if dry_run:
            audit.append(s, actor=who, action="policy.dry_run", proposal_id=pid, data=summary)
        else:
            row.risk = decision.risk
            if not decision.allow:
                set_state(s, row, S.DENIED, who, "policy.denied", summary,
                          error="; ".join(decision.deny) or "denied by policy")
            elif decision.approvals_required:
                set_state(s, row, S.AWAITING_APPROVAL, who, "policy.allowed", summary)
            else:
                set_state(s, row, S.APPROVED, who, "policy.allowed", summary)
        return recorded
