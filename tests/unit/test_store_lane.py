"""The process's store lane (``core.store.lane``, issue 15): interactive database work of one
process takes turns; device reads never run in it, so a stuck device holds up no one else.

These tests hold the lane to its contract (exclusion, reentrancy, the size, the wait it reports),
``Store.write(laned=True)`` to where it gives the lane back (before COMMIT on PostgreSQL, after
it on SQLite), and ``Lifecycle.submit`` to taking it for its store steps and not for the device
reads between them — with a device that hangs mid-preview while other proposals go through."""

from __future__ import annotations

import os
import threading
from typing import Any

import pytest
from sqlalchemy import event, text

from core.kernel.models import Change, ProposalDraft, ProposalState
from core.store.lane import Lane, process_lane
from core.users import get_actor

WAIT = 5.0
# Through every gate to a decision (what policy says depends on the seeded device's state).
DECIDED = (ProposalState.APPROVED, ProposalState.AWAITING_APPROVAL, ProposalState.DENIED)


def _inside(lane: Lane, entered: threading.Event, leave: threading.Event) -> threading.Thread:
    def body() -> None:
        with lane():
            entered.set()
            leave.wait(WAIT)

    t = threading.Thread(target=body, daemon=True)
    t.start()
    assert entered.wait(WAIT)
    return t


def test_one_slot_admits_one_thread_at_a_time() -> None:
    lane = Lane(1)
    leave = threading.Event()
    first = _inside(lane, threading.Event(), leave)
    second_in = threading.Event()
    second = threading.Thread(target=lambda: _enter_and_flag(lane, second_in), daemon=True)
    second.start()
    assert not second_in.wait(0.2), "a second thread entered a one-slot lane that was held"
    leave.set()
    first.join(WAIT)
    assert second_in.wait(WAIT), "the waiting thread never got the lane once it was free"
    second.join(WAIT)


def _enter_and_flag(lane: Lane, flag: threading.Event) -> None:
    with lane():
        flag.set()


def test_two_slots_admit_two_and_hold_the_third() -> None:
    lane = Lane(2)
    leave = threading.Event()
    holders = [_inside(lane, threading.Event(), leave) for _ in range(2)]  # both got in
    third_in = threading.Event()
    third = threading.Thread(target=lambda: _enter_and_flag(lane, third_in), daemon=True)
    third.start()
    assert not third_in.wait(0.2)
    leave.set()
    assert third_in.wait(WAIT)
    for t in [*holders, third]:
        t.join(WAIT)


def test_size_zero_is_no_lane() -> None:
    lane = Lane(0)
    leave = threading.Event()
    holders = [_inside(lane, threading.Event(), leave) for _ in range(5)]  # each entered while others held it
    leave.set()
    for t in holders:
        t.join(WAIT)
    with pytest.raises(ValueError, match="0 or more"):
        Lane(-1)


def test_a_holder_may_take_it_again_and_an_error_gives_it_back() -> None:
    lane = Lane(1)
    with lane():
        with lane():  # nested: would deadlock on a plain semaphore
            assert lane.held()
        assert lane.held()
    assert not lane.held()
    with pytest.raises(RuntimeError), lane():
        raise RuntimeError("boom")
    assert not lane.held()
    done = threading.Event()
    threading.Thread(target=lambda: _enter_and_flag(lane, done), daemon=True).start()
    assert done.wait(WAIT), "the lane stayed taken after the error"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork")
def test_a_forked_child_is_not_stuck_on_a_slot_another_thread_held() -> None:
    lane = Lane(1)
    leave = threading.Event()
    holder = _inside(lane, threading.Event(), leave)  # another thread holds the only slot at the fork
    pid = os.fork()
    if pid == 0:  # the child: that thread does not exist here
        ok = lane._slots is not None and lane._slots.acquire(timeout=5)
        os._exit(0 if ok and not lane.held() else 1)
    _, status = os.waitpid(pid, 0)
    leave.set()
    holder.join(WAIT)
    assert os.waitstatus_to_exitcode(status) == 0


def test_the_wait_is_reported() -> None:
    lane = Lane(1)
    waits: list[float] = []
    lane.observe = waits.append
    leave = threading.Event()
    holder = _inside(lane, threading.Event(), leave)
    threading.Timer(0.15, leave.set).start()
    with lane():
        pass
    holder.join(WAIT)
    assert len(waits) == 2 and waits[-1] >= 0.1  # the holder's own take and ours, which waited


def test_every_store_of_a_process_on_one_kind_of_database_shares_one_lane(store: Any, tmp_path: Any) -> None:
    from core.store import Store

    other = Store(f"sqlite:///{tmp_path / 'other.db'}")
    try:
        assert other.lane is process_lane("sqlite")
        assert store.lane is process_lane(store.dialect)
        assert (store.lane is other.lane) == (store.dialect == "sqlite")
    finally:
        other.dispose()


def test_default_sizes_follow_the_database(monkeypatch: pytest.MonkeyPatch) -> None:
    import core.kernel.config
    from core.store import lane as lane_mod

    monkeypatch.setattr(lane_mod, "_LANES", {})
    monkeypatch.setattr(core.kernel.config, "get_settings", lambda: core.kernel.config.Settings(store_lanes=None))
    assert process_lane("sqlite").size == 1  # all of SQLite's work is in this process
    assert process_lane("postgresql").size == lane_mod.DEFAULT_REMOTE  # round trips: waits to overlap
    monkeypatch.setattr(lane_mod, "_LANES", {})
    monkeypatch.setattr(core.kernel.config, "get_settings", lambda: core.kernel.config.Settings(store_lanes=0))
    assert process_lane("sqlite").size == 0
    assert process_lane("sqlite") is process_lane("sqlite")  # sized once


def test_a_laned_write_gives_the_lane_back_before_commit_only_on_postgresql(store: Any) -> None:
    seen: list[bool] = []
    listener = lambda conn: seen.append(store.lane.held())  # noqa: E731 - one line, read at COMMIT
    event.listen(store.engine, "commit", listener)
    try:
        with store.write(laned=True) as s:
            assert store.lane.held()
            s.execute(text("SELECT 1"))
        assert not store.lane.held()
    finally:
        event.remove(store.engine, "commit", listener)
    assert seen == [store.dialect != "postgresql"]


def test_a_laned_read_holds_the_lane_for_its_body(store: Any) -> None:
    with store.read(laned=True) as s:
        s.execute(text("SELECT 1"))
        assert store.lane.held()
    with store.read_connection(laned=True) as c:
        c.execute(text("SELECT 1"))
        assert store.lane.held()
    with store.read() as s:
        s.execute(text("SELECT 1"))
        assert not store.lane.held()
    assert not store.lane.held()


def _draft(device_id: str, channel: int) -> ProposalDraft:
    return ProposalDraft(intent="lane test", targets=[device_id],
                         changes=[Change(path="Device.WiFi.Radio.1.Channel", value=channel)])


def _tr181_devices(rt: Any, n: int) -> list[str]:
    from core.store import repo

    with rt.store.read() as s:
        devices, _ = repo.list_devices(s, limit=1000)
    ids = [d.id for d in devices if str(d.root) == "Device."]
    assert len(ids) >= n
    return ids[:n]


def test_submit_reads_devices_outside_the_lane(runtime: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from executors.sim.executor import SimExecutor

    held: list[bool] = []
    real = SimExecutor.presence

    def watched(self: SimExecutor, device: Any) -> Any:
        held.append(runtime.store.lane.held())
        return real(self, device)

    monkeypatch.setattr(SimExecutor, "presence", watched)
    [dev] = _tr181_devices(runtime, 1)
    p = runtime.lifecycle.submit(_draft(dev, 6), get_actor(runtime.store, "alice"))
    assert p.state in DECIDED
    assert held == [False]
    assert not runtime.store.lane.held()


def test_a_device_stuck_in_preview_holds_up_no_other_proposal(runtime: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """One proposal's device hangs while it is read for the preview; three others, submitted
    meanwhile from other threads, are decided while it hangs."""
    from executors.sim.executor import SimExecutor

    stuck, others = _tr181_devices(runtime, 1)[0], _tr181_devices(runtime, 4)[1:]
    reached, release = threading.Event(), threading.Event()
    real = SimExecutor.presence

    def hanging(self: SimExecutor, device: Any) -> Any:
        if device.id == stuck:
            reached.set()
            release.wait(30)
        return real(self, device)

    monkeypatch.setattr(SimExecutor, "presence", hanging)
    alice = get_actor(runtime.store, "alice")
    result: dict[str, Any] = {}
    hung = threading.Thread(target=lambda: result.update(stuck=runtime.lifecycle.submit(_draft(stuck, 11), alice)),
                            daemon=True)
    hung.start()
    assert reached.wait(WAIT)
    done: list[Any] = []
    workers = [threading.Thread(target=lambda d=d: done.append(runtime.lifecycle.submit(_draft(d, 1), alice)),
                                daemon=True) for d in others]
    for w in workers:
        w.start()
    for w in workers:
        w.join(15)
    try:
        assert len(done) == 3, "proposals queued behind a device stuck in another proposal's preview"
        assert all(p.state in DECIDED for p in done), [(p.state, p.error) for p in done]
        assert hung.is_alive()  # still stuck: the others did not wait for it
    finally:
        release.set()
        hung.join(WAIT)
    assert result["stuck"].state in DECIDED
