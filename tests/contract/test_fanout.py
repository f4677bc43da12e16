"""The executor contract under fan-out (issue 37, item 4): the lifecycle now reads and writes up to
``GATEWARD_APPLY_CONCURRENCY`` devices of one proposal at once, from several threads, each write
under its own one-device grant. Every adapter must take that: each device gets exactly its own
change, a device that refuses fails alone, and calls to different devices overlap instead of
queueing one behind another (which would make the fan-out pointless on that adapter).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from core.kernel.models import Change, Device
from executors.base import ApplyResult, Fault
from tests.contract.conftest import Harness
from tests.contract.test_executor_contract import SSID1, _apply, _read

HELD_S = 5.0  # a slow device's answer: far longer than a quick read takes on a loaded machine


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


def test_a_slow_device_does_not_hold_a_call_to_another(harness: Harness) -> None:
    """A device that answers at once is read while another device's slow read is still under way:
    calls to different devices overlap instead of queueing one behind another. What is asserted is
    the order (the quick answer before the slow one), not a time; how much fanning out gains is
    ``gateward bench genieacs_fanout``'s (the same devices one at a time in the same run)."""
    slow, quick = _devices(harness)[:2]
    harness.inject(slow, "slow", delay_s=HELD_S)
    patient = harness.make_slow_executor(HELD_S * 6)
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(patient.read, slow, [SSID1])
            time.sleep(0.3)  # let the slow read reach the adapter (a read still outside it only makes this pass)
            assert patient.read(quick, [SSID1])[SSID1].value == _read(harness, quick, SSID1)
            assert not pending.done(), "the quick device's read waited for the slow device's"
            assert SSID1 in pending.result()
    finally:
        harness.clear(slow, "slow")
