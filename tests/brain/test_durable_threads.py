"""Durable threads: a chat paused on an approval (or on the agent's confirmation) resumes in a
different ChatService — a new process's — on the same database, SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from tests.conftest import build_test_runtime


def _services(url: str) -> tuple[Any, Any]:
    from brain.service import ChatService
    from core.kernel.config import Settings
    from gateward.runtime import build_runtime

    rt = build_runtime(Settings(database_url=url))
    return rt, ChatService(rt, planner="offline")


def test_approval_pause_survives_a_restart(db_url: str) -> None:
    from core.users import get_actor
    from executors.sim.fleet import generate_fleet

    rt1 = build_test_runtime(db_url, homes=12)
    dev = generate_fleet(12, 11, telemetry=False).conditions["healthy"][0]
    from brain.service import ChatService

    svc1 = ChatService(rt1, planner="offline")
    alice = get_actor(rt1.store, "alice")
    tid = svc1.start(dev, alice, title="passphrase for Flat 1A")
    events = list(svc1.send(tid, "set the wifi password", alice, secret="orchard-lantern-river-8"))
    pid = next(e for e in events if e.kind == "proposal").data["proposal_id"]
    assert svc1.awaiting(tid) == {"kind": "approval", "proposal_id": pid}
    assert svc1.threads(alice)[0].status == "awaiting_approval"
    n_events = len(svc1.history(tid))
    svc1.close()
    rt1.close()

    rt2, svc2 = _services(db_url)  # "after the restart"
    try:
        assert svc2.awaiting(tid) == {"kind": "approval", "proposal_id": pid}
        assert len(svc2.history(tid)) == n_events
        still = list(svc2.resume(tid))
        assert [e.kind for e in still] == ["notice"] and "still waiting" in still[0].text
        rt2.lifecycle.approve(pid, get_actor(rt2.store, "bob"))
        out = list(svc2.resume(tid))
        assert next(e for e in out if e.kind == "outcome").data["state"] == "done"
        summary = next(t for t in svc2.threads(alice) if t.thread_id == tid)
        assert summary.status == "closed" and summary.proposal_id == pid and summary.title == "passphrase for Flat 1A"
        assert svc2.threads(get_actor(rt2.store, "sam")) == []
        assert "orchard-lantern-river-8" not in str([e.model_dump() for e in svc2.history(tid)])
    finally:
        svc2.close()
        rt2.close()


def test_confirmation_pause_survives_a_restart(sqlite_url: str) -> None:
    from brain.service import ChatService
    from core.users import get_actor
    from executors.sim.fleet import generate_fleet

    rt1 = build_test_runtime(sqlite_url, homes=12)
    dev = generate_fleet(12, 11, telemetry=False).conditions["dfs_radar"][0]
    svc1 = ChatService(rt1, planner="offline")
    alice = get_actor(rt1.store, "alice")
    tid = svc1.start(dev, alice)
    list(svc1.send(tid, "wifi dies every evening", alice))
    assert svc1.awaiting(tid)["kind"] == "confirm"  # type: ignore[index]
    svc1.close()
    rt1.close()
    rt2, svc2 = _services(sqlite_url)
    try:
        out = list(svc2.send(tid, "apply", alice))
        assert next(e for e in out if e.kind == "outcome").data["state"] == "done"
    finally:
        svc2.close()
        rt2.close()
