"""What every phase of a staged run is given: the store, settings, policy, router, the lifecycle's
device engine (whose writes the lifecycle grants), its gate check and its backup read — explicit
dependencies, so the staged path holds no write capability of its own and reaches into no lifecycle
internals."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.orm import Session

from core.execution import DeviceEngine
from core.kernel.config import Settings
from core.kernel.models import Device, Proposal, ProposalState
from core.routing import ExecutorRouter
from core.staging import Way
from core.store import Store
from policies.base import PolicyEngine


class GateCheck(Protocol):
    """The lifecycle's one gate (``Gates.check``) as a staged batch calls it: the batch's devices
    named, so the campaign that holds the proposal admits each (``core.staging``)."""

    def __call__(self, s: Session, p: Proposal, devices: dict[str, Device],
                 states: tuple[ProposalState, ...], *, way: Way, batch: Sequence[str] | None) -> None: ...


BackupRead = Callable[[Proposal, Device], dict[str, Any]]
#: the first precondition of a proposal that does not hold on a device now (its text, the fact), or None
Unmet = Callable[[Proposal, Device], "tuple[str, str] | None"]


@dataclass(frozen=True)
class StagedContext:
    store: Store
    settings: Settings
    policy: PolicyEngine
    router: ExecutorRouter
    engine: DeviceEngine
    backup: BackupRead
    check_gates: GateCheck
    unmet: Unmet
