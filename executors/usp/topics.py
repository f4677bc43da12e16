"""MQTT topic conventions for USP endpoints, and the MQTT 3.1.1 ``/reply-to=`` convention.

Topics: a controller listens on ``usp/controller/<endpoint>``, an agent on ``usp/agent/<endpoint>``
(deployment choices, not mandated by TR-369; an agent tells the controller its topic in the
``mqtt_connect`` Record and in every PUBLISH's reply-to). Endpoint IDs may hold characters that are
not allowed or mean something else in a topic level (``/``, ``+``, ``#``, NUL), so those are
percent-encoded (``%`` first) — a device whose serial holds a ``/`` still gets one topic level.

MQTT 3.1.1 has no Response Topic property, so the sender appends ``/reply-to=<its topic>`` with
every ``/`` written ``%2F`` (TR-369 R-MQTT.24) and the receiver reads it back (R-MQTT.25).
"""

from __future__ import annotations

CONTROLLER_PREFIX = "usp/controller/"
AGENT_PREFIX = "usp/agent/"
REPLY_TO = "/reply-to="
#: Where agents listen when nobody said (``{endpoint}``: the endpoint ID as one topic level): this
#: project's convention, and OB-USP-Agent's shipped factory file (``ResponseTopicConfigured
#: "/usp/agent"``, one topic for every agent: records carry the endpoint ID). ``GATEWARD_USP_AGENT_TOPICS``
#: replaces the list. A probe tries them all at once for an agent whose topic was never learnt.
DEFAULT_AGENT_TOPICS = ("usp/agent/{endpoint}", "/usp/agent")

_ESCAPES = (("%", "%25"), ("/", "%2F"), ("+", "%2B"), ("#", "%23"), ("\x00", "%00"))


def topic_level(endpoint_id: str) -> str:
    """One safe topic level for an endpoint ID."""
    out = endpoint_id
    for raw, enc in _ESCAPES:
        out = out.replace(raw, enc)
    return out


def controller_topic(endpoint_id: str) -> str:
    return CONTROLLER_PREFIX + topic_level(endpoint_id)


def agent_topic(endpoint_id: str) -> str:
    return AGENT_PREFIX + topic_level(endpoint_id)


def conventional_topics(endpoint_id: str, templates: tuple[str, ...] = DEFAULT_AGENT_TOPICS) -> list[str]:
    """The topics an agent with no learnt topic may listen on, first the project's own, no repeats."""
    level = topic_level(endpoint_id)
    return list(dict.fromkeys(t.replace("{endpoint}", level) for t in templates))


def with_reply_to(topic: str, reply_to: str) -> str:
    """``topic/reply-to=<reply_to with / as %2F>`` (R-MQTT.24)."""
    return f"{topic}{REPLY_TO}{reply_to.replace('/', '%2F')}"


def split_reply_to(topic: str) -> tuple[str, str | None]:
    """``(base topic, reply-to topic or None)`` from a received topic name (R-MQTT.25)."""
    idx = topic.rfind(REPLY_TO)
    if idx < 0:
        return topic, None
    reply = topic[idx + len(REPLY_TO) :].strip()
    return topic[:idx], (reply.replace("%2F", "/") or None)
