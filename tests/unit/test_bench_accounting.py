"""The benchmarks' accounting of whose CPU a figure is (bench/accounting.py): the simulated devices'
calls timed once however they nest, PostgreSQL backends' CPU split by connection name, and the
lifecycle bench's control-plane figures derived from them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from bench.accounting import CP_APP, SIM_APP, BackendCpu, DeviceClock, named
from bench.framework import MachineCpu
from bench.lifecycle_throughput import _control_plane
from executors.base import DeviceReader
from executors.sim.executor import SimExecutor
from executors.sim.twin import Twin
from tests.conftest import PG_URL, make_db_url

RADIO = "Device.WiFi.Radio.1."


@pytest.fixture
def clock() -> Iterator[DeviceClock]:
    c = DeviceClock().install()
    yield c
    c.uninstall()


class _FakeTime:
    """A clock that moves only when told: a device read takes exactly one second of it."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now

    def thread_time(self) -> float:
        return self.now


def test_device_calls_are_timed_once_however_they_nest_and_nothing_outside_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Counted by a clock the test moves (a unit test asserts what is counted, not how fast):
    each device read takes 1 s of it, the control plane's time between calls 100 s."""
    import bench.accounting

    fake = _FakeTime()
    monkeypatch.setattr(bench.accounting, "time", fake)
    own_read = SimExecutor.read

    def read_taking_a_second(self: SimExecutor, *args: object, **kwargs: object) -> object:
        fake.now += 1.0
        return own_read(self, *args, **kwargs)  # type: ignore[arg-type]  # the test passes what read takes

    monkeypatch.setattr(SimExecutor, "read", read_taking_a_second)
    clock = DeviceClock().install()
    twin = Twin(f"sqlite:///{tmp_path / 'twin.db'}")
    try:
        ex = SimExecutor(twin)
        d = twin.add_device("sinotel-hg8020-s105", "4857544300000009", region="DE")
        facade = ex.reader()  # what the lifecycle and the router hand out
        facade.read(d, [RADIO])
        assert (clock.calls, clock.wall_s, clock.cpu_s) == (1, 1.0, 1.0)
        fake.now += 100.0  # the control plane's time, between device calls
        facade.read_for_backup(d, [f"{RADIO}Channel"])  # the default backup read calls read() inside: once
        facade.presence(d)  # reads nothing: no time
        assert (clock.calls, clock.wall_s, clock.cpu_s) == (3, 2.0, 2.0)
    finally:
        twin.close()
        clock.uninstall()


def test_uninstall_gives_the_simulator_its_own_methods_back() -> None:
    own_read = SimExecutor.__dict__["read"]
    c = DeviceClock().install()
    assert SimExecutor.__dict__["read"] is not own_read
    with pytest.raises(RuntimeError):
        c.install()
    c.uninstall()
    assert SimExecutor.__dict__["read"] is own_read
    assert "read_for_backup" not in SimExecutor.__dict__  # inherited again, as before
    assert SimExecutor.read_for_backup is DeviceReader.read_for_backup


@pytest.mark.skipif(not PG_URL, reason="needs GATEWARD_TEST_DATABASE_URL (a local PostgreSQL)")
def test_backend_cpu_is_split_by_connection_name(tmp_path: Path) -> None:
    url, cleanup = make_db_url("postgres", tmp_path)
    sim = create_engine(named(url, SIM_APP), poolclass=NullPool)
    cp = create_engine(named(url, CP_APP), poolclass=NullPool)
    meter_engine = create_engine(url, poolclass=NullPool)
    try:
        with sim.connect() as s, cp.connect() as c:
            s.execute(text("SELECT 1"))
            c.execute(text("SELECT 1"))
            meter = BackendCpu(meter_engine)
            s.execute(text("SELECT count(*) FROM generate_series(1, 4000000)"))
            c.execute(text("SELECT 1"))
            used = meter.stop()
        sim_s, cp_s = used[SIM_APP], used[CP_APP]
        assert sim_s is not None and cp_s is not None
        assert sim_s >= 0.05  # the twin's backend did the counting
        assert cp_s < sim_s / 2
    finally:
        for e in (sim, cp, meter_engine):
            e.dispose()
        cleanup()


def _phase(wall: float, busy_s: float, device_wall: float, device_cpu: float,
           db: dict[str, float | None]) -> dict[str, object]:
    machine = MachineCpu()
    machine.busy_s = busy_s
    return {"wall": wall, "busy_wall": wall, "device_wall": device_wall, "device_cpu": device_cpu,
            "db": db, "machine": machine}


def test_control_plane_figures_take_the_devices_work_out_and_only_that() -> None:
    # 100 proposals in 1 s, a quarter of it in device calls; the machine was busy 1.4 s, of which
    # 0.10 s the simulator's own CPU and 0.06 s the twin's backends.
    cp = _control_plane(_phase(1.0, 1.4, 0.25, 0.10, {CP_APP: 0.3, SIM_APP: 0.06}), 100)
    assert cp["rate"] == pytest.approx(100 / 0.75)
    assert cp["machine_ms"] == pytest.approx(14.0 - 1.0 - 0.6)
    assert cp["sim_db_ms"] == pytest.approx(0.6) and cp["cp_db_ms"] == pytest.approx(3.0)
    # SQLite: no backends to read; the twin's work is inside the device calls already.
    lite = _control_plane(_phase(1.0, 1.4, 0.25, 0.10, {CP_APP: None, SIM_APP: None}), 100)
    assert lite["machine_ms"] == pytest.approx(13.0)
    assert lite["sim_db_ms"] is None


def test_every_bench_reports_the_machine_speed_beside_its_own_figures(monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    from bench import framework

    fake = types.SimpleNamespace(NAME="fake", run=lambda quick: framework.BenchResult("fake", {"things_per_s": 12.5}))
    monkeypatch.setattr(framework, "discover", lambda: {"fake": fake})
    shown: list[framework.BenchResult] = []
    result = framework.run_bench("fake", True, printer=shown.append)
    before, after = result.params["reference_loop_ms"]
    assert before > 0 and after > 0
    labels = [label for label, _ in shown[0].rows]
    assert labels[0] == "things_per_s"  # a bench without rows of its own still shows its metrics
    assert labels[-1].startswith("machine speed")
