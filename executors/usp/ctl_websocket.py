"""The USP controller's WebSocket MTP: serving it, dialling agents, and the transports' Records.

Phase functions of :class:`executors.usp.controller.UspController` (its façade binds each as a method;
the state they read and write is the controller's own).
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from executors.usp import records
from executors.usp.controller_types import (
    AgentState,
    _event,
    log,
)
from executors.usp.transport import Transport

if TYPE_CHECKING:  # the WebSocket MTP (and the websockets library) loads only when it is used
    import ssl

    from executors.usp.controller import UspController
    from executors.usp.websocket import WsServer, WsSettings


def serves_websocket(self: UspController) -> bool:
    """Whether this process has agents' WebSockets: a server, or connections it keeps open."""
    return bool(self.ws_servers or self._ws_tasks)


async def serve_websocket(self: UspController, settings: WsSettings) -> WsServer:
    """Run a WebSocket server agents connect to (TR-369 WebSocket MTP, :mod:`executors.usp.websocket`).
    Agents on it are requested, answered and heard exactly as over MQTT; replies go back over
    the connection the agent is on. Raises OSError when the address cannot be bound."""
    from executors.usp.websocket import WsServer

    self._ensure_loop()
    server = await WsServer(settings, self, self.endpoint_id).start()
    self.ws_servers.append(server)
    return server


async def connect_websocket(self: UspController, url: str, *, endpoint_id: str | None = None,
                            ssl_context: ssl.SSLContext | None = None, timeout: float = 10.0) -> str:
    """Open a WebSocket to an agent's own server (its ``LocalAgent.MTP.{i}.WebSocket``); returns
    the agent's endpoint ID (from its handshake answer, else ``endpoint_id``, else its first
    Record — then after it arrives, within ``timeout``)."""
    from executors.usp.websocket import connect_agent

    self._ensure_loop()
    link, task = await connect_agent(url, self.endpoint_id, self, ssl_context=ssl_context,
                                     endpoint_id=endpoint_id, open_timeout_s=timeout)
    self._ws_tasks.add(task)
    task.add_done_callback(self._ws_tasks.discard)
    if link.endpoint_id is not None:
        self.on_transport_open(link)
        return link.endpoint_id
    deadline = time.monotonic() + timeout
    while link.endpoint_id is None and link.connected and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    if link.endpoint_id is None:
        link.close(1008, "no endpoint ID")
        raise ConnectionError(f"the agent at {url} named no endpoint ID and sent no Record within {timeout:g}s")
    return link.endpoint_id


async def keep_websocket(self: UspController, url: str, *, ssl_context: ssl.SSLContext | None = None,
                         retry_min_s: float = 5.0, retry_max_s: float = 300.0) -> None:
    """Hold a connection to an agent's WebSocket server (``GATEWARD_USP_WS_CONNECT``): connect, and
    when the connection ends or cannot be made, try again after 5 s, doubling up to 5 min (the
    agent's side of TR-369 R-WS.19, which leaves the controller's own policy open). Runs until
    cancelled (:meth:`stop`)."""
    if ssl_context is None and url.startswith("wss:"):
        from executors.usp.websocket import client_ssl_from_env

        ssl_context = client_ssl_from_env()
    task = asyncio.current_task()
    if task is not None:
        self._ws_tasks.add(task)
    wait = retry_min_s
    while True:
        try:
            ep = await self.connect_websocket(url, ssl_context=ssl_context)
        except Exception as exc:  # refused, TLS, handshake, wrong endpoint: say it, try again later
            log.warning("USP WebSocket MTP: cannot connect to the agent at %s (%s); again in %.0f s", url,
                        exc, wait)
            await asyncio.sleep(wait)
            wait = min(wait * 2, retry_max_s)
            continue
        wait = retry_min_s
        log.info("USP WebSocket MTP: connected to agent %s at %s", ep, url)
        st = self._agents.get(ep)
        link = st.mtp if st is not None else None
        while link is not None and link.connected:
            await asyncio.sleep(1.0)
        await asyncio.sleep(retry_min_s)


def on_transport_open(self: UspController, link: Transport, *, announce: bool = True) -> None:
    """A connection that named its agent in the handshake: requests can go to the agent over it
    now. ``announce=False`` (a connection an agent opened to us): no ``connect`` event until its
    first valid USP Record from the endpoint it claims — a handshake alone is anyone knocking,
    and a ``connect`` event is what makes an unknown agent pending onboarding."""
    if link.endpoint_id is not None:
        self._bind(link, self._state(link.endpoint_id), time.time(), announce=announce)


def bind(self: UspController, link: Transport, st: AgentState, now: float, *, announce: bool = True) -> None:
    """``link`` is the agent's connection from now on (a newer one replaces an older: one session
    per pair of endpoints, TR-369 R-WS.4): connected, a ``connect`` event (unless ``announce`` is
    False: then at its first valid Record, :meth:`on_transport_record`), waiting reads sent again."""
    old, st.mtp = st.mtp, link
    if old is not None and old is not link and old.connected:
        old.close(1000, "replaced by a newer connection of the same agent")
    if st.connected is not True:
        st.connected = True
        self._connected_n += 1
    st.connected_since = now
    st.last_seen = now
    st.disconnect_reason = ""
    self.stats.connects += 1
    self.stats.ws_connects += 1
    if self._pending:
        self._note_reconnect(st.endpoint_id)
    if not announce:
        self._quiet_links.add(link)
        return
    self._announce(link, st, now)


def announce(self: UspController, link: Transport, st: AgentState, now: float) -> None:
    """The ``connect`` event of an agent on ``link`` (once per connection)."""
    self._quiet_links.discard(link)
    self._emit(_event("connect", st.endpoint_id, now, {"topic": st.topic, "mtp": link.mtp, "peer": link.peer}))


def on_transport_record(self: UspController, link: Transport, payload: bytes) -> bool:
    """One Record from a connection (see :class:`~executors.usp.transport.Receiver`): checked and
    handled as :meth:`_on_message` handles one from MQTT."""
    stats = self.stats
    stats.records_in += 1
    try:
        decoded = records.decode(payload)
    except records.MalformedRecord as exc:
        stats.malformed += 1
        log.warning("dropping a malformed USP Record from %s (%s %s): %s", link.endpoint_id or "?", link.mtp,
                    link.peer, exc)
        return False
    if decoded.to_id != self.endpoint_id:
        stats.wrong_to_id += 1
        self._note_foreign(decoded.from_id, decoded.to_id)
        return True
    ep = decoded.from_id
    if link.endpoint_id is None:
        if not link.may_be(ep):  # its certificate names other endpoints
            stats.wrong_sender += 1
            log.warning("a Record from %s on a %s connection (%s) whose certificate names another endpoint: "
                        "closed", ep, link.mtp, link.peer)
            link.close(1008, "the certificate names another endpoint")
            return True
        link.endpoint_id = ep
    elif ep != link.endpoint_id:  # a connection speaks for the agent it was opened for, no other
        stats.wrong_sender += 1
        log.warning("a Record from %s on the %s connection of %s (%s) ignored", ep, link.mtp, link.endpoint_id,
                    link.peer)
        return True
    st = self._agents.get(ep) or self._state(ep)
    now = time.time()
    if st.mtp is not link or st.connected is not True:
        self._bind(link, st, now)
    elif link in self._quiet_links:  # its first valid Record: the agent is announced now
        self._announce(link, st, now)
    st.last_seen = now
    st.unanswered = None
    st.addressed_to = self.endpoint_id
    if self._foreign:
        self._foreign.pop(ep, None)
    if self.topics is not None:
        self.topics.clear_mismatch(ep)
    kind = decoded.kind
    if kind == "disconnect":
        self._agent_gone(st, decoded.record.disconnect.reason or "disconnect Record", now)
        return True
    msg = decoded.msg
    if msg is None:  # its websocket_connect Record: the connection said it already
        return True
    self._on_msg(st, msg, now, payload, decoded.body, decoded.msg_id)
    return True


def on_transport_closed(self: UspController, link: Transport, reason: str) -> None:
    """The agent's connection ended: it is offline (unless a newer connection replaced this one)."""
    ep = link.endpoint_id
    st = self._agents.get(ep) if ep is not None else None
    if st is None or st.mtp is not link:
        return
    st.mtp = None
    self.stats.ws_disconnects += 1
    if st.connected is not False:
        self._agent_gone(st, reason, time.time())
