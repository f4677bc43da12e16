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
from datetime import datetime, timedelta

from sqlalchemy import or_, select

from core import audit, preconditions
from core.kernel.errors import Conflict, DeviceUnavailable, GatewardError, ScheduleExpired
from core.kernel.models import Actor, ActorKind, Device, Proposal
from core.kernel.ports.executor import DeviceReader, ExecutorError
from core.lifecycle.context import ApplyOutcome, LifecycleContext, S
from core.lifecycle.device_io import GrantedIO
from core.lifecycle.gates import Gates
from core.states import set_state
from core.store import repo
from core.store.records import ProposalRecord
from core.store.schema import ProposalRow

log = logging.getLogger("gateward.lifecycle")
DUE_BATCH = 50  # scheduled proposals started per watchdog round (the rest wait for the next)
RETRY_MAX_S = 900.0  # the longest wait between two tries of a due change whose gateway is away
SCHEDULER = "system:scheduler"  # who carries a scheduled start out (data.via), and who expires one


class PreconditionFailed(Conflict):
    """A precondition no longer holds when the write starts: nothing was written."""

    code = "precondition_failed"


class Scheduling:
    def __init__(self, ctx: LifecycleContext, io: GrantedIO, gates: Gates) -> None:
        self.ctx, self.io, self.gates = ctx, io, gates

    # ------------------------------------------------------------------ not before
    def waiting(self, p: Proposal, now: datetime | None = None) -> bool:
        """Before its time, by the time that passes (a pinned policy time of day does not move it)."""
        return p.not_before is not None and (now or self.ctx.now()) < p.not_before

    def request_start(self, pid: str, actor: Actor) -> ApplyOutcome:
        """Before its time: check what can be checked now — every gate, the change window judged at
        the not-before, when the write will start — record who asked, write nothing."""
        with self.ctx.store.write() as s:
            row, p = self.ctx.load(s, pid)
            devices = repo.get_devices(s, p.targets)
            self.gates.check(s, p, devices, stored_preview=row.preview, at=p.not_before)
            if row.start_requested_by != actor.id:
                row.start_requested_by = actor.id
                row.start_retry_at, row.start_deferrals = None, None
                row.save(s)
                assert p.not_before is not None
                audit.append(s, actor=actor.id, action="apply.scheduled", proposal_id=pid,
                             data={"not_before": p.not_before.isoformat(), "hash": p.hash,
                                   **({"not_after": p.not_after.isoformat()} if p.not_after else {})})
            p = p.model_copy(update={"start_requested_by": actor.id})
        return ApplyOutcome(proposal=p, scheduled_for=p.not_before)

    def due(self, now: datetime | None = None, limit: int = DUE_BATCH) -> list[tuple[str, str]]:
        """(proposal id, who asked) of every approved, unstaged proposal whose time has come and whose
        back-off (a start deferred while its gateway was away) has passed."""
        at = now or self.ctx.now()
        with self.ctx.store.read() as s:
            rows = s.execute(select(ProposalRow.id, ProposalRow.start_requested_by)
                             .where(ProposalRow.state == str(S.APPROVED), ProposalRow.not_before.is_not(None),
                                    ProposalRow.not_before <= at, ProposalRow.start_requested_by.is_not(None),
                                    ProposalRow.staged.is_(False),
                                    or_(ProposalRow.start_retry_at.is_(None), ProposalRow.start_retry_at <= at))
                             .order_by(ProposalRow.not_before).limit(limit)).all()
        return [(str(r[0]), str(r[1])) for r in rows]

    def start_due(self, apply: Callable[[str, Actor], ApplyOutcome],
                  now: datetime | None = None) -> list[tuple[str, str]]:
        """Start every due proposal for the person who asked, the scheduler named on every event
        (``data.via``); (id, outcome) each. Past its latest start a proposal is never run: it ends
        ``cancelled`` with one audit row (``schedule.expired``) saying so. A gateway that is away is
        asked again after a back-off (``schedule_retry_s``, doubling to 15 min, never past the latest
        start) and nothing is audited meanwhile; a refusal by a gate is audited once
        (``apply.start_refused``) and backed off likewise."""
        out: list[tuple[str, str]] = []
        at = now or self.ctx.now()
        for pid, who in self.due(at):
            try:
                out.append((pid, self._start_one(pid, who, apply, at)))
            except Exception:  # a bug must not stop the other due proposals
                log.exception("starting scheduled proposal %s failed", pid)
                out.append((pid, "error"))
        return out

    def _start_one(self, pid: str, who: str, apply: Callable[[str, Actor], ApplyOutcome], at: datetime) -> str:
        p = self.ctx.get(pid)
        if p.not_after is not None and at > p.not_after:
            return self._expire(p, who, at)
        away = self._away(p)
        if away is not None:
            return self._defer(p, away, at, audited=False)
        try:
            with self.ctx.store.read() as s:
                roles = repo.user_roles(s, who)
            if roles is None or not roles[2]:
                raise Conflict(f"{who}, who asked for it to start, is no longer an active user")
            actor = Actor(id=who, roles=tuple(roles[0]), kind=ActorKind(roles[1]))
            with audit.acting_via(SCHEDULER):
                result = apply(pid, actor)
            return str(result.proposal.state)
        except ScheduleExpired:
            return self._expire(self.ctx.get(pid), who, at)
        except GatewardError as exc:
            p = self.ctx.get(pid)
            if p.state is not S.APPROVED:  # the apply moved it (a precondition cancelled it, …): nothing to retry
                return f"refused: {exc.message}"
            return self._defer(p, exc.message, at, audited=True, requested_by=who)

    def _away(self, p: Proposal) -> str | None:
        """Why a target cannot be written now (offline, unreachable), read from what the adapters
        already know — no audit, no lock: the cheap look before an apply that would audit its deferral."""
        with self.ctx.store.read() as s:
            devices = repo.get_devices(s, p.targets)
        for d in devices.values():
            try:
                pres = self.io.reader(d).presence(d)
            except GatewardError as exc:
                return f"{d.id}: {exc.message}"
            except Exception as exc:  # an adapter error: the apply would be refused the same way
                return f"{d.id}: {exc}"
            if not (pres.online and pres.reachable):
                return f"{d.id} is not reachable ({pres.detail or 'offline'})"
        return None

    def _defer(self, p: Proposal, why: str, at: datetime, *, audited: bool, requested_by: str | None = None) -> str:
        """Try again after a back-off; audit the refusal only the first time it is heard."""
        with self.ctx.store.write() as s:
            row = ProposalRecord.load(s, p.id, for_update=True)
            if row.state != str(S.APPROVED):
                return f"refused: {why}"
            n = (row.start_deferrals or 0) + 1
            wait = min(self.ctx.settings.schedule_retry_s * 2 ** (n - 1), RETRY_MAX_S)
            retry = at + timedelta(seconds=wait)
            if row.not_after is not None:
                retry = min(retry, row.not_after + timedelta(seconds=1))  # one last look, then it expires
            first = not row.start_deferrals
            row.start_deferrals, row.start_retry_at = n, retry
            row.save(s)
            if audited and first:
                audit.append(s, actor=SCHEDULER, action="apply.start_refused", proposal_id=p.id,
                             data={"reason": why, "requested_by": requested_by or row.start_requested_by,
                                   "retry_at": retry.isoformat()})
        return f"deferred: {why}"

    def _expire(self, p: Proposal, who: str, at: datetime) -> str:
        """Past its latest start: never run. One audit row (the state change) says so, with how often
        the scheduler tried and why it could not start it."""
        why = self._away(p) or "it could not be started in time"
        assert p.not_after is not None
        text = (f"not run: its latest start {p.not_after.isoformat()} has passed ({why}); nothing was written — "
                "propose it again for another time")
        with self.ctx.store.write() as s:
            row = ProposalRecord.load(s, p.id, for_update=True)
            if row.state != str(S.APPROVED):
                return str(row.state)
            set_state(s, row, S.CANCELLED, SCHEDULER, "schedule.expired",
                      {"not_before": p.not_before.isoformat() if p.not_before else None,
                       "not_after": p.not_after.isoformat(), "requested_by": who,
                       "tries": row.start_deferrals or 0, "reason": why, "at": at.isoformat()}, error=text)
        return "expired"

    # ------------------------------------------------------------------ preconditions
    def check_preconditions(self, p: Proposal, devices: Sequence[Device], actor: Actor) -> None:
        """Re-read every precondition from each device; cancel the proposal if one no longer holds.
        A fact that cannot be read now refuses the write (``DeviceUnavailable``: still approved,
        nothing written) — a condition is never taken as holding on what could not be read."""
        if not p.preconditions:
            return
        for d in devices:
            unmet = self.unmet(p, d)
            if unmet is not None:
                self._refuse(p, actor, d, *unmet)

    def unmet(self, p: Proposal, d: Device) -> tuple[str, str] | None:
        """The first of ``p``'s preconditions that does not hold on ``d`` now, read live — (its text,
        the fact) — or None. Shared by the single apply (which cancels) and a staged batch (which
        skips the device). Raises ``DeviceUnavailable`` naming the fact it cannot read."""
        reader = self.io.reader(d)
        online: bool | None = None
        for c in p.preconditions:
            values: dict[str, object] = {}
            heard: list[dict[str, object]] = []
            try:
                if c.fact == "online":
                    if online is None:
                        pres = reader.presence(d)
                        online = bool(pres.online and pres.reachable)
                elif c.fact == "neighbour_on_channel":
                    heard = self._neighbours_now(d, reader)
                else:
                    values = dict(reader.read(d, preconditions.read_paths(c)))
            except ExecutorError as exc:
                raise DeviceUnavailable(
                    f"cannot read {preconditions.label(c)} on {d.id} now ({exc.message}), so the condition "
                    f"“{c.text}” cannot be checked; nothing was written — apply again when it answers",
                    device_id=d.id) from exc
            ok, fact = preconditions.holds(c, values, online, heard)
            if not ok:
                return c.text, fact
        return None

    def _neighbours_now(self, d: Device, reader: DeviceReader) -> list[dict[str, object]]:
        """The access points ``d`` hears, from its own latest scan read now — with Gateward's own
        gateways among them on the channel Gateward last wrote them to, not the one the scan saw."""
        values = reader.read(d, [preconditions.SCAN])
        with self.ctx.store.read() as s:
            managed = preconditions.managed_channels(s, d.id)
        return preconditions.heard_now(values, managed)

    def _refuse(self, p: Proposal, actor: Actor, d: Device, condition: str, fact: str) -> None:
        why = f"precondition no longer holds on {d.id}: {condition} — now {fact}; nothing was written"
        with self.ctx.store.write() as s:
            row = ProposalRecord.load(s, p.id, for_update=True)
            set_state(s, row, S.CANCELLED, actor.id, "apply.precondition_failed",
                      {"device": d.id, "condition": condition, "fact": fact}, error=why)
        raise PreconditionFailed(f"proposal {p.id}: {why}", device_id=d.id)
