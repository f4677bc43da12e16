"""``gateward seed`` loads the fleet in committed batches (``gateward.fleet_load``): each batch is
in the database before the next is generated, a load stopped half-way keeps what it committed and
a second one adds the rest, the result is the fleet a one-shot load makes, and only the first
homes get telemetry samples and snapshots (on SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from core.store.schema import DeviceRow, ParameterSnapshotRow, TelemetryRow
from gateward.fleet_load import Loaded, load_fleet


@pytest.fixture
def empty(db_url: str) -> Iterator[Any]:
    from core.kernel.config import Settings
    from gateward.runtime import build_runtime

    rt = build_runtime(Settings(database_url=db_url))
    yield rt
    rt.close()


def _ids(rt: Any, row: Any = DeviceRow, col: str = "id") -> set[str]:
    with rt.store.read() as s:
        return {str(x) for x in s.scalars(select(getattr(row, col)).distinct())}


class _Stop(Exception):
    pass


def test_batches_are_committed_as_they_go_and_a_stopped_load_resumes(empty: Any) -> None:
    from executors.sim.fleet import generate_fleet

    seen: list[tuple[int, int]] = []

    def stop_after_two(done: Loaded) -> None:
        with empty.store.read() as s:  # another transaction sees every device added so far
            seen.append((done.devices, int(s.scalar(select(func.count()).select_from(DeviceRow)) or 0)))
        if done.batches == 2:
            raise _Stop

    with pytest.raises(_Stop):
        load_fleet(empty, homes=90, seed=3, batch_homes=20, telemetry_homes=30, snapshot_homes=30,
                   progress=stop_after_two)
    assert len(seen) == 2 and all(added == stored for added, stored in seen), seen
    kept = _ids(empty)
    assert 0 < len(kept) < 90
    again = load_fleet(empty, homes=90, seed=3, batch_homes=20, telemetry_homes=30, snapshot_homes=30)
    assert again.devices == len(_ids(empty)) - len(kept) > 0
    assert _ids(empty) == {d.id for d in generate_fleet(homes=90, seed=3, telemetry=False).devices}
    assert load_fleet(empty, homes=90, seed=3, batch_homes=20).devices == 0  # nothing is new


def test_only_the_first_homes_get_samples_and_snapshots(empty: Any) -> None:
    out = load_fleet(empty, homes=100, seed=5, batch_homes=25, telemetry_homes=25, snapshot_homes=30)
    assert out.devices == len(_ids(empty)) >= 100
    sampled = _ids(empty, TelemetryRow, "device_id")
    snapped = _ids(empty, ParameterSnapshotRow, "device_id")
    assert 25 <= len(sampled) < 50, len(sampled)  # the first batch (whole buildings: about 25 homes)
    assert 25 <= len(snapped) <= 30 + 1, len(snapped)
    assert out.telemetry_rows > 0
