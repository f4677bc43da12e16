"""Several controller processes of one endpoint (``executors.usp.cluster``): who joins the shared
subscription, what the relay notes accept, and MQTT 3.1.1 keeping plain subscriptions.

The end-to-end count (six controllers, agents, one PostgreSQL) is tests/integration/test_scale_out.py."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from executors.usp import cluster
from executors.usp.controller import UspController, UspEvent
from executors.usp.loop import LoopThread
from tests.usp.support import BrokerInfo, UspRig, wait_until


def test_share_group_setting_is_checked() -> None:
    assert cluster.share_group_from_env({}) == "gateward"
    assert cluster.share_group_from_env({"GATEWARD_USP_SHARE_GROUP": "off"}) is None
    assert cluster.share_group_from_env({"GATEWARD_USP_SHARE_GROUP": "east"}) == "east"
    for bad in ("a/b", "x+", "#", "g" * 65):
        with pytest.raises(ValueError, match="GATEWARD_USP_SHARE_GROUP"):
            cluster.share_group_from_env({"GATEWARD_USP_SHARE_GROUP": bad})
    with pytest.raises(ValueError, match="share group"):
        UspController("mqtt://127.0.0.1:1", share_group="a/b")


def test_notes_round_trip_and_bad_ones_are_refused() -> None:
    note = cluster.ClusterNote("interest", "p1", "os::ep/1", reply=cluster.reply_topic("ctl", "p1"), until=9.5)
    assert cluster.ClusterNote.decode(note.encode()) == note
    for bad in (b"not json", b"[]", b'{"kind": "shout"}', b'{"kind": "presence"}',
                b'{"kind": "interest", "sender": "x", "endpoint_id": "e", "reply": "elsewhere/x"}',
                b'{"kind": "presence", "sender": "x", "endpoint_id": "e", "at": "soon"}'):
        with pytest.raises(ValueError):
            cluster.ClusterNote.decode(bad)


def test_interests_expire() -> None:
    book = cluster.Interests()
    book.note(cluster.ClusterNote("interest", "p1", "ep", reply="usp/controller-reply/c/p1", until=100.0))
    book.note(cluster.ClusterNote("interest", "p2", "ep", reply="usp/controller-reply/c/p2", until=200.0))
    assert sorted(book.targets("ep", now=50.0)) == ["usp/controller-reply/c/p1", "usp/controller-reply/c/p2"]
    assert book.targets("ep", now=150.0) == ["usp/controller-reply/c/p2"]
    assert book.targets("ep", now=250.0) == [] and book.targets("other") == []


def test_reply_topics_are_per_process_and_outside_the_shared_filter() -> None:
    a, b = (UspController("mqtt://127.0.0.1:1", endpoint_id="proto::c") for _ in range(2))
    assert a.reply_topic != b.reply_topic and a.process_id != b.process_id
    assert not a.reply_topic.startswith(a.topic + "/")  # the shared subscription never matches it
    assert UspController("mqtt://127.0.0.1:1", mqtt_version=3).share_group is None  # 3.1.1: plain, as before


def test_a_process_joins_the_group_when_it_starts_consuming(make_rig: Any, usp_broker: BrokerInfo) -> None:
    """A running controller outside the group (plain: hears everything) that gains a consuming
    listener switches to the shared subscription; with a second member, each Boot! reaches one."""
    if not usp_broker.mqtt5:
        pytest.skip("shared subscriptions need MQTT 5")
    rig: UspRig = make_rig(models=[("prplnet-px7000-1.3", f"PX7KC{i:07d}", "DE") for i in range(8)])
    loop = LoopThread("cluster-test")
    ctl_id = rig.controller.endpoint_id
    group = f"g{uuid.uuid4().hex[:6]}"
    a = UspController(usp_broker.url, endpoint_id=ctl_id, share_group=group)
    b = UspController(usp_broker.url, endpoint_id=ctl_id, share_group=group)
    c = UspController(usp_broker.url, endpoint_id=ctl_id, share_group=group)
    seen: dict[str, list[UspEvent]] = {"a": [], "b": [], "c": []}
    c.add_listener(seen["c"].append, consumer=True)  # a member from the start
    try:
        loop.run(c.start(timeout=5), timeout=10)
        assert c.member
        loop.run(a.start(timeout=5), timeout=10)
        assert not a.member
        loop.run(b.start(timeout=5), timeout=10)
        loop.loop.call_soon_threadsafe(lambda: a.add_listener(seen["a"].append, consumer=True))
        b.add_listener(seen["b"].append)  # not a consumer: b stays outside and hears everything
        wait_until(lambda: a.member, 5, "a to join the group")
        time.sleep(0.3)  # the switch is a SUBSCRIBE then an UNSUBSCRIBE
        for d in rig.devices:
            rig.run_agents(rig.host.local_reset(d.id, factory_reset=False))
        boots = lambda who: [e for e in seen[who] if e.kind == "boot"]  # noqa: E731
        wait_until(lambda: len(boots("a")) + len(boots("c")) >= 8 and len(boots("b")) >= 8, 10,
                   "every reboot's Boot! at the members and at b")
        time.sleep(0.3)
        # once each across the two members (a no longer hears everything); b, plain, hears all too
        assert len(boots("a")) + len(boots("c")) == 8 and len(boots("b")) == 8
        assert sorted(e.endpoint_id for e in boots("a") + boots("c")) == sorted(e.endpoint_id for e in boots("b"))
    finally:
        for ctl in (a, b, c):
            loop.run(ctl.stop(), timeout=10)
        loop.stop()


def test_a_withdrawn_interest_is_forgotten() -> None:
    """``until`` 0 withdraws (the wait ended), whatever the receiver's clock says; others stay."""
    book = cluster.Interests()
    book.note(cluster.ClusterNote("interest", "p1", "ep", reply="usp/controller-reply/c/p1", until=time.time() + 60))
    book.note(cluster.ClusterNote("interest", "p2", "ep", reply="usp/controller-reply/c/p2", until=time.time() + 60))
    book.note(cluster.ClusterNote("interest", "p1", "ep", reply="usp/controller-reply/c/p1", until=0.0))
    assert book.targets("ep") == ["usp/controller-reply/c/p2"]
    book.note(cluster.ClusterNote("interest", "p2", "ep", reply="usp/controller-reply/c/p2", until=0.0))
    assert book.targets("ep") == []
    book.note(cluster.ClusterNote("interest", "p3", "nobody", reply="usp/controller-reply/c/p3", until=0.0))


@pytest.mark.mqtt
def test_interest_is_withdrawn_when_the_wait_ends(usp_broker: BrokerInfo) -> None:
    """A process waiting for an agent's notification (the Boot! after its Reboot()) had the other
    members forward that agent's notifications for 15 minutes after the wait ended; it now withdraws
    the interest once its last wait for that agent is over."""
    if not usp_broker.mqtt5:
        pytest.skip("shared subscriptions need MQTT 5")
    loop = LoopThread("cluster-interest")
    ctl_id, group, ep = f"proto::gw-int-{uuid.uuid4().hex[:6]}", f"g{uuid.uuid4().hex[:6]}", "os::00D09E-INT1"
    asker = UspController(usp_broker.url, endpoint_id=ctl_id, share_group=group)
    other = UspController(usp_broker.url, endpoint_id=ctl_id, share_group=group)
    for c in (asker, other):
        c.add_listener(lambda e: None, consumer=True)
    try:
        loop.run(asker.start(timeout=5), timeout=10)
        loop.run(other.start(timeout=5), timeout=10)

        async def expect_two() -> Any:
            boot = asker.expect(lambda e: e.kind == "boot", ep)
            done = asker.expect(lambda e: e.kind == "operation_complete", ep)
            return boot, done

        boot, done = loop.run(expect_two(), timeout=5)
        wait_until(lambda: other._interests.targets(ep) == [asker.reply_topic], 5, "the interest to arrive")

        async def cancel(fut: Any) -> None:
            asker.cancel_expectation(fut)

        loop.run(cancel(boot), timeout=5)
        time.sleep(0.3)
        assert other._interests.targets(ep) == [asker.reply_topic]  # one wait is still open
        loop.run(cancel(done), timeout=5)
        wait_until(lambda: other._interests.targets(ep) == [], 5, "the interest to be withdrawn")
    finally:
        for c in (asker, other):
            loop.run(c.stop(), timeout=10)
        loop.stop()


def test_two_installations_with_one_endpoint_id_on_one_broker_are_told_at_start(usp_broker: BrokerInfo) -> None:
    """Issue 58 item 5: two Gateward installations with the same controller endpoint ID on one broker
    join one shared subscription and silently split the agents' Records. Each says hello (with its
    installation) on the endpoint's cluster topic when it joins, and answers a stranger's hello: the
    one that starts second is told at its start, the running one as soon as the other starts; two
    processes of one installation are not a conflict."""
    if not usp_broker.mqtt5:
        pytest.skip("shared subscriptions need MQTT 5")
    loop = LoopThread("cluster-rival")
    ctl_id, group = f"proto::gw-dup-{uuid.uuid4().hex[:6]}", f"g{uuid.uuid4().hex[:6]}"
    east = cluster.installation_id("postgresql+psycopg://gw@db-east:5432/gateward")
    west = cluster.installation_id("postgresql+psycopg://gw@db-west:5432/gateward")
    assert east == cluster.installation_id("postgresql+psycopg://other:secret@DB-EAST:5432/gateward") != west
    first = UspController(usp_broker.url, endpoint_id=ctl_id, share_group=group, installation=east)
    sibling = UspController(usp_broker.url, endpoint_id=ctl_id, share_group=group, installation=east)
    second = UspController(usp_broker.url, endpoint_id=ctl_id, share_group=group, installation=west)
    started = [first, sibling, second]
    for c in started:
        c.add_listener(lambda e: None, consumer=True)
    try:
        loop.run(first.start(timeout=5), timeout=10)
        loop.run(sibling.start(timeout=5), timeout=10)
        time.sleep(0.5)
        assert first.rival == "" and sibling.rival == ""  # one installation, two processes: no conflict
        loop.run(second.start(timeout=5), timeout=10)
        wait_until(lambda: bool(second.rival), 5, "the second installation to hear of the first")
        wait_until(lambda: bool(first.rival and sibling.rival), 5, "the first to hear of the second")
        assert ctl_id in second.rival and "GATEWARD_USP_ENDPOINT_ID" in second.rival and east in second.rival
        assert west in first.rival
    finally:
        for c in started:
            loop.run(c.stop(), timeout=10)
        loop.stop()
