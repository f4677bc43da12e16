"""TR-369 USP: a controller over MQTT and the executor contract on top of it.

* :mod:`executors.usp.controller` — :class:`UspController` (asyncio, one MQTT connection): presence,
  requests matched by ``msg_id``, NotifyResp, events (Boot!, OnBoardRequest, ValueChange, ...)
* :mod:`executors.usp.executor` — :class:`UspExecutor`, the contract (read/presence/discover/apply/
  operate) over the controller, plus ``get_many``/``apply_many`` for fan-out
* :mod:`executors.usp.records` — Records and Messages; :mod:`executors.usp.errors` — USP error codes
  and their typed errors; :mod:`executors.usp.topics` — topic conventions and MQTT 3.1.1 reply-to;
  :mod:`executors.usp.mqtt` — paho-mqtt on asyncio with TCP_NODELAY;
  :mod:`executors.usp.datamodel` — command paths and Gateward's vendor parameters
* :mod:`executors.usp.agent_topics` — where each agent listens, as the adapter asks its topic book
  (the port ``core.kernel.ports.topics``; the composition root hands it the stored one, ``core.usp_topics``);
  :mod:`executors.usp.subscriptions` — the subscriptions created on an agent's first contact;
  :mod:`executors.usp.keeper` — when they are (re)checked, and on which agents
* :mod:`executors.usp.proto` — the BBF ``.proto`` schemas and their generated code. Regenerate with
  ``.venv/bin/python -m executors.usp.proto.regenerate`` (grpcio-tools).

The simulated agents live in :mod:`executors.sim.usp_agent` / :mod:`executors.sim.usp_host`.
``factory(settings)`` builds the adapter from ``GATEWARD_MQTT_URL`` plus the optional
``GATEWARD_USP_*`` variables (:func:`usp_options`). See ``docs/usp.md``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from core.kernel.ports.topics import AgentTopics, endpoint_for, topic_problem
from executors.usp.controller import DEFAULT_ENDPOINT_ID, UspController, UspEvent
from executors.usp.executor import UspExecutor
from executors.usp.subscriptions import DEFAULT_WATCH
from executors.usp.topics import DEFAULT_AGENT_TOPICS

if TYPE_CHECKING:  # the CLI imports parts of executors.usp on fast paths: no settings import for an annotation
    from core.kernel.config import Settings

__all__ = ["DEFAULT_ENDPOINT_ID", "AgentTopics", "UspController", "UspEvent", "UspExecutor", "controller_options",
           "endpoint_for", "factory", "usp_options"]


def usp_options(env: dict[str, str] | None = None) -> dict[str, Any]:
    """The adapter's own knobs from the environment (documented in docs/usp.md):
    ``GATEWARD_USP_ENDPOINT_ID`` (default ``proto::controller-gateward``), ``GATEWARD_USP_MQTT_VERSION``
    (5 or 3), ``GATEWARD_USP_TIMEOUT_S`` (10), ``GATEWARD_USP_PROBE_TIMEOUT_S`` (3),
    ``GATEWARD_USP_REBOOT_TIMEOUT_S`` (180), ``GATEWARD_USP_AGENT_TOPICS`` (:func:`agent_topic_templates`);
    and for :func:`factory` only
    ``GATEWARD_USP_CONTROLLER_TOPIC`` (default ``usp/controller/<endpoint>``),
    ``GATEWARD_USP_AUTO_SUBSCRIBE`` (1: the long-running controller — ``gateward run``/``worker`` — creates
    Boot!/OperationComplete/ValueChange subscriptions on the fleet's agents; 0: it does not) and
    ``GATEWARD_USP_WATCH`` (comma-separated root-relative parameters to watch
    with ValueChange, default ``WiFi.Radio.*.Channel,DeviceInfo.SoftwareVersion``)."""
    e = os.environ if env is None else env

    def num(name: str, default: float) -> float:
        raw = e.get(name)
        if raw is None or raw == "":
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"{name}={raw!r} is not a number") from None
        if value <= 0:
            raise ValueError(f"{name} must be positive (got {raw})")
        return value

    version = int(num("GATEWARD_USP_MQTT_VERSION", 5))
    if version not in (3, 5):
        raise ValueError("GATEWARD_USP_MQTT_VERSION must be 5 or 3")
    return {
        "agent_topics": agent_topic_templates(e.get("GATEWARD_USP_AGENT_TOPICS")),
        "endpoint_id": e.get("GATEWARD_USP_ENDPOINT_ID") or DEFAULT_ENDPOINT_ID,
        "mqtt_version": version,
        "timeout_s": num("GATEWARD_USP_TIMEOUT_S", 10.0),
        "probe_timeout_s": num("GATEWARD_USP_PROBE_TIMEOUT_S", 3.0),
        "reboot_timeout_s": num("GATEWARD_USP_REBOOT_TIMEOUT_S", 180.0),
    }


def agent_topic_templates(raw: str | None) -> tuple[str, ...]:
    """``GATEWARD_USP_AGENT_TOPICS``: comma-separated topics an agent with no learnt topic may listen
    on, ``{endpoint}`` standing for its endpoint ID as one topic level (default
    ``usp/agent/{endpoint},/usp/agent``: this project's convention and OB-USP-Agent's shipped one)."""
    if raw is None or not raw.strip():
        return DEFAULT_AGENT_TOPICS
    out = tuple(t.strip() for t in raw.split(",") if t.strip())
    for t in out:
        problem = topic_problem(t.replace("{endpoint}", "x"))
        if problem:
            raise ValueError(f"GATEWARD_USP_AGENT_TOPICS: {t!r} is not a topic: {problem}")
    return out


#: how long the broker keeps the controller group's session while no process holds it
DEFAULT_SESSION_EXPIRY_S = 7 * 24 * 3600


def controller_options(env: dict[str, str] | None = None) -> dict[str, Any]:
    """The long-running controller's knobs (see :func:`usp_options`): its topic, first-contact
    subscriptions (``auto_subscribe``: whether the *long-running* process may create them; no
    short-lived one does, see :func:`factory`), watched parameters, and
    ``GATEWARD_USP_SESSION_EXPIRY_S`` — how long the broker keeps the group's persistent session
    (and queues what agents publish) while no process of the group is connected (default 7 days;
    0: no persistent session). Bad values raise ValueError naming the variable."""
    e = os.environ if env is None else env
    auto = (e.get("GATEWARD_USP_AUTO_SUBSCRIBE") or "1").strip().lower()
    if auto not in ("1", "0", "true", "false", "yes", "no"):
        raise ValueError(f"GATEWARD_USP_AUTO_SUBSCRIBE={auto!r} must be 1 or 0")
    topic = (e.get("GATEWARD_USP_CONTROLLER_TOPIC") or "").strip() or None
    if topic is not None and topic_problem(topic):
        raise ValueError(f"GATEWARD_USP_CONTROLLER_TOPIC={topic!r} is not a topic: {topic_problem(topic)}")
    raw_watch = e.get("GATEWARD_USP_WATCH")
    watch = DEFAULT_WATCH if raw_watch is None else tuple(p.strip() for p in raw_watch.split(",") if p.strip())
    bad = [p for p in watch if p.startswith(("Device.", "InternetGatewayDevice.")) or p.endswith(".")]
    if bad:
        raise ValueError(f"GATEWARD_USP_WATCH: {bad[0]!r} must be a parameter path relative to the root "
                         "(e.g. WiFi.Radio.*.Channel)")
    raw_expiry = (e.get("GATEWARD_USP_SESSION_EXPIRY_S") or "").strip() or str(DEFAULT_SESSION_EXPIRY_S)
    try:
        expiry = int(raw_expiry)
    except ValueError:
        raise ValueError(f"GATEWARD_USP_SESSION_EXPIRY_S={raw_expiry!r} is not a whole number of seconds") from None
    if not 0 <= expiry <= 0xFFFFFFFF:
        raise ValueError(f"GATEWARD_USP_SESSION_EXPIRY_S={raw_expiry!r} must be 0 to 4294967295")
    return {"auto_subscribe": auto in ("1", "true", "yes"), "controller_topic": topic, "watch": watch,
            "session_expiry_s": expiry}


def factory(settings: Settings, topics: AgentTopics | None = None) -> UspExecutor:
    """The USP adapter for ``core.routing.ExecutorRouter`` (name ``"usp"``), on ``settings.mqtt_url``.
    With ``topics`` (the composition root's ``core.usp_topics.TopicBook``), agents' topics are
    remembered there for every process and looked up from it.

    It never creates subscriptions by itself, whatever ``GATEWARD_USP_AUTO_SUBSCRIBE`` says: every
    process builds this adapter — a CLI ``apply`` as much as ``gateward run`` — and a short-lived
    command answering the same Boot! as the long-running controller doubled the work on the agent.
    The process that listens for events turns it on (``UspExecutor.enable_auto_subscribe``, from
    ``gateward.runtime.UspEvents``) when the variable allows it."""
    from executors.usp.cluster import installation_id

    opts = controller_options()
    resolved = getattr(settings, "resolved_database_url", None)
    db = resolved() if callable(resolved) else getattr(settings, "database_url", None)
    return UspExecutor(url=settings.mqtt_url, topics=topics, controller_topic=opts["controller_topic"],
                       watch=opts["watch"], auto_subscribe=False, session_expiry_s=opts["session_expiry_s"],
                       installation=installation_id(db) if db else "", **usp_options())
