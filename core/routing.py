"""Which adapter speaks to which device.

``Device.adapter`` names it: ``sim`` (digital twin), ``usp`` (USP controller over MQTT),
``genieacs`` (TR-069 through the GenieACS NBI). Adapters are created lazily and shared.
Callers other than the lifecycle get only :meth:`reader`; a writer is no use without a grant.

A router knows only the adapters it is given: there is no built-in default, so the simulator is
registered by the composition root (:func:`gateward.runtime.default_router`) like any other
adapter, and a device on an adapter nobody registered gets :class:`~core.kernel.ports.executor.UnknownAdapter`
naming it instead of silently talking to the simulator.

A router binds every adapter it builds to the grant verifier it was given
(:meth:`ExecutorRouter.bind_grant_verifier`, called by the composition root with its lifecycle's);
an adapter of a router nobody bound refuses every write.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from core.kernel.models import Device
from core.kernel.ports.executor import Executor, GrantVerifier, ReadOnlyExecutor, UnknownAdapter, WriteRefused

AdapterFactory = Callable[[], Executor]


class ExecutorRouter:
    def __init__(self, factories: dict[str, AdapterFactory] | None = None) -> None:
        self._factories: dict[str, AdapterFactory] = dict(factories or {})
        self._instances: dict[str, Executor] = {}
        self._verifier: GrantVerifier | None = None
        self._lock = threading.Lock()

    def bind_grant_verifier(self, verifier: GrantVerifier) -> None:
        """Bind every adapter this router has built or will build to ``verifier`` (the lifecycle's,
        ``Lifecycle.grant_verifier``). One-shot like :meth:`Executor.bind_grant_verifier`: the same
        verifier again is a no-op, another raises :class:`WriteRefused`."""
        with self._lock:
            if self._verifier is not None and self._verifier != verifier:
                raise WriteRefused("a grant verifier is already bound to this router; it cannot be replaced")
            self._verifier = verifier
            for inst in self._instances.values():
                inst.bind_grant_verifier(verifier)

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
                try:
                    inst = factory()
                except (LookupError, ValueError, OSError) as exc:  # misconfigured (no URL, a CA file that
                    # cannot load): this device's adapter error, which every caller handles, not a crash
                    raise UnknownAdapter(device.id, f"its adapter {name!r} cannot start: {exc}") from exc
                if self._verifier is not None:
                    inst.bind_grant_verifier(self._verifier)
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
