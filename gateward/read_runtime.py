"""What a read-only CLI command needs, and nothing more (issue 15: read commands in ≤ 0.3 s).

Why not :func:`gateward.runtime.build_runtime`: it loads and self-checks the policy pack, builds
the lifecycle and the executor router, and runs the Alembic upgrade — about a second of imports and
work before ``gateward devices`` can print a table. A read needs the store (schema checked by a
cheap head check, :mod:`core.store.head`) and, for a live device read, the executor router. Each
part is built on first use; nothing here evaluates policy or writes, so no gate is bypassed: every
command that changes something still goes through the full runtime.
"""

from __future__ import annotations

from typing import Any

from core.store.db import Store


class ReadRuntime:
    """Lazily built store and router for read commands."""

    def __init__(self, database_url: str | None = None) -> None:
        self.url = database_url
        self._store: Store | None = None
        self._router: Any = None
        self._usp: Any = None

    @property
    def store(self) -> Store:
        if self._store is None:
            from core.store.head import open_for_reads

            self._store = open_for_reads(self.url)
        return self._store

    @property
    def router(self) -> Any:
        """The executor router, as the full runtime builds it (same adapters, same settings)."""
        if self._router is None:
            from core.config import get_settings
            from gateward.runtime import default_router, usp_adapter

            settings = get_settings()
            self._usp = usp_adapter(settings, self.store)
            self._router = default_router(settings, self.store, usp=self._usp)
        return self._router

    def close(self) -> None:
        if self._router is not None:
            self._router.close()
        if self._usp is not None:
            self._usp.close()
        if self._store is not None:
            self._store.dispose()
