"""What the evaluation runner needs from a simulated world, as a protocol.

Why a protocol: ``evals`` scores the planner through the same surfaces a support agent uses
(``ChatService``, the lifecycle, the read path) and, like ``brain``, must not import executor
adapters. The simulator-side half — generating a fleet with known conditions, snapshotting and
restoring a device's twin state between scenarios, injecting faults and device-side values — is
implemented by the composition root (``gateward.cli_brain.SimWorld``) and handed in.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from core.kernel.models import Scalar
from core.services import CoreServices


class World(Protocol):
    """One seeded fleet: a runtime over it and the simulator controls the runner needs."""

    runtime: CoreServices
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

    def set_presence(self, device_id: str, *, online: bool, reachable: bool, last_seen: Any) -> Callable[[], None]:
        """Offline/unreachable since ``last_seen``; returns the undo (the device row's last contact)."""

    def add_past_change(self, device_id: str, spec: Any, at: Any, changes: dict[str, Any]) -> Callable[[], None]:
        """A proposal in the device's history at ``at`` (``evals.scenario.PastChange``); returns the undo."""

    def add_campaign(self, device_id: str, spec: Any, changes: dict[str, Any]) -> Callable[[], None]:
        """A live campaign selecting this device (``evals.scenario.CampaignSetup``); returns the undo."""

    def set_compat(self, device_id: str, spec: Any) -> Callable[[], None]:
        """Compat evidence for the device's model/firmware (``evals.scenario.CompatSetup``); returns the undo."""

    def set_roots(self, device_id: str, roots: list[str]) -> Callable[[], None]:
        """The device exposes both data-model roots, registered under ``roots[0]``; returns the undo."""

    def neighbour_values(self, device_id: str, ssid: str, bssid: str, band: str, channel: int,
                         rssi_dbm: float) -> dict[str, Scalar]:
        """TR-181 values adding one access point to the device's own scan table (none on TR-098)."""

    def host_values(self, device_id: str, hosts: list[Any], radios: list[Any]) -> dict[str, Scalar]:
        """TR-181 values listing these LAN hosts (``evals.scenario.HostSetup``) after the device's own."""

    def close(self) -> None: ...


class WorldFactory(Protocol):
    def __call__(self, seed: int, homes: int) -> World: ...
