"""Scale out, proven (issue 15, item 3): two replicas and four workers on one PostgreSQL and one broker.

Each "process" here is what a ``gateward run`` replica or a ``gateward worker`` brings to the
cluster: its own runtime on the shared database (replicas: an API app too) and its own USP
controller — its own MQTT connections, process id and reply topic — in the same shared-subscription
group. What is counted:

* every USP notification is answered and delivered exactly once across the six controllers (with
  plain subscriptions it was six times), and the broker spread them over more than one member;
* every response reaches the process that asked (no member ever sees a response it did not ask for);
* a reboot asked by one process is confirmed to it even when the Boot! lands on another (forwarded),
  and an agent's goodbye heard by one member is known to all;
* two turns of one chat thread on the two replicas serialise: one resumes the paused step, the
  other is told the thread is busy (409) or finds nothing left to resume — never both;
* an approval made on replica A appears in replica B's live feed (PostgreSQL NOTIFY, not polling).
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from testing.sse import parse_sse
from tests.conftest import PG_URL, REQUIRE, build_test_runtime, make_db_url
from tests.usp.support import broker

N_AGENTS = 24
N_PROCESSES = 6  # two replicas, four workers

pytestmark = pytest.mark.skipif(not PG_URL and not REQUIRE,
                                reason="needs PostgreSQL (GATEWARD_TEST_DATABASE_URL); "
                                       "GATEWARD_REQUIRE_SERVICES=1 makes it mandatory")


@pytest.fixture(scope="module")
def cluster_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any, Any]]:
    """(url, runtime of replica A, runtime of replica B) on one fresh PostgreSQL schema."""
    from core.kernel.config import Settings
    from gateward.runtime import build_runtime

    url, cleanup = make_db_url("postgres", tmp_path_factory.mktemp("scale"))
    rt_a = build_test_runtime(url, homes=12)
    rt_b = build_runtime(Settings(database_url=url))
    try:
        yield url, rt_a, rt_b
    finally:
        rt_b.close()
        rt_a.close()
        cleanup()


# ---------------------------------------------------------------------------- USP over one broker
@pytest.mark.mqtt  # on the broker: with the other broker tests, on one worker
def test_usp_notifications_once_and_responses_to_the_asker(cluster_db: tuple[str, Any, Any], tmp_path: Path
                                                            ) -> None:
    from core.usp_topics import TopicBook
    from executors.sim.twin import Twin
    from executors.sim.usp_host import AgentHost, HostConfig
    from executors.usp.controller import UspController, UspEvent
    from executors.usp.executor import endpoint_for
    from executors.usp.loop import LoopThread

    info = broker()
    if not info.mqtt5:
        pytest.skip(f"shared subscriptions need an MQTT 5 broker ({info.description})")
    _, rt_a, rt_b = cluster_db
    ctl_id = f"proto::gw-scale-{uuid.uuid4().hex[:8]}"
    twin = Twin(f"sqlite:///{tmp_path / 'twin.db'}")
    devices = [twin.add_device("prplnet-px7000-1.3", f"PX7KS{i:07d}", region="DE") for i in range(N_AGENTS)]
    loop = LoopThread("scale-controllers")
    agents_loop = LoopThread("scale-agents")
    delivered: list[UspEvent] = []
    ctls = [UspController(info.url, endpoint_id=ctl_id, share_group="scale", request_timeout_s=10,
                          topics=TopicBook((rt_a if k % 2 == 0 else rt_b).store)) for k in range(N_PROCESSES)]
    host = AgentHost(HostConfig(url=info.url, controller_id=ctl_id, mqtt_version=5, boot_delay_s=0.05,
                                poll_interval_s=None, boot_on_start=True), twin)
    # a short-lived CLI process of the same endpoint: it consumes nothing, so it stays out of the group
    cli = UspController(info.url, endpoint_id=ctl_id, share_group="scale", request_timeout_s=10)
    for d in devices:
        host.add_device(d.id)
    try:
        for c in ctls:
            c.add_listener(delivered.append, consumer=True)  # the event ingest of a replica or worker
            loop.run(c.start(timeout=5), timeout=10)
        loop.run(cli.start(timeout=5), timeout=10)
        assert all(c.member for c in ctls) and not cli.member
        assert len({c.reply_topic for c in [*ctls, cli]}) == N_PROCESSES + 1  # one reply topic per process
        agents_loop.run(host.start(), timeout=30)
        eps = [endpoint_for(d) for d in devices]
        boots = lambda: [e for e in delivered if e.kind == "boot"]  # noqa: E731
        _wait(lambda: len(boots()) >= N_AGENTS and host.stats.notify_acked >= host.stats.notifies_sent, 15,
              "every agent's Boot! delivered and acknowledged")
        time.sleep(0.3)  # a duplicate, if any, would arrive now

        # -- each notification answered and delivered once, cluster-wide
        sent = host.stats.notifies_sent
        assert sent >= N_AGENTS
        assert sum(c.stats.notifies for c in ctls) == sent + host.stats.notify_retries
        assert sum(c.stats.notify_resp_sent for c in ctls) == sent + host.stats.notify_retries
        assert sorted(e.endpoint_id for e in boots()) == sorted(eps)
        assert len({(e.endpoint_id, e.msg_id) for e in delivered if e.msg_id}) == \
            len([e for e in delivered if e.msg_id])
        assert sum(1 for c in ctls if c.stats.notifies) > 1, "the broker gave every notification to one member"
        assert cli.stats.notifies == sent  # outside the group: it hears everything, as before

        # -- responses reach the process that asked, and no other
        async def ask_all(c: UspController) -> list[dict[str, str]]:
            got = await asyncio.gather(*(c.get(ep, ["Device.DeviceInfo.SerialNumber"]) for ep in eps))
            return [values for values, _ in got]

        for c in [*ctls, cli]:
            answers = loop.run(ask_all(c), timeout=30)
            assert [next(iter(a.values())) for a in answers] == [f"PX7KS{i:07d}" for i in range(N_AGENTS)]
        assert all(c.stats.responses == N_AGENTS for c in [*ctls, cli])
        assert sum(c.stats.unknown_msg_id + c.stats.duplicate_responses for c in [*ctls, cli]) == 0

        # -- a reboot asked by one process is confirmed to it wherever its Boot! lands
        before = len(boots())
        for k, ep in enumerate(eps[:6]):
            asker = ctls[k % N_PROCESSES]
            booted = loop.run(_reboot_and_wait(asker, ep), timeout=20)
            assert booted.endpoint_id == ep and booted.data.get("Cause") == "RemoteReboot"
        _wait(lambda: len(boots()) >= before + 6, 5, "the reboots' Boot! delivered")
        time.sleep(0.3)
        assert len(boots()) == before + 6  # forwarded Boot!s wake the asker only: still once each
        forwarded = sum(c.stats.forwarded_out for c in ctls)
        assert forwarded >= 1 and forwarded == sum(c.stats.forwarded_in for c in ctls)
        # every member knows each rebooted agent is back (presence is relayed)
        _wait(lambda: all(_connected(c, ep) is True for c in ctls for ep in eps[:6]), 5,
              "every member to know the rebooted agents are back")

        # -- an agent's goodbye, heard by one member, is known to all
        gone = devices[-1]
        twin.inject(gone.id, "offline")
        agents_loop.run(host.sync(gone.id), timeout=10)
        _wait(lambda: all(_connected(c, endpoint_for(gone)) is False for c in ctls), 5,
              "every member to know the agent went offline")
    finally:
        agents_loop.run(host.stop(), timeout=30)
        for c in [*ctls, cli]:
            loop.run(c.stop(), timeout=10)
        agents_loop.stop()
        loop.stop()
        twin.close()


async def _reboot_and_wait(asker: Any, ep: str) -> Any:
    booted = asker.expect(lambda e: e.endpoint_id == ep and e.kind == "boot")
    try:
        await asker.operate(ep, "Device.Reboot()", command_key=f"k-{uuid.uuid4().hex[:6]}")
        return await asyncio.wait_for(booted, 10)
    finally:
        asker.cancel_expectation(booted)


def _connected(ctl: Any, ep: str) -> bool | None:
    st = ctl.agent(ep)
    return None if st is None else st.connected


def _wait(pred: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


# ---------------------------------------------------------------------------- chat and the live feed
def _paused_thread(svc: Any, rt: Any) -> tuple[str, str]:
    from core.users import get_actor
    from executors.sim.fleet import generate_fleet

    alice = get_actor(rt.store, "alice")
    dev = generate_fleet(12, 11, telemetry=False).conditions["healthy"][0]
    tid = svc.start(dev, alice, title="passphrase")
    # the new passphrase in the secret field, never in the chat text (issue 54)
    events = list(svc.send(tid, "set a new wifi password", alice, secret="orchard-lantern-river-8"))
    pid = next(e for e in events if e.kind == "proposal").data["proposal_id"]
    assert svc.awaiting(tid) == {"kind": "approval", "proposal_id": pid}
    return tid, pid


def test_chat_turns_serialise_and_approvals_reach_every_replica(cluster_db: tuple[str, Any, Any]) -> None:
    from fastapi.testclient import TestClient

    from api.app import create_app
    from brain.service import ChatService, ThreadBusy
    from core.users import get_actor, issue_token

    _, rt_a, rt_b = cluster_db
    svc_a, svc_b = ChatService(rt_a, planner="offline"), ChatService(rt_b, planner="offline")
    svc_a.busy_wait_s = svc_b.busy_wait_s = 0.3
    client = TestClient(create_app(rt_b), raise_server_exceptions=False)
    try:
        tid, pid = _paused_thread(svc_a, rt_a)

        # -- replica B's live feed hears of an approval made on replica A
        from core.events_bus import bus_for

        bus_b = bus_for(rt_b.store)
        bus_b.fallback_s = 60.0  # so only a NOTIFY can bring the approval within the feed's window
        token = issue_token(rt_b.store, "erin")
        frames: list[tuple[str, Any]] = []

        def feed() -> None:
            with client.stream("GET", "/api/events", headers={"Authorization": f"Bearer {token}"},
                               params={"max_s": 6}) as r:
                assert r.status_code == 200
                frames.extend(parse_sse(r.read().decode()))

        reader = threading.Thread(target=feed)
        reader.start()
        _wait(lambda: bus_b.subscribers >= 1, 10, "replica B's feed to subscribe to its bus")
        rt_a.lifecycle.approve(pid, get_actor(rt_a.store, "bob"))
        reader.join(15)
        changes = [d for k, d in frames if k == "change"]
        assert any(pid in c["proposals"] and "proposal.approved" in c["actions"] for c in changes), frames
        assert bus_b.wakeups >= 1  # B learnt it from NOTIFY

        # -- two turns of the paused thread on two replicas: one resumes it, the other is told
        held = svc_a.resume(tid)
        first = next(held)  # replica A's turn is running (its generator holds the thread)
        with pytest.raises(ThreadBusy) as busy:
            next(svc_b.resume(tid))
        assert busy.value.http_status == 409 and tid in busy.value.message
        rest = [first, *held]
        assert sum(e.kind == "outcome" for e in rest) == 1
        late = list(svc_b.resume(tid))  # after A's turn: the step is gone, nothing resumes twice
        assert [e.kind for e in late] == ["notice"] and "not waiting" in late[0].text
        assert rt_b.lifecycle.get(pid).state.value == "done"

        # -- truly concurrent: two threads, two replicas, one paused step
        tid2, pid2 = _paused_thread(svc_a, rt_a)
        rt_a.lifecycle.approve(pid2, get_actor(rt_a.store, "bob"))
        results: dict[str, Any] = {}
        gate = threading.Barrier(2)

        def turn(name: str, svc: Any) -> None:
            gate.wait()
            try:
                results[name] = [e.kind for e in svc.resume(tid2)]
            except ThreadBusy as exc:
                results[name] = exc

        workers = [threading.Thread(target=turn, args=(n, s)) for n, s in (("a", svc_a), ("b", svc_b))]
        for w in workers:
            w.start()
        for w in workers:
            w.join(60)
        outcomes = [r for r in results.values() if isinstance(r, list) and "outcome" in r]
        assert len(outcomes) == 1, results
        other = next(r for r in results.values() if not (isinstance(r, list) and "outcome" in r))
        assert isinstance(other, ThreadBusy) or other == ["notice"], results
        assert svc_a.threads_db.lock_holder(tid2) is None  # both turns gave the lease back
    finally:
        client.close()
        svc_a.close()
        svc_b.close()


