"""Staged execution: applying one approved proposal to its targets batch by batch (campaign rings).

A campaign is *one* proposal — one hash, one policy decision, one set of approvals over the whole
target list — executed in batches by workers. Every gate of the lifecycle is re-checked for each
batch. What differs from :meth:`Lifecycle.apply` is the failure unit: a device that faults or fails
verification is rolled back on its own and the batch goes on; whether the campaign continues is
the campaign's analysis gate's call, not the lifecycle's.

At-least-once delivery is safe: an execution row is unique per (proposal, device) and is written
(``applying``) before the device is touched, so a redelivered batch finds devices already done and
skips them, and finds devices a dead worker left ``applying`` and verifies (or restores) them
instead of writing again. Nothing is changed twice.

Each device goes through the same :class:`core.execution.DeviceEngine` as a single apply (one
write → verify → restore, one :class:`~core.results.DeviceResult` per device). This module holds
no write capability of its own and reaches into no lifecycle internals: it is given the engine
(whose writes the lifecycle grants), the gate check and the backup read as explicit dependencies.

Where the batch path and the single apply used to disagree, the safer rule now holds for both
(see core.execution): a timeout decides the rollback, and a Status-1 Set without a reboot is
restored, not "verified". And a device a dead worker had already decided to roll back
(``verify_failed``, ``rolling_back``) is restored on resume, never verified or written again;
only one left ``applying`` (nothing decided yet) is read back — and re-written only if it still
holds exactly its backup.

The phases, beside the lifecycle's (``core/lifecycle/``): :mod:`~core.staged.claim` (gates, execution
records, locks), :mod:`~core.staged.resume` (what a dead worker left), :mod:`~core.staged.run` (read,
write ahead, write, verify, restore), :mod:`~core.staged.record` (results, audit, compatibility),
:mod:`~core.staged.rollout` (progress, finish, abort); :mod:`~core.staged.outcome` says what a batch
did and :mod:`~core.staged.execution` wires them.
"""

from core.staged.claim import one_per_class
from core.staged.context import BackupRead, GateCheck
from core.staged.execution import StagedExecution
from core.staged.outcome import CHANGED, DECIDED, FINAL, RESUMABLE, BatchOutcome
from core.staged.run import HALT_POLL_READS_S

__all__ = ["CHANGED", "DECIDED", "FINAL", "HALT_POLL_READS_S", "RESUMABLE", "BackupRead", "BatchOutcome", "GateCheck",
           "StagedExecution", "one_per_class"]
