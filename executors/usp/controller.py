"""The USP controller: one MQTT connection, every agent's presence, requests matched by ``msg_id``.

What it does (TR-369 over MQTT):

* **Presence.** An agent is *connected* once any Record from it arrived — normally its
  ``mqtt_connect`` Record, which also tells us its topic and MQTT version — and stays so until a
  ``disconnect`` Record (sent by the agent, or published by the broker as its MQTT will). A request
  that goes unanswered marks the agent *unanswered* until it is heard from again.
* **Requests.** ``no_session_context`` Records to the agent's topic, MQTT 5 Response Topic = our
  topic (or, for MQTT 3.1.1 agents, the ``/reply-to=`` topic convention). Responses are matched by
  ``msg_id`` (and must come from the agent asked); an unknown or duplicate ``msg_id`` is counted and
  dropped. No answer within the timeout raises :class:`UspTimeout` — a real agent silently drops a
  Record whose ``to_id`` or ``from_id`` it does not accept, so a timeout is the only symptom.
* **Notifications.** A Notify with ``send_resp`` is answered with a NotifyResp carrying the same
  ``msg_id`` and ``subscription_id``. Boot!, OnBoardRequest, ValueChange, OperationComplete and other
  events become :class:`UspEvent` objects, delivered to listeners and :meth:`UspController.events`
  iterators (each has its own unbounded queue: a slow consumer delays, never loses, events).
  Retransmitted notifications (same ``msg_id``) are answered again but delivered once.
* **Several processes**: with MQTT 5 every process of one controller endpoint joins the
  shared subscription ``$share/<group>/<topic>/#`` (``GATEWARD_USP_SHARE_GROUP``, default
  ``gateward``; ``off`` disables it) — those that consume notifications (``add_listener(...,
  consumer=True)``; others subscribe plainly) — so each agent publish reaches one of them; responses come back
  on the asking process's own reply topic; presence and awaited notifications are relayed between
  the processes (:mod:`executors.usp.cluster`). An MQTT 3.1.1 controller keeps plain subscriptions.
* **Nothing lost while every process is down**: with ``session_expiry_s`` one member
  holds the group's persistent session (Clean Start 0, that Session Expiry Interval, a QoS 1 member
  of the shared subscription), where the broker queues agents' connect Records and notifications
  while no member is connected; a process outside the group answers no notification a member
  answers (:mod:`executors.usp.cluster`, "The group's session").

Everything runs on one asyncio loop and never blocks it, so thousands of agents can be in
conversation at once. Bad input (malformed protobuf, wrong ``to_id``, unknown ``msg_id``) is
counted in :attr:`UspController.stats` and logged, never raised into the loop.

**A façade over phase modules** (as ``core.lifecycle`` is): this class holds the state (``__init__``)
and binds each method to the one function that does it, grouped by phase — ``ctl_session`` (start,
stop, the group's session), ``ctl_events`` (agents, listeners, waits), ``ctl_inbound`` (what arrives
over MQTT, answers taken from the wire), ``ctl_websocket`` (the WebSocket MTP), ``ctl_cluster`` (the
other processes, topics, another installation), ``ctl_requests`` (requests and the typed ones) — and
``controller_types`` holds its types. A method is its function itself (no call in between: the
request and answer paths are hot), so the class body below names, for every method, where it lives.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from core.kernel.ports.topics import AgentTopics
from executors.usp import (
    cluster,
    ctl_cluster,
    ctl_events,
    ctl_inbound,
    ctl_requests,
    ctl_session,
    ctl_websocket,
    records,
)
from executors.usp import mqtt_wire as wire
from executors.usp.controller_types import (
    _TYPE_NAMES,
    DEFAULT_ENDPOINT_ID,
    GONE_GRACE_S,
    AgentGoneMidRequest,
    AgentOffline,
    AgentState,
    ControllerStats,
    EventKind,
    RecentKeys,
    SyncWaiter,
    UspEvent,
    UspTimeout,
    _Deadlines,
    _Pending,
)
from executors.usp.mqtt import MqttLink
from executors.usp.topics import DEFAULT_AGENT_TOPICS, controller_topic, topic_level
from executors.usp.transport import Transport

if TYPE_CHECKING:  # the WebSocket MTP (and the websockets library) loads only when it is used

    from executors.usp.websocket import WsServer


class UspController:
    """A USP controller on one MQTT connection (see the module docstring).

``mqtt_version=3`` makes the controller itself an MQTT 3.1.1 client (every agent is then
addressed with ``/reply-to=`` topics); with MQTT 5 it still talks to 3.1.1 agents that way."""

    def __init__(
        self,
        url: str,
        *,
        endpoint_id: str = DEFAULT_ENDPOINT_ID,
        topic: str | None = None,
        mqtt_version: int = 5,
        request_timeout_s: float = 10.0,
        client_id: str | None = None,
        split_replies: bool = True,
        topics: AgentTopics | None = None,
        share_group: str | None = "$env",
        process_id: str | None = None,
        interest_ttl_s: float = 900.0,
        session_expiry_s: int = 0,
        agent_topics: tuple[str, ...] = DEFAULT_AGENT_TOPICS,
        installation: str = "",
    ) -> None:
        self.url = url  # may carry a password: messages and logs name self.link.url (without it)
        #: the installation this process belongs to (:func:`cluster.installation_id`; empty: not said)
        self.installation = installation
        #: another installation heard answering to this endpoint ID (:meth:`_on_hello`), in words
        self.rival = ""
        #: topic templates tried at once by :meth:`probe` for an agent whose topic was never learnt
        self.agent_topics = agent_topics
        #: connections an agent opened whose handshake named it but which sent no valid Record yet
        self._quiet_links: weakref.WeakSet[Transport] = weakref.WeakSet()
        self.topics = topics  # where agents listen, shared with every other process (agent_topics)
        self.endpoint_id = endpoint_id
        self.topic = topic or controller_topic(endpoint_id)
        self.mqtt_version = mqtt_version
        group = cluster.share_group_from_env() if share_group == "$env" else share_group
        if group is not None and cluster.group_problem(group):
            raise ValueError(f"share group {group!r}: {cluster.group_problem(group)}")
        # MQTT 5 only: 3.1.1 has no shared subscriptions (every process then hears everything)
        self.share_group = group if mqtt_version == 5 else None
        self.process_id = process_id or cluster.new_process_id()
        self.interest_ttl_s = interest_ttl_s
        self._interests = cluster.Interests()
        self._announced: dict[str, float] = {}  # endpoint -> when our interest expires at the others
        self._interest_held: dict[str, int] = {}  # endpoint -> waits of ours (expect(..., endpoint_id)) open
        self._holding: dict[asyncio.Future[UspEvent], str] = {}
        self.cluster_topic = cluster.cluster_topic(endpoint_id)
        # the group's persistent session: 0 = none (every connection starts clean)
        self.session_expiry_s = int(session_expiry_s) if self.share_group is not None else 0
        self.inbox_topic = cluster.inbox_topic(endpoint_id)
        self.inbox: MqttLink | None = None  # this process's hold on the group's session, while it has it
        self.group_live = False  # a member holds the group's session (its retained note says so)
        self._taking = False
        # Only processes that *consume* notifications (``add_listener(..., consumer=True)``: the
        # event ingest of ``gateward run`` / ``gateward worker``) join the shared group; any other
        # process (a CLI command, a test rig) subscribes plainly and so still hears everything.
        self.member = False
        self._want_member = False
        # Responses come back on their own topic and connection, so a burst of notifications
        # queued on the main topic never sits in front of the answer to a request. Shared: a
        # topic per process, so the answer reaches the process that asked and no other.
        if self.share_group is not None:
            self.reply_topic = cluster.reply_topic(endpoint_id, self.process_id)
        else:
            self.reply_topic = f"usp/controller-reply/{topic_level(endpoint_id)}" if split_replies else self.topic
        self.request_timeout_s = request_timeout_s
        # where other processes forward notifications we wait for (shared subscriptions only)
        self._forward_topic = self.reply_topic + cluster.FORWARD_SUFFIX if self.share_group is not None else None
        self.stats = ControllerStats()
        self._agents: dict[str, AgentState] = {}
        # agents heard addressing another controller: endpoint ID -> the controller they named
        self._foreign: OrderedDict[str, str] = OrderedDict()
        self._connected_n = 0
        self._pending: dict[str, _Pending] = {}
        # agents that (re)connected while requests were pending: endpoint ID -> when (monotonic); the
        # reads sent to them before then are sent again once per loop turn (:meth:`_resend_reads`)
        self._reconnected: dict[str, float] = {}
        self._deadlines: _Deadlines | None = None
        self._count_lock = threading.Lock()  # request_threadsafe counts from other threads
        self._reply_to_topics: dict[str, dict[str, str]] = {}  # reply topic -> agent topic -> the 3.1.1 topic
        self._request_heads: dict[str, tuple[str, int, bytes]] = {}  # endpoint ID -> _request_head(...)
        self._addressed_to = records.addressed_to(endpoint_id)  # what Records addressed to us hold (peek_answer)
        # an agent's answers: what they start with (topic field, MQTT 5 property block) -> (the Record up to the end of
        # from_id, the agent's state, the topic, its Response Topic, and where it says it listens: topic,
        # MQTT version, how it said it): see _answer_from_wire
        self._senders: dict[bytes, tuple[bytes, AgentState, str, str | None, str | None, int, str, list[Any]]] = {}
        self._reply_to_of: dict[str, str | None] = {}  # a received 3.1.1 topic -> its /reply-to= topic
        self._done_ids = RecentKeys(50_000)  # recently answered msg_ids
        # recently delivered notifications, as "<len(msg_id)>:<msg_id><endpoint ID>" (unambiguous)
        self._seen_notifies = RecentKeys(400_000)
        self._listeners: list[Callable[[UspEvent], None]] = []
        self._listening: tuple[Callable[[UspEvent], None], ...] = ()  # a snapshot, iterated per event
        self._waiters: list[tuple[Callable[[UspEvent], bool], asyncio.Future[UspEvent]]] = []
        self.recent_events: deque[UspEvent] = deque(maxlen=2000)
        self._malformed_logged = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self.started = False
        self.ws_servers: list[WsServer] = []  # the WebSocket MTP's servers (serve_websocket)
        self._ws_tasks: set[asyncio.Task[None]] = set()  # connections this controller opened to agents
        cid = client_id or f"gw-controller-{id(self) & 0xFFFFFF:x}"
        self.link = MqttLink(url, client_id=cid, endpoint_id=endpoint_id, version=mqtt_version,
                             on_message=self._on_message, keepalive=30)
        self.reply_link = (
            MqttLink(url, client_id=cid + "-r", endpoint_id=endpoint_id, version=mqtt_version,
                     on_message=self._on_message, keepalive=30)
            if split_replies else self.link
        )
        self._answers_v5 = self.reply_link.version == 5
        self._reply_field = wire.topic_field(self.reply_topic)  # the reply topic as a PUBLISH carries it
        self.reply_link.on_publish = self._answers_from_wire

    # ctl_session
    start = ctl_session.start
    stop = ctl_session.stop
    _join_group = ctl_session.join_group
    _consider_inbox = ctl_session.consider_inbox
    _retake = ctl_session.retake
    _take_inbox = ctl_session.take_inbox
    _holds = ctl_session.holds
    _publish_inbox_note = ctl_session.publish_inbox_note
    _inbox_connection = ctl_session.inbox_connection
    _release_inbox = ctl_session.release_inbox
    _on_inbox_note = ctl_session.on_inbox_note
    _subscribe_shared = ctl_session.subscribe_shared
    _ensure_loop = ctl_session.ensure_loop
    # ctl_events
    agent = ctl_events.agent
    agents = ctl_events.agents
    connected_count = ctl_events.connected_count
    _state = ctl_events.state
    add_listener = ctl_events.add_listener
    remove_listener = ctl_events.remove_listener
    events = ctl_events.events_iter
    expect = ctl_events.expect
    cancel_expectation = ctl_events.cancel_expectation
    _emit = ctl_events.emit
    _wake = ctl_events.wake
    # ctl_inbound
    _on_message = ctl_inbound.on_message
    _answers_from_wire = ctl_inbound.answers_from_wire
    _answer_from_wire = ctl_inbound.answer_from_wire
    _sender = ctl_inbound.sender
    _heard = ctl_inbound.heard
    _malformed = ctl_inbound.malformed
    _reply_to_in = ctl_inbound.reply_to_in
    _on_msg = ctl_inbound.on_msg
    _settle = ctl_inbound.settle
    _remember_done = ctl_inbound.remember_done
    _on_notify = ctl_inbound.on_notify
    _deliver_notify = ctl_inbound.deliver_notify
    # ctl_websocket
    serves_websocket = property(ctl_websocket.serves_websocket)
    serve_websocket = ctl_websocket.serve_websocket
    connect_websocket = ctl_websocket.connect_websocket
    keep_websocket = ctl_websocket.keep_websocket
    on_transport_open = ctl_websocket.on_transport_open
    _bind = ctl_websocket.bind
    _announce = ctl_websocket.announce
    on_transport_record = ctl_websocket.on_transport_record
    on_transport_closed = ctl_websocket.on_transport_closed
    # ctl_cluster
    _publish_note = ctl_cluster.publish_note
    _relay_presence = ctl_cluster.relay_presence
    announce_interest = ctl_cluster.announce_interest
    withdraw_interest = ctl_cluster.withdraw_interest
    _say_hello = ctl_cluster.say_hello
    _on_hello = ctl_cluster.on_hello
    _on_cluster = ctl_cluster.on_cluster
    _learn_topic = ctl_cluster.learn_topic
    address_at = ctl_cluster.address_at
    _note_foreign = ctl_cluster.note_foreign
    foreign_controller = ctl_cluster.foreign_controller
    mismatch = ctl_cluster.mismatch
    _recall_topic = ctl_cluster.recall_topic
    _note_reconnect = ctl_cluster.note_reconnect
    _resend_reads = ctl_cluster.resend_reads
    _agent_gone = ctl_cluster.agent_gone
    # ctl_requests
    _send = ctl_requests.send
    _publish_record = ctl_requests.publish_record
    _publish_request = ctl_requests.publish_request
    _request_head = ctl_requests.request_head
    _reply_to_topic = ctl_requests.reply_to_topic
    request = ctl_requests.request
    _request = ctl_requests.dispatch
    _send_request = ctl_requests.send_request
    _enqueue = ctl_requests.enqueue
    request_threadsafe = ctl_requests.request_threadsafe
    _gone_error = staticmethod(ctl_requests.gone_error)
    _expire = ctl_requests.expire
    get = ctl_requests.get_params
    set = ctl_requests.set_params
    add = ctl_requests.add_object
    delete = ctl_requests.delete_objects
    operate = ctl_requests.operate_command
    get_supported_dm = ctl_requests.get_supported_dm
    get_instances = ctl_requests.get_instances
    get_supported_protocol = ctl_requests.get_supported_protocol
    probe = ctl_requests.probe
    _probe_conventions = ctl_requests.probe_conventions
    subscribe = ctl_requests.subscribe


__all__ = [
    "DEFAULT_ENDPOINT_ID",
    "GONE_GRACE_S",
    "_TYPE_NAMES",
    "AgentGoneMidRequest",
    "AgentOffline",
    "AgentState",
    "ControllerStats",
    "EventKind",
    "RecentKeys",
    "SyncWaiter",
    "UspController",
    "UspEvent",
    "UspTimeout",
    "_Deadlines",
]
