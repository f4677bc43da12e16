"""Scheduled writes and preconditions: when a write may start, and whether it still should.

A proposal may carry ``not_before`` ("restart it at 4 in the morning") and ``preconditions``
("only if nobody is connected"). Asking to apply it before its time records *who asked*
(``start_requested_by``; audited ``apply.scheduled``) after every gate that can be judged now has
passed, and writes nothing; the worker's watchdog calls :meth:`Scheduling.start_due`, which applies
each due proposal for the person who asked — every gate re-checked then, the change window included,
with that person's roles as the directory has them at that moment. The proposal row is the only
record of the schedule: a restart of every process loses nothing, and two workers racing for one
due proposal meet at the device locks and the proposal's state, as two people applying at once do.

Preconditions are re-read from the device after the locks are held and before the backup
(:meth:`Scheduling.check_preconditions`, called by ``core.lifecycle.apply``); one that no longer
holds cancels the proposal with the fact, audited ``apply.precondition_failed``: nothing is written.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy import select

from core import audit, preconditions
from core.kernel.errors import Conflict, GatewardError
from core.kernel.models import Actor, ActorKind, Device, Proposal
from core.lifecycle.context import ApplyOutcome, LifecycleContext, S
from core.lifecycle.device_io import GrantedIO
from core.lifecycle.gates import Gates
from core.states import set_state
from core.store import repo
from core.store.records import ProposalRecord
from core.store.schema import ProposalRow

log = logging.getLogger("gateward.lifecycle")
DUE_BATCH = 50  # scheduled proposals started per watchdog round (the rest wait for the next)


class PreconditionFailed(Conflict):
    """A precondition no longer holds when the write starts: nothing was written."""

    code = "precondition_failed"


class Scheduling:
    def __init__(self, ctx: LifecycleContext, io: GrantedIO, gates: Gates) -> None:
        self.ctx, self.io, self.gates = ctx, io, gates

    # ------------------------------------------------------------------ not before
    def waiting(self, p: Proposal, now: datetime | None = None) -> bool:
        return p.not_before is not None and (now or self.ctx.clock()) < p.not_before

    def request_start(self, pid: str, actor: Actor) -> ApplyOutcome:
        """Before its time: check what can be checked now, record who asked, write nothing."""
        with self.ctx.store.write() as s:
            row, p = self.ctx.load(s, pid)
            if p.staged:
                raise Conflict(f"proposal {pid} is a staged rollout; it is applied in rings by its campaign")
            devices = repo.get_devices(s, p.targets)
            self.gates.check(s, p, devices, stored_preview=row.preview, window=False)
            if row.start_requested_by != actor.id:
                row.start_requested_by = actor.id
                row.save(s)
                assert p.not_before is not None
                audit.append(s, actor=actor.id, action="apply.scheduled", proposal_id=pid,
                             data={"not_before": p.not_before.isoformat(), "hash": p.hash})
            p = p.model_copy(update={"start_requested_by": actor.id})
        return ApplyOutcome(proposal=p, scheduled_for=p.not_before)

    def due(self, now: datetime | None = None, limit: int = DUE_BATCH) -> list[tuple[str, str]]:
        """(proposal id, who asked) of every approved, unstaged proposal whose time has come."""
        at = now or self.ctx.clock()
        with self.ctx.store.read() as s:
            rows = s.execute(select(ProposalRow.id, ProposalRow.start_requested_by)
                             .where(ProposalRow.state == str(S.APPROVED), ProposalRow.not_before.is_not(None),
                                    ProposalRow.not_before <= at, ProposalRow.start_requested_by.is_not(None),
                                    ProposalRow.staged.is_(False))
                             .order_by(ProposalRow.not_before).limit(limit)).all()
        return [(str(r[0]), str(r[1])) for r in rows]

    def start_due(self, apply: Callable[[str, Actor], ApplyOutcome],
                  now: datetime | None = None) -> list[tuple[str, str]]:
        """Apply every due proposal for the person who asked; (id, outcome or refusal) each. A
        refusal (a gate, the window, a lock, an offline device) is audited and left for the next
        round or for a person: the proposal stays approved unless the apply itself moved it."""
        out: list[tuple[str, str]] = []
        for pid, who in self.due(now):
            try:
                with self.ctx.store.read() as s:
                    roles = repo.user_roles(s, who)
                if roles is None or not roles[2]:
                    raise Conflict(f"{who}, who asked for it to start, is no longer an active user")
                actor = Actor(id=who, roles=tuple(roles[0]), kind=ActorKind(roles[1]))
                result = apply(pid, actor)
                out.append((pid, str(result.proposal.state)))
            except GatewardError as exc:
                with self.ctx.store.write() as s:
                    audit.append(s, actor="system:scheduler", action="apply.start_refused", proposal_id=pid,
                                 data={"reason": exc.message, "requested_by": who})
                out.append((pid, f"refused: {exc.message}"))
            except Exception:  # a bug must not stop the other due proposals
                log.exception("starting scheduled proposal %s failed", pid)
                out.append((pid, "error"))
        return out

    # ------------------------------------------------------------------ preconditions
    def check_preconditions(self, p: Proposal, devices: Sequence[Device], actor: Actor) -> None:
        """Re-read every precondition from each device; cancel the proposal if one no longer holds."""
        if not p.preconditions:
            return
        for d in devices:
            reader = self.io.reader(d)
            online: bool | None = None
            heard: list[dict[str, object]] = []
            for c in p.preconditions:
                values: dict[str, object] = {}
                if c.fact == "online":
                    if online is None:
                        pres = reader.presence(d)
                        online = bool(pres.online and pres.reachable)
                elif c.fact == "neighbour_on_channel":
                    with self.ctx.store.read() as s:
                        heard = preconditions.stored_neighbours(s, d.id)
                else:
                    values = dict(reader.read(d, preconditions.read_paths(c)))
                ok, fact = preconditions.holds(c, values, online, heard)
                if not ok:
                    self._refuse(p, actor, d, c.text, fact)

    def _refuse(self, p: Proposal, actor: Actor, d: Device, condition: str, fact: str) -> None:
        why = f"precondition no longer holds on {d.id}: {condition} — now {fact}; nothing was written"
        with self.ctx.store.write() as s:
            row = ProposalRecord.load(s, p.id, for_update=True)
            set_state(s, row, S.CANCELLED, actor.id, "apply.precondition_failed",
                      {"device": d.id, "condition": condition, "fact": fact}, error=why)
        raise PreconditionFailed(f"proposal {p.id}: {why}", device_id=d.id)
