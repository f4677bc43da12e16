"""What the layers above the core use of a running Gateward: the typed face of the composition root.

Why a Protocol here and not the ``gateward.runtime.Runtime`` class: the planner, campaigns and the
evaluation harness sit below the composition root (README "How the pieces fit") and may not import
it; they name the services they use, and ``Runtime`` satisfies this structurally (mypy checks it
where the runtime is handed down). The API has its own wider Protocol (``api.deps.AppRuntime``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from core.kernel.config import Settings
    from core.lifecycle import Lifecycle
    from core.routing import ExecutorRouter
    from core.store import Store
    from policies.base import PolicyEngine


class CoreServices(Protocol):
    """The store, settings, policy engine, executor router and lifecycle of one process."""

    @property
    def settings(self) -> Settings: ...
    @property
    def store(self) -> Store: ...
    @property
    def policy(self) -> PolicyEngine: ...
    @property
    def router(self) -> ExecutorRouter: ...
    @property
    def lifecycle(self) -> Lifecycle: ...


__all__ = ["CoreServices"]
