"""The USP topic book port: where each USP agent listens, as the USP adapter asks it.

Why a port: TR-369 leaves an agent's MQTT topic to the deployment, so the controller learns it
(the agent's ``mqtt_connect`` Record, the Response Topic or ``/reply-to=`` of its PUBLISHes) and
needs it remembered for every process, with the suspected controller endpoint-ID mismatches. The
remembering is the store's (``core.usp_topics.TopicBook``, a core service); the adapter holds it
through :class:`AgentTopics` and imports no store. The values both sides exchange
(:class:`KnownTopic`, :class:`Mismatch`), what makes a topic publishable (:func:`topic_problem`)
and which agent a device is (:func:`endpoint_for`) are defined here, once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from core.kernel.models import Device

MAX_TOPIC = 512
SOURCES = frozenset({"mqtt_connect", "response_topic", "reply_to", "manual", "probe"})
MAX_ID = 128  # the endpoint ID columns


@dataclass(frozen=True)
class KnownTopic:
    """One agent's topic, its MQTT version and how it was learnt."""

    topic: str
    mqtt_version: int
    source: str


@dataclass(frozen=True)
class Mismatch:
    """A connected agent that does not answer us: the controller it is configured for (``None``
    when its records never named one: it was only silent) and ours, and when it was seen."""

    endpoint_id: str
    agent_controller_id: str | None
    controller_id: str
    detail: str = ""
    seen_at: datetime | None = None

    def message(self) -> str:
        """The warning every surface shows: both endpoint IDs, named."""
        theirs = repr(self.agent_controller_id) if self.agent_controller_id else "unknown (its records never named it)"
        when = f" since {self.seen_at:%Y-%m-%d %H:%M:%SZ}" if self.seen_at is not None else ""
        how = "addresses its records to another controller" if self.agent_controller_id else "is connected but silent"
        return (f"USP agent {self.endpoint_id} {how}{when}: the controller endpoint IDs "
                f"{'do' if self.agent_controller_id else 'probably do'} not match — the agent's configured "
                f"controller is {theirs}, this controller is {self.controller_id!r}"
                + (f" ({self.detail})" if self.detail else "")
                + ("" if self.agent_controller_id else " — or it does not trust this controller, or is busy")
                + "; set GATEWARD_USP_ENDPOINT_ID or the agent's Device.LocalAgent.Controller.{i}.EndpointID")


def topic_problem(topic: str) -> str | None:
    """Why ``topic`` cannot be published to (None when it can)."""
    if not topic:
        return "it is empty"
    if "+" in topic or "#" in topic:
        return "it holds an MQTT wildcard (+ or #)"
    if "\x00" in topic:
        return "it holds a NUL character"
    if len(topic) > MAX_TOPIC:
        return f"it is longer than {MAX_TOPIC} characters"
    return None


def endpoint_for(device: Device) -> str:
    """The agent endpoint ID of a device: ``os::<OUI>-<SerialNumber>`` (TR-369 "os" authority),
    from the inventory record (or, lacking OUI/serial, from the ``OUI-ProductClass-Serial`` id)."""
    oui, serial = device.oui, device.serial
    if not (oui and serial):
        parts = device.id.split("-")
        if len(parts) >= 3:
            oui, serial = parts[0], "-".join(parts[2:])
        else:
            oui, serial = oui or "000000", serial or device.id
    return f"os::{oui}-{serial}"


class AgentTopics(Protocol):
    """What the USP controller asks of its topic book. ``note*`` and ``clear_mismatch`` run on the
    controller's event loop and never block on I/O; ``lookup`` blocks and is called off the loop."""

    def note(self, endpoint_id: str, topic: str, mqtt_version: int, source: str) -> bool:
        """Remember what an agent said; True when it is new or changed."""
        ...

    def note_mismatch(self, endpoint_id: str, agent_controller_id: str | None, controller_id: str,
                      detail: str = "") -> bool:
        """A connected agent did not answer us or addressed another controller; True when news."""
        ...

    def clear_mismatch(self, endpoint_id: str) -> bool:
        """The agent addressed this controller: any stored mismatch is over."""
        ...

    def lookup(self, endpoint_id: str) -> KnownTopic | None:
        """The remembered topic of an agent, if any."""
        ...

    def mismatches(self, endpoint_ids: Iterable[str] | None = None) -> dict[str, Mismatch]:
        """The remembered endpoint-ID mismatches (of ``endpoint_ids``, or all)."""
        ...

    def close(self) -> None:
        """Write what is pending; no more notes after it."""
        ...


__all__ = ["MAX_ID", "MAX_TOPIC", "SOURCES", "AgentTopics", "KnownTopic", "Mismatch", "endpoint_for",
           "topic_problem"]
