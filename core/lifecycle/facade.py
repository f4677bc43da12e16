"""The lifecycle's façade: :class:`Lifecycle`, one per process, whose methods each delegate to one
phase of :mod:`core.lifecycle` (see the package docstring for the phases and who holds what).

Why a façade and not one class: the phases used to be ~80 methods of one class reaching into each
other (private callbacks, re-exported bound methods, a device-I/O wrapper calling back into the
class). Here each phase is given exactly what it needs when it is built, and every public method
below names the phase it runs — so an editor, a type checker and a reviewer can follow a call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from core.execution import DeviceEngine
from core.kernel.config import Settings, get_settings
from core.kernel.jsontypes import JsonObject
from core.kernel.models import Actor, Decision, Device, Proposal, ProposalDraft, Scalar
from core.kernel.ports.executor import GrantVerifier
from core.kernel.ports.waits import InformWait
from core.lifecycle import draining
from core.lifecycle.apply import Apply
from core.lifecycle.approvals import Approvals
from core.lifecycle.authoring import Authoring
from core.lifecycle.context import ApplyOutcome, LifecycleContext, StageTimer
from core.lifecycle.create_intents import CreateIntents
from core.lifecycle.decide import Decisions
from core.lifecycle.device_io import GrantedIO
from core.lifecycle.executions import ExecutionLog
from core.lifecycle.gates import Gates
from core.lifecycle.locking import DeviceLocks
from core.lifecycle.preview import Previews
from core.lifecycle.recovery import Recovery
from core.lifecycle.rollback import Rollback
from core.lifecycle.schedule import Scheduling
from core.lifecycle.submit import OnRecord, Submission, Submitted
from core.routing import ExecutorRouter
from core.staged import BatchOutcome, StagedExecution
from core.staging import StageAuthority
from core.store import Store
from policies.base import PolicyEngine


class Lifecycle:
    """One instance per process; it is thread-safe as far as the store and executors are."""

    def __init__(self, store: Store, policy: PolicyEngine, router: ExecutorRouter | None = None,
                 settings: Settings | None = None, stage_timer: StageTimer | None = None,
                 clock: Callable[[], datetime] | None = None) -> None:
        settings = settings or get_settings()
        ctx = self._ctx = LifecycleContext(store=store, settings=settings, policy=policy,
                                           clock=clock or settings.policy_clock(), timer=stage_timer)
        # The only holder of the router and the only grant issuer; every phase that touches a
        # device is handed it, or the one per-device engine (write → verify → restore) over it.
        io = self._io = GrantedIO(store, router or ExecutorRouter())
        self.engine = DeviceEngine(io)
        locks = self._locks = DeviceLocks(ctx)
        log = self._log = ExecutionLog(ctx)
        gates = self._gates = Gates(ctx)
        intents = self._intents = CreateIntents(ctx)
        self._authoring = Authoring(ctx, locks, intents)
        self._previews = Previews(ctx, io)
        self._decisions = Decisions(ctx)
        self._submission = Submission(ctx, self._authoring, self._previews, self._decisions, intents)
        self._approvals = Approvals(ctx, gates, locks)
        self._rollback = Rollback(ctx, io, self.engine, log, locks)
        self._recovery = Recovery(ctx, io, log, locks, self._rollback, intents)
        self._submission.on_cut = self._recovery.note_cut_submit  # finished once the database answers
        self._recovery.finish_submit = self._submission.finish
        self._scheduling = Scheduling(ctx, io, gates)
        self._apply = Apply(ctx, io, self.engine, gates=gates, locks=locks, log=log, rollback=self._rollback,
                            recovery=self._recovery, scheduling=self._scheduling)
        self._staged = StagedExecution(store, settings, policy, io.router, self.engine,
                                       backup=io.backup_params, check_gates=gates.check,
                                       unmet=self._scheduling.unmet)
        from core import oplog

        oplog.instrument(self)  # one log line, a count and a duration per governed action (core.oplog)

    # ================================================================== shared state
    @property
    def store(self) -> Store:
        return self._ctx.store

    @property
    def settings(self) -> Settings:
        return self._ctx.settings

    @property
    def router(self) -> ExecutorRouter:
        return self._io.router

    @property
    def grant_verifier(self) -> GrantVerifier:
        """The check of this lifecycle's own grant authority: the composition root binds the router's
        adapters to it (``router.bind_grant_verifier``), so they accept this lifecycle's grants only.
        Handing it out is safe: it only accepts or refuses grants, it cannot issue one."""
        return self._io.verifier

    def bind_stage_authority(self, authority: StageAuthority) -> None:
        """The campaigns' ring plans (``core.staging``): bound once by the composition root, so the one
        gate admits a staged batch only as its campaign allows. Re-binding is refused (as the grant
        verifier's): a second authority could only widen what the first allowed."""
        if self._ctx.stages is not None and self._ctx.stages is not authority:
            raise RuntimeError("this lifecycle already has a stage authority")
        self._ctx.stages = authority

    def add_wait_listener(self, fn: Callable[[str | None, InformWait], None]) -> None:
        """Be told when a device call of this lifecycle waits for the device's next inform (NAT);
        the wait is also the audit event ``device.waiting_for_inform`` (``gateward apply`` prints it)."""
        self._io.wait_listeners.append(fn)

    @property
    def policy(self) -> PolicyEngine:
        return self._ctx.policy

    @policy.setter
    def policy(self, policy: PolicyEngine) -> None:
        self._ctx.policy = policy

    @property
    def clock(self) -> Callable[[], datetime]:
        """The time policy sees (change windows); settable, for a test or a what-if."""
        return self._ctx.clock

    @clock.setter
    def clock(self, clock: Callable[[], datetime]) -> None:
        self._ctx.clock = clock

    def set_stage_timer(self, timer: StageTimer | None) -> None:
        """Receive ``(stage, seconds)`` for every step (metrics, benchmarks)."""
        self._ctx.timer = timer

    @property
    def stage_timer(self) -> StageTimer | None:
        return self._ctx.timer

    def get(self, pid: str) -> Proposal:
        return self._ctx.get(pid)

    # ================================================================== create / edit / validate
    def create(self, draft: ProposalDraft, actor: Actor, *, intent: str | None = None,
               on_record: OnRecord | None = None) -> Proposal:
        return self._authoring.create(draft, actor, intent=intent, on_record=on_record)

    def check(self, draft: ProposalDraft, actor: Actor) -> list[str]:
        return self._authoring.check(draft, actor)

    def edit(self, pid: str, draft: ProposalDraft, actor: Actor) -> Proposal:
        return self._authoring.edit(pid, draft, actor)

    def cancel(self, pid: str, actor: Actor, reason: str = "") -> Proposal:
        return self._authoring.cancel(pid, actor, reason)

    def validate(self, pid: str, actor: Actor | None = None) -> Proposal:
        return self._authoring.validate(pid, actor)

    # ================================================================== preview / decide / submit
    def preview(self, pid: str, actor: Actor | None = None, *, source: str | None = None) -> Proposal:
        return self._previews.preview(pid, actor, source=source)

    def preview_of(self, pid: str) -> dict[str, Any] | None:
        return self._previews.preview_of(pid)

    def policy_input(self, pid: str) -> JsonObject:
        return self._decisions.policy_input(pid)

    def decide(self, pid: str, actor: Actor | None = None, *, dry_run: bool = False) -> Decision:
        return self._decisions.decide(pid, actor, dry_run=dry_run)

    def submit(self, draft: ProposalDraft, actor: Actor) -> Proposal:
        return self._submission.submit(draft, actor)

    def submit_detailed(self, draft: ProposalDraft, actor: Actor, *, on_record: OnRecord | None = None) -> Submitted:
        return self._submission.submit_detailed(draft, actor, on_record=on_record)

    def resubmit(self, pid: str, draft: ProposalDraft, actor: Actor) -> Proposal:
        return self._submission.resubmit(pid, draft, actor)

    # ================================================================== creates under way
    # (``core.lifecycle.create_intents``: what a create records first and ends last, so that recovery
    # finishes or undoes a create whose process stopped half-way)
    def end_intent_in(self, s: Session, pid: str) -> bool:
        return self._intents.end_in(s, pid)

    def release_intent(self, pid: str) -> None:
        self._intents.release(pid)

    def settle_intent(self, pid: str, actor: Actor) -> None:
        """A create of this process stopped after ``pid`` was recorded: settled in the background."""
        self._recovery.note_cut_submit(pid, actor)

    def create_under_way(self, pid: str) -> bool:
        """Does a live process still create ``pid``? A create whose process is gone is settled first
        (a submit finished, a campaign's proposal cancelled): what an idempotent retry waits for."""
        return self._recovery.create_under_way(pid)

    # ================================================================== approvals
    def approve(self, pid: str, actor: Actor, comment: str = "", expected_hash: str | None = None) -> Proposal:
        return self._approvals.approve(pid, actor, comment, expected_hash)

    def reject(self, pid: str, actor: Actor, reason: str) -> Proposal:
        return self._approvals.reject(pid, actor, reason)

    def who_can_act(self, pid: str) -> dict[str, list[str]]:
        return self._approvals.who_can_act(pid)

    # ================================================================== apply / rollback
    # Each entry that may write a device runs as a drain session (``draining``: refused once the
    # process is stopping, waited for while it stops; a batch stops before its next device write).
    def apply(self, pid: str, actor: Actor) -> ApplyOutcome:
        with draining.write_session(f"apply {pid}"):
            return self._apply.apply(pid, actor)

    def backup_params(self, p: Proposal, d: Device, not_before: datetime | None = None) -> JsonObject:
        return self._io.backup_params(p, d, not_before)

    def store_location(self) -> str:
        return self._apply.store_location()

    def rollback(self, pid: str, actor: Actor, reason: str, *, force: bool = False) -> ApplyOutcome:
        with draining.write_session(f"rollback {pid}"):
            return self._rollback.rollback(pid, actor, reason, force=force)

    def diagnose(self, device_id: str, command: str, args: dict[str, Scalar], actor: Actor) -> dict[str, Any]:
        return self._io.diagnose(device_id, command, args, actor)

    # ================================================================== recovery
    def recover(self, actor_id: str = "system:recovery") -> list[tuple[str, str]]:
        return self._recovery.recover(actor_id)

    def start_due(self, now: datetime | None = None) -> list[tuple[str, str]]:
        """Start every scheduled proposal whose time has come, for the person who asked (the
        worker's watchdog calls this every round; ``core.lifecycle.schedule``)."""
        return self._scheduling.start_due(self.apply, now)

    def recheck_pending(self, every_s: float = 30.0, actor_id: str = "system:recovery") -> list[tuple[str, str]]:
        return self._recovery.recheck_pending(every_s, actor_id)

    def settle_stranded(self, actor_id: str = "system:recovery") -> list[tuple[str, str]]:
        return self._recovery.settle_stranded(actor_id)

    def held_live(self) -> list[tuple[str, str]]:
        return self._recovery.held_live()

    # ================================================================== staged (campaigns)
    def apply_batch(self, pid: str, device_ids: Sequence[str], actor: Actor, *,
                    stop: Callable[[], bool] | None = None) -> BatchOutcome:
        with draining.write_session(f"batch of {len(device_ids)} device(s) of {pid}"):
            return self._staged.apply_batch(pid, device_ids, actor, stop=draining.stop_or(stop))

    def staged_progress(self, pid: str) -> dict[str, int]:
        return self._staged.staged_progress(pid)

    def finish_staged(self, pid: str, actor: Actor, note: str = "") -> Proposal:
        return self._staged.finish_staged(pid, actor, note)

    def rollback_staged(self, pid: str, actor: Actor, reason: str, *, batch: int = 500,
                        stop: Callable[[], bool] | None = None) -> BatchOutcome:
        with draining.write_session(f"rollback of staged {pid}"):
            return self._staged.rollback_staged(pid, actor, reason, batch=batch, stop=stop)
