"""The staged path's entry: :class:`StagedExecution` wires the phases (claim, resume, fresh run,
record, rollout) with what the lifecycle hands it."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from core.execution import DeviceEngine
from core.failpoints import failpoint
from core.kernel.config import Settings
from core.kernel.errors import Forbidden
from core.kernel.models import Actor, Proposal
from core.routing import ExecutorRouter
from core.staged import rollout
from core.staged.claim import Claims
from core.staged.context import BackupRead, GateCheck, StagedContext, Unmet
from core.staged.outcome import BatchOutcome
from core.staged.resume import resume
from core.staged.run import FreshRun
from core.store import Store
from policies.base import PolicyEngine


class StagedExecution:
    """Staged runs of one lifecycle. Reached as ``lifecycle.apply_batch`` etc.; it writes only
    through ``engine`` (granted by the lifecycle), re-checks gates with ``check_gates`` and reads
    backups with ``backup``."""

    def __init__(self, store: Store, settings: Settings, policy: PolicyEngine, router: ExecutorRouter,
                 engine: DeviceEngine, *, backup: BackupRead, check_gates: GateCheck, unmet: Unmet) -> None:
        self.ctx = StagedContext(store, settings, policy, router, engine, backup, check_gates, unmet)
        self.engine = engine
        self.claims = Claims(self.ctx)

    def apply_batch(self, pid: str, device_ids: Sequence[str], actor: Actor, *,
                    stop: Callable[[], bool] | None = None) -> BatchOutcome:
        """Apply an approved staged proposal to ``device_ids``. ``stop`` is polled before every device
        write (and every ``HALT_POLL_READS_S`` while the batch reads its devices): once it returns
        true no further device is written (the campaign halted); devices already written in this
        batch are still verified, so their outcome is known."""
        from core import rbac

        if not rbac.can_apply(actor):
            raise Forbidden(f"{actor.id} may not apply changes")
        out = BatchOutcome(proposal_id=pid)
        p, devices = self.claims.gates(pid, device_ids)
        fresh, status, locked = self.claims.claim(p, device_ids, out, actor)
        try:
            mine = set(locked)
            again = resume(self.ctx, p, [devices[d] for d in status if d in mine], status, actor, out)
            if again:
                FreshRun(self.ctx, p, actor, out, None).run(again)
            FreshRun(self.ctx, p, actor, out, stop).run([devices[d] for d in fresh if d in mine])
        finally:
            failpoint("staged.before_release")  # a kill here leaves the locks to the redelivery
            self.claims.release(pid, locked)
        return out

    def staged_progress(self, pid: str) -> dict[str, int]:
        """Counts of executions by status, plus targets never started."""
        return rollout.progress(self.ctx, pid)

    def finish_staged(self, pid: str, actor: Actor, note: str = "") -> Proposal:
        """Close a staged proposal whose rollout ended: done if every changed device verified."""
        return rollout.finish(self.ctx, pid, actor, note)

    def rollback_staged(self, pid: str, actor: Actor, reason: str, *, batch: int = 500,
                        stop: Callable[[], bool] | None = None) -> BatchOutcome:
        """Abort: restore every device this staged proposal changed, from its backup."""
        return rollout.abort(self.ctx, self.claims, pid, actor, reason, batch=batch, stop=stop)
