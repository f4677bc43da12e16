"""What every phase of the lifecycle shares: the store, the settings, the policy engine, the clock
policy judges by and the stage timer (:class:`LifecycleContext`), the state sets the phases decide
by, and the outcome of an apply or rollback (:class:`ApplyOutcome`).

Why a context and not the lifecycle: each phase (``gates``, ``approvals``, ``apply``, ``rollback``,
``recovery``…) is handed exactly what it uses, so none can reach into another's internals, and a
test or a what-if that swaps the policy or the clock on the façade (``lifecycle.clock = …``) swaps
it for every phase at once — they read it from here at each call. Device I/O is not here: only
:mod:`core.lifecycle.device_io` holds the router (and the grants).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from core.kernel.clock import elapsed_now
from core.kernel.config import Settings
from core.kernel.models import ExecutionStatus, Proposal, ProposalState
from core.results import Aggregate, DeviceResult
from core.staging import StageAuthority
from core.store import Store, repo
from core.store.records import ProposalRecord
from policies.base import PolicyEngine

S = ProposalState
X = ExecutionStatus
StageTimer = Callable[[str, float], None]

EDITABLE = frozenset({S.DRAFT, S.VALIDATED, S.INVALID, S.PREVIEWED, S.DENIED, S.AWAITING_APPROVAL, S.APPROVED})
# Executions in these states may have changed the device and are not restored yet: a rollback
# must restore them (restoring is idempotent, so an uncertain one is restored too).
TOUCHED = frozenset({X.APPLYING, X.APPLIED, X.VERIFIED, X.VERIFY_FAILED, X.ROLLING_BACK, X.ROLLBACK_FAILED})
# Any device whose history shows a write, including one already rolled back: recovery must never
# treat such a proposal as "nothing was written" (that reopened rolled-back changes once).
WRITTEN = TOUCHED | {X.ROLLED_BACK}
# Statuses that show the process had already decided to roll back: recovery finishes that rollback
# and never verifies its way to ``done``.
ROLLING = frozenset({X.VERIFY_FAILED, X.FAILED, X.ROLLING_BACK, X.ROLLED_BACK, X.ROLLBACK_FAILED})
# Proposal states in which an apply is (or was, if its process died) between backup and its end.
EXECUTING = frozenset({S.BACKED_UP, S.APPLYING, S.VERIFYING})


@dataclass
class LifecycleContext:
    """The state every phase reads at each call. Mutable on purpose: the façade's ``clock``,
    ``policy`` and stage timer are these fields."""

    store: Store
    settings: Settings
    policy: PolicyEngine
    #: the time policy sees (change windows); injectable so that a test or a what-if ("would this
    #: pass in tonight's window?") does not depend on the wall clock
    clock: Callable[[], datetime]
    timer: StageTimer | None = None
    #: the campaigns' ring plans (``core.staging``), bound by the composition root; None: a batch
    #: whose decision demands stages or a rehearsal is refused
    stages: StageAuthority | None = None

    def now(self) -> datetime:
        """The time that passes (schedules, latest starts): the wall clock even when policy's time of
        day is pinned, or a clock a test or what-if swapped in (``core.kernel.clock.elapsed_now``)."""
        return elapsed_now(self.clock)

    def time(self, stage: str, t0: float) -> None:
        """Report ``stage`` as having taken since ``t0`` (``time.perf_counter``) to the stage timer."""
        if self.timer is not None:
            self.timer(stage, time.perf_counter() - t0)

    def get(self, pid: str) -> Proposal:
        """The proposal as stored. The row through its prepared statement on the driver's cursor
        (``ProposalRecord``), not the ORM: no identity map or instance state for a row read once,
        and JSON columns decoded only when read."""
        with self.store.read() as s:
            return repo.proposal_from_row(ProposalRecord.load(s, pid))

    @staticmethod
    def load(s: Session, pid: str, same: Proposal | None = None) -> tuple[ProposalRecord, Proposal]:
        """The proposal row (locked on PostgreSQL; saved with a version check) and its model
        (``same``: see ``repo.proposal_from_row``)."""
        row = ProposalRecord.load(s, pid, for_update=True)
        return row, repo.proposal_from_row(row, same)


@dataclass
class ApplyOutcome(Aggregate):
    """What an apply or rollback did: every device's :class:`DeviceResult` (``results``), and views
    derived from them: ``failed`` (device → why, kept through its restore), ``rolled_back``, and
    ``restored`` / ``not_restored`` — per device, exactly which parameters a rollback put back and
    which it could not (secrets read back empty): ``rolled_back`` alone does not mean every value is
    back. ``applied`` (the devices written, in write order) and ``alarms`` are kept as the run goes:
    a restore's result replaces its write's, and an alarm may name a device no result stands for."""

    proposal: Proposal
    results: dict[str, DeviceResult] = field(default_factory=dict)
    applied: list[str] = field(default_factory=list)
    alarms: list[str] = field(default_factory=list)
    #: device → commands it accepted but nobody saw complete (never verified, not rolled back)
    unconfirmed: dict[str, list[str]] = field(default_factory=dict)
    #: a scheduled write asked for before its time: nothing written; the worker starts it then
    scheduled_for: datetime | None = None

    @property
    def failed_ids(self) -> list[str]:
        """The devices whose write or verification failed (a device restored only because another
        failed is in ``rolled_back``, not here)."""
        return [d for d, r in self.results.items() if r.reason is not None]

    @property
    def failed(self) -> dict[str, str]:
        return {d: self.results[d].reason or "" for d in self.failed_ids}

    @property
    def rolled_back(self) -> list[str]:
        return [d for d, r in self.results.items() if r.status is ExecutionStatus.ROLLED_BACK]

    @property
    def restored(self) -> dict[str, list[str]]:
        return {d: list(self.results[d].evidence.get("restored", [])) for d in self.rolled_back}

    @property
    def not_restored(self) -> dict[str, list[str]]:
        return {d: list(self.results[d].evidence.get("not_restorable", [])) for d in self.rolled_back}

    @property
    def partial(self) -> bool:
        """Rolled back, but some parameter kept the proposal's value."""
        return any(self.not_restored.values())


def not_restored_text(not_restored: dict[str, list[str]]) -> str:
    """``"partially rolled back: <path> not restorable[ on N devices]; ..."`` or "" when complete."""
    by_path: dict[str, int] = {}
    for paths in not_restored.values():
        for path in paths:
            by_path[path] = by_path.get(path, 0) + 1
    if not by_path:
        return ""
    parts = [f"{path} not restorable" + (f" on {n} devices" if n > 1 else "") for path, n in by_path.items()]
    return ("partially rolled back: " + "; ".join(parts)
            + " (a secret reads back empty, so its old value was never known; set it again by hand)")
