"""The executor contract under fan-out (issue 37, item 4): the lifecycle now reads and writes up to
``GATEWARD_APPLY_CONCURRENCY`` devices of one proposal at once, from several threads, each write
under its own one-device grant. Every adapter must take that: each device gets exactly its own
change, a device that refuses fails alone, and calls to different devices overlap instead of
queueing one behind another (which would make the fan-out pointless on that adapter).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from core.models import Change, Device
from executors.base import ApplyResult, Fault
from tests.contract.conftest import Harness
from tests.contract.test_executor_contract import SSID1, _apply, _read

SLOW_S = 0.3


def _devices(h: Harness) -> list[Device]:
    """Three devices of the contract fleet the adapter manages: two TR-181, one TR-098."""
    return [h.tr181_device, h.extras["spare"], h.tr098_device]


def _write_all(h: Harness, values: dict[str, str]) -> dict[str, ApplyResult | Exception]:
    devices = _devices(h)

    def write(d: Device) -> ApplyResult | Exception:
        try:
            return _apply(h, d, [Change(path=SSID1, value=values[d.id])], key=f"k-fan-{values[d.id][-1]}")
        except Fault as exc:
            return exc

    with ThreadPoolExecutor(max_workers=len(devices)) as pool:
        return dict(zip([d.id for d in devices], pool.map(write, devices), strict=True))


def test_concurrent_writes_each_land_on_their_own_device(harness: Harness) -> None:
    values = {d.id: f"Fan-out {k}" for k, d in enumerate(_devices(harness))}
    results = _write_all(harness, values)
    assert all(isinstance(r, ApplyResult) and not r.idempotent_skip for r in results.values()), results
    assert {d.id: _read(harness, d, SSID1) for d in _devices(harness)} == values


def test_a_device_that_refuses_fails_alone_among_concurrent_writes(harness: Harness) -> None:
    bad = harness.extras["spare"]
    harness.inject(bad, "reject_value", path=SSID1)
    try:
        before = _read(harness, bad, SSID1)
        values = {d.id: f"Alone {k}" for k, d in enumerate(_devices(harness))}
        results = _write_all(harness, values)
    finally:
        harness.clear(bad, "reject_value")
    assert isinstance(results[bad.id], Fault), results[bad.id]
    assert _read(harness, bad, SSID1) == before
    for d in _devices(harness):
        if d.id != bad.id:
            assert isinstance(results[d.id], ApplyResult) and _read(harness, d, SSID1) == values[d.id]


def test_calls_to_different_devices_overlap(harness: Harness) -> None:
    """Three slow devices read at once take about as long as one, not three (the same reads one
    after another are timed in the same test, on the same devices)."""
    devices = _devices(harness)
    for d in devices:
        harness.inject(d, "slow", delay_s=SLOW_S)
    patient = harness.make_slow_executor(10.0)
    try:
        def read(d: Device) -> object:
            return patient.read(d, [SSID1])[SSID1].value

        start = time.perf_counter()
        for d in devices:
            read(d)
        serial = time.perf_counter() - start
        # a read of a device in the refresh interval of its last read waits for the next one (GenieACS's
        # one-second granularity, executors/genieacs/timing.py): start the second round past it
        time.sleep(1.05)
        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=len(devices)) as pool:
            list(pool.map(read, devices))
        fanned = time.perf_counter() - start
    finally:
        for d in devices:
            harness.clear(d, "slow")
    if serial < len(devices) * SLOW_S:
        pytest.fail(f"{harness.name}: the slow fault did not slow the reads ({serial:.2f} s for {len(devices)})")
    assert fanned < 0.7 * serial, (fanned, serial)
