"""The seam between the USP controller and a message transfer protocol other than its MQTT links.

Why: the controller was born on MQTT (``executors.usp.mqtt``), where an agent is a topic and a
reply is a PUBLISH. TR-369 also carries Records over WebSocket (``executors.usp.websocket``),
where an agent *is* a connection: what is sent to it goes back over the connection it came on.
An agent reached that way carries its :class:`Transport` in ``AgentState.mtp``; the controller
sends through it instead of publishing (one ``is None`` test on the MQTT fast path). Inbound, a
transport hands each Record to a :class:`Receiver` (the controller) and says when its connection
closed.
"""

from __future__ import annotations

from typing import Protocol


class Transport(Protocol):
    """One agent's connection on a non-MQTT MTP."""

    #: the MTP's name as USP spells it in ``LocalAgent.MTP.{i}.Protocol`` ("WebSocket")
    mtp: str
    #: who is at the other end (address and port), for messages and the console
    peer: str
    #: the agent's endpoint ID once known (from the handshake or its first Record)
    endpoint_id: str | None

    @property
    def connected(self) -> bool: ...

    def may_be(self, endpoint_id: str) -> bool:
        """Whether the connection may speak for ``endpoint_id`` (its peer's certificate allows it)."""
        ...

    def send(self, payload: bytes) -> bool:
        """Queue one serialized Record (on the controller's loop); False when the connection is gone."""
        ...

    def send_threadsafe(self, payload: bytes) -> bool:
        """:meth:`send` from another thread."""
        ...

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection (on the controller's loop)."""
        ...


class Receiver(Protocol):
    """What a transport hands its Records to (the controller)."""

    def on_transport_open(self, link: Transport, *, announce: bool = True) -> None:
        """A connection whose handshake named its agent (``link.endpoint_id``): it is connected;
        ``announce=False``: its ``connect`` event waits for its first valid Record."""
        ...

    def on_transport_record(self, link: Transport, payload: bytes) -> bool:
        """One Record arrived; False when it could not be extracted (malformed), so the
        transport can say so to the peer (WebSocket: close with 1003, TR-369 R-WS.16)."""
        ...

    def on_transport_closed(self, link: Transport, reason: str) -> None:
        """The connection is gone: its agent is offline unless it is connected another way."""
        ...
