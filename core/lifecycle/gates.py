"""The gates (invariant 1), re-derived from the store at the moment of writing: state, content hash,
the current policy decision for that hash, its change window, approvals bound to this hash and
decision by still-active approvers, the preview, and validation.

Used by the single apply (before its locks), by every staged batch (``core.staged``, handed
:meth:`Gates.check`) and by :meth:`Approvals.who_can_act` (who could apply now).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from core import policy_input as pinput
from core import rbac, windows
from core.kernel.errors import Conflict, Forbidden, Invalid, WindowClosed
from core.kernel.models import Actor, ActorKind, Decision, Device, Proposal, ProposalState
from core.lifecycle.context import LifecycleContext, S
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
              stored_preview: dict[str, Any] | None = None, window: bool = True) -> None:
        """Invariant 1, re-derived from the store. Raises with the gate that failed.
        ``stored_preview``: the proposal row's preview, when the caller read the row in ``s``.
        ``window=False``: a scheduled write asked for before its time (``core.lifecycle.schedule``);
        the window is judged when it starts, not now."""
        if p.state not in states:
            require_state(p, *states, doing="apply")
        if p.hash != p.compute_hash():
            raise Conflict(f"proposal {p.id}'s stored content no longer matches its hash; refusing to apply")
        rec, decision = self.current_decision(s, p)
        if not decision.allow or not rec.allow:
            raise Forbidden(f"policy did not allow proposal {p.id}")
        if window:
            self.check_window(p, decision)
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

    def check_window(self, p: Proposal, decision: Decision) -> None:
        """The change window the decision bound this write to must be open now, by the clock policy
        judges (a change decided at 02:30 inside the DE window and applied at 14:00 used to
        end ``done``). Checked with the other gates, before any lock, so a refusal leaves the proposal
        approved, no lock behind and nothing written; an emergency has no window obligation."""
        now = self.ctx.clock()
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
