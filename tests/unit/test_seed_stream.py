"""``gateward seed`` loads the fleet in committed batches (``gateward.fleet_load``): each batch is
in the database before the next is generated, a load stopped half-way keeps what it committed and
a second one adds the rest, the result is the fleet a one-shot load makes, and only the first
homes get telemetry samples and snapshots (on SQLite and PostgreSQL)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
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


ANCHOR = datetime(2025, 3, 14, 21, 0, tzinfo=UTC)


def _expected(homes: int, seed: int, batch_homes: int, telemetry_homes: int) -> Any:
    from executors.sim.fleet import FleetSeed, iter_fleet

    whole = FleetSeed(seed=seed, homes=homes, anchor=ANCHOR)
    for chunk in iter_fleet(homes, seed, batch_homes=batch_homes, telemetry_homes=telemetry_homes, anchor=ANCHOR):
        whole.extend(chunk)
    return whole


def _frozen(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((k, _frozen(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(_frozen(v) for v in value)
    return value


def _bag(rows: Any) -> Counter[Any]:
    """Rows as a multiset (dicts and lists made hashable; 3 == 3.0, as the columns' types have it)."""
    return Counter(_frozen(r) for r in rows)


def test_the_store_and_the_twin_read_back_the_generated_fleet(empty: Any) -> None:
    """The rows written by ``executemany`` / ``COPY`` (built in two generator processes) are what the
    generator made, read back through the store's own types and the twin."""
    from core.store import repo
    from core.store.schema import DeviceEventRow, SubscriberRow, TopologyNodeRow, WifiNeighborRow
    from gateward.fleet_load import twin_for

    out = load_fleet(empty, homes=70, seed=5, batch_homes=15, telemetry_homes=20, snapshots=False, generators=2,
                     anchor=ANCHOR)
    fleet = _expected(70, 5, 15, 20)
    assert out.devices == len(fleet.devices) and out.batches >= 4
    with empty.store.read() as s:
        stored = repo.get_devices(s, [d.id for d in fleet.devices])
        assert [stored[d.id].model_dump() for d in fleet.devices] == [d.model_dump() for d in fleet.devices]
        assert _bag((r.id, r.label, r.building, r.service) for r in s.scalars(select(SubscriberRow))) == _bag(
            (sid, i["label"], i["building"], i["service"]) for sid, i in fleet.subscribers.items())
        assert _bag((r.id, r.kind, r.label, r.parent_id, r.attrs) for r in s.scalars(select(TopologyNodeRow))) == \
            _bag((n.id, n.kind, n.label, n.parent_id, n.attrs) for n in fleet.topology_nodes)
        assert _bag((r.device_id, r.neighbor_device_id, r.bssid, r.ssid, r.band, r.channel, r.rssi_dbm)
                    for r in s.scalars(select(WifiNeighborRow))) == _bag(
            (n.device_id, n.neighbor_device_id, n.bssid, n.ssid, n.band, n.channel, n.rssi_dbm)
            for n in fleet.wifi_neighbors)
        assert _bag((r.device_id, r.ts, r.metric, r.value, r.labels) for r in s.scalars(select(TelemetryRow))) == \
            _bag((t.device_id, t.ts, t.metric, t.value, t.labels) for t in fleet.telemetry)
        assert _bag((r.device_id, r.ts, r.kind, r.data, r.event_key) for r in s.scalars(select(DeviceEventRow))) \
            == _bag((e.device_id, e.ts, e.kind, e.data, None) for e in fleet.events)
    twin = twin_for(empty)
    for st in fleet.twin_states:
        got = twin.state(st.device_id)
        assert (got.model_key, got.region, got.identity, got.overrides, got.online, got.reachable, got.boot_count,
                got.boot_ts, got.last_inform, got.faults, got.link, got.version) == (
            st.model_key, st.region, st.identity, st.overrides, st.online, st.reachable, st.boot_count, st.boot_ts,
            st.last_inform, st.faults, st.link, 1)
        assert got.record == next(d for d in fleet.devices if d.id == st.device_id)
    assert _bag((e.device_id, e.ts, e.kind, e.data) for e in twin.events(limit=10_000)) == _bag(
        (e.device_id, e.ts, e.kind, e.data) for e in fleet.events)


def _stop_at(monkeypatch: pytest.MonkeyPatch, table: str, batch: int) -> None:
    """Make the ``batch``-th write of ``table``'s rows fail, as a crash there would stop it."""
    import gateward.fleet_rows as fleet_rows

    real = fleet_rows.write_rows
    seen = [0]

    def write(raw: Any, dialect: str, rows: Any, values: Any) -> None:
        if rows.table == table:
            seen[0] += 1
            if seen[0] == batch:
                raise _Stop
        real(raw, dialect, rows, values)

    monkeypatch.setattr(fleet_rows, "write_rows", write)


def test_a_batch_stopped_half_way_leaves_each_device_whole_or_absent(empty: Any,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The twin's rows are written in the store's transaction (one database): a batch stopped after
    its twin rows and its devices were written leaves none of them, and the next load adds it whole."""
    from gateward.fleet_load import twin_for

    _stop_at(monkeypatch, "telemetry", 2)
    with pytest.raises(_Stop):
        load_fleet(empty, homes=60, seed=4, batch_homes=20, telemetry_homes=60, snapshots=False, generators=0,
                   anchor=ANCHOR)
    twin = twin_for(empty)
    kept = _ids(empty)
    assert 0 < len(kept) < 60 and {st.id for st in twin.iter_states()} == kept
    monkeypatch.undo()
    load_fleet(empty, homes=60, seed=4, batch_homes=20, telemetry_homes=60, snapshots=False, generators=0,
               anchor=ANCHOR)
    fleet = _expected(60, 4, 20, 60)
    assert _ids(empty) == {st.id for st in twin.iter_states()} == {d.id for d in fleet.devices}
    assert _ids(empty, TelemetryRow, "device_id") == {t.device_id for t in fleet.telemetry}


@pytest.mark.sqlite_only
def test_with_a_twin_database_of_its_own_a_stopped_load_is_completed_by_the_next(
        tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The twin's own database is committed first: a load stopped in the store's write leaves twin
    devices the store lacks; the next load adds the store's rows and leaves the twin's as they are."""
    from core.kernel.config import Settings
    from gateward.fleet_load import twin_for
    from gateward.runtime import build_runtime

    rt = build_runtime(Settings(database_url=f"sqlite:///{tmp_path / 'store.db'}",
                                sim_database_url=f"sqlite:///{tmp_path / 'twin.db'}"))
    try:
        _stop_at(monkeypatch, "devices", 2)
        with pytest.raises(_Stop):
            load_fleet(rt, homes=50, seed=2, batch_homes=20, snapshots=False, generators=0, anchor=ANCHOR)
        twin = twin_for(rt)
        assert _ids(rt) < {st.id for st in twin.iter_states()}
        monkeypatch.undo()
        again = load_fleet(rt, homes=50, seed=2, batch_homes=20, snapshots=False, generators=0, anchor=ANCHOR)
        assert again.devices > 0
        assert _ids(rt) == {st.id for st in twin.iter_states()} == {d.id for d in _expected(50, 2, 20, 0).devices}
        assert twin.count() == len(_ids(rt))
    finally:
        rt.close()


@pytest.mark.sqlite_only
def test_a_generator_process_that_dies_fails_the_load_instead_of_hanging() -> None:
    import queue

    from gateward.fleet_load import _next

    class Dead:
        exitcode = -11

        def is_alive(self) -> bool:
            return False

    with pytest.raises(RuntimeError, match=r"generator process stopped .*exit code -11"):
        _next(queue.Queue(), Dead())
