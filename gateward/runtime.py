"""Build the process's parts once: store, policy engine, executor router, lifecycle.

This is the composition root. ``api`` and the CLI receive a :class:`Runtime`; nothing below
this layer imports it.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.config import Settings, get_settings
from core.lifecycle import Lifecycle
from core.routing import ExecutorRouter
from core.store import Store
from executors.base import Executor
from policies.base import PolicyEngine


@dataclass
class Runtime:
    settings: Settings
    store: Store
    policy: PolicyEngine
    router: ExecutorRouter
    lifecycle: Lifecycle

    def close(self) -> None:
        self.router.close()
        self.policy.close()
        self.store.dispose()


def build_runtime(settings: Settings | None = None, *, database_url: str | None = None,
                  policy: PolicyEngine | None = None, router: ExecutorRouter | None = None) -> Runtime:
    from policies.engine import load_engine

    settings = settings or get_settings()
    store = Store(database_url or settings.resolved_database_url())
    engine = policy or load_engine(settings)
    router = router or default_router(settings, store)
    return Runtime(settings, store, engine, router, Lifecycle(store, engine, router, settings))


def default_router(settings: Settings, store: Store) -> ExecutorRouter:
    """The simulator always; the GenieACS adapter when ``GATEWARD_GENIEACS_URL`` is set; the USP
    controller (over ``GATEWARD_MQTT_URL``) on first use by a device whose adapter is ``usp``.
    Adapters are created lazily, so an unconfigured one costs nothing."""
    from executors.sim.executor import SimExecutor

    sim_url = settings.sim_database_url or store.url
    router = ExecutorRouter({"sim": lambda: SimExecutor(database_url=sim_url)})
    if settings.genieacs_url:
        def _genieacs() -> Executor:
            from executors import genieacs

            return genieacs.factory(settings)

        router.register("genieacs", _genieacs)

    def _usp() -> Executor:
        from executors import usp

        return usp.factory(settings)

    router.register("usp", _usp)
    return router
