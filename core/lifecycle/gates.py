"""The one gate (invariants 1 and 8), re-derived from the store at the moment of writing: state,
content hash, the current policy decision for that hash, approvals bound to this hash and decision by
still-active approvers, the preview, validation — and every obligation of that decision, whichever
way in started the write (:class:`Way`): its change window, its schedule (not before, and never after
its latest start), a staged rollout's rings, control cohort and rehearsal (through the campaigns'
:class:`core.staging.StageAuthority`). Preconditions are read live after the locks
(``core.lifecycle.schedule``), by this gate's callers, on both ways.

Used by the single apply (before its locks: API, CLI, chat, the scheduler, remediation), by every
staged batch (``core.staged``, handed :meth:`Gates.check`) and by :meth:`Approvals.who_can_act`.
Why here and not at the entry points: each rule checked at one way in and not at another was a leak —
an edited campaign proposal applied whole by a plain apply, a plain proposal whose decision demanded
rings applied at once (issue 54).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from core import policy_input as pinput
from core import rbac, windows
from core.kernel.errors import Conflict, Forbidden, Invalid, NotYet, ObligationUnmet, ScheduleExpired, WindowClosed
from core.kernel.models import Actor, ActorKind, Decision, Device, Proposal, ProposalState
from core.lifecycle.context import LifecycleContext, S
from core.staging import StageDemand, Way
from core.states import require_state
from core.store import repo
from core.store.records import DecisionRowRecord, ProposalRecord
from core.validation import validate_changes


class Gates:
    """Every gate a write must pass, read from the store in the caller's transaction."""

    def __init__(self, ctx: LifecycleContext) -> None:
        self.ctx = ctx

    @staticmethod
    def check_preview(s: Session, p: Proposal, stored: dict[str, Any] | None = None) -> None:
        """Backstop for policy: the stored preview is of exactly this content
        and read every target (offline targets are held, not failed, only in a staged rollout).
        Its age is not re-checked here: approval takes time, and the backup is read fresh anyway.
        ``stored`` is the preview as the caller just read it from the store in this transaction."""
        preview = (stored if stored is not None else ProposalRecord.load(s, p.id).preview) or {}
        if preview.get("hash") != p.hash:
            raise Forbidden(f"proposal {p.id} has no preview of its current content; preview and decide again")
        done = pinput.preview_completeness(preview, len(p.targets))
        if done["failed"] or (done["offline"] and not p.staged):
            what = "; ".join(done["errors"]) or f"{done['failed']} target(s) not covered"
            raise Forbidden(f"proposal {p.id}'s preview did not read every target ({what}); "
                            "preview and decide again")

    def check(self, s: Session, p: Proposal, devices: dict[str, Device],
              states: tuple[ProposalState, ...] = (S.APPROVED,), *,
              stored_preview: dict[str, Any] | None = None, way: Way = Way.APPLY,
              batch: Sequence[str] | None = None, at: datetime | None = None) -> None:
        """Invariants 1 and 8, re-derived from the store. Raises with the gate that failed.
        ``stored_preview``: the proposal row's preview, when the caller read the row in ``s``.
        ``way``: how the write reaches its devices; ``batch``: a staged batch's device ids (the
        campaign admits each). ``at``: judge the write as starting then, not now — a scheduled write
        asked for before its time (``core.lifecycle.schedule``) is judged at its not-before, its
        window included; it is judged again when it starts."""
        if p.state not in states:
            require_state(p, *states, doing="apply")
        if p.hash != p.compute_hash():
            raise Conflict(f"proposal {p.id}'s stored content no longer matches its hash; refusing to apply")
        rec, decision = self.current_decision(s, p)
        if not decision.allow or not rec.allow:
            raise Forbidden(f"policy did not allow proposal {p.id}")
        self.check_staging(s, p, decision, way, batch)
        self.check_schedule(p, at)
        self.check_window(p, decision, at)
        every = repo.approvals_for(s, p.id)
        if any(a.verdict == "reject" and a.proposal_hash == p.hash for a in every):
            raise Forbidden(f"proposal {p.id} was rejected")
        approvals = [a for a in every if a.verdict == "approve"]
        remaining = [a.role for a in decision.approvals_required]
        approvers: set[str] = set()

        for a in approvals:
            if (a.proposal_hash != p.hash or a.decision_id != rec.id or a.role not in remaining
                    or a.actor == p.author or a.actor in approvers):
                continue
            u = repo.user_roles(s, a.actor)
            if u is None or not u[2]:
                continue
            approver = Actor(id=a.actor, roles=tuple(u[0]), kind=ActorKind(u[1]))
            if rbac.can_satisfy(approver, a.role or ""):
                remaining.remove(a.role or "")
                approvers.add(a.actor)
        if remaining:
            raise Forbidden(f"proposal {p.id} is missing approval by {', '.join(remaining)} for its current content")
        self.check_preview(s, p, stored_preview)
        for d in devices.values():
            issues = validate_changes(d, p.changes_for(d.id))
            if issues:
                raise Invalid(f"proposal {p.id} no longer validates: "
                              + (f"{d.id}: " if p.per_target else "") + issues[0].message)

    def check_staging(self, s: Session, p: Proposal, decision: Decision, way: Way,
                      batch: Sequence[str] | None) -> None:
        """A staged proposal is written only in batches, and a decision that demands rings or a
        rehearsal only through a campaign that holds them: never all at once, never a ring the
        campaign has not reached, never before its clean rehearsal (invariant 8). The demand is read
        from the decision's coded obligations, so a proposal whose staged flag was lost still carries it."""
        demand = StageDemand.of(decision.obligation_items)
        if way is Way.APPLY:
            if p.staged:
                raise ObligationUnmet(f"proposal {p.id} is a staged rollout; it is applied in rings by its "
                                      "campaign, never all at once")
            if demand.any:
                raise ObligationUnmet(f"policy approved proposal {p.id} only for {demand.words()} "
                                      f"({len(p.targets)} targets); it is never applied all at once — roll it "
                                      "out as a campaign", obligation="stage" if demand.stages else "rehearsal")
            return
        if not p.staged:
            raise Conflict(f"proposal {p.id} is not staged; apply it with `gateward apply`")
        if batch is None:  # who could act: the campaign's own checks come when a batch runs
            return
        authority = self.ctx.stages
        if authority is None:
            if demand.any:
                raise ObligationUnmet(f"proposal {p.id} needs {demand.words()}, and no campaign authority is "
                                      "bound in this process to hold them; nothing was written")
            return
        authority.admit(s, p, batch, demand)

    def check_schedule(self, p: Proposal, at: datetime | None = None) -> None:
        """A scheduled write starts no earlier than its not-before and never after its latest start,
        by the time that passes (``LifecycleContext.now``: a pinned policy time of day does not move
        it). ``at``: judged as starting then."""
        now = at or self.ctx.now()
        if p.not_before is not None and now < p.not_before:
            raise NotYet(f"proposal {p.id} is scheduled for {p.not_before.isoformat()}; nothing was written — "
                         "the worker starts it then", not_before=p.not_before.isoformat())
        if p.not_after is not None and now > p.not_after:
            raise ScheduleExpired(f"proposal {p.id} was to start by {p.not_after.isoformat()} at the latest and "
                                  "that time has passed; it is not run late — nothing was written",
                                  not_after=p.not_after.isoformat())

    def check_window(self, p: Proposal, decision: Decision, at: datetime | None = None) -> None:
        """The change window the decision bound this write to must be open now, by the clock policy
        judges (a change decided at 02:30 inside the DE window and applied at 14:00 used to
        end ``done``) — or at ``at``, when the write is judged for its scheduled time. Checked with
        the other gates, before any lock, so a refusal leaves the proposal approved, no lock behind
        and nothing written; an emergency has no window obligation."""
        now = at or self.ctx.clock()
        closed = windows.closed_now(decision.obligation_items, now)
        if closed:
            raise WindowClosed(windows.closed_text(p.id, closed, now), regions=[w.region for w in closed],
                               opens_at=max(w.next_open(now) for w in closed).isoformat())

    def current_decision(self, s: Session, p: Proposal) -> tuple[DecisionRowRecord, Decision]:
        rec = repo.latest_decision(s, p.id)
        if rec is None:
            raise Conflict(f"proposal {p.id} has no policy decision; run decide first")
        if rec.proposal_hash != p.hash:
            raise Conflict(f"proposal {p.id} changed after policy decided (decision {rec.id} is for "
                           f"{rec.proposal_hash[:12]}, proposal is {p.hash[:12]}); it must be decided again")
        return rec, Decision(**rec.result)
