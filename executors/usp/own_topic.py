"""One topic per agent: an agent onboarded on a shared topic is moved to its own before any secret.

Why (issue 58 item 4): OB-USP-Agent ships listening on ``/usp/agent``; every agent configured so
subscribes to the same topic, and the broker hands each of them every Record published there — a Set
carrying one subscriber's Wi-Fi key reached every agent on the broker (and any client allowed to
subscribe there). Onboarding may happen there (the agent is found where it listens, nothing secret
is said); then the controller sets the agent's ``Device.LocalAgent.MTP.{i}.MQTT.ResponseTopicConfigured``
— the topic the agent subscribes to, TR-369 R-MQTT.27 — to ``usp/agent/<endpoint ID>``: OB-USP-Agent
reconnects and says so in its ``mqtt_connect`` Record, from which the controller learns it as ever.
A broker ACL then lets each agent read its own topic only (docs/usp.md, "One topic per agent").
The adapter refuses to send a secret to an agent whose topic is not its own (:func:`is_own_topic`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from executors.usp.controller import AgentGoneMidRequest, AgentOffline, UspController, UspTimeout
from executors.usp.topics import agent_topic, topic_level

ROOTS = ("Device.",)
_CONFIGURED = ".MQTT.ResponseTopicConfigured"


class TopicMoveError(Exception):
    """The agent could not be moved to its own topic (said why); it stays where it was. ``lasting``:
    asking again will not help (no MTP of the agent's names the topic it listens on)."""

    def __init__(self, message: str, *, lasting: bool = False) -> None:
        super().__init__(message)
        self.lasting = lasting


def is_own_topic(endpoint_id: str, topic: str) -> bool:
    """Whether ``topic`` is the agent's alone: it names the agent's endpoint ID as one of its levels
    (``usp/agent/<endpoint>``, or an operator's ``…/<endpoint>/…``). Anything else — the shipped
    ``/usp/agent`` — may be shared with other agents, and is treated so."""
    return bool(topic) and topic_level(endpoint_id) in topic.split("/")


def shared_topic_refusal(endpoint_id: str, topic: str) -> str:
    """Why a secret is not sent to an agent on ``topic`` (for the refusal every surface shows)."""
    return (f"USP agent {endpoint_id} listens on {topic!r}, which other agents may share: every agent "
            "subscribed there would receive this secret, so it is not sent. Gateward moves an accepted agent "
            f"to its own topic ({agent_topic(endpoint_id)}: Device.LocalAgent.MTP.{{i}}.MQTT.ResponseTopicConfigured) "
            "once it is onboarded; try again once it listens there (gateward usp topics)")


async def move(ctl: UspController, endpoint_id: str, *, timeout: float) -> str | None:
    """Move ``endpoint_id`` to ``usp/agent/<endpoint ID>``; the new topic, or None when it already
    listens on its own. Finds the MTP whose ``ResponseTopicConfigured`` is the topic it listens on now,
    sets it, and waits (``timeout``) until the agent is heard on the new one (its ``mqtt_connect``
    Record). OB-USP-Agent reconnects on that Set and may say goodbye before its SetResp
    (:class:`AgentGoneMidRequest`): the reconnect on the new topic is the answer then."""
    st = ctl.agent(endpoint_id)
    if st is None or is_own_topic(endpoint_id, st.topic):
        return None
    now, target = st.topic, agent_topic(endpoint_id)
    values, _errors = await ctl.get(endpoint_id, [f"{r}LocalAgent.MTP." for r in ROOTS], timeout=timeout)
    mtps = sorted(p for p, v in values.items() if p.endswith(_CONFIGURED) and v == now)
    if not mtps:
        raise TopicMoveError(f"USP agent {endpoint_id} has no LocalAgent.MTP.{{i}}{_CONFIGURED} set to {now!r} "
                             "(where it listens): its topic is not the controller's to change", lasting=True)
    with contextlib.suppress(AgentGoneMidRequest):  # it went to reconnect on the new topic before answering
        await ctl.set(endpoint_id, {mtps[0]: target}, timeout=timeout)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:  # its mqtt_connect Record names the new topic (heard when it is sent
        st = ctl.agent(endpoint_id)      # to this controller's topic)
        if st is not None and st.topic == target and st.connected:
            return target
        await asyncio.sleep(0.1)
        if time.monotonic() - deadline + timeout >= 1.0:  # not heard: ask it there (an agent reconnects in ~1 s)
            break
    old = ctl.address_at(endpoint_id, target)
    try:
        await ctl.get(endpoint_id, [f"{ROOTS[0]}LocalAgent.EndpointID"], timeout=max(1.0, deadline - time.monotonic()))
    except (UspTimeout, AgentOffline, ConnectionError) as exc:
        ctl.address_at(endpoint_id, old)
        raise TopicMoveError(f"USP agent {endpoint_id} took {mtps[0]} = {target!r} but did not answer there "
                             f"({exc}); addressed at {old!r} again") from None
    return target
