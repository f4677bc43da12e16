"""The simulated fleet: a digital twin of ISP home gateways that the whole product is tested on.

* :mod:`executors.sim.catalog` — vendor/model/firmware catalogue (``catalog.json``) and tree builders
* :mod:`executors.sim.twin` — persistent per-device state in ``sim_*`` tables (SQLite or PostgreSQL)
* :mod:`executors.sim.state` — one device's state and how a live read of it is answered
* :mod:`executors.sim.lite` — that read on the DB-API, for the CLI (no SQLAlchemy, no pydantic)
* :mod:`executors.sim.faults` — injectable failure modes
* :mod:`executors.sim.executor` — :class:`SimExecutor`, the executor contract over the twin
* :mod:`executors.sim.fleet` — deterministic fleet generator (topology, Wi-Fi air, telemetry, history)

The names below are imported on first use (PEP 562): importing any submodule runs this file, and
``gateward device ID`` reads the twin through :mod:`executors.sim.lite` without the executor, the
fleet generator or SQLAlchemy, which these imports would load.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from executors.sim.executor import SimExecutor
    from executors.sim.fleet import FleetSeed, generate_fleet, iter_fleet, load_fleet
    from executors.sim.twin import Twin

_WHERE = {
    "SimExecutor": "executors.sim.executor",
    "FleetSeed": "executors.sim.fleet",
    "generate_fleet": "executors.sim.fleet",
    "iter_fleet": "executors.sim.fleet",
    "load_fleet": "executors.sim.fleet",
    "Twin": "executors.sim.twin",
}

__all__ = ["FleetSeed", "SimExecutor", "Twin", "generate_fleet", "iter_fleet", "load_fleet"]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
