"""The governed change lifecycle — the only code that may call an executor's write methods.

    draft → validated → previewed → decided (denied | awaiting_approval | approved)
          → backed_up → applying → verifying → done | rolled_back | failed

Each gate is re-checked from the store at the moment of writing, never trusted from an earlier
step (DESIGN.md §2, invariant 1): the proposal's content still hashes to ``hash``; the latest
policy decision allowed exactly that hash; every approval it required was given, for that hash,
by a distinct human holding the role who is not the author; a backup of every touched parameter
exists; and this process holds the device lock. Any failure after the first write rolls back
from the backup (invariant 3); a failed rollback raises an alarm in the audit trail. Every state
change and its audit event commit in one transaction (invariant 4). A process killed mid-apply
is finished by :meth:`Lifecycle.recover` on restart: verified if every write landed, rolled back
otherwise, never applied twice (CWMP ``ParameterKey`` = proposal id; invariant 6).

A package of phases behind one façade (:class:`Lifecycle`, ``facade.py``), each phase given what it
needs and nothing else:

- ``context`` — what every phase shares (store, settings, policy, clock, stage timer), the state
  sets, :class:`ApplyOutcome`;
- ``device_io`` — the only grant issuer and the only holder of the executor router: every write,
  operation, restore and read of a device (``tests/sanity/test_write_path.py``);
- ``locking`` — the device locks of applies and rollbacks; ``executions`` — the execution rows and
  snapshots;
- ``authoring`` (create, edit, cancel, validate), ``preview``, ``decide``, ``submit``;
- ``gates`` (invariant 1, also handed to :mod:`core.staged`), ``approvals``;
- ``apply``, ``rollback``, ``recovery``.

Every state move is checked against the tables in :mod:`core.states`. The per-device step (write →
verify → restore) is :class:`core.execution.DeviceEngine` over ``device_io``, shared with the
staged (campaign) path in :mod:`core.staged`.
"""

from core.lifecycle.apply import WAITING_FOR_INFORM
from core.lifecycle.authoring import FEW_TARGETS
from core.lifecycle.context import (
    EDITABLE,
    EXECUTING,
    ROLLING,
    TOUCHED,
    WRITTEN,
    ApplyOutcome,
    LifecycleContext,
    StageTimer,
    not_restored_text,
)
from core.lifecycle.decide import FLEET_SQL_MIN
from core.lifecycle.device_io import SOFTWARE_VERSION, TRIGGER_HELD, is_trigger_path
from core.lifecycle.facade import Lifecycle
from core.lifecycle.preview import LIVE_PREVIEW_MAX
from core.lifecycle.rollback import RESTORE_PENDING_ACTION
from core.lifecycle.submit import OnRecord, Submitted

__all__ = [
    "EDITABLE", "EXECUTING", "FEW_TARGETS", "FLEET_SQL_MIN", "LIVE_PREVIEW_MAX", "RESTORE_PENDING_ACTION", "ROLLING",
    "SOFTWARE_VERSION", "TOUCHED", "TRIGGER_HELD", "WAITING_FOR_INFORM", "WRITTEN", "ApplyOutcome", "Lifecycle",
    "LifecycleContext", "OnRecord", "StageTimer", "Submitted", "is_trigger_path", "not_restored_text",
]
