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
