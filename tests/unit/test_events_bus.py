"""The fleet-wide change bus (``core.events_bus``) on SQLite and PostgreSQL: every subscriber gets
each new audit event from one shared read, and a subscriber that falls behind is dropped and told
to resync without holding up the others. Two replicas over PostgreSQL NOTIFY:
tests/integration/test_scale_out.py."""

from __future__ import annotations

import asyncio
from typing import Any

from core import audit
from core.events_bus import RESYNC, EventBus, Subscription


def _append(store: Any, n: int, action: str = "test.moved") -> None:
    for k in range(n):
        with store.write() as s:
            audit.append(s, actor="tester", action=action, device_id=f"dev-{k}")


def test_subscribers_share_one_read_and_a_slow_one_is_resynced(store: Any) -> None:
    async def scenario() -> None:
        bus = EventBus(store, poll_s=0.02, fallback_s=0.2)
        fast, slow = bus.subscribe(maxsize=64), bus.subscribe(maxsize=2)
        try:
            got: list[int] = []
            for _ in range(5):  # five commits, each seen by the bus on its own
                await asyncio.to_thread(_append, store, 1)
                batch = await fast.get(5.0)
                assert isinstance(batch, list), batch
                got += [e["seq"] for e in batch]
            assert got == sorted(got) and len(got) == 5
            assert bus.reads < 5 * 3  # one read per change for both subscribers, not one per subscriber
            # the slow subscriber never read: its queue overflowed, it is told to resync, once
            await asyncio.sleep(0.2)  # the bus offers to the subscribers in turn: let it reach the slow one
            assert await slow.get(1.0) == RESYNC and slow.drops == 1
            assert await slow.get(0.1) is None
            await asyncio.to_thread(_append, store, 1)  # after the resync it receives again
            again = await slow.get(5.0)
            assert isinstance(again, list) and again[0]["seq"] == got[-1] + 1
            assert await fast.get(5.0) == again  # the fast one was never held up
        finally:
            fast.close()
            slow.close()
            bus.stop()

    asyncio.run(scenario())


def test_the_bus_stops_when_nobody_listens_and_starts_again(store: Any) -> None:
    async def scenario() -> None:
        bus = EventBus(store, poll_s=0.02, fallback_s=0.2)
        sub = bus.subscribe()
        sub.close()
        for _ in range(200):
            if bus._thread is None:
                break
            await asyncio.sleep(0.02)
        assert bus._thread is None and bus.subscribers == 0
        sub = bus.subscribe()
        try:
            await asyncio.to_thread(_append, store, 1, "test.again")
            batch = await sub.get(5.0)
            assert isinstance(batch, list) and batch[-1]["action"] == "test.again"
        finally:
            sub.close()
            bus.stop()

    asyncio.run(scenario())


def test_a_full_queue_drops_instead_of_blocking() -> None:
    async def scenario() -> None:
        sub = Subscription(EventBus.__new__(EventBus), 1, asyncio.get_running_loop())
        sub.offer([{"seq": 1}])
        sub.offer([{"seq": 2}])  # full: dropped at once, never waits for the reader
        sub.offer([{"seq": 3}])  # already marked: nothing queued until the reader resyncs
        assert await sub.get(0.1) == RESYNC and await sub.get(0.05) is None

    asyncio.run(scenario())
