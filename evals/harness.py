"""What the evaluation runner needs from a simulated world, as a protocol.

Why a protocol: ``evals`` scores the planner through the same surfaces a support agent uses
(``ChatService``, the lifecycle, the read path) and, like ``brain``, must not import executor
adapters. The simulator-side half — generating a fleet with known conditions, snapshotting and
restoring a device's twin state between scenarios, injecting faults and device-side values — is
implemented by the composition root (``gateward.cli_brain.SimWorld``) and handed in.
"""

from __future__ import annotations

from typing import Any, Protocol

from core.models import Scalar


class World(Protocol):
    """One seeded fleet: a runtime over it and the simulator controls the runner needs."""

    runtime: Any
    seed: int
    homes: int
    conditions: dict[str, list[str]]

    def snapshot(self, device_id: str) -> Any:
        """Opaque copy of the device's simulated state."""

    def restore(self, device_id: str, snap: Any) -> None:
        """Put the device back exactly as :meth:`snapshot` saw it (parameters, faults, presence)."""

    def inject(self, device_id: str, fault: str, params: dict[str, Any]) -> None:
        """Inject a simulator fault (offline, unreachable, slow, reject_value, …)."""

    def set_params(self, device_id: str, values: dict[str, Scalar]) -> None:
        """Values the device takes on by itself (TR-181 paths; translated for TR-098 firmware)."""

    def close(self) -> None: ...


class WorldFactory(Protocol):
    def __call__(self, seed: int, homes: int) -> World: ...
