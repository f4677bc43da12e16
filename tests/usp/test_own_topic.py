"""Moving an agent off a shared topic (issue 58 item 4; ``executors.usp.own_topic``): which MTP is
changed, what counts as done, and what is said when it cannot be — against a stand-in for the
controller that answers as OB-USP-Agent v11.0.4 did by hand (the Set of its ``ResponseTopicConfigured``
makes it reconnect; its goodbye may come before its SetResp)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest

from executors.usp import own_topic
from executors.usp.controller import AgentGoneMidRequest, UspTimeout

EP = "os::00D09E-H58MOVE1"
MINE = f"usp/agent/{EP}"


@dataclass
class _State:
    topic: str
    connected: bool = True


@dataclass
class _Controller:
    """Answers Get of LocalAgent.MTP. from ``mtps``; a Set of ResponseTopicConfigured moves the agent
    (``heard``: the controller hears it there by its connect Record; ``answers``: it answers there)."""

    mtps: dict[str, str]
    heard: bool = True
    answers: bool = True
    goodbye_first: bool = False
    st: _State = field(default_factory=lambda: _State("/usp/agent"))
    sets: list[dict[str, Any]] = field(default_factory=list)
    addressed: list[str] = field(default_factory=list)

    def agent(self, ep: str) -> _State:
        return self.st

    async def get(self, ep: str, paths: Any, *, timeout: float | None = None) -> Any:
        if self.st.topic == MINE and not self.answers:
            raise UspTimeout(ep, "m1", 1.0, "GET")
        return dict(self.mtps), {}

    async def set(self, ep: str, values: dict[str, Any], *, timeout: float | None = None) -> None:
        self.sets.append(values)
        if self.heard:
            self.st.topic = next(iter(values.values()))
        if self.goodbye_first:
            raise AgentGoneMidRequest(ep, "disconnected before its SetResp")

    def address_at(self, ep: str, topic: str) -> str:
        before, self.st.topic = self.st.topic, topic
        self.addressed.append(topic)
        return before


def _move(ctl: _Controller) -> str | None:
    return asyncio.run(own_topic.move(ctl, EP, timeout=2.0))  # type: ignore[arg-type]


def test_the_mtp_naming_the_shared_topic_is_moved_to_the_agents_own() -> None:
    ctl = _Controller({"Device.LocalAgent.MTP.1.MQTT.ResponseTopicConfigured": "/usp/elsewhere",
                       "Device.LocalAgent.MTP.2.MQTT.ResponseTopicConfigured": "/usp/agent"})
    assert _move(ctl) == MINE
    assert ctl.sets == [{"Device.LocalAgent.MTP.2.MQTT.ResponseTopicConfigured": MINE}]
    assert _move(ctl) is None  # on its own topic now: nothing to do


def test_a_goodbye_before_the_setresp_and_no_connect_record_heard_is_settled_by_asking_it_there() -> None:
    ctl = _Controller({"Device.LocalAgent.MTP.1.MQTT.ResponseTopicConfigured": "/usp/agent"}, heard=False,
                      goodbye_first=True)
    assert _move(ctl) == MINE and ctl.addressed == [MINE] and ctl.st.topic == MINE


def test_an_agent_silent_on_its_new_topic_is_addressed_where_it_was_and_it_is_said() -> None:
    ctl = _Controller({"Device.LocalAgent.MTP.1.MQTT.ResponseTopicConfigured": "/usp/agent"}, heard=False,
                      answers=False)
    with pytest.raises(own_topic.TopicMoveError, match="did not answer there") as err:
        _move(ctl)
    assert ctl.st.topic == "/usp/agent" and not err.value.lasting


def test_an_agent_whose_mtps_do_not_name_its_topic_is_left_alone_for_good() -> None:
    ctl = _Controller({"Device.LocalAgent.MTP.1.MQTT.ResponseTopicConfigured": "/usp/other"})
    with pytest.raises(own_topic.TopicMoveError, match="not the controller's to change") as err:
        _move(ctl)
    assert err.value.lasting and ctl.sets == []


def test_what_is_an_agents_own_topic() -> None:
    assert own_topic.is_own_topic(EP, MINE) and own_topic.is_own_topic(EP, f"isp/east/{EP}/in")
    assert not own_topic.is_own_topic(EP, "/usp/agent") and not own_topic.is_own_topic(EP, f"{MINE}x")
