"""The USP controller's connections and its group's session: starting, stopping, joining the
shared subscription, holding the group's persistent session (``executors.usp.cluster``).

Phase functions of :class:`executors.usp.controller.UspController` (its façade binds each as a method;
the state they read and write is the controller's own).
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import TYPE_CHECKING

from executors.usp import cluster
from executors.usp.controller_types import (
    _Deadlines,
    log,
)
from executors.usp.mqtt import Inbound, MqttError, MqttLink, Will

if TYPE_CHECKING:
    from executors.usp.controller import UspController


async def start(self: UspController, timeout: float = 10.0) -> UspController:
    self._loop = asyncio.get_running_loop()
    if self._deadlines is None or self._deadlines.loop is not self._loop:
        self._deadlines = _Deadlines(self._loop, self._pending, self._expire)
    try:
        await self.link.connect(timeout)
        # '<topic>/#' also matches '<topic>' itself and MQTT 3.1.1 '<topic>/reply-to=...' publishes.
        if not (self._want_member and await self._subscribe_shared(timeout)):
            await self.link.subscribe([self.topic + "/#"], qos=1, timeout=timeout)
        if self.share_group is not None:  # who holds the group's session (retained: known at once)
            await self.link.subscribe([self.inbox_topic], qos=1, timeout=timeout)
        if self.reply_link is not self.link:
            await self.reply_link.connect(timeout)
            await self.reply_link.subscribe([self.reply_topic + "/#"], qos=1, timeout=timeout)
        elif self.reply_topic != self.topic:
            await self.link.subscribe([self.reply_topic + "/#"], qos=1, timeout=timeout)
    except BaseException:
        await self.link.close()
        await self.reply_link.close()
        raise
    self.started = True
    self._consider_inbox()
    return self


async def stop(self: UspController) -> None:
    self.started = False
    for server in self.ws_servers:
        await server.stop()
    self.ws_servers.clear()
    for task in list(self._ws_tasks):
        task.cancel()
    await self._release_inbox()
    if self._deadlines is not None:
        self._deadlines.cancel()
    for p in list(self._pending.values()):
        if not p.future.done():
            p.future.set_exception(ConnectionError("USP controller stopped"))
    self._pending.clear()
    await self.link.close()
    if self.reply_link is not self.link:
        await self.reply_link.close()


async def join_group(self: UspController) -> None:
    """Switch from the plain subscription to the shared one (a publish arriving on both in
    between is delivered once: the msg_id check)."""
    if await self._subscribe_shared(10.0):
        await self.link.unsubscribe([self.topic + "/#"])
        self._consider_inbox()


def consider_inbox(self: UspController) -> None:
    """Take the group's session if nobody holds it — after a short random pause, so that the
    retained note (who holds it) has arrived and the members do not all try at once. Why not
    simply take it over: Mosquitto 2.0 closes the older connection without saying why, so a
    holder cannot tell a takeover from a lost connection, and two holders reconnecting would take
    it from each other forever; the note settles who holds it instead."""
    if self.member and self.session_expiry_s and self.started and not self._holds() and self._loop is not None:
        self._loop.call_later(random.uniform(0.2, 1.0), self._retake)


def retake(self: UspController) -> None:
    if not self.group_live and self.started and not self._holds() and self._loop is not None:
        self._loop.create_task(self._take_inbox(10.0))


async def take_inbox(self: UspController, timeout: float) -> None:
    """Hold the group's persistent session, receive what the broker queued for it, and say so in
    the retained note. A failure is logged, never raised: the process works without it.
    Not reconnected when lost: its will clears the note, and whichever member
    sees that first takes the session (this one too)."""
    if not self.session_expiry_s or not self.member or self._taking or self.share_group is None or self._holds():
        return
    self._taking = True
    link = MqttLink(self.url, client_id=cluster.inbox_client_id(self.share_group, self.endpoint_id),
                    endpoint_id=self.endpoint_id, version=5, on_message=self._on_message, keepalive=30,
                    clean_start=False, session_expiry_s=self.session_expiry_s,
                    will=Will(self.inbox_topic, b"", qos=1, retain=True), reconnect=False,
                    on_connection=self._inbox_connection)
    try:
        await link.connect(timeout)
        # kept by a resumed session; asked again all the same (a new or expired one has none)
        await link.subscribe([cluster.shared_filter(self.share_group, self.topic)], qos=1, timeout=timeout)
    except (MqttError, OSError) as exc:
        log.warning("could not take the controller group's MQTT session (%s): what agents publish while no "
                    "process of %s is connected is not kept", exc, self.endpoint_id)
        await link.close()
        return
    finally:
        self._taking = False
    self.inbox = link
    self._publish_inbox_note()
    log.info("holding the controller group's MQTT session %s (group %s, expiry %ds): what agents publish while "
             "no process of %s is connected waits there", link.client_id, self.share_group,
             self.session_expiry_s, self.endpoint_id)


def holds(self: UspController) -> bool:
    """Whether this process holds the group's session now."""
    return self.inbox is not None and self.inbox.connected


def publish_inbox_note(self: UspController) -> None:
    self.group_live = True
    self.link.publish(self.inbox_topic, cluster.ClusterNote("inbox", self.process_id, self.endpoint_id,
                                                            at=time.time()).encode(),
                      qos=1, content_type=cluster.CLUSTER_CONTENT_TYPE, retain=True)


def inbox_connection(self: UspController, up: bool) -> None:
    if not up and self.inbox is not None and not self.inbox.connected:
        log.info("lost the controller group's MQTT session; a member takes it again when its note clears")
        self.inbox = None


async def release_inbox(self: UspController) -> None:
    """Stop holding the group's session, keeping it (and what the broker queues for it): the note
    is cleared so another member takes it over, or the next to start does."""
    link, self.inbox = self.inbox, None
    if link is None:
        return
    if link.connected and self.link.connected:
        self.link.publish(self.inbox_topic, b"", qos=1, content_type=cluster.CLUSTER_CONTENT_TYPE, retain=True)
    await link.close()


def on_inbox_note(self: UspController, inbound: Inbound) -> None:
    """The retained note changed: a member holds the group's session (or nobody does: a member
    takes it over, after a short random pause so the members do not all try at once)."""
    if inbound.payload:
        self.group_live = True
        return
    self.group_live = False
    self._consider_inbox()


async def subscribe_shared(self: UspController, timeout: float) -> bool:
    """Join the group; False (stay plain) when the broker refuses shared subscriptions."""
    assert self.share_group is not None
    shared = [cluster.shared_filter(self.share_group, self.topic), self.cluster_topic]
    try:
        await self.link.subscribe(shared, qos=1, timeout=timeout)
    except ConnectionError as exc:  # MqttError
        if not self.link.connected:  # remembered: restored when the link reconnects
            log.warning("could not join the shared subscription %r yet: %s", self.share_group, exc)
            self.member = True
            return True
        log.error("the broker at %s refused the shared subscription %r (%s): this process hears every "
                  "notification, as with MQTT 3.1.1", self.link.url, self.share_group, exc)
        await self.link.unsubscribe(shared)
        return False
    self.member = True
    self._say_hello()
    return True


def ensure_loop(self: UspController) -> None:
    """The loop the WebSocket MTP runs on is the controller's (it may start before MQTT does)."""
    if self._loop is None:
        self._loop = asyncio.get_running_loop()
    if self._deadlines is None or self._deadlines.loop is not self._loop:
        self._deadlines = _Deadlines(self._loop, self._pending, self._expire)
