"""Hosting many simulated USP agents in one process, over a few shared MQTT connections.

Why shared connections: a real agent holds one MQTT connection, but one test machine cannot open
200,000 sockets (this one allows 20,000 file descriptors, and the broker needs one per client too).
So agents are grouped — ``agents_per_connection`` of them subscribe to their own topics on one
connection — and each still behaves like a separate agent: its own endpoint ID and topic, its own
``mqtt_connect`` Record, Boot!/OnBoardRequest notifications, drops and faults. With
``dedicated=True`` every agent gets its own connection with a real MQTT will (used by tests of the
broker-published will); on shared connections the host publishes the agent's will itself when
the simulated agent loses its connection.

How an agent behaves (like the BBF open-source agent over MQTT 5):

* on connect it publishes an ``mqtt_connect`` Record (its topic, its MQTT version) to the controller
  topic; after a boot a ``Device.Boot!`` Event Notify (``send_resp``), and an OnBoardRequest when it
  has not been onboarded yet (first start with ``onboard=True``, and after a factory reset);
  unanswered notifications are retried with exponential backoff until a NotifyResp arrives;
* it silently drops a Record whose ``to_id`` is not its endpoint ID or whose ``from_id`` is not its
  controller, and logs and drops a malformed one;
* twin faults act on the agent: ``offline`` → its connection is lost (the will reaches the
  controller), ``unreachable`` → it stays connected but ignores requests, ``slow`` → it answers late;
  ``Device.Reboot()`` → OperateResp, goodbye, boot on the twin, reconnect, ``Boot!``
  (Cause ``RemoteReboot``); async commands answer with ``LocalAgent.Request.{i}`` and finish with an
  OperationComplete Notify.

Changes made to the twin by other processes (fault injection from the CLI, a "local GUI" change)
are picked up from the twin's event log every ``poll_interval_s``; :meth:`AgentHost.sync` applies
one device's state at once (tests use it for determinism). Identity-only ("lite") agents answer
GetSupportedProtocol and their DeviceInfo identity; they exist for reconnect storms of 10k-200k
agents, where building 200k twin devices would measure the twin, not the controller.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import gc
import heapq
import json
import logging
import math
import random
import sys
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.kernel.jsontypes import JsonObject
from executors.base import ExecutorError, Fault
from executors.sim.state import DeviceState
from executors.sim.twin import Twin
from executors.sim.usp_agent import Action, AsyncRequest, Persist, SimAgent
from executors.usp import datamodel as dm
from executors.usp import records
from executors.usp.controller import DEFAULT_ENDPOINT_ID
from executors.usp.errors import to_usp
from executors.usp.mqtt import USP_CONTENT_TYPES, Inbound, MqttLink, Will
from executors.usp.proto import msg_pb
from executors.usp.records import Header
from executors.usp.topics import agent_topic, controller_topic, split_reply_to, topic_level, with_reply_to

if TYPE_CHECKING:  # both imported when a host process starts (benchmarks), not on import
    import queue
    import subprocess

log = logging.getLogger(__name__)

WATCHED_EVENTS = ("fault_injected", "fault_cleared", "value_change", "boot", "bootstrap", "online", "offline")


@dataclass
class HostConfig:
    url: str
    controller_id: str = DEFAULT_ENDPOINT_ID
    controller_topic: str | None = None
    mqtt_version: int = 5
    agents_per_connection: int = 500
    dedicated: bool = False
    persist: Persist = "sync"
    boot_delay_s: float = 0.2
    poll_interval_s: float | None = 0.25
    flush_interval_s: float | None = 0.5
    notify_retry_min_s: float = 5.0  # TR-181 USPNotifRetryMinimumWaitInterval default
    notify_retry_max: int = 6
    onboard: bool = False
    boot_on_start: bool = False
    client_prefix: str = "gw-agents"
    # Configured like a real agent. ``agent_topic``: where agents listen, ``{endpoint}``
    # standing for the agent's endpoint ID as one topic level (default ``usp/agent/{endpoint}``); the
    # OB-USP-Agent's example listens on ``/usp/agent`` (one agent per topic, so one such agent per
    # host). ``wifi=False``: no ``WiFi.`` objects in the data model. ``factory_subscriptions=False``:
    # agents ship with no ``LocalAgent.Subscription`` (no Boot! until a controller subscribes).
    agent_topic: str | None = None
    wifi: bool = True
    factory_subscriptions: bool = True
    # ``firmware_image=False``: no ``DeviceInfo.FirmwareImage.`` table, so no ``Download()``/``Activate()``
    # (an Operate of one is Error 7026, as the OB-USP-Agent's default build answers).
    firmware_image: bool = True
    # The QoS of the agent's own publishes — its connect Record and notifications (TR-181
    # LocalAgent.MTP.{i}.MQTT.PublishQoS). The OB-USP-Agent's default is 0: a broker then keeps none of
    # them for a controller's persistent session unless it queues QoS 0 too (Mosquitto
    # ``queue_qos0_messages true``; docs/runbook.md).
    publish_qos: int = 1
    # Reboot() and FactoryReset() restart the agent process only, not the device (OB-USP-Agent on a
    # Linux host or in a container): DeviceInfo.UpTime — the kernel's there — keeps counting, while
    # LocalAgent.UpTime starts again (seen by hand: UpTime 4793 s a second after a FactoryReset()).
    process_restart: bool = False

    def resolved_controller_topic(self) -> str:
        return self.controller_topic or controller_topic(self.controller_id)

    def topic_for(self, endpoint_id: str) -> str:
        if self.agent_topic is None:
            return agent_topic(endpoint_id)
        return self.agent_topic.replace("{endpoint}", topic_level(endpoint_id))

    def hidden_objects(self) -> tuple[str, ...]:
        """The root-relative objects these agents' data models lack."""
        return (() if self.wifi else ("WiFi.",)) + (() if self.firmware_image else ("DeviceInfo.FirmwareImage.",))

    @classmethod
    def like_obuspa(cls, url: str, **overrides: Any) -> HostConfig:
        """Agents configured like the OB-USP-Agent's shipped MQTT example: topic ``/usp/agent``, no
        pre-provisioned subscriptions, (like a device without Wi-Fi) no ``WiFi.`` objects, no
        ``DeviceInfo.FirmwareImage.`` table (its vendor layer implements none: no ``Download()``,
        ``Activate()`` or ``TransferComplete!``), its publishes at QoS 0 (its ``MQTT.PublishQoS``
        default), and a Reboot()/FactoryReset() that restarts the agent process, not the host."""
        base: JsonObject = {"agent_topic": "/usp/agent", "wifi": False, "factory_subscriptions": False,
                                "firmware_image": False, "publish_qos": 0, "process_restart": True}
        return cls(url=url, **{**base, **overrides})


@dataclass
class HostedAgent:
    endpoint_id: str
    topic: str
    link: int
    identity: tuple[str, str, str]  # oui, product class, serial
    sim: SimAgent | None = None
    online: bool = False
    unreachable: bool = False
    booting: bool = False
    onboarded: bool = True

    @property
    def device_id(self) -> str:
        oui, pc, serial = self.identity
        return self.sim.device_id if self.sim is not None else f"{oui}-{pc}-{serial}"


@dataclass(slots=True)  # one per notification awaiting its NotifyResp: 200,000 in a storm
class _Unacked:
    agent: HostedAgent
    msg_id: str
    payload: bytes
    attempts: int
    due: float
    kind: str


@dataclass
class HostStats:
    requests: int = 0
    responses: int = 0
    dropped_wrong_to_id: int = 0
    dropped_untrusted: int = 0
    dropped_offline: int = 0
    dropped_unreachable: int = 0
    malformed: int = 0
    unknown_topic: int = 0
    connects_sent: int = 0
    disconnects_sent: int = 0
    boots_sent: int = 0
    onboards_sent: int = 0
    notifies_sent: int = 0
    notify_acked: int = 0
    notify_retries: int = 0
    notify_given_up: int = 0
    notify_rejected: int = 0
    flushed: int = 0
    extra: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, int]:
        out = {k: v for k, v in self.__dict__.items() if k != "extra"}
        out.update(self.extra)
        return out


class AgentHost:
    """Many agents in one asyncio loop (see the module docstring)."""

    def __init__(self, config: HostConfig, twin: Twin | None = None) -> None:
        self.config = config
        self.twin = twin
        self.ctrl_topic = config.resolved_controller_topic()
        self.stats = HostStats()
        self.agents: list[HostedAgent] = []
        self._by_topic: dict[str, HostedAgent] = {}
        self._by_device: dict[str, HostedAgent] = {}
        self._links: list[MqttLink] = []
        self._unacked: dict[str, _Unacked] = {}
        # (due, sequence, msg_id): the retry loop looks at what is due, not at every notification
        # waiting for its NotifyResp (200,000 of them after a storm)
        self._retry_heap: list[tuple[float, int, str]] = []
        self._retry_seq = 0
        self._boot_bodies: dict[tuple[str, bool, str, tuple[tuple[str, str], ...]], bytes] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._last_event_id = 0
        self._closing = False

    # ------------------------------------------------------------------ building
    def add_device(self, device_id: str) -> HostedAgent:
        if self.twin is None:
            raise ValueError("twin-backed agents need a Twin")
        cfg = self.config
        sim = SimAgent(self.twin, device_id, controller_id=cfg.controller_id, persist=cfg.persist,
                       hidden=cfg.hidden_objects(), factory_subscriptions=cfg.factory_subscriptions)
        oui, pc, serial = sim.identity()
        return self._add(HostedAgent(sim.endpoint_id, cfg.topic_for(sim.endpoint_id), 0, (oui, pc, serial), sim))

    def add_lite(self, oui: str, product_class: str, serial: str) -> HostedAgent:
        ep = f"os::{oui}-{serial}"
        return self._add(HostedAgent(ep, self.config.topic_for(ep), 0, (oui, product_class, serial)))

    def _add(self, agent: HostedAgent) -> HostedAgent:
        if agent.topic in self._by_topic:
            other = self._by_topic[agent.topic].endpoint_id
            if other == agent.endpoint_id:
                raise ValueError(f"two agents share the endpoint {agent.endpoint_id}")
            raise ValueError(f"agents {other} and {agent.endpoint_id} would both listen on {agent.topic!r}: "
                             "put {endpoint} in the agent topic to host more than one")
        agent.onboarded = not self.config.onboard
        self.agents.append(agent)
        self._by_topic[agent.topic] = agent
        self._by_device[agent.device_id] = agent
        return agent

    def agent(self, device_id: str) -> HostedAgent:
        try:
            return self._by_device[device_id]
        except KeyError:
            raise KeyError(f"no simulated agent for device {device_id}") from None

    @property
    def connections(self) -> int:
        return len(self._links)

    # ------------------------------------------------------------------ start / stop
    async def start(self, *, connect_concurrency: int = 64) -> AgentHost:
        cfg = self.config
        per = 1 if cfg.dedicated else max(1, cfg.agents_per_connection)
        n_links = math.ceil(len(self.agents) / per) if self.agents else 0
        for i, agent in enumerate(self.agents):
            agent.link = i // per
        groups: list[list[HostedAgent]] = [[] for _ in range(n_links)]
        for agent in self.agents:
            groups[agent.link].append(agent)
        for k, group in enumerate(groups):
            will = None
            if cfg.dedicated:
                ep = group[0].endpoint_id
                will = Will(self._dest(group[0], self.ctrl_topic),
                            records.disconnect_record(to_id=cfg.controller_id, from_id=ep,
                                                      reason="connection lost (MQTT will)", reason_code=7003))
            self._links.append(MqttLink(
                cfg.url, client_id=f"{cfg.client_prefix}-{id(self) & 0xFFFF:x}-{k}",
                endpoint_id=group[0].endpoint_id if cfg.dedicated else None, version=cfg.mqtt_version,
                on_message=functools.partial(self._on_inbound, k), keepalive=60,
                # MQTT 5: a persistent session keeps the subscriptions across a reconnect storm;
                # MQTT 3.1.1 sessions never expire in the broker, so those start clean.
                clean_start=cfg.mqtt_version == 3, session_expiry_s=3600 if cfg.mqtt_version == 5 else 0,
                will=will, reconnect=not cfg.dedicated,
            ))
        sem = asyncio.Semaphore(connect_concurrency)

        async def up(k: int) -> None:
            async with sem:
                link = self._links[k]
                await link.connect()
                # '<topic>/#' matches '<topic>' too, and '<topic>/reply-to=...' from MQTT 3.1.1
                # controllers, so an agent on either MQTT version can be reached either way.
                await link.subscribe([a.topic + "/#" for a in groups[k]], qos=1)

        await asyncio.gather(*(up(k) for k in range(n_links)))
        if self.twin is not None:
            self._last_event_id = self.twin.last_event_id()
        self._tasks.append(asyncio.create_task(self._retry_loop()))
        if self.twin is not None and cfg.poll_interval_s:
            self._tasks.append(asyncio.create_task(self._poll_loop(cfg.poll_interval_s)))
        if cfg.persist == "batched" and cfg.flush_interval_s:
            self._tasks.append(asyncio.create_task(self._flush_loop(cfg.flush_interval_s)))
        for agent in self.agents:
            if agent.sim is not None and not agent.sim.presence_flags()[0]:
                continue  # the twin says the device is off: it stays silent
            agent.unreachable = agent.sim is not None and not agent.sim.presence_flags()[1]
            self._announce(agent, boot_cause="LocalReboot" if cfg.boot_on_start else None)
        return self

    async def _goodbye(self) -> None:
        """Stop the host's tasks and have every online agent say goodbye (a disconnect Record),
        leaving a moment for the Records to leave before the MTP's connections close."""
        self._closing = True
        for task in self._tasks:
            task.cancel()
        for agent in self.agents:
            if agent.online:
                self._publish(agent, records.disconnect_record(
                    to_id=self.config.controller_id, from_id=agent.endpoint_id, reason="agent shutting down"), 1)
                agent.online = False
        await asyncio.sleep(0.05)

    async def stop(self) -> None:
        """Agents say goodbye (disconnect Record), connections close, memory is flushed."""
        await self._goodbye()
        for link in self._links:
            await link.close(end_session=True)
        self.flush_all()

    def flush_all(self) -> int:
        n = 0
        for agent in self.agents:
            if agent.sim is not None:
                n += agent.sim.flush()
        self.stats.flushed += n
        return n

    # ------------------------------------------------------------------ publishing
    def _dest(self, agent: HostedAgent, topic: str) -> str:
        return with_reply_to(topic, agent.topic) if self.config.mqtt_version == 3 else topic

    def _publish(self, agent: HostedAgent, payload: bytes, qos: int, dest: str | None = None) -> bool:
        link = self._links[agent.link]
        topic = dest or self.ctrl_topic
        if self.config.mqtt_version == 3:
            return link.publish(with_reply_to(topic, agent.topic), payload, qos=qos, content_type=None)
        return link.publish(topic, payload, qos=qos, response_topic=agent.topic)

    def _send_msg(self, agent: HostedAgent, msg: msg_pb.Msg, *, to_id: str | None = None, dest: str | None = None,
                  qos: int = 0) -> None:
        payload = records.wrap(msg, to_id=to_id or self.config.controller_id, from_id=agent.endpoint_id)
        self._publish(agent, payload, qos, dest)

    def _notify(self, agent: HostedAgent, msg: msg_pb.Msg, *, kind: str) -> None:
        self._notify_bytes(agent, msg.header.msg_id, msg.SerializeToString(), msg.body.request.notify.send_resp,
                           kind=kind)

    def _notify_bytes(self, agent: HostedAgent, msg_id: str, msg: bytes, send_resp: bool, *, kind: str) -> None:
        payload = records.wrap_payload(msg, to_id=self.config.controller_id, from_id=agent.endpoint_id)
        self._publish(agent, payload, self.config.publish_qos)
        self.stats.notifies_sent += 1
        if send_resp:
            u = _Unacked(agent, msg_id, payload, 0, time.monotonic() + self._backoff(0), kind)
            self._unacked[u.msg_id] = u
            self._schedule_retry(u)

    def _boot_body(self, sub_id: str, send_resp: bool, root: str, params: tuple[tuple[str, str], ...]) -> bytes:
        """The serialized body of a Boot! Notify (everything but the msg_id), built once per kind:
        a storm sends the same one from every agent."""
        key = (sub_id, send_resp, root, params)
        body = self._boot_bodies.get(key)
        if body is None:
            msg = records.notify("", sub_id, send_resp=send_resp)
            ev = msg.body.request.notify.event
            ev.obj_path, ev.event_name = root, dm.BOOT_EVENT
            for k, v in params:
                ev.params[k] = v
            only_body = msg_pb.Msg()
            only_body.body.CopyFrom(msg.body)
            body = self._boot_bodies[key] = only_body.SerializeToString()
            if len(self._boot_bodies) > 1000:
                self._boot_bodies.clear()
        return body

    def _schedule_retry(self, u: _Unacked) -> None:
        self._retry_seq += 1
        heapq.heappush(self._retry_heap, (u.due, self._retry_seq, u.msg_id))

    def _backoff(self, attempt: int) -> float:
        base: float = self.config.notify_retry_min_s * (2 ** attempt)  # int ** int is typed Any
        return base * random.uniform(1.0, 1.25)

    def _announce(self, agent: HostedAgent, *, boot_cause: str | None = None, command_key: str = "",
                  firmware_updated: bool = False) -> None:
        """Connected: ``mqtt_connect`` Record, then OnBoardRequest and/or Boot! as due."""
        agent.online = True
        self._publish(agent, self._connect_record(agent), self.config.publish_qos)
        self.stats.connects_sent += 1
        if not agent.onboarded:
            oui, pc, serial = agent.identity
            msg = records.notify(records.new_msg_id("ob"), "", send_resp=True)
            ob = msg.body.request.notify.on_board_req
            ob.oui, ob.product_class, ob.serial_number = oui, pc, serial
            ob.agent_supported_protocol_versions = "1.0,1.1,1.2,1.3"
            self._notify(agent, msg, kind="onboard")
            self.stats.onboards_sent += 1
        if boot_cause is not None:
            root = agent.sim.root if agent.sim is not None else "Device."
            subs = agent.sim.subscriptions_for("Event", root + dm.BOOT_EVENT) if agent.sim is not None else None
            targets = [(s.id, s.notif_retry) for s in subs] if subs is not None else [("gw-boot", True)]
            params = (("Cause", boot_cause), ("CommandKey", command_key),
                      ("FirmwareUpdated", records.usp_value(firmware_updated)), ("ParameterMap", "{}"))
            for sub_id, retry in targets:
                msg_id = records.new_msg_id("boot")
                body = self._boot_body(sub_id, retry, root, params)
                self._notify_bytes(agent, msg_id, records.with_header(msg_id, Header.NOTIFY, body), retry,
                                   kind="boot")
                self.stats.boots_sent += 1

    def _connect_record(self, agent: HostedAgent) -> bytes:
        """What the agent says first on a new connection: its ``mqtt_connect`` Record (a WebSocket
        agent, ``executors.sim.usp_ws``, says ``websocket_connect``)."""
        return records.mqtt_connect_record(to_id=self.config.controller_id, from_id=agent.endpoint_id,
                                           subscribed_topic=agent.topic, mqtt_version=self.config.mqtt_version)

    async def _retry_loop(self) -> None:
        while not self._closing:
            await asyncio.sleep(0.5)
            now = time.monotonic()
            heap = self._retry_heap
            while heap and heap[0][0] <= now:
                _, _, msg_id = heapq.heappop(heap)
                u = self._unacked.get(msg_id)
                if u is None or u.due > now:  # answered meanwhile (or a stale entry)
                    continue
                if not u.agent.online:
                    u.due = now + self._backoff(u.attempts)
                    self._schedule_retry(u)
                    continue
                if u.attempts + 1 >= self.config.notify_retry_max:
                    del self._unacked[msg_id]
                    self.stats.notify_given_up += 1
                    log.warning("agent %s gave up on %s notification %s", u.agent.endpoint_id, u.kind, msg_id)
                    continue
                u.attempts += 1
                u.due = now + self._backoff(u.attempts)
                self._schedule_retry(u)
                self._publish(u.agent, u.payload, self.config.publish_qos)
                self.stats.notify_retries += 1

    def pending_notifications(self) -> int:
        return len(self._unacked)

    # ------------------------------------------------------------------ inbound
    def _on_inbound(self, link: int, inbound: Inbound) -> None:
        base, reply_to = split_reply_to(inbound.topic)
        agent = self._by_topic.get(base)
        if agent is None:
            self.stats.unknown_topic += 1
            return
        if not agent.online:
            self.stats.dropped_offline += 1
            return
        if inbound.content_type is not None and inbound.content_type not in USP_CONTENT_TYPES:
            self.stats.malformed += 1
            return
        try:
            decoded = records.decode(inbound.payload)
        except records.MalformedRecord as exc:
            self.stats.malformed += 1
            log.warning("agent %s dropped a malformed Record: %s", agent.endpoint_id, exc)
            return
        if decoded.to_id != agent.endpoint_id:
            self.stats.dropped_wrong_to_id += 1
            log.debug("agent %s silently dropped a Record for %r", agent.endpoint_id, decoded.to_id)
            return
        if decoded.from_id != self.config.controller_id:
            self.stats.dropped_untrusted += 1
            log.debug("agent %s silently dropped a Record from untrusted %r", agent.endpoint_id, decoded.from_id)
            return
        msg = decoded.msg
        if msg is None:
            return
        if decoded.body != "request":
            self._on_response(agent, msg, decoded.msg_id, decoded.body)
            return
        if agent.unreachable:
            self.stats.dropped_unreachable += 1
            return
        dest = inbound.response_topic or reply_to or self.ctrl_topic
        delay = agent.sim.slow_delay() if agent.sim is not None else 0.0
        if delay > 0:
            asyncio.get_running_loop().call_later(delay, self._answer, agent, msg, decoded.from_id, dest)
        else:
            self._answer(agent, msg, decoded.from_id, dest)

    def _on_response(self, agent: HostedAgent, msg: msg_pb.Msg, msg_id: str, body: str) -> None:
        u = self._unacked.pop(msg_id, None)
        if body == "error":
            self.stats.notify_rejected += 1
            log.info("controller answered %s's notification %s with error %s", agent.endpoint_id,
                     msg_id, msg.body.error.err_code)
        elif u is not None:
            self.stats.notify_acked += 1

    def _answer(self, agent: HostedAgent, msg: msg_pb.Msg, to_id: str, dest: str) -> None:
        if not agent.online or agent.unreachable:
            self.stats.dropped_offline += 1
            return
        self.stats.requests += 1
        payload: bytes | None
        actions: list[Action]
        if agent.sim is None:
            payload, actions = self._lite_answer(agent, msg).SerializeToString(), []
        else:
            try:
                outcome = agent.sim.handle(msg)
            except Exception as exc:  # a simulator bug answers 7003 rather than killing the host
                log.exception("agent %s failed on %s", agent.endpoint_id, msg.header.msg_id)
                outcome_resp = records.error(msg.header.msg_id, 7003, f"internal error: {exc}")
                self._send_msg(agent, outcome_resp, to_id=to_id, dest=dest)
                return
            payload, actions = outcome.serialized(), outcome.actions
        if actions and actions[0].kind == "goodbye":
            self._spawn(self._goodbye_on_set(agent, payload if actions[0].answer else None, to_id, dest))
            return
        if payload is not None:
            self._publish(agent, records.wrap_payload(payload, to_id=to_id, from_id=agent.endpoint_id), 0, dest)
            self.stats.responses += 1
        for action in actions:
            self._act(agent, action)

    def _lite_answer(self, agent: HostedAgent, msg: msg_pb.Msg) -> msg_pb.Msg:
        msg_id = msg.header.msg_id
        req = msg.body.request
        which = req.WhichOneof("req_type")
        if which == "get_supported_protocol":
            resp = records.response(msg_id, Header.GET_SUPPORTED_PROTO)
            resp.body.response.get_supported_protocol_resp.agent_supported_protocol_versions = "1.0,1.1,1.2,1.3"
            return resp
        if which == "get":
            oui, pc, serial = agent.identity
            known = {"Device.DeviceInfo.ManufacturerOUI": oui, "Device.DeviceInfo.ProductClass": pc,
                     "Device.DeviceInfo.SerialNumber": serial, "Device.LocalAgent.EndpointID": agent.endpoint_id}
            resp = records.response(msg_id, Header.GET)
            for path in req.get.param_paths:
                rpr = resp.body.response.get_resp.req_path_results.add(requested_path=path)
                if path in known:
                    obj, name = records.split_param(path)
                    rpr.resolved_path_results.add(resolved_path=obj).result_params[name] = known[path]
                else:
                    rpr.err_code, rpr.err_msg = 7026, f"Invalid path: {path} (identity-only simulated agent)"
            return resp
        return records.error(msg_id, 7001, "identity-only simulated agent: only Get and GetSupportedProtocol")

    def _act(self, agent: HostedAgent, action: Action) -> None:
        sim = agent.sim
        assert sim is not None
        if action.kind == "notify":
            for path, value in action.changes:
                if sim.is_hidden(path):
                    continue
                for sub in sim.subscriptions_for("ValueChange", path):
                    msg = records.notify(records.new_msg_id("vc"), sub.id, send_resp=sub.notif_retry)
                    vc = msg.body.request.notify.value_change
                    vc.param_path, vc.param_value = path, value
                    self._notify(agent, msg, kind="value_change")
        elif action.kind in ("reboot", "factory_reset"):
            self._spawn(self._reboot(agent, action.kind, action.command_key))
        elif action.kind == "async" and action.request is not None:
            self._spawn(self._run_async(agent, action.request))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.append(task)
        task.add_done_callback(lambda t: self._tasks.remove(t) if t in self._tasks else None)

    # ------------------------------------------------------------------ commands
    async def local_reset(self, device_id: str, *, factory_reset: bool = True) -> None:
        """The subscriber's reset button (or a power cycle): the agent goes away, the device resets on
        the twin and comes back with ``Boot!`` Cause ``LocalFactoryReset`` (and an OnBoardRequest)
        or ``LocalReboot`` — what a controller sees when nobody asked it to reset the device."""
        await self._reboot(self.agent(device_id), "factory_reset" if factory_reset else "reboot", "", local=True)

    async def _reboot(self, agent: HostedAgent, kind: str, command_key: str, *, local: bool = False) -> None:
        sim = agent.sim
        assert sim is not None
        await asyncio.sleep(0.01)  # the OperateResp goes out first
        await self._go_offline(agent, "reboot", graceful=True)
        agent.booting = True
        try:
            await asyncio.sleep(self.config.boot_delay_s)
            twin = sim.twin
            kept = twin.state(agent.device_id).boot_ts if self.config.process_restart else None
            try:
                sim.run_command(kind, {"CommandKey": command_key})
            except ExecutorError as exc:
                log.warning("agent %s: %s on the twin failed: %s", agent.endpoint_id, kind, exc)
            if kept is not None:  # only the agent restarted: the device's own uptime goes on
                def keep_uptime(st: DeviceState) -> None:
                    st.boot_ts, st.dirty = kept, True

                twin.transact(agent.device_id, keep_uptime)
                sim.refresh()
            sim.booted(factory_reset=kind == "factory_reset")
            if kind == "factory_reset":
                agent.onboarded = False
        finally:
            agent.booting = False
        online, reachable = sim.presence_flags()
        if not online:
            log.info("agent %s did not come back after %s (the twin keeps it offline)", agent.endpoint_id, kind)
            return
        agent.unreachable = not reachable
        origin = "Local" if local else "Remote"
        await self._go_online(agent, boot_cause=origin + ("FactoryReset" if kind == "factory_reset" else "Reboot"),
                              command_key=command_key)

    async def _run_async(self, agent: HostedAgent, request: AsyncRequest) -> None:
        sim = agent.sim
        assert sim is not None
        await asyncio.sleep(0.01)
        output: JsonObject | None = None
        failure: tuple[int, str] | None = None
        try:
            output = sim.run_command(request.name, request.args)
        except Fault as exc:
            failure = (to_usp(exc.code) if exc.code != 9010 else 7022, exc.message)
        except ExecutorError as exc:
            failure = (7022, exc.message)
        sim.requests.pop(request.instance, None)
        obj_path, _, cmd = request.command.rpartition(".")
        for sub in sim.subscriptions_for("OperationComplete", request.command):
            msg = records.notify(records.new_msg_id("oc"), sub.id, send_resp=sub.notif_retry)
            oc = msg.body.request.notify.oper_complete
            oc.obj_path, oc.command_name, oc.command_key = obj_path + ".", cmd, request.command_key
            if failure is not None:
                oc.cmd_failure.err_code, oc.cmd_failure.err_msg = failure
            else:
                assert output is not None
                oc.req_output_args.SetInParent()
                for k, v in output.items():
                    oc.req_output_args.output_args[k] = records.usp_value(v)
            self._notify(agent, msg, kind="operation_complete")
        if request.name == "download" and failure is None:
            # the new image was activated: the device rebooted on the twin; reconnect with Boot!
            await self._go_offline(agent, "firmware activation", graceful=True)
            await asyncio.sleep(self.config.boot_delay_s)
            sim.booted(factory_reset=False)
            if sim.presence_flags()[0]:
                await self._go_online(agent, boot_cause="LocalReboot", firmware_updated=True)

    async def _goodbye_on_set(self, agent: HostedAgent, payload: bytes | None, to_id: str, dest: str) -> None:
        """``goodbye_on_set``: as OB-USP-Agent when a Set changes its controller or MQTT settings
        (``MQTT_ModifyConnectedControllers``): a ``disconnect`` Record "Configuration Change" to the
        controller first, the SetResp right after it (or none), then nothing more from this agent."""
        self._publish(agent, records.disconnect_record(to_id=self.config.controller_id, from_id=agent.endpoint_id,
                                                       reason="Configuration Change"), 1)
        self.stats.disconnects_sent += 1
        await asyncio.sleep(0.05)
        if payload is not None:
            self._publish(agent, records.wrap_payload(payload, to_id=to_id, from_id=agent.endpoint_id), 0, dest)
            self.stats.responses += 1
        agent.online = False
        if self.config.dedicated:
            await asyncio.sleep(0.01)
            await self._links[agent.link].close()

    # ------------------------------------------------------------------ presence
    async def _go_offline(self, agent: HostedAgent, reason: str, *, graceful: bool) -> None:
        if not agent.online:
            return
        agent.online = False
        link = self._links[agent.link]
        if self.config.dedicated:
            if graceful:
                self._publish(agent, records.disconnect_record(
                    to_id=self.config.controller_id, from_id=agent.endpoint_id, reason=reason), 1)
                await asyncio.sleep(0.01)
                await link.close()
            else:
                await link.drop()  # the broker publishes the will
        else:
            why = reason if graceful else f"{reason} (published as its MQTT will)"
            self._publish(agent, records.disconnect_record(
                to_id=self.config.controller_id, from_id=agent.endpoint_id, reason=why,
                reason_code=0 if graceful else 7003), 1)
        self.stats.disconnects_sent += 1

    async def _go_online(self, agent: HostedAgent, *, boot_cause: str | None = None, command_key: str = "",
                         firmware_updated: bool = False) -> None:
        if self.config.dedicated:
            link = self._links[agent.link]
            if not link.connected:
                await link.connect()
        self._announce(agent, boot_cause=boot_cause, command_key=command_key, firmware_updated=firmware_updated)

    async def sync(self, device_id: str) -> HostedAgent:
        """Apply the twin's current state to one agent now (faults, presence, values)."""
        agent = self.agent(device_id)
        sim = agent.sim
        if sim is None or agent.booting:
            return agent
        sim.refresh()
        online, reachable = sim.presence_flags()
        if not online:
            await self._go_offline(agent, "connection lost", graceful=False)
        else:
            agent.unreachable = not reachable
            if not agent.online:
                await self._go_online(agent)
        return agent

    async def _poll_loop(self, interval: float) -> None:
        assert self.twin is not None
        while not self._closing:
            await asyncio.sleep(interval)
            try:
                events = self.twin.events(since_id=self._last_event_id, kinds=WATCHED_EVENTS, limit=5000)
            except Exception as exc:  # the twin's database hiccuped: try again next round
                log.warning("agent host: reading twin events failed: %s", exc)
                continue
            touched: dict[str, list[str]] = {}
            for ev in events:
                self._last_event_id = max(self._last_event_id, ev.id)
                if ev.device_id in self._by_device:
                    paths = ev.data.get("paths", []) if ev.kind == "value_change" else []
                    touched.setdefault(ev.device_id, []).extend(paths)
            for device_id, paths in touched.items():
                agent = self._by_device[device_id]
                if agent.booting:
                    continue
                await self.sync(device_id)
                if paths and agent.sim is not None and agent.online:
                    changes = [(p, records.usp_value(agent.sim.tree[p])) for p in paths if p in agent.sim.tree]
                    self._act(agent, Action("notify", changes=changes))

    async def _flush_loop(self, interval: float) -> None:
        while not self._closing:
            await asyncio.sleep(interval)
            for agent in self.agents:
                if agent.sim is not None and agent.sim._dirty:
                    self.stats.flushed += agent.sim.flush()
                    await asyncio.sleep(0)

    # ------------------------------------------------------------------ storms
    async def reconnect_storm(self) -> float:
        """Every connection drops and comes back at once; every agent announces itself again with
        ``mqtt_connect`` and a Boot! (Cause ``LocalReboot``), as after a regional power cut.
        Returns when every announcement was handed to the sockets (seconds taken)."""
        t0 = time.perf_counter()
        for agent in self.agents:
            agent.online = False
        for link in self._links:
            await link.close()
        await asyncio.gather(*(link.connect() for link in self._links))
        for i, agent in enumerate(self.agents):
            self._announce(agent, boot_cause="LocalReboot")
            if i % 500 == 0:
                await asyncio.sleep(0)  # let the sockets drain and NotifyResps in
        return time.perf_counter() - t0


# ---------------------------------------------------------------------- a process of agents


def _select_devices(twin: Twin, *, protocol: str | None, limit: int | None) -> list[str]:
    ids = []
    for state in twin.iter_states():
        if protocol and state.record.protocol != protocol:
            continue
        ids.append(state.id)
        if limit and len(ids) >= limit:
            break
    return ids


async def run_process(args: argparse.Namespace,
                      make_host: Callable[[HostConfig, Twin | None], AgentHost] = AgentHost) -> int:
    """``python -m executors.sim.usp_host``: host agents until stdin closes or ``{"cmd":"stop"}``.

    Control (JSON lines on stdin, one JSON line answered on stdout): ``stats``, ``storm``,
    ``pending``, ``flush``, ``stop``. The first stdout line reports readiness. ``make_host``: the
    agents' transport (``python -m executors.sim.usp_ws`` passes WebSocket clients).
    """
    cfg = HostConfig(
        url=args.url, controller_id=args.controller_id, mqtt_version=args.mqtt, persist=args.persist,
        agents_per_connection=args.per_connection, dedicated=args.dedicated, onboard=args.onboard,
        boot_on_start=args.boot, notify_retry_min_s=args.retry_min_s,
        flush_interval_s=args.flush_interval_s if args.flush_interval_s > 0 else None,
        poll_interval_s=0.25 if args.twin_url else None,
        agent_topic=args.agent_topic, wifi=not args.no_wifi, factory_subscriptions=not args.no_factory_subscriptions,
        firmware_image=not args.no_firmware_image,
    )
    twin = Twin(args.twin_url) if args.twin_url else None
    host = make_host(cfg, twin)
    t0 = time.perf_counter()
    if twin is not None and args.count != 0:
        for device_id in _select_devices(twin, protocol=args.protocol, limit=args.count or None):
            host.add_device(device_id)
    for i in range(args.lite):
        host.add_lite("0AF0E1", "STORMX", f"ST{args.lite_offset + i:09d}")
    built = time.perf_counter() - t0
    await host.start()
    gc.collect()
    gc.freeze()  # the agents' trees are long-lived: keep the cyclic collector from re-scanning them
    print(json.dumps({"ready": True, "agents": len(host.agents), "connections": host.connections,
                      "build_s": round(built, 3), "start_s": round(time.perf_counter() - t0, 3)}), flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            try:
                cmd = json.loads(line).get("cmd", "")
            except ValueError:
                cmd = line.decode().strip()
            if cmd == "stop":
                break
            reply: JsonObject = {"cmd": cmd}
            if cmd == "storm":
                reply["announce_s"] = round(await host.reconnect_storm(), 3)
            elif cmd == "flush":
                t1 = time.perf_counter()
                reply["flushed"] = host.flush_all()
                reply["flush_s"] = round(time.perf_counter() - t1, 3)
            reply["pending"] = host.pending_notifications()
            reply["stats"] = host.stats.as_dict()
            reply["cpu_s"] = round(time.process_time(), 3)
            print(json.dumps(reply), flush=True)
    finally:
        await host.stop()
        if twin is not None:
            twin.close()
    return 0


async def serve(host: AgentHost, *, report_every_s: float = 10.0,
                report: Callable[[str], object] = print, stop: asyncio.Event | None = None) -> None:
    """Run a started host until ``stop`` is set (or the task is cancelled), reporting its
    counters every ``report_every_s`` (``gateward usp agents`` runs this in the foreground)."""
    stop = stop or asyncio.Event()
    try:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), report_every_s)
            s = host.stats
            report(f"agents {sum(1 for a in host.agents if a.online)}/{len(host.agents)} online; "
                   f"requests {s.requests}, dropped {s.dropped_wrong_to_id + s.dropped_untrusted} untrusted/wrong-id, "
                   f"{s.dropped_offline + s.dropped_unreachable} while off; notifications {s.notifies_sent} "
                   f"({s.notify_acked} answered, {host.pending_notifications()} waiting)")
    finally:
        await host.stop()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m executors.sim.usp_host", description=run_process.__doc__)
    p.add_argument("--url", default="mqtt://127.0.0.1:1883", help="MQTT broker URL")
    p.add_argument("--twin-url", default=None, help="digital twin database URL (twin-backed agents)")
    p.add_argument("--count", type=int, default=0, help="twin devices to host (0 = none, -1 = all)")
    p.add_argument("--protocol", default=None, help="only devices of this protocol (usp/cwmp)")
    p.add_argument("--lite", type=int, default=0, help="identity-only agents to add (reconnect storms)")
    p.add_argument("--lite-offset", type=int, default=0)
    p.add_argument("--controller-id", default=DEFAULT_ENDPOINT_ID)
    p.add_argument("--mqtt", type=int, choices=(3, 5), default=5)
    p.add_argument("--persist", choices=("sync", "batched"), default="sync")
    p.add_argument("--per-connection", type=int, default=500, help="agents per shared MQTT connection")
    p.add_argument("--dedicated", action="store_true", help="one MQTT connection (with a will) per agent")
    p.add_argument("--onboard", action="store_true", help="send OnBoardRequest on first connect")
    p.add_argument("--boot", action="store_true", help="send Boot! on start (as after power-on)")
    p.add_argument("--retry-min-s", type=float, default=5.0, help="notification retry minimum wait")
    p.add_argument("--flush-interval-s", type=float, default=0.5, help="batched mode flush period (0 = at stop)")
    p.add_argument("--agent-topic", default=None,
                   help="agent topic, {endpoint}=endpoint ID (default usp/agent/{endpoint}; OB-USP-Agent: /usp/agent)")
    p.add_argument("--no-wifi", action="store_true", help="agents have no WiFi. objects")
    p.add_argument("--no-firmware-image", action="store_true",
                   help="agents have no DeviceInfo.FirmwareImage. table (no Download(); like the OB-USP-Agent)")
    p.add_argument("--no-factory-subscriptions", action="store_true",
                   help="agents ship with no LocalAgent.Subscription (like the OB-USP-Agent example)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.count < 0:
        args.count = None
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(run_process(args))
    return 130


if __name__ == "__main__":
    raise SystemExit(main())


class HostProcess:
    """Agents in a child process (``python -m executors.sim.usp_host``), driven over stdin/stdout.

    Benchmarks use it so the agents run on another CPU core than the controller under test.
    """

    def __init__(self, args: Sequence[str]) -> None:
        # agents as WebSocket clients of the controller: the same process, from usp_ws's entry point
        module = "executors.sim.usp_ws" if "--ws-url" in args else "executors.sim.usp_host"
        self.args = [sys.executable, "-m", module, *args]
        self._proc: subprocess.Popen[str] | None = None
        self._lines: queue.Queue[str | None] = None  # type: ignore[assignment]  # set by start(), before any read
        self.ready: JsonObject = {}

    def start(self, timeout: float = 600.0) -> dict[str, Any]:
        import queue
        import subprocess
        import threading

        self._proc = subprocess.Popen(self.args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        self._lines = queue.Queue()

        def pump() -> None:
            assert self._proc is not None and self._proc.stdout is not None
            for line in self._proc.stdout:
                self._lines.put(line)
            self._lines.put(None)

        threading.Thread(target=pump, name="usp-host-stdout", daemon=True).start()
        self.ready = self._read(timeout)
        return self.ready

    def _read(self, timeout: float) -> JsonObject:
        import queue

        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"the agent process said nothing within {timeout:g}s") from None
        if line is None:
            code = self._proc.wait(5) if self._proc is not None else None
            raise RuntimeError(f"the agent process exited (code {code}); run {' '.join(self.args)} to see why")
        result: JsonObject = json.loads(line)
        return result

    def command(self, cmd: str, timeout: float = 600.0) -> dict[str, Any]:
        assert self._proc is not None and self._proc.stdin is not None
        self._proc.stdin.write(json.dumps({"cmd": cmd}) + "\n")
        self._proc.stdin.flush()
        return self._read(timeout)

    def stop(self, timeout: float = 30.0) -> None:
        if self._proc is None:
            return
        with contextlib.suppress(Exception):
            assert self._proc.stdin is not None
            self._proc.stdin.write(json.dumps({"cmd": "stop"}) + "\n")
            self._proc.stdin.close()
        try:
            self._proc.wait(timeout)
        except Exception:
            self._proc.kill()
            self._proc.wait(5)
        self._proc = None

    def __enter__(self) -> HostProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def make_twin_fleet(url: str, count: int, *, model: str = "prplnet-px7000-1.3", region: str = "DE",
                    prefix: str = "PX7K") -> list[str]:
    """A twin database holding ``count`` devices of one model (for benchmarks); returns their ids."""
    twin = Twin(url)
    try:
        twin.reset()
        return [twin.add_device(model, f"{prefix}{i:08d}", region=region).id for i in range(count)]
    finally:
        twin.close()
