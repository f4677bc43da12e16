"""The USP controller against what the real OB-USP-Agent sent (issue 46 item 7): recorded peers.

Each cassette under ``recorded/obuspa_*.json`` holds the Records that crossed a private Mosquitto
during a by-hand run against OB-USP-Agent v11.0.4 on its shipped factory file (captured by a
subscriber to ``#``; the cassette's ``note`` says what was done). :class:`testing.recorded_usp.
ReplayAgent` plays that agent to a live controller, offline: each request the controller sends is
answered with what the real agent sent after the same request, with its delays. Both speak MQTT 5
through :class:`testing.recorded_usp.LoopbackBroker` in the test's own process — the same topics,
Response Topics and Records as over the recorded Mosquitto — so these run in the fast tier, on a
machine with no broker installed.

Behaviours found by hand that these pin:

* a Set of the agent's own controller MTP (``Controller.1.MTP.1.Enable=false``): its ``disconnect``
  Record ("Configuration Change") comes 49 ms *before* its SetResp, and the Set succeeded — a
  controller that failed the Set at the goodbye left a change nobody recorded (issue 37);
* a ``FactoryReset()`` of a factory-fresh agent: an OperateResp, no Boot! (no subscription survives
  the reset), its ``mqtt_connect`` 2.8 s later, and a ``LocalAgent.UpTime`` of 2 s — while its
  ``DeviceInfo.UpTime`` is the kernel's (3807 s in the first cassette): the reset is confirmed by
  the agent's own UpTime, never by the kernel's;
* the agent on its shipped topic ``/usp/agent`` answers a probe there and nowhere else (issue 46).
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from core.kernel.models import Device
from executors.usp.controller import UspController
from executors.usp.executor import UspExecutor
from executors.usp.loop import LoopThread
from testing.grants import grant
from testing.recorded_usp import LoopbackBroker, ReplayAgent, UspCassette

RECORDED = Path(__file__).parent / "recorded"
AGENT = Device.model_validate({"id": "os::00D09E-W3B0001", "vendor": "unknown", "model": "unknown",
                               "firmware": "unknown", "root": "Device.", "protocol": "usp", "adapter": "usp",
                               "oui": "00D09E", "serial": "W3B0001", "region": "EU"})


def _names() -> tuple[str, str, str]:
    tag = uuid.uuid4().hex[:8]
    return f"proto::gw-rec-{tag}", f"/usp/controller-rec-{tag}", f"/usp/agent-rec-{tag}"


def test_recorded_setresp_after_the_goodbye_record_is_taken() -> None:
    with LoopbackBroker() as info:
        _setresp_after_the_goodbye(info.url)


def _setresp_after_the_goodbye(url: str) -> None:
    cassette = UspCassette.load(RECORDED / "obuspa_goodbye_setresp.json")
    controller_id, controller_topic, agent_topic = _names()
    loop = LoopThread("recorded-obuspa")
    ctl = UspController(url, endpoint_id=controller_id, topic=controller_topic, agent_topics=(agent_topic,))
    try:
        with ReplayAgent(cassette, url, agent_topic=agent_topic, controller_id=controller_id,
                         controller_topic=controller_topic) as agent:
            loop.run(ctl.start(), timeout=10)
            assert loop.run(ctl.probe(AGENT.id, 5), timeout=10)
            values, _ = loop.run(ctl.get(AGENT.id, ["Device.LocalAgent.UpTime", "Device.DeviceInfo.UpTime"]),
                                 timeout=10)
            assert int(values["Device.LocalAgent.UpTime"]) < int(values["Device.DeviceInfo.UpTime"])
            resp = loop.run(ctl.set(AGENT.id, {"Device.LocalAgent.Controller.1.MTP.1.Enable": False}, timeout=5),
                            timeout=15)
            assert [r.oper_status.WhichOneof("oper_status") for r in resp.updated_obj_results] == ["oper_success"]
            st = ctl.agent(AGENT.id)
            assert st is not None and st.connected is False  # its goodbye was heard, before the answer
            assert agent.unmatched == []
    finally:
        loop.run(ctl.stop(), timeout=10)
        loop.stop()


def test_recorded_factory_reset_of_a_fresh_agent_is_confirmed_by_its_own_uptime() -> None:
    with LoopbackBroker() as info:
        _factory_reset_of_a_fresh_agent(info.url)


def _factory_reset_of_a_fresh_agent(url: str) -> None:
    cassette = UspCassette.load(RECORDED / "obuspa_factory_reset.json")
    _, controller_topic, agent_topic = _names()
    # the recorded controller's own ID: the agent's subscriptions in its answers name it as theirs
    controller_id = "self::usp-controller"
    ex = UspExecutor(url=url, endpoint_id=controller_id, controller_topic=controller_topic,
                     agent_topics=(agent_topic,), timeout_s=5, probe_timeout_s=3, reboot_timeout_s=30)
    try:
        with ReplayAgent(cassette, url, agent_topic=agent_topic, controller_id=controller_id,
                         controller_topic=controller_topic) as agent:
            assert ex.presence(AGENT).reachable
            with grant(ex, AGENT, commands=["factory_reset"]) as g:
                res = ex.operate(AGENT, "factory_reset", {}, g)
            assert res.status == "done", res.output
            assert "LocalAgent.UpTime 2 s" in str(res.output.get("confirmed_by")), res.output
            assert agent.unmatched == []
    finally:
        ex.close()


@pytest.mark.parametrize("name", ["obuspa_goodbye_setresp", "obuspa_factory_reset"])
def test_an_agent_cassette_says_what_it_recorded(name: str) -> None:
    cassette = UspCassette.load(RECORDED / f"{name}.json")
    assert "OB-USP-Agent v11.0.4" in cassette.peer and cassette.note and cassette.items
    assert {r.decoded.from_id for r in cassette.items} >= {cassette.agent_id}
