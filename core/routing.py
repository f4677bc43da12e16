"""Which adapter speaks to which device.

``Device.adapter`` names it: ``sim`` (digital twin), ``usp`` (USP controller over MQTT),
``genieacs`` (TR-069 through the GenieACS NBI). Adapters are created lazily and shared.
Callers other than the lifecycle get only :meth:`reader`; a writer is no use without a grant.

A router knows only the adapters it is given: there is no built-in default, so the simulator is
registered by the composition root (:func:`gateward.runtime.default_router`) like any other
adapter, and a device on an adapter nobody registered gets :class:`~core.ports.executor.UnknownAdapter`
naming it instead of silently talking to the simulator.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from core.models import Device
from core.ports.executor import Executor, ReadOnlyExecutor, UnknownAdapter

AdapterFactory = Callable[[], Executor]


class ExecutorRouter:
    def __init__(self, factories: dict[str, AdapterFactory] | None = None) -> None:
        self._factories: dict[str, AdapterFactory] = dict(factories or {})
        self._instances: dict[str, Executor] = {}
        self._lock = threading.Lock()

    def register(self, name: str, factory: AdapterFactory) -> None:
        self._factories[name] = factory

    def _get(self, device: Device) -> Executor:
        name = device.adapter
        with self._lock:
            inst = self._instances.get(name)
            if inst is None:
                factory = self._factories.get(name)
                if factory is None:
                    known = ", ".join(sorted(self._factories)) or "none"
                    raise UnknownAdapter(
                        device.id, f"its adapter {name!r} is not configured in this deployment (known: {known})"
                    )
                inst = factory()
                self._instances[name] = inst
            return inst

    def reader(self, device: Device) -> ReadOnlyExecutor:
        return self._get(device).reader()

    def writer(self, device: Device) -> Executor:
        return self._get(device)

    def close(self) -> None:
        with self._lock:
            for inst in self._instances.values():
                inst.close()
            self._instances.clear()
