"""Which adapter speaks to which device.

``Device.adapter`` names it: ``sim`` (digital twin), ``usp`` (USP controller over MQTT),
``genieacs`` (TR-069 through the GenieACS NBI). Adapters are created lazily and shared.
Callers other than the lifecycle get only :meth:`reader`; a writer is no use without a grant.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from core.models import Device
from executors.base import Executor, ReadOnlyExecutor

AdapterFactory = Callable[[], Executor]


def _sim_factory() -> Executor:
    from executors.sim.executor import SimExecutor

    return SimExecutor()


class ExecutorRouter:
    def __init__(self, factories: dict[str, AdapterFactory] | None = None) -> None:
        self._factories: dict[str, AdapterFactory] = {"sim": _sim_factory}
        if factories:
            self._factories.update(factories)
        self._instances: dict[str, Executor] = {}
        self._lock = threading.Lock()

    def register(self, name: str, factory: AdapterFactory) -> None:
        self._factories[name] = factory

    def _get(self, name: str) -> Executor:
        with self._lock:
            inst = self._instances.get(name)
            if inst is None:
                factory = self._factories.get(name)
                if factory is None:
                    raise LookupError(
                        f"no executor adapter {name!r} is configured (known: {', '.join(sorted(self._factories))})"
                    )
                inst = factory()
                self._instances[name] = inst
            return inst

    def reader(self, device: Device) -> ReadOnlyExecutor:
        return self._get(device.adapter).reader()

    def writer(self, device: Device) -> Executor:
        return self._get(device.adapter)

    def close(self) -> None:
        with self._lock:
            for inst in self._instances.values():
                inst.close()
            self._instances.clear()
