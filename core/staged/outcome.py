"""What a staged batch (or an abort) did: :class:`BatchOutcome` — every device's
:class:`~core.results.DeviceResult`, and the views the campaign analysis reads, derived from them —
and the execution statuses the phases sort devices by."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from core.kernel.models import ExecutionStatus, ProposalState
from core.results import Aggregate, DeviceResult

S = ProposalState
X = ExecutionStatus
FINAL = frozenset({X.VERIFIED, X.ROLLED_BACK, X.ROLLBACK_FAILED, X.FAILED, X.SKIPPED})
RESUMABLE = frozenset({X.APPLYING, X.APPLIED, X.VERIFY_FAILED, X.ROLLING_BACK})
# A resumed device in one of these was already decided to be rolled back: finish that, nothing else.
DECIDED = frozenset({X.VERIFY_FAILED, X.ROLLING_BACK})
CHANGED = frozenset({X.APPLYING, X.APPLIED, X.VERIFIED, X.VERIFY_FAILED, X.ROLLING_BACK, X.ROLLBACK_FAILED})
# Evidence marks of results that did not run the whole path (the derived views read them).
ALREADY_DONE, HALTED, NOT_INSTALLED = "already_done", "halted", "not_installed"


@dataclass
class BatchOutcome(Aggregate):
    """A batch's (or an abort's) per-device :class:`DeviceResult` in ``results`` — every device it
    was given, the skipped and the halted too — and the views the campaign analysis reads, each
    derived from them (a device is in ``failed`` and in ``rolled_back`` when its restore held)."""

    proposal_id: str
    results: dict[str, DeviceResult] = field(default_factory=dict)
    #: an abort: its restores are the point, not failures (its trouble is ``alarms``)
    abort: bool = False
    # Time spent waiting on devices (presence, backup read, write, read-back, restore: the executor
    # call and the lifecycle's grant around it), wall and this thread's CPU. The rest of a batch's
    # time is the control plane's own — what a campaign's throughput is limited by when devices
    # answer fast (campaigns record both per batch; bench/campaign_run.py reports them apart).
    device_s: float = 0.0
    device_cpu_s: float = 0.0

    def _where(self, status: ExecutionStatus, mark: str | None = None) -> list[str]:
        return [d for d, r in self.results.items()
                if r.status is status and (mark is None or bool(r.evidence.get(mark)))]

    @property
    def failed_ids(self) -> list[str]:
        return [] if self.abort else super().failed_ids

    @property
    def verified(self) -> list[str]:
        return self._where(X.VERIFIED)

    @property
    def rolled_back(self) -> list[str]:
        return self._where(X.ROLLED_BACK)

    @property
    def failed(self) -> dict[str, str]:
        """Device → why it failed this run (a restored one keeps its reason)."""
        return {d: self.results[d].why for d in self.failed_ids}

    @property
    def skipped(self) -> dict[str, str]:
        """Devices not tried (locked elsewhere, not reachable, no backup) → why."""
        return {d: r.reason or "skipped" for d, r in self.results.items()
                if r.status is X.SKIPPED and not r.evidence.get(ALREADY_DONE)}

    @property
    def already_done(self) -> list[str]:
        """Devices a redelivered batch found finished: nothing done to them again."""
        return self._where(X.SKIPPED, ALREADY_DONE)

    @property
    def halted(self) -> list[str]:
        """Devices not written because the campaign halted."""
        return self._where(X.PENDING, HALTED)

    @property
    def alarms(self) -> list[str]:
        return [r.error or f"{d}: rollback failed" for d, r in self.results.items() if r.status is X.ROLLBACK_FAILED]

    @property
    def not_installed(self) -> list[str]:
        """An abort's downloads that did not install and had nothing to restore: they stay verify_failed."""
        return self._where(X.VERIFY_FAILED, NOT_INSTALLED)

    @property
    def executed(self) -> int:
        return len(self.verified) + len(self.failed)

    @contextmanager
    def on_device(self) -> Iterator[None]:
        """Count the enclosed device call's time as device time."""
        w, c = time.perf_counter(), time.thread_time()
        try:
            yield
        finally:
            self.device_s += time.perf_counter() - w
            self.device_cpu_s += time.thread_time() - c
