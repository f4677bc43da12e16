"""The executor's synchronous fast path (issue 15): a read of a known, answering agent is sent from
the caller's thread (``UspController.request_threadsafe``) and must behave exactly like the same
read run on the controller's loop — same values and types, same errors, same timeout bookkeeping.
Plus the controller's request deadlines (one timer for all requests)."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from executors.base import DeviceOffline, InvalidParameterName
from executors.usp.controller import _Deadlines
from tests.usp.support import UspRig

pytestmark = pytest.mark.mqtt

PATHS = ["Device.DeviceInfo.SoftwareVersion", "Device.DeviceInfo.UpTime", "Device.WiFi.SSID.1.SSID",
         "Device.WiFi.SSID.1.Enable", "Device.WiFi.Radio.1.Channel"]


def _count_loop_calls(rig: UspRig, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls = [0]
    real = rig.executor.runner.run

    def counted(coro: Any, timeout: float | None = None) -> Any:
        calls[0] += 1
        return real(coro, timeout)

    monkeypatch.setattr(rig.executor.runner, "run", counted)
    return calls


def test_sync_read_skips_the_loop_and_answers_like_it(rig: UspRig, monkeypatch: pytest.MonkeyPatch) -> None:
    (d,) = rig.devices
    slow = rig.ctl(rig.executor.aread(d, PATHS))  # learns the agent, on the loop
    calls = _count_loop_calls(rig, monkeypatch)
    before = rig.controller.stats.requests_out
    fast = rig.executor.read(d, PATHS)
    assert calls[0] == 0, "a known agent's read went through the loop"
    assert rig.controller.stats.requests_out == before + 1
    assert fast.keys() == slow.keys()
    for path in PATHS:
        if path != "Device.DeviceInfo.UpTime":  # the clock moves between the two reads
            assert fast[path] == slow[path]
        assert (fast[path].type, fast[path].writable) == (slow[path].type, slow[path].writable)
    bad = ["Device.DeviceInfo.SoftwareVersion", "Device.Nope.X"]
    with pytest.raises(InvalidParameterName) as on_loop:
        rig.ctl(rig.executor.aread(d, bad))
    with pytest.raises(InvalidParameterName) as direct:
        rig.executor.read(d, bad)
    assert direct.value.per_parameter == on_loop.value.per_parameter
    assert calls[0] == 1  # only the rig.ctl above


def test_sync_reads_from_many_threads(rig: UspRig) -> None:
    (d,) = rig.devices
    rig.executor.read(d, PATHS)
    errors: list[BaseException] = []
    got: list[str] = []

    def reader() -> None:
        try:
            for _ in range(40):
                got.append(str(rig.executor.read(d, ["Device.DeviceInfo.SerialNumber"])
                               ["Device.DeviceInfo.SerialNumber"].value))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and got == [d.serial] * 240
    assert rig.controller.stats.unknown_msg_id == 0 and rig.controller.stats.duplicate_responses == 0


def test_sync_read_in_flight_fails_fast_when_the_agent_goes(rig: UspRig) -> None:
    (d,) = rig.devices
    rig.executor.read(d, PATHS)
    rig.twin.inject(d.id, "slow", delay_s=5.0)
    rig.run_agents(rig.host.sync(d.id))
    box: dict[str, Any] = {}

    def read() -> None:
        try:
            rig.executor.read(d, PATHS)
        except DeviceOffline as exc:
            box["error"] = exc

    t = threading.Thread(target=read)
    t.start()
    time.sleep(0.2)
    rig.twin.inject(d.id, "offline")
    rig.run_agents(rig.host.sync(d.id))
    t.join(15)
    # The read ends because the agent went ("disconnected"), not at its 10 s timeout ("timed out").
    assert not t.is_alive() and "disconnected" in str(box.get("error")), box
    rig.clear(d)


def test_deadlines_expire_in_order_once_and_stay_bounded() -> None:
    async def scenario() -> tuple[list[str], int]:
        loop = asyncio.get_running_loop()
        pending: dict[str, None] = {}
        expired: list[str] = []

        def expire(msg_id: str) -> None:
            if pending.pop(msg_id, "gone") is None:
                expired.append(msg_id)

        dl = _Deadlines(loop, pending, expire)
        for i in range(5):  # two timeouts interleaved: expiry follows the deadlines, not the order added
            for name, timeout in ((f"long-{i}", 0.30), (f"short-{i}", 0.10)):
                pending[name] = None
                dl.add(name, timeout)
        del pending["short-3"]  # answered: never expires
        longest = 0
        for i in range(20_000):  # answered at once: the queue is compacted, not grown without end
            pending[f"quick-{i}"] = None
            dl.add(f"quick-{i}", 5.0)
            del pending[f"quick-{i}"]
            longest = max(longest, sum(len(ids) for _, ids in dl._queues.values()))
        await asyncio.sleep(0.45)
        dl.cancel()
        return expired, longest

    expired, longest = asyncio.run(scenario())
    assert expired == [f"short-{i}" for i in (0, 1, 2, 4)] + [f"long-{i}" for i in range(5)]
    assert longest < 2 * 10 + 1024 + 20


def test_a_late_timer_still_expires_in_deadline_order() -> None:
    """A loop busy past several deadlines (a loaded host) finds more than one timeout queue due at
    once: they expire in deadline order, not in the order the queues were made."""
    async def scenario() -> list[str]:
        loop = asyncio.get_running_loop()
        pending: dict[str, None] = {}
        expired: list[str] = []
        dl = _Deadlines(loop, pending, lambda m: expired.append(m) if pending.pop(m, "gone") is None else None)
        for i in range(3):
            for name, timeout in ((f"long-{i}", 0.06), (f"short-{i}", 0.02)):
                pending[name] = None
                dl.add(name, timeout)
        time.sleep(0.1)  # the loop is blocked past every deadline
        await asyncio.sleep(0.05)
        dl.cancel()
        return expired

    assert asyncio.run(scenario()) == [f"short-{i}" for i in range(3)] + [f"long-{i}" for i in range(3)]


def test_deadlines_given_at_the_end_of_a_turn_still_expire_in_order() -> None:
    """``add_soon`` (a fan-out's Sets) gives the deadlines of one loop turn together at its end: they
    expire like ``add``'s, in deadline order among them, answered ones never, and none after cancel."""
    async def scenario() -> tuple[list[str], list[str]]:
        loop = asyncio.get_running_loop()
        pending: dict[str, None] = {}
        expired: list[str] = []
        dl = _Deadlines(loop, pending, lambda m: expired.append(m) if pending.pop(m, "gone") is None else None)
        for i in range(3):
            for name, timeout in ((f"soon-long-{i}", 0.12), (f"soon-short-{i}", 0.04)):
                pending[name] = None
                dl.add_soon(name, timeout)
        pending["now"] = None
        dl.add("now", 0.08)
        del pending["soon-short-1"]  # answered within the turn it was sent in
        await asyncio.sleep(0.2)
        first = list(expired)
        pending["late"] = None
        dl.add_soon("late", 0.01)
        dl.cancel()
        await asyncio.sleep(0.05)
        return first, expired[len(first):]

    first, after_cancel = asyncio.run(scenario())
    assert first == ["soon-short-0", "soon-short-2", "now"] + [f"soon-long-{i}" for i in range(3)]
    assert after_cancel == []
