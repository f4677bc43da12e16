"""Approving and rejecting a proposal, and who can act on it now.

An approval is bound to the proposal's hash and to the current policy decision; never the author's,
never a job's, and only for a role policy asked for that the approver holds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import audit, rbac
from core.execution import lock_in_use
from core.kernel.errors import Conflict, Forbidden, Invalid
from core.kernel.ids import new_id
from core.kernel.models import TERMINAL_STATES, Actor, ActorKind, Decision, Proposal, utcnow
from core.lifecycle.context import EDITABLE, EXECUTING, LifecycleContext, S
from core.lifecycle.gates import Gates
from core.lifecycle.locking import DeviceLocks
from core.staging import Way
from core.states import require_state, set_state
from core.store import repo
from core.store.records import DecisionRowRecord
from core.store.schema import ApprovalRow, DeviceLockRow


class Approvals:
    """The approval phase: approve, reject, who can act."""

    def __init__(self, ctx: LifecycleContext, gates: Gates, locks: DeviceLocks) -> None:
        self.ctx, self.gates, self.locks = ctx, gates, locks

    @staticmethod
    def _counted(s: Session, p: Proposal, rec: DecisionRowRecord) -> list[Any]:
        """Approvals that answer the current decision for the current content. An edit always ends
        in a new decision, so an approval given before it never counts again (defect 3:
        editing A → B → A revived A's approvals and left the proposal waiting forever)."""
        return [a for a in repo.approvals_for(s, p.id)
                if a.verdict == "approve" and a.proposal_hash == p.hash and a.decision_id == rec.id]

    def _outstanding(self, s: Session, p: Proposal, rec: DecisionRowRecord, decision: Decision) -> list[str]:
        """Roles still needing a distinct approver, given the approvals bound to this decision."""
        remaining = [a.role for a in decision.approvals_required]
        for a in self._counted(s, p, rec):
            if a.role in remaining:
                remaining.remove(a.role)
        return remaining

    def _approval_role(self, s: Session, p: Proposal, actor: Actor) -> tuple[DecisionRowRecord, Decision, str | None]:
        """The required role ``actor``'s approval would fill now (None: nothing is outstanding), or
        the reason they cannot approve. Shared by :meth:`approve` and :meth:`who_can_act`, so what
        the console says someone can do is what the server lets them do."""
        require_state(p, S.AWAITING_APPROVAL, doing="approve")
        if actor.kind is not ActorKind.HUMAN:
            raise Forbidden(f"{actor.id} is a job; approvals must come from a person")
        if actor.id == p.author:
            raise Forbidden(f"separation of duties: {actor.id} wrote proposal {p.id} and cannot approve it")
        rec, decision = self.gates.current_decision(s, p)
        outstanding = self._outstanding(s, p, rec, decision)
        if any(a.actor == actor.id for a in self._counted(s, p, rec)):
            raise Conflict(f"{actor.id} already approved proposal {p.id} in its current form; it still needs "
                           f"{', '.join(outstanding) or 'nothing'} from another person")
        if not outstanding:  # every requirement met, yet still waiting (not reachable today): a reviewer may confirm
            if not rbac.can_review(actor):
                raise Forbidden(f"{actor.id} (roles: {', '.join(actor.roles) or 'none'}) may not review proposals")
            return rec, decision, None
        # Take the hardest requirement this actor can meet, so a senior approver is not spent
        # on a plain approver slot while a senior slot stays open.
        order = sorted(outstanding, key=lambda r: 0 if r == "senior_approver" else 1)
        role = next((r for r in order if rbac.can_satisfy(actor, r)), None)
        if role is None:
            raise Forbidden(f"{actor.id} (roles: {', '.join(actor.roles) or 'none'}) cannot approve "
                            f"proposal {p.id}: it needs {', '.join(outstanding)}")
        return rec, decision, role

    def approve(self, pid: str, actor: Actor, comment: str = "", expected_hash: str | None = None) -> Proposal:
        with self.ctx.store.write() as s:
            row, p = self.ctx.load(s, pid)
            if expected_hash is not None and expected_hash != p.hash:
                raise Conflict(f"proposal {pid} changed since you reviewed it (you saw {expected_hash[:12]}, "
                               f"it is now {p.hash[:12]}); review it again", current_hash=p.hash)
            if p.hash != p.compute_hash():
                raise Conflict(f"proposal {pid}'s stored content no longer matches its hash; refusing")
            rec, decision, role = self._approval_role(s, p, actor)
            if role is None:  # every requirement already met (not reachable today): never leave it waiting
                set_state(s, row, S.APPROVED, actor.id, "proposal.approved",
                          {"decision_id": rec.id, "hash": p.hash, "note": "every required approval was given"})
                return self.ctx.get(pid)
            s.add(ApprovalRow(id=new_id("a"), proposal_id=pid, proposal_hash=p.hash, decision_id=rec.id,
                              actor=actor.id, role=role, verdict="approve", comment=comment, created_at=utcnow()))
            s.flush()
            remaining = self._outstanding(s, p, rec, decision)
            data = {"role": role, "comment": comment, "hash": p.hash, "decision_id": rec.id, "remaining": remaining}
            if remaining:
                audit.append(s, actor=actor.id, action="proposal.approval_recorded", proposal_id=pid, data=data)
            else:
                set_state(s, row, S.APPROVED, actor.id, "proposal.approved", data)
        return self.ctx.get(pid)

    def who_can_act(self, pid: str) -> dict[str, list[str]]:
        """Who (active users, by id) can move this proposal forward now, per action; ``executing``
        lists the lock owners while an apply runs; empty once it is terminal. Why: an approver
        screen can say whom a proposal waits for, and the state-machine test proves that no
        reachable state leaves nobody able to act."""
        from core.store.schema import UserRow

        with self.ctx.store.read() as s:
            row = repo.get_proposal_row(s, pid)
            p = repo.proposal_from_row(row)
            if p.state in TERMINAL_STATES:
                return {}
            locks = list(s.scalars(select(DeviceLockRow).where(DeviceLockRow.proposal_id == pid)))
            if p.state in EXECUTING or any(lock_in_use(lk.owner, lk.expires_at) for lk in locks):
                return {"executing": sorted({lk.owner for lk in locks})}
            users = [Actor(id=u.id, roles=tuple(u.roles), kind=ActorKind(u.kind))
                     for u in s.scalars(select(UserRow).where(UserRow.active.is_(True)).order_by(UserRow.id))]
            out: dict[str, list[str]] = {}
            if p.state in (S.DRAFT, S.VALIDATED, S.PREVIEWED):
                out["submit"] = [p.author]
            if p.state is S.AWAITING_APPROVAL:
                out["approve"] = [u.id for u in users if self._can(self._approval_role, s, p, u)]
            if p.state is S.APPROVED:
                out["apply"] = [u.id for u in users if rbac.can_apply(u)] if self._gates_pass(s, p) else []
            if p.state is S.ROLLBACK_PENDING:  # the system re-checks it; an admin may run `gateward recover`
                out["recover"] = [u.id for u in users if "admin" in u.roles]
            if p.state in (S.AWAITING_APPROVAL, S.APPROVED):
                out["reject"] = [u.id for u in users if rbac.can_review(u) and u.id != p.author]
            if p.state in EDITABLE:
                out["cancel"] = [u.id for u in users if u.id == p.author or "admin" in u.roles]
            return {k: v for k, v in out.items() if v}

    def _gates_pass(self, s: Session, p: Proposal) -> bool:
        """Would the one gate let an approved ``p`` go ahead now? A staged proposal is run by its campaign
        (its batches are admitted then); a scheduled one before its time is confirmed now and judged as
        it will start."""
        devices = repo.get_devices(s, p.targets)
        way = Way.BATCH if p.staged else Way.APPLY
        later = p.not_before if p.not_before is not None and p.not_before > self.ctx.now() else None
        return self._can(lambda: self.gates.check(s, p, devices, way=way, at=later))

    @staticmethod
    def _can(attempt: Callable[..., Any], *args: Any) -> bool:
        try:
            attempt(*args)
        except (Conflict, Forbidden, Invalid):
            return False
        return True

    def reject(self, pid: str, actor: Actor, reason: str) -> Proposal:
        if not reason.strip():
            raise Invalid("a rejection needs a reason (--reason TEXT)")
        with self.ctx.store.write() as s:
            row, p = self.ctx.load(s, pid)
            require_state(p, S.AWAITING_APPROVAL, S.APPROVED, doing="reject")
            if not rbac.can_review(actor):
                raise Forbidden(f"{actor.id} (roles: {', '.join(actor.roles) or 'none'}) may not review proposals")
            if actor.id == p.author:
                raise Forbidden(f"{actor.id} wrote proposal {pid}; cancel it instead of rejecting it")
            self.locks.refuse_if_executing(s, p, actor.id, doing="reject")
            rec = repo.latest_decision(s, pid)
            s.add(ApprovalRow(id=new_id("a"), proposal_id=pid, proposal_hash=p.hash, actor=actor.id, role=None,
                              decision_id=rec.id if rec is not None else None, verdict="reject", comment=reason,
                              created_at=utcnow()))
            set_state(s, row, S.REJECTED, actor.id, "proposal.rejected", {"reason": reason, "hash": p.hash},
                      error=f"rejected by {actor.id}: {reason}")
        return self.ctx.get(pid)
