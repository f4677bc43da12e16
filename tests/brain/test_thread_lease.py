"""The chat-thread lease (``brain.threads.ThreadStore.try_lock``) on SQLite and PostgreSQL: one
holder at a time, renewable by its holder, released only by its holder, and taken over once a
crashed holder's lease has expired. Two replicas racing is tests/integration/test_scale_out.py."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

from brain.threads import ThreadStore


def test_one_holder_at_a_time_and_a_crashed_holders_lease_expires(store: Any) -> None:
    a, b = ThreadStore(store), ThreadStore(store)
    tid = f"t-lease-{uuid.uuid4().hex[:8]}"
    assert a.lock_holder(tid) is None
    assert a.try_lock(tid, "a-1", ttl_s=0.4)
    assert a.try_lock(tid, "a-1", ttl_s=0.4)  # its holder renews it
    assert not b.try_lock(tid, "b-1", ttl_s=30) and b.lock_holder(tid) == "a-1"
    b.unlock(tid, "b-1")  # not the holder: nothing happens
    assert a.lock_holder(tid) == "a-1"
    time.sleep(0.5)  # "a" died without unlocking
    assert a.lock_holder(tid) is None
    assert b.try_lock(tid, "b-1", ttl_s=30) and a.lock_holder(tid) == "b-1"
    a.unlock(tid, "a-1")  # the late holder cannot release the new one's lease
    assert b.lock_holder(tid) == "b-1"
    b.unlock(tid, "b-1")
    assert a.lock_holder(tid) is None and a.try_lock(tid, "a-2", ttl_s=30)


def test_racing_takers_get_one_lease(store: Any) -> None:
    threads_db = ThreadStore(store)
    tid = f"t-race-{uuid.uuid4().hex[:8]}"
    won: list[str] = []
    gate = threading.Barrier(6)

    def take(name: str) -> None:
        gate.wait()
        if threads_db.try_lock(tid, name, ttl_s=30):
            won.append(name)

    racers = [threading.Thread(target=take, args=(f"h{k}",)) for k in range(6)]
    for r in racers:
        r.start()
    for r in racers:
        r.join(30)
    assert len(won) == 1 and threads_db.lock_holder(tid) == won[0]
