"""The result family: what one run did to each device (:class:`DeviceResult`) and the run's
report over them (:class:`Aggregate`), as Nornir's ``Result`` and ``AggregatedResult``.

One shape for every per-device outcome — a governed write (``ExecutionStatus``), a row of an
inventory import or a refusal of the ACS sync (``core.inventory.Registration``), a remediation
case a unit of work settled (``brain.remediation.runner.CaseOutcome``) — so ``failed_ids`` and
``raise_on_error()`` mean the same everywhere, and a report's counts and lists are derived from its
results instead of being kept beside them (two sources of truth drift). The status is the run's
own vocabulary: a type parameter, :class:`~core.kernel.models.ExecutionStatus` unless a run says
otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Generic

from typing_extensions import TypeVar

from core.kernel.errors import GatewardError
from core.kernel.jsontypes import JsonObject
from core.kernel.models import ExecutionStatus
from core.kernel.ports.executor import ExecutorError

StatusT = TypeVar("StatusT", bound=StrEnum, default=ExecutionStatus)


@dataclass
class DeviceResult(Generic[StatusT]):
    """What one run did to one device. ``status``: the outcome in the run's vocabulary (for a write,
    the execution status to record); ``failed``: the device did not reach the run's goal;
    ``error``: what went wrong, as the step that failed said it; ``reason``: why the device did not
    reach the goal, as its outcome names it (``"verification failed: <paths>"``, ``"locked by p-…"``
    for a skipped one) — kept when a restore replaces a write's result; ``evidence``: what the run
    learnt (for a write, the execution row's detail).

    The write's own facts: ``changed`` (the device may hold part of the change now), ``diff``
    (path → {expected, got} for a check that failed), ``nothing_sent`` (the write's request never
    left: the device is certainly untouched), ``cause`` (the adapter's error) and ``unconfirmed``."""

    device_id: str
    status: StatusT
    changed: bool = False
    failed: bool = False
    diff: JsonObject = field(default_factory=dict)
    evidence: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    nothing_sent: bool = False
    cause: ExecutorError | None = field(default=None, repr=False, compare=False)
    #: commands the device accepted but whose completion nobody observed (``OperateResult.status``
    #: ``pending``): the device is in a state nobody confirmed (``core.execution.unconfirmed_failure``)
    unconfirmed: list[str] = field(default_factory=list)
    reason: str | None = None

    @property
    def why(self) -> str:
        """The one line that says why this device failed: its reason, else its error, else its status."""
        return self.reason or self.error or str(self.status)


class DevicesFailed(GatewardError):
    """:meth:`Aggregate.raise_on_error`: devices of one run failed; ``failed`` maps each to why.
    ``total`` counts them all when a report keeps only the first few (the ACS sync)."""

    code = "devices_failed"

    def __init__(self, failed: dict[str, str], total: int | None = None) -> None:
        total = max(total or 0, len(failed))
        shown = "; ".join(f"{d}: {why}" for d, why in list(failed.items())[:5])
        hidden = total - min(5, len(failed))
        more = f" (+{hidden} more)" if hidden else ""
        super().__init__(f"{total} device(s) failed: {shown}{more}")
        self.failed = failed
        self.total = total


class Aggregate(Generic[StatusT]):
    """Every device's latest result in one run, keyed by device (an import: by row), plus views of
    them. A mixin: each report dataclass declares ``results`` as its own field (so its other fields
    keep their order and required-ness). The views are derived from ``results`` — one source of
    truth, as Nornir's ``AggregatedResult`` derives ``failed`` and ``failed_hosts`` from its results."""

    results: dict[str, DeviceResult[StatusT]]

    def add(self, result: DeviceResult[StatusT]) -> DeviceResult[StatusT]:
        self.results[result.device_id] = result
        return result

    @property
    def failed_ids(self) -> list[str]:
        """The keys of the results that failed in this run (a skipped device did not fail: it was
        not tried)."""
        return [d for d, r in self.results.items()
                if r.status is not ExecutionStatus.SKIPPED and (r.failed or r.reason is not None)]

    def failed_total(self) -> int:
        """How many failed: ``len(failed_ids)``, unless the report kept only the first few."""
        return len(self.failed_ids)

    def raise_on_error(self) -> None:
        """Raise :class:`DevicesFailed` naming each failed device and why; nothing if none failed."""
        if self.failed_ids:
            raise DevicesFailed({d: self.results[d].why for d in self.failed_ids}, self.failed_total())

    def with_status(self, *statuses: StatusT) -> list[str]:
        return [d for d, r in self.results.items() if r.status in statuses]

    @property
    def changed(self) -> list[str]:
        return [d for d, r in self.results.items() if r.changed]

    @property
    def failures(self) -> dict[str, str]:
        return {d: r.error or str(r.status) for d, r in self.results.items() if r.failed}

    def counts(self) -> dict[str, int]:
        """Results per status (``{"verified": 3, "rolled_back": 1}``), in the order first seen."""
        out: dict[str, int] = {}
        for r in self.results.values():
            out[str(r.status)] = out.get(str(r.status), 0) + 1
        return out
