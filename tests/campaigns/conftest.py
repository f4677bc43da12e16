from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest


def campaign_runtime(url: str, homes: int = 60) -> Any:
    """A runtime over a simulated fleet (60 homes: enough for a canary and three rings). No
    snapshots: previews of up to 200 devices read them live anyway."""
    from core.kernel.config import Settings
    from gateward.runtime import build_runtime
    from gateward.seed import seed_fleet

    rt = build_runtime(Settings(database_url=url))
    seed_fleet(rt, homes=homes, seed=11, snapshots=False)
    return rt


@pytest.fixture
def crt(db_url: str) -> Iterator[Any]:
    """A runtime over ``db_url``, which is already a copy of the 60-home fleet without snapshots
    (``tests.conftest.SEEDED_BY``: seeded once per process, copied per test)."""
    from core.kernel.config import Settings
    from gateward.runtime import build_runtime

    rt = build_runtime(Settings(database_url=db_url))
    yield rt
    rt.close()


@pytest.fixture
def svc(crt: Any) -> Any:
    from campaigns.service import Campaigns

    return Campaigns(crt)


@pytest.fixture(scope="session")
def fleet_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """200 homes (seed 23) with snapshots, whose telemetry is the simulator's KPI model's own
    (``executors.sim.kpis``): the same hours the day before and the six hours before now. Seeded
    once per process; each test gets a copy (:func:`ert`)."""
    from sqlalchemy import delete

    from core.kernel.config import Settings
    from core.store.schema import TelemetryRow
    from gateward import sim_telemetry
    from gateward.runtime import build_runtime
    from gateward.seed import seed_fleet

    path = tmp_path_factory.mktemp("effects") / "fleet.db"
    rt = build_runtime(Settings(database_url=f"sqlite:///{path}"))
    seed_fleet(rt, homes=200, seed=23, snapshots=True)
    with rt.store.write() as s:
        s.execute(delete(TelemetryRow))
    now = datetime.now(UTC)
    sim_telemetry.report(rt, now - timedelta(hours=24), 8)
    sim_telemetry.report(rt, now - timedelta(hours=6), 6)
    rt.close()
    return path


@pytest.fixture
def ert(fleet_file: Path, tmp_path: Path) -> Iterator[Any]:
    """A runtime over a copy of :func:`fleet_file` (a campaign changes its twins)."""
    from core.kernel.config import Settings
    from gateward.runtime import build_runtime

    copy = tmp_path / "fleet.db"
    shutil.copy(fleet_file, copy)
    rt = build_runtime(Settings(database_url=f"sqlite:///{copy}"))
    yield rt
    rt.close()
