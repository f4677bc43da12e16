"""An agent that restarts its MQTT connection with requests in flight (found against the real agent).

Run by hand against the Broadband Forum's OB-USP-Agent (v11.0.4) over Mosquitto 2.0.11: a governed
Set of ``Device.LocalAgent.MTP.1.MQTT.PublishQoS`` was answered, and the agent at once closed its
MQTT connection (a clean DISCONNECT: no will, no USP ``disconnect`` Record) and came back a second
later with a clean session and a new ``mqtt_connect`` Record — it does so for any change to its MTP
or MQTT client. The verify Get, published 0.8 ms after that DISCONNECT, reached no subscriber; the
controller heard the connect Record a second later yet waited out its 10 s timeout, so the change
that had been made was rolled back (and the rollback's own verify was lost the same way).

Now a read still pending when its agent's connect Record arrives is sent again (same msg_id);
anything that may have changed the agent (Set, Add, Delete, Operate) is never repeated. The agent
here does what the real one did: answers the Set, drops what arrives while it is away, reconnects.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from executors.usp import cluster, records
from executors.usp.controller import UspTimeout
from executors.usp.mqtt import Inbound, MqttLink
from executors.usp.proto import msg_pb
from tests.usp.support import UspRig, wait_until
from tests.usp.test_controller import FakeAgent, _answer_get

pytestmark = pytest.mark.mqtt

MTP_PARAM = "Device.LocalAgent.MTP.1.MQTT.PublishQoS"


class RestartingAgent(FakeAgent):
    """Answers Gets and Sets; a Set of an MTP parameter makes it restart its MQTT connection like the
    OB-USP-Agent: the SetResp leaves, then nothing is read until it has reconnected (``away_s``),
    subscribed again and published its connect Record."""

    def __init__(self, rig: UspRig, endpoint_id: str, away_s: float = 0.4) -> None:
        super().__init__(rig, endpoint_id, self._answer)
        self.away_s = away_s
        self.away = threading.Event()
        self.dropped: list[str] = []  # msg_ids that arrived while it was away
        self.restarts = 0

    def _on(self, inbound: Any) -> None:
        if self.away.is_set():  # the real agent is not subscribed then: the broker delivers it to no one
            d = records.decode(inbound.payload)
            self.dropped.append(d.msg_id)
            return
        super()._on(inbound)

    def _answer(self, msg: msg_pb.Msg, _from: str) -> list[bytes]:
        kind = msg.body.request.WhichOneof("req_type")
        if kind == "get":
            return [self.wrap(_answer_get(msg))]
        if kind == "set":
            resp = records.response(msg.header.msg_id, msg_pb.Header.SET)
            resp.body.response.set_resp.updated_obj_results.add(requested_path="Device.LocalAgent.MTP.1.")
            paths = [o.obj_path + p.param for o in msg.body.request.set.update_objs for p in o.param_settings]
            if MTP_PARAM in paths:
                self.away.set()
                asyncio.get_running_loop().create_task(self._restart())
            return [self.wrap(resp)]
        return []

    async def _restart(self) -> None:
        await asyncio.sleep(0.05)  # the SetResp is written first
        await self.link.close()
        await asyncio.sleep(self.away_s)
        self.link = MqttLink(self.rig.broker.url, version=self.link.version, on_message=self._on)
        self.away.clear()
        self.restarts += 1
        await self.start()


def _fake(rig: UspRig, endpoint_id: str) -> RestartingAgent:
    fake = RestartingAgent(rig, endpoint_id)
    rig.ctl(fake.start())
    wait_until(lambda: bool(rig.controller.agent(endpoint_id)), what="fake agent to connect")
    return fake


def test_a_read_lost_while_the_agent_reconnects_is_sent_again(rig: UspRig) -> None:
    fake = _fake(rig, "os::00D09E-RESTART1")
    ep = fake.endpoint_id
    ctl = rig.controller

    async def set_then_verify() -> dict[str, str]:
        await ctl.set(ep, {MTP_PARAM: "1"})
        assert fake.away.is_set()
        values, _ = await ctl.get(ep, ["Device.X."], timeout=8)  # the lifecycle's verify read
        return values

    # Answered (not timed out) though the first copy was dropped: the second copy is what it answered.
    assert rig.ctl(set_then_verify()) == {"Device.X.Y": "1"}
    assert len(fake.dropped) == 1 and fake.restarts == 1  # the first copy was lost, as with the real agent
    assert ctl.stats.resent_reads == 1 and ctl.stats.timeouts == 0
    rig.ctl(fake.link.close())


def test_the_executors_synchronous_read_is_sent_again_too(rig: UspRig) -> None:
    """The executor's ``read()`` of a connected agent is sent from the caller's thread
    (``request_threadsafe``): the re-send happens on the loop all the same."""
    fake = _fake(rig, "os::00D09E-RESTART2")
    ep = fake.endpoint_id
    rig.ctl(rig.controller.set(ep, {MTP_PARAM: "1"}))
    assert fake.away.is_set()
    resp = rig.controller.request_threadsafe(ep, records.get(records.new_msg_id(), ["Device.X."]), timeout=8)
    assert resp is not None, "the synchronous path declined a connected agent"
    assert records.flatten_get_resp(resp.body.response.get_resp)[0] == {"Device.X.Y": "1"}
    assert len(fake.dropped) == 1 and rig.controller.stats.resent_reads == 1
    assert rig.controller.stats.timeouts == 0
    rig.ctl(fake.link.close())


def test_a_set_lost_while_the_agent_reconnects_is_never_repeated(rig: UspRig) -> None:
    """A change may have been carried out before the connection went: it times out as before, and the
    agent never receives it a second time."""
    fake = _fake(rig, "os::00D09E-RESTART3")
    ep = fake.endpoint_id
    fake.away_s = 0.6

    async def set_while_away() -> None:
        await rig.controller.set(ep, {MTP_PARAM: "1"})
        await rig.controller.set(ep, {"Device.LocalAgent.Controller.1.PeriodicNotifInterval": "60"}, timeout=2.0)

    with pytest.raises(UspTimeout):
        rig.ctl(set_while_away())
    assert fake.restarts == 1 and len(fake.dropped) == 1
    sets = [m for m in fake.received if m.header.msg_type == msg_pb.Header.SET]
    assert len(sets) == 1, "a Set was sent again after the agent reconnected"
    assert rig.controller.stats.resent_reads == 0
    rig.ctl(fake.link.close())


def test_a_connect_relayed_by_another_process_sends_the_read_again(rig: UspRig) -> None:
    """With several controller processes, the connect Record may reach another member of the
    shared subscription, which relays it: that counts as hearing it here."""
    fake = _fake(rig, "os::00D09E-RESTART4")
    ep = fake.endpoint_id
    ctl = rig.controller
    fake.away.set()  # it is reconnecting: the Get below is lost

    async def read_then_relayed_connect() -> dict[str, str]:
        task = asyncio.ensure_future(ctl.get(ep, ["Device.X."], timeout=8))
        while not fake.dropped:
            await asyncio.sleep(0.01)
        fake.away.clear()  # back, and its connect Record went to another process, which relays it
        note = cluster.ClusterNote("presence", "another-process", ep, connected=True, topic=fake.topic,
                                   at=time.time())
        ctl._on_cluster(Inbound(ctl.cluster_topic, note.encode(), None, None, 1))
        values, _ = await task
        return values

    assert rig.ctl(read_then_relayed_connect()) == {"Device.X.Y": "1"}
    assert ctl.stats.resent_reads == 1 and len(fake.dropped) == 1 and ctl.stats.timeouts == 0
    rig.ctl(fake.link.close())
