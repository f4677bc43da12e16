"""The simulated fleet: a digital twin of ISP home gateways that the whole product is tested on.

* :mod:`executors.sim.catalog` — vendor/model/firmware catalogue (``catalog.json``) and tree builders
* :mod:`executors.sim.twin` — persistent per-device state in ``sim_*`` tables (SQLite or PostgreSQL)
* :mod:`executors.sim.faults` — injectable failure modes
* :mod:`executors.sim.executor` — :class:`SimExecutor`, the executor contract over the twin
* :mod:`executors.sim.fleet` — deterministic fleet generator (topology, Wi-Fi air, telemetry, history)
"""

from executors.sim.executor import SimExecutor
from executors.sim.fleet import FleetSeed, generate_fleet, iter_fleet, load_fleet
from executors.sim.twin import Twin

__all__ = ["FleetSeed", "SimExecutor", "Twin", "generate_fleet", "iter_fleet", "load_fleet"]
