"""What every phase of a staged run is given: the store, settings, policy, router, the lifecycle's
device engine (whose writes the lifecycle grants), its gate check and its backup read — explicit
dependencies, so the staged path holds no write capability of its own and reaches into no lifecycle
internals."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from core.execution import DeviceEngine
from core.kernel.config import Settings
from core.kernel.models import Device, Proposal, ProposalState
from core.routing import ExecutorRouter
from core.store import Store
from policies.base import PolicyEngine

GateCheck = Callable[[Session, Proposal, dict[str, Device], tuple[ProposalState, ...]], None]
BackupRead = Callable[[Proposal, Device], dict[str, Any]]


@dataclass(frozen=True)
class StagedContext:
    store: Store
    settings: Settings
    policy: PolicyEngine
    router: ExecutorRouter
    engine: DeviceEngine
    backup: BackupRead
    check_gates: GateCheck
