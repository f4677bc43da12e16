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
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import random
import threading
import time
import weakref
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from google.protobuf.message import DecodeError

from core.kernel.ports.topics import AgentTopics
from executors.usp import cluster, records
from executors.usp import mqtt_wire as wire
from executors.usp.errors import UspError
from executors.usp.mqtt import _PUBLISH_QOS0_HEADS, USP_CONTENT_TYPES, Inbound, MqttError, MqttLink, Will
from executors.usp.proto import msg_pb, record_pb
from executors.usp.records import Header
from executors.usp.topics import (
    DEFAULT_AGENT_TOPICS,
    REPLY_TO,
    agent_topic,
    controller_topic,
    conventional_topics,
    split_reply_to,
    topic_level,
    with_reply_to,
)
from executors.usp.transport import Transport

if TYPE_CHECKING:  # the WebSocket MTP (and the websockets library) loads only when it is used
    import ssl

    from executors.usp.websocket import WsServer, WsSettings

log = logging.getLogger(__name__)

DEFAULT_ENDPOINT_ID = "proto::controller-gateward"

EventKind = Literal[
    "connect", "disconnect", "boot", "onboard", "value_change", "operation_complete", "event",
    "object_creation", "object_deletion",
]


class AgentOffline(ConnectionError):
    """The agent is not connected (it said goodbye, or the broker published its will)."""

    def __init__(self, endpoint_id: str, detail: str) -> None:
        super().__init__(f"USP agent {endpoint_id} is not connected: {detail}")
        self.endpoint_id = endpoint_id
        self.detail = detail


class AgentGoneMidRequest(AgentOffline):
    """The agent said goodbye (or its will came) after a request that may change it was sent, and
    its answer did not come: it may have carried the request out. OB-USP-Agent does this on a Set of
    its controller or MQTT settings — the ``disconnect`` Record first, the SetResp after it — so an
    Add, Delete, Set or Operate in flight is an unknown outcome, never "nothing sent"."""


class UspTimeout(TimeoutError):
    def __init__(self, endpoint_id: str, msg_id: str, timeout_s: float, what: str, diagnosis: str = "") -> None:
        super().__init__(
            f"agent {endpoint_id} did not answer {what} msg_id {msg_id} within {timeout_s:g}s — "
            + (diagnosis or "a real agent drops records with a wrong endpoint ID silently (check its EndpointID "
                            "and its controller trust), or it is busy or gone")
        )
        self.diagnosis = diagnosis
        self.endpoint_id = endpoint_id
        self.msg_id = msg_id
        self.timeout_s = timeout_s


@dataclass(slots=True)  # one per agent: 200,000 after a storm
class AgentState:
    """What the controller knows about one agent endpoint."""

    endpoint_id: str
    topic: str
    mqtt_version: int = 5
    connected: bool | None = None  # None: not heard from since this controller started
    last_seen: float | None = None
    connected_since: float | None = None
    disconnect_reason: str = ""
    unanswered: str | None = None  # what went unanswered since it was last heard from
    usp_versions: str = ""
    boots: int = 0
    last_boot: dict[str, str] = field(default_factory=dict)
    identity: dict[str, str] = field(default_factory=dict)  # from OnBoardRequest
    topic_source: str = "convention"  # how ``topic`` was learnt: convention, stored, mqtt_connect, ...
    topic_looked_up: bool = False  # the stored topic was asked for (once per process and agent)
    addressed_to: str = ""  # the controller endpoint ID the agent's records name (its configured controller)
    presence_at: float = 0.0  # when its connect/disconnect was last heard (here or relayed): orders relays
    # the connection it is on when that is not MQTT (a WebSocket): what is sent to it goes there
    mtp: Transport | None = None


@dataclass(frozen=True, slots=True)
class UspEvent:
    kind: EventKind
    endpoint_id: str
    ts: float
    data: dict[str, Any] = field(default_factory=dict)
    subscription_id: str = ""
    msg_id: str = ""


_EVENT_SLOTS = tuple(UspEvent.__dict__[f].__set__
                     for f in ("kind", "endpoint_id", "ts", "data", "subscription_id", "msg_id"))


def _event(kind: EventKind, endpoint_id: str, ts: float, data: dict[str, Any], subscription_id: str = "",
           msg_id: str = "") -> UspEvent:
    """``UspEvent(...)`` for the ingest path: the same frozen object, its slots filled directly.

    Why: a frozen dataclass's ``__init__`` sets every field through ``object.__setattr__`` — about
    three times the cost of this, and one event is made per Record in a storm of 400,000."""
    e: UspEvent = object.__new__(UspEvent)
    k, ep, t, d, sub, mid = _EVENT_SLOTS
    k(e, kind)
    ep(e, endpoint_id)
    t(e, ts)
    d(e, data)
    sub(e, subscription_id)
    mid(e, msg_id)
    return e


class RecentKeys:
    """A bounded "seen recently?" set: the last ``size`` to ``2 * size`` keys added are members.

    Why not an ``OrderedDict`` trimmed one entry at a time: two plain sets, the older dropped whole
    when the newer fills, cost one hash per add and nothing per eviction — and, holding only
    strings, nothing for the cyclic garbage collector to scan (a storm adds one key per agent)."""

    __slots__ = ("_new", "_old", "size")

    def __init__(self, size: int) -> None:
        self.size = size
        self._new: set[str] = set()
        self._old: set[str] = set()

    def __contains__(self, key: str) -> bool:
        return key in self._new or key in self._old

    def add(self, key: str) -> None:
        new = self._new
        new.add(key)
        if len(new) >= self.size:
            self._old, self._new = new, set()

    def __len__(self) -> int:
        return len(self._new) + len(self._old)


@dataclass
class ControllerStats:
    records_in: int = 0
    requests_sent: int = 0  # from the loop's thread, which alone writes it (no lock per request)
    requests_sent_threadsafe: int = 0  # by request_threadsafe's callers, under the controller's count lock
    responses: int = 0
    malformed: int = 0
    wrong_to_id: int = 0
    not_usp: int = 0
    unknown_msg_id: int = 0
    duplicate_responses: int = 0
    wrong_sender: int = 0
    timeouts: int = 0
    notifies: int = 0
    duplicate_notifies: int = 0
    notify_resp_sent: int = 0
    events: int = 0
    connects: int = 0
    disconnects: int = 0
    topic_lookups: int = 0
    cluster_in: int = 0  # relays from the other processes of this endpoint
    cluster_bad: int = 0
    forwarded_out: int = 0  # notifications forwarded to a process waiting for them
    forwarded_in: int = 0
    resent_reads: int = 0  # reads sent again because the agent reconnected before answering them
    ws_connects: int = 0  # agents that came on a WebSocket connection
    ws_disconnects: int = 0

    @property
    def requests_out(self) -> int:
        """Requests sent, from any thread."""
        return self.requests_sent + self.requests_sent_threadsafe

    def as_dict(self) -> dict[str, int]:
        counts = dict(self.__dict__)
        counts["requests_out"] = counts.pop("requests_sent") + counts.pop("requests_sent_threadsafe")
        return counts


class _Waiter(Protocol):
    """What a pending request is completed through: an ``asyncio.Future`` on the loop, or a
    :class:`SyncWaiter` for a caller on another thread. Its result is the answer Message, or the
    SetResp alone for a request of :meth:`UspController.set` (``_Pending.set_resp``)."""

    def done(self) -> bool: ...
    def set_result(self, result: Any, /) -> None: ...
    def set_exception(self, exception: BaseException, /) -> None: ...


class SyncWaiter:
    """The answer to a request sent from a thread other than the loop's (see
    :meth:`UspController.request_threadsafe`): completed on the loop, waited for by the caller
    on a lock — one wake-up, where handing the whole request to the loop would cost two."""

    __slots__ = ("_exc", "_lock", "_result")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lock.acquire()
        self._result: msg_pb.Msg | None = None
        self._exc: BaseException | None = None

    def done(self) -> bool:
        return self._result is not None or self._exc is not None

    def set_result(self, result: msg_pb.Msg, /) -> None:
        if not self.done():
            self._result = result
            self._lock.release()

    def set_exception(self, exception: BaseException, /) -> None:
        if not self.done():
            self._exc = exception
            self._lock.release()

    def wait(self, timeout: float) -> bool:
        return self._lock.acquire(timeout=max(0.0, timeout))

    def result(self) -> msg_pb.Msg:
        if self._exc is not None:
            raise self._exc
        assert self._result is not None
        return self._result


@dataclass(slots=True)
class _Pending:
    endpoint_id: str
    future: _Waiter
    msg_type: int
    sent_at: float
    # the serialized request Message: a read (:data:`_READS`) is sent again if the agent reconnects
    # before answering (:meth:`UspController._resend_reads`); kept for every request, the type is
    # checked only then (nothing more per request than a reference)
    payload: bytes = b""
    gone: str = ""  # the goodbye heard while this change waited for its answer (:data:`GONE_GRACE_S`)
    # the waiter wants the SetResp alone (:meth:`UspController.set`): the answer's SetResp is parsed
    # by itself, without the Message, Body and Response around it
    set_resp: bool = False

    @property
    def what(self) -> str:
        return _TYPE_NAMES.get(self.msg_type, str(self.msg_type))


_TYPE_NAMES: dict[int, str] = {int(v): k for k, v in Header.MsgType.items()}
_OPERATE = int(Header.OPERATE)  # a plain int: protobuf's enum wrapper resolves names in Python
_SET = int(Header.SET)
# Requests that change nothing on the agent: the only ones sent a second time when the agent reconnects
# while they wait (an Add, Delete, Operate or Set may have been carried out before the connection went).
_READS = frozenset(int(t) for t in (Header.GET, Header.GET_SUPPORTED_DM, Header.GET_INSTANCES,
                                    Header.GET_SUPPORTED_PROTO))
_MQTT_V5 = int(record_pb.MQTTConnectRecord.V5)
# How long a Set, Add or Delete in flight still waits for its answer after the agent's goodbye: the
# answer can follow the goodbye (OB-USP-Agent sends its SetResp right after a "Configuration Change"
# disconnect Record), and an answer heard is a fact, a lost one an unknown outcome.
GONE_GRACE_S = 2.0
_LEARNT = frozenset({"mqtt_connect", "response_topic", "reply_to"})  # topic sources heard from the agent itself


class _Deadlines:
    """Request timeouts without a loop timer per request: one queue per distinct timeout (each is
    then in deadline order by construction) and one timer, for the earliest deadline. Answered
    requests are skipped when their deadline comes (``expire`` is a no-op for them), and a queue
    much longer than the requests still pending is compacted, so memory stays bounded.

    Why: ``loop.call_later`` + ``cancel`` per request was ~9 % of the controller's CPU under the
    fan-out benchmark (a TimerHandle, a heap push, and the heap clean-up of cancelled ones). A queue
    is two deques, deadlines and msg_ids, rather than one of ``(deadline, msg_id)`` tuples: floats
    and strings are nothing for the cyclic garbage collector, where a tuple per request kept it
    running a young collection every ~700 requests and promoting the requests in flight to the old
    generation — whose full collections were most of the collector's time, a tenth of the
    controller's CPU under a fan-out."""

    def __init__(self, loop: asyncio.AbstractEventLoop, pending: Mapping[str, object],
                 expire: Callable[[str], None]) -> None:
        self.loop = loop
        self._pending = pending
        self._expire = expire
        self._queues: dict[float, tuple[deque[float], deque[str]]] = {}
        self._fresh: dict[float, list[str]] = {}  # add_soon's, per timeout, until the end of the turn
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf

    def add(self, msg_id: str, timeout: float) -> None:
        at = self.loop.time() + timeout
        q = self._queues.get(timeout)
        if q is None:
            q = self._queues[timeout] = (deque(), deque())
        ats, ids = q
        ats.append(at)
        ids.append(msg_id)
        pending = self._pending
        while ids[0] not in pending:  # answered (the request just added is pending: this stops)
            ats.popleft()
            ids.popleft()
        if len(ids) > 2 * len(pending) + 1024:
            self._compact(timeout)
        if at < self._timer_at:
            self._arm(at)

    def _compact(self, timeout: float) -> None:
        """Drop the answered requests from ``timeout``'s queue (rare: only when it has grown past
        twice what is pending; the hot path only pops answered ones off its head)."""
        ats, ids = self._queues[timeout]
        keep = [i for i, m in enumerate(ids) if m in self._pending]
        self._queues[timeout] = (deque(ats[i] for i in keep), deque(ids[i] for i in keep))

    def add_soon(self, msg_id: str, timeout: float) -> None:
        """:meth:`add`, done with every other request sent in this loop turn once the turn's callbacks
        have run: one clock read and one extend for all of them. Why: a fan-out sends hundreds of
        requests per turn, and :meth:`add` per request was a sixteenth of the controller's CPU per
        Set; a deadline that starts a turn later is none the worse."""
        fresh = self._fresh.get(timeout)
        if fresh is None:
            fresh = self._fresh[timeout] = []
            if len(self._fresh) == 1:
                self.loop.call_soon(self._add_fresh)
        fresh.append(msg_id)

    def _add_fresh(self) -> None:
        fresh, self._fresh = self._fresh, {}
        now = self.loop.time()
        pending = self._pending
        for timeout, new in fresh.items():
            at = now + timeout
            q = self._queues.get(timeout)
            if q is None:
                q = self._queues[timeout] = (deque(), deque())
            ats, ids = q
            ats.extend(itertools.repeat(at, len(new)))
            ids.extend(new)
            while ids and ids[0] not in pending:  # answered already (a busy turn)
                ats.popleft()
                ids.popleft()
            if len(ids) > 2 * len(pending) + 1024:
                self._compact(timeout)
            if at < self._timer_at:
                self._arm(at)

    def _arm(self, at: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = at
        self._timer = self.loop.call_at(at, self._fire)

    def _fire(self) -> None:
        self._timer, self._timer_at = None, math.inf
        now = self.loop.time()
        earliest = math.inf
        due: list[tuple[float, str]] = []
        for timeout, (ats, ids) in list(self._queues.items()):
            while ats and ats[0] <= now:
                due.append((ats.popleft(), ids.popleft()))
            if ats:
                earliest = min(earliest, ats[0])
            else:
                del self._queues[timeout]
        if len(due) > 1:  # a late timer (a busy loop) finds several queues due: still deadline order
            due.sort()
        for _, msg_id in due:
            self._expire(msg_id)
        if earliest < math.inf and earliest < self._timer_at:
            self._arm(earliest)

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._timer_at = None, math.inf
        self._queues.clear()
        self._fresh.clear()


def _usp_error(resp: msg_pb.Msg) -> UspError:
    """The :class:`UspError` an Error Message stands for."""
    e = resp.body.error
    return UspError(int(e.err_code), e.err_msg, [(p.param_path, int(p.err_code), p.err_msg) for p in e.param_errs])


class UspController:
    """A USP controller on one MQTT connection (see the module docstring).

    ``mqtt_version=3`` makes the controller itself an MQTT 3.1.1 client (every agent is then
    addressed with ``/reply-to=`` topics); with MQTT 5 it still talks to 3.1.1 agents that way.
    """

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
    ) -> None:
        self.url = url  # may carry a password: messages and logs name self.link.url (without it)
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

    # ------------------------------------------------------------------ lifecycle
    async def start(self, timeout: float = 10.0) -> UspController:
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

    async def stop(self) -> None:
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

    # ------------------------------------------------------------------ presence
    def agent(self, endpoint_id: str) -> AgentState | None:
        return self._agents.get(endpoint_id)

    def agents(self) -> list[AgentState]:
        return list(self._agents.values())

    def connected_count(self) -> int:
        """How many agents are connected now (a counter: safe to read from any thread)."""
        return self._connected_n

    def _state(self, endpoint_id: str) -> AgentState:
        st = self._agents.get(endpoint_id)
        if st is None:
            st = AgentState(endpoint_id=endpoint_id, topic=agent_topic(endpoint_id))
            self._agents[endpoint_id] = st
        return st

    # ------------------------------------------------------------------ events
    def add_listener(self, listener: Callable[[UspEvent], None], *, consumer: bool = False) -> None:
        """``consumer``: the listener handles (stores) notifications for the whole controller
        endpoint, so this process joins the shared subscription group (MQTT 5, see the module
        docstring) — at once if the controller is running, else when it starts."""
        self._listeners.append(listener)
        self._listening = tuple(self._listeners)
        if consumer and self.share_group is not None and not self._want_member:
            self._want_member = True
            if self.started and self._loop is not None:
                self._loop.create_task(self._join_group())

    async def _join_group(self) -> None:
        """Switch from the plain subscription to the shared one (a publish arriving on both in
        between is delivered once: the msg_id check)."""
        if await self._subscribe_shared(10.0):
            await self.link.unsubscribe([self.topic + "/#"])
            self._consider_inbox()

    # ------------------------------------------------------------------ the group's session
    def _consider_inbox(self) -> None:
        """Take the group's session if nobody holds it — after a short random pause, so that the
        retained note (who holds it) has arrived and the members do not all try at once. Why not
        simply take it over: Mosquitto 2.0 closes the older connection without saying why, so a
        holder cannot tell a takeover from a lost connection, and two holders reconnecting would take
        it from each other forever; the note settles who holds it instead."""
        if self.member and self.session_expiry_s and self.started and not self._holds() and self._loop is not None:
            self._loop.call_later(random.uniform(0.2, 1.0), self._retake)

    def _retake(self) -> None:
        if not self.group_live and self.started and not self._holds() and self._loop is not None:
            self._loop.create_task(self._take_inbox(10.0))

    async def _take_inbox(self, timeout: float) -> None:
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

    def _holds(self) -> bool:
        """Whether this process holds the group's session now."""
        return self.inbox is not None and self.inbox.connected

    def _publish_inbox_note(self) -> None:
        self.group_live = True
        self.link.publish(self.inbox_topic, cluster.ClusterNote("inbox", self.process_id, self.endpoint_id,
                                                                at=time.time()).encode(),
                          qos=1, content_type=cluster.CLUSTER_CONTENT_TYPE, retain=True)

    def _inbox_connection(self, up: bool) -> None:
        if not up and self.inbox is not None and not self.inbox.connected:
            log.info("lost the controller group's MQTT session; a member takes it again when its note clears")
            self.inbox = None

    async def _release_inbox(self) -> None:
        """Stop holding the group's session, keeping it (and what the broker queues for it): the note
        is cleared so another member takes it over, or the next to start does."""
        link, self.inbox = self.inbox, None
        if link is None:
            return
        if link.connected and self.link.connected:
            self.link.publish(self.inbox_topic, b"", qos=1, content_type=cluster.CLUSTER_CONTENT_TYPE, retain=True)
        await link.close()

    def _on_inbox_note(self, inbound: Inbound) -> None:
        """The retained note changed: a member holds the group's session (or nobody does: a member
        takes it over, after a short random pause so the members do not all try at once)."""
        if inbound.payload:
            self.group_live = True
            return
        self.group_live = False
        self._consider_inbox()

    async def _subscribe_shared(self, timeout: float) -> bool:
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
        return True

    def remove_listener(self, listener: Callable[[UspEvent], None]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)
            self._listening = tuple(self._listeners)

    async def events(self) -> AsyncIterator[UspEvent]:
        """Every event from now on, in arrival order, until the consumer stops iterating."""
        queue: asyncio.Queue[UspEvent] = asyncio.Queue()
        self.add_listener(queue.put_nowait)
        try:
            while True:
                yield await queue.get()
        finally:
            self.remove_listener(queue.put_nowait)

    def expect(self, predicate: Callable[[UspEvent], bool], endpoint_id: str | None = None
               ) -> asyncio.Future[UspEvent]:
        """A future for the first *future* event matching ``predicate``; register it before the
        request that causes the event, so the event cannot slip past. With ``endpoint_id``, the
        other processes of a shared subscription forward that agent's notifications here (an
        Operate request announces this by itself)."""
        assert self._loop is not None, "controller not started"
        fut: asyncio.Future[UspEvent] = self._loop.create_future()
        if endpoint_id is not None:
            self._interest_held[endpoint_id] = self._interest_held.get(endpoint_id, 0) + 1
            self._holding[fut] = endpoint_id
            self.announce_interest(endpoint_id)
        self._waiters.append((predicate, fut))
        return fut

    def cancel_expectation(self, fut: asyncio.Future[UspEvent]) -> None:
        """The wait is over (call it whether or not the event came): forget the waiter, and withdraw
        the interest the other processes were told of once no other wait of ours needs it."""
        self._waiters = [(p, f) for p, f in self._waiters if f is not fut]
        if not fut.done():
            fut.cancel()
        endpoint_id = self._holding.pop(fut, None)
        if endpoint_id is not None:
            left = self._interest_held.get(endpoint_id, 1) - 1
            if left > 0:
                self._interest_held[endpoint_id] = left
            else:
                self._interest_held.pop(endpoint_id, None)
                self.withdraw_interest(endpoint_id)

    def _emit(self, event: UspEvent, *, waiters_only: bool = False) -> None:
        """Deliver to listeners and waiters; ``waiters_only`` for what another process of the
        endpoint already handled (relayed presence, forwarded notifications)."""
        if waiters_only:
            self._wake(event)
            return
        self.stats.events += 1
        self.recent_events.append(event)
        for listener in self._listening:
            try:
                listener(event)
            except Exception:
                log.exception("USP event listener failed on %s from %s", event.kind, event.endpoint_id)
        self._wake(event)

    def _wake(self, event: UspEvent) -> None:
        if self._waiters:
            keep: list[tuple[Callable[[UspEvent], bool], asyncio.Future[UspEvent]]] = []
            for pred, fut in self._waiters:
                if fut.done():
                    continue
                try:
                    hit = pred(event)
                except Exception:
                    hit = False
                if hit:
                    fut.set_result(event)
                else:
                    keep.append((pred, fut))
            self._waiters = keep

    # ------------------------------------------------------------------ inbound
    def _on_message(self, inbound: Inbound) -> None:
        topic = inbound.topic
        if topic == self.cluster_topic:
            self._on_cluster(inbound)
            return
        if topic == self.inbox_topic:
            self._on_inbox_note(inbound)
            return
        forwarded = topic == self._forward_topic
        stats = self.stats
        stats.records_in += 1
        if inbound.content_type is not None and inbound.content_type not in USP_CONTENT_TYPES:
            stats.not_usp += 1
            log.debug("ignoring a non-USP publish on %s (content type %s)", topic, inbound.content_type)
            return
        try:
            decoded = records.decode(inbound.payload)
        except records.MalformedRecord as exc:
            self._malformed(topic, exc)
            return
        if decoded.to_id != self.endpoint_id:
            stats.wrong_to_id += 1
            self._note_foreign(decoded.from_id, decoded.to_id)
            return
        ep = decoded.from_id
        st = self._agents.get(ep) or self._state(ep)
        msg = decoded.msg
        now = time.time()
        if forwarded:  # another process answered and handled it; it only wakes our waiters
            if msg is not None and decoded.body == "request":
                stats.forwarded_in += 1
                self._on_notify(st, msg.body.request.notify, decoded.msg_id, now, forwarded=True)
            return
        self._heard(st, topic, inbound.response_topic, now)
        kind = decoded.kind
        if kind == "disconnect":
            self._agent_gone(st, decoded.record.disconnect.reason or "disconnect Record", now)
            self._relay_presence(st)
            return
        if st.connected is not True and (st.connected is None or msg is None or decoded.body == "request"):
            # Any Record shows the agent is there — except a response that was overtaken by the
            # agent's own goodbye (answers travel on the reply connection, goodbyes on the main one).
            st.connected = True
            st.connected_since = now
            self._connected_n += 1
        if kind == "mqtt_connect":
            mc = decoded.record.mqtt_connect
            version = 5 if mc.version == _MQTT_V5 else 3
            subscribed = mc.subscribed_topic
            if subscribed:
                self._learn_topic(st, subscribed, version, "mqtt_connect")
            st.mqtt_version = version
            st.connected_since = now
            st.disconnect_reason = ""
            stats.connects += 1
            if self._pending:
                self._note_reconnect(ep)
            self._emit(_event("connect", ep, now, {"topic": st.topic, "mqtt_version": version}))
            self._relay_presence(st)
            return
        if msg is None:
            log.debug("ignoring a %s Record from %s (not used over MQTT)", kind, ep)
            return
        self._on_msg(st, msg, now, inbound.payload, decoded.body, decoded.msg_id)

    def _answers_from_wire(self, buf: bytes, pos: int, n: int) -> tuple[int, int]:
        """The reply link's :attr:`~executors.usp.mqtt.MqttLink.on_publish`: the QoS 0 PUBLISHes read,
        from ``pos`` to ``n``, taken while they are answers from agents (:meth:`_answer_from_wire`);
        (where it stopped, how many it took). The usual one — the SetResp a :meth:`set` waits for, from
        an agent whose earlier answers started the same way and whose topic is known — is taken here
        inline: a function call per answer costs as much as taking it, and one arrives per request."""
        senders, pending_map, done, peek = self._senders, self._pending, self._done_ids, records.peek_set_answer
        # what peek_set_answer keeps per length (it fills them)
        session_heads, headers, tails = records._SESSION_HEADS, records._HEADERS, records._SET_RESP_TAILS
        parse = msg_pb.SetResp.FromString
        v5, topic_len, me = self._answers_v5, len(self._reply_field), self.endpoint_id
        plain = self.topics is None and not self._foreign  # (nothing _heard would do but note the time)
        now = time.time()
        taken = inline = 0
        try:
            while pos + 2 < n and buf[pos] == 0x30:  # a QoS 0 PUBLISH, its length in one or two bytes
                length = buf[pos + 1]
                if length < 0x80:
                    p = pos + 2
                    end = p + length
                elif buf[pos + 2] < 0x80:
                    p = pos + 3
                    end = p + ((length & 0x7F) | (buf[pos + 2] << 7))
                else:
                    break
                if end > n:
                    break
                # The key a sender is kept under (_sender): the topic and, on MQTT 5, the property block
                # after it — where our reply topic would end (a PUBLISH on another topic, or with a
                # longer property length, then reads a key no sender has).
                if v5:
                    q = p + topic_len
                    k = q + 1 + buf[q]
                else:
                    k = p + 2 + ((buf[p] << 8) | buf[p + 1])
                sender = senders.get(buf[p:k])
                msg_id = None
                if sender is not None and end - k == (last := sender[7])[0] and buf.startswith(last[1], k) \
                        and buf.startswith(last[3], q := (r := k + len(last[1])) + last[2]):
                    # as long as the agent's last answer, and alike up to its msg_id and after it: what
                    # records.peek_set_answer would find (the same lengths, so the same heads and tail)
                    try:
                        msg_id = buf[r:q].decode()
                    except UnicodeDecodeError:  # not UTF-8: _answer_from_wire says what it is
                        msg_id = None
                    set_at = q + len(last[3])
                elif sender is not None and k < end and buf.startswith(sender[0], k):
                    # records.peek_set_answer(buf, r, end), inline for the lengths it has kept: the
                    # Record's session head, the Message's header before the msg_id, the SetResp's tail
                    r = k + len(sender[0])
                    try:
                        if (head := session_heads.get(end - r)) and buf.startswith(head, r) \
                                and 0 < (mn := buf[(s := r + len(head)) + 3]) < 120 \
                                and buf.startswith(headers[mn], s) \
                                and (tail := tails.get(end - (q := s + 4 + mn))) and buf.startswith(tail, q):
                            msg_id = buf[s + 4 : q].decode()
                            set_at = q + len(tail)
                            last = sender[7]  # this answer's layout, for the agent's next
                            last[0], last[1], last[2], last[3] = end - k, buf[k : s + 4], mn, tail
                    except (IndexError, UnicodeDecodeError):  # what peek_set_answer says: not its layout
                        msg_id = None
                    else:
                        if msg_id is None and (found := peek(buf, r, end)) is not None:  # (it keeps what it finds)
                            msg_id, _, set_at = found
                if msg_id is not None and sender is not None:
                    pending = pending_map.get(msg_id)
                    st = sender[1]
                    if pending is not None and pending.set_resp and pending.endpoint_id == st.endpoint_id:
                        try:
                            set_resp = parse(buf[set_at:end])
                        except (DecodeError, ValueError):  # malformed: _answer_from_wire says so
                            set_resp = None
                        if set_resp is not None:
                            if plain and st.topic is sender[4] and st.mqtt_version == sender[5] \
                                    and st.topic_source == sender[6]:
                                st.last_seen = now  # all _heard would do
                                st.unanswered = None
                                st.addressed_to = me
                            else:
                                self._heard(st, sender[2], sender[3], now)
                            if st.connected is None:
                                st.connected = True
                                st.connected_since = now
                                self._connected_n += 1
                            del pending_map[msg_id]
                            recent = done._new  # done.add(msg_id), inline (RecentKeys)
                            recent.add(msg_id)
                            if len(recent) >= done.size:
                                done._old, done._new = recent, set()
                            fut = pending.future
                            if not fut.done():
                                fut.set_result(set_resp)
                            inline += 1
                            taken += 1
                            pos = end
                            continue
                if not self._answer_from_wire(buf, p, end):  # any other answer, or none: the usual way
                    break
                taken += 1
                pos = end
        except IndexError:  # a packet shorter than its topic says: the usual way says what it is
            pass
        finally:
            self.stats.records_in += inline
            self.stats.responses += inline
        return pos, taken

    def _answer_from_wire(self, buf: bytes, p: int, end: int) -> bool:
        """The reply link's :attr:`~executors.usp.mqtt.MqttLink.on_publish`: a PUBLISH holding an
        agent's answer (a response or an Error, :func:`records.peek_answer`) is handled straight from
        the packet at ``buf[p:end]`` — with the checks and bookkeeping :meth:`_on_message` does, but no
        decoded PUBLISH, Record or Inbound object, and the SetResp a :meth:`set` waits for parsed by
        itself. False, nothing done, for anything else: the link decodes it and :meth:`_on_message`
        has it. Why: one answer arrives per request; the rest of what the controller hears is rare.

        Each agent's answers start alike — the topic (3.1.1: with the agent's ``/reply-to=``) or the
        property block (MQTT 5: its Response Topic), then the Record's version, to_id and from_id —
        so what was read from its first answer is kept under those bytes (:meth:`_sender`), and its
        next ones are recognised by comparing bytes (:func:`records.peek_set_answer`)."""
        try:
            q = p + 2 + ((buf[p] << 8) | buf[p + 1])
            k = q
            if self._answers_v5:
                if not buf.startswith(self._reply_field, p):  # answers come on our reply topic, nothing else
                    return False
                k = q + 1 + buf[q]
                if buf[q] >= 0x80 or k > end:
                    return False
            key = buf[p:k]  # the topic and the property block: what an agent's answers start with
            p = k
            sender = self._senders.get(key)
            found = (records.peek_set_answer(buf, p + len(sender[0]), end)
                     if sender is not None and buf.startswith(sender[0], p) else None)
            st: AgentState | None
            if found is not None:  # the next answer of an agent heard before
                assert sender is not None
                msg_id, start, set_at = found
                st, topic, response_topic = sender[1], sender[2], sender[3]
                ep, tag = st.endpoint_id, records.RESPONSE_TAG
            else:
                learnt = self._sender(key, buf, p, end)
                if learnt is None:
                    return False
                ep, msg_id, tag, start, set_at, st, topic, response_topic = learnt
        except (IndexError, UnicodeDecodeError, wire.Unsupported):
            return False
        self.stats.records_in += 1
        pending = self._pending.get(msg_id)
        msg: msg_pb.Msg | None = None
        set_resp: msg_pb.SetResp | None = None
        try:
            if set_at and pending is not None and pending.set_resp:
                set_resp = msg_pb.SetResp.FromString(buf[set_at:end])
            else:
                msg = msg_pb.Msg.FromString(buf[start:end])
        except (DecodeError, ValueError) as exc:  # what records.decode says of a Message protobuf refuses
            self._malformed(topic, records.MalformedRecord(f"USP Record from {ep!r} holds no valid Message: {exc}"))
            return True
        if st is None:
            st = self._agents.get(ep) or self._state(ep)
        now = time.time()
        if (response_topic is not None and st.topic_source == "response_topic" and st.topic == response_topic
                and st.mqtt_version == 5 and self.topics is None and not self._foreign):
            st.last_seen = now  # _heard when there is nothing to learn, inline
            st.unanswered = None
            st.addressed_to = self.endpoint_id
        else:
            self._heard(st, topic, response_topic, now)
        if st.connected is None:  # any Record shows it is there (but an answer overtaken by its goodbye does not)
            st.connected = True
            st.connected_since = now
            self._connected_n += 1
        if set_resp is not None and pending is not None and pending.endpoint_id == ep:
            # _settle's usual case, inline: the answer to a set() of ours, from the agent asked
            del self._pending[msg_id]
            self._done_ids.add(msg_id)
            self.stats.responses += 1
            fut = pending.future
            if not fut.done():
                fut.set_result(set_resp)
            return True
        self._settle(st, msg_id, tag == records.ERROR_TAG, msg, set_resp)
        return True

    def _sender(self, key: bytes, buf: bytes, p: int, end: int
                ) -> tuple[str, str, int, int, int, AgentState | None, str, str | None] | None:
        """:meth:`_answer_from_wire` for an answer not recognised from its sender's earlier ones: the
        topic and properties read (``key``: the PUBLISH's topic field and MQTT 5 property block), the Record at
        ``buf[p:end]`` read (:func:`records.peek_answer`), and the sender kept for its next answers
        once it has a state here. (from_id, msg_id, body tag, where the Message and the SetResp start
        in ``buf``, the agent's state if it has one, topic, Response Topic); None, nothing kept, when
        it is no answer to this controller (or comes on a topic that carries something else)."""
        response_topic = content_type = None
        if self._answers_v5:
            topic = self.reply_topic
            response_topic, content_type = wire.usp_properties(key[len(self._reply_field) + 1 :])
        else:
            topic = key[2:].decode()
            if topic in (self.topic, self.cluster_topic, self.inbox_topic, self._forward_topic):
                return None
        if content_type is not None and content_type not in USP_CONTENT_TYPES:
            return None
        record = buf[p:end]
        answer = records.peek_answer(record, self._addressed_to)
        if answer is None:
            return None
        ep, msg_id, tag, start, set_at = answer
        st = self._agents.get(ep)  # kept once there is one (an agent's state, once made, stays)
        if st is not None:
            if len(self._senders) >= 20000:  # one per agent; bounded all the same
                self._senders.clear()
            prefix = record[: len(self._addressed_to[0]) + 1 + len(ep.encode())]  # to the end of from_id
            # where it says it listens, as _heard learns it (the same string: compared by identity)
            reply_to = self._reply_to_in(topic) if REPLY_TO in topic else None
            listen, version, source = ((reply_to, 3, "reply_to") if reply_to else
                                       (response_topic, 5, "response_topic") if response_topic else (None, 0, ""))
            # the last: what the agent's last answer held before and after its msg_id (_answers_from_wire)
            self._senders[key] = (prefix, st, topic, response_topic, listen, version, source, [-1, b"", 0, b""])
        return ep, msg_id, tag, start + p, set_at and set_at + p, st, topic, response_topic

    def _heard(self, st: AgentState, topic: str, response_topic: str | None, now: float) -> None:
        """A Record from the agent addressed to this controller, on ``topic``: when it was last heard,
        and where it listens (a 3.1.1 ``/reply-to=`` topic, an MQTT 5 Response Topic)."""
        st.last_seen = now
        st.unanswered = None
        st.addressed_to = self.endpoint_id  # its to_id: this controller (one string for every agent)
        if self._foreign:
            self._foreign.pop(st.endpoint_id, None)
        if self.topics is not None:  # it addresses us: any stored endpoint-ID mismatch is over
            self.topics.clear_mismatch(st.endpoint_id)
        reply_to = self._reply_to_in(topic) if REPLY_TO in topic else None
        if reply_to:
            self._learn_topic(st, reply_to, 3, "reply_to")
        elif response_topic and (st.topic != response_topic or st.topic_source != "response_topic"
                                 or st.mqtt_version != 5):
            self._learn_topic(st, response_topic, 5, "response_topic")

    def _malformed(self, topic: str, exc: records.MalformedRecord) -> None:
        """A Record that could not be read is dropped (TR-369), counted, and logged once per 5 s."""
        stats = self.stats
        stats.malformed += 1
        mono = time.monotonic()
        if mono - self._malformed_logged > 5.0:  # one line per 5 s, however many arrive
            self._malformed_logged = mono
            log.warning("dropping a malformed USP Record on %s: %s (%d so far)", topic, exc, stats.malformed)

    # ------------------------------------------------------------------ the WebSocket MTP
    def _reply_to_in(self, topic: str) -> str | None:
        """``split_reply_to(topic)[1]``, kept per topic: a 3.1.1 agent names the same one in every Record."""
        kept = self._reply_to_of
        if topic in kept:
            return kept[topic]
        if len(kept) >= 20000:  # one per agent heard; bounded all the same
            kept.clear()
        reply_to = kept[topic] = split_reply_to(topic)[1]
        return reply_to

    def _ensure_loop(self) -> None:
        """The loop the WebSocket MTP runs on is the controller's (it may start before MQTT does)."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        if self._deadlines is None or self._deadlines.loop is not self._loop:
            self._deadlines = _Deadlines(self._loop, self._pending, self._expire)

    @property
    def serves_websocket(self) -> bool:
        """Whether this process has agents' WebSockets: a server, or connections it keeps open."""
        return bool(self.ws_servers or self._ws_tasks)

    async def serve_websocket(self, settings: WsSettings) -> WsServer:
        """Run a WebSocket server agents connect to (TR-369 WebSocket MTP, :mod:`executors.usp.websocket`).
        Agents on it are requested, answered and heard exactly as over MQTT; replies go back over
        the connection the agent is on. Raises OSError when the address cannot be bound."""
        from executors.usp.websocket import WsServer

        self._ensure_loop()
        server = await WsServer(settings, self, self.endpoint_id).start()
        self.ws_servers.append(server)
        return server

    async def connect_websocket(self, url: str, *, endpoint_id: str | None = None,
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

    async def keep_websocket(self, url: str, *, ssl_context: ssl.SSLContext | None = None,
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

    def on_transport_open(self, link: Transport, *, announce: bool = True) -> None:
        """A connection that named its agent in the handshake: requests can go to the agent over it
        now. ``announce=False`` (a connection an agent opened to us): no ``connect`` event until its
        first valid USP Record from the endpoint it claims — a handshake alone is anyone knocking,
        and a ``connect`` event is what makes an unknown agent pending onboarding."""
        if link.endpoint_id is not None:
            self._bind(link, self._state(link.endpoint_id), time.time(), announce=announce)

    def _bind(self, link: Transport, st: AgentState, now: float, *, announce: bool = True) -> None:
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

    def _announce(self, link: Transport, st: AgentState, now: float) -> None:
        """The ``connect`` event of an agent on ``link`` (once per connection)."""
        self._quiet_links.discard(link)
        self._emit(_event("connect", st.endpoint_id, now, {"topic": st.topic, "mtp": link.mtp, "peer": link.peer}))

    def on_transport_record(self, link: Transport, payload: bytes) -> bool:
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

    def on_transport_closed(self, link: Transport, reason: str) -> None:
        """The agent's connection ended: it is offline (unless a newer connection replaced this one)."""
        ep = link.endpoint_id
        st = self._agents.get(ep) if ep is not None else None
        if st is None or st.mtp is not link:
            return
        st.mtp = None
        self.stats.ws_disconnects += 1
        if st.connected is not False:
            self._agent_gone(st, reason, time.time())

    # ------------------------------------------------------------------ several processes
    def _publish_note(self, note: cluster.ClusterNote) -> None:
        self.link.publish(self.cluster_topic, note.encode(), qos=1, content_type=cluster.CLUSTER_CONTENT_TYPE)

    def _relay_presence(self, st: AgentState) -> None:
        """Tell the other processes what only this one heard: the agent came or went."""
        st.presence_at = time.time()
        if self.member:
            self._publish_note(cluster.ClusterNote("presence", self.process_id, st.endpoint_id,
                                                   connected=bool(st.connected), topic=st.topic,
                                                   mqtt_version=st.mqtt_version, reason=st.disconnect_reason,
                                                   at=st.presence_at))

    def announce_interest(self, endpoint_id: str) -> None:
        """Ask the other processes to forward this agent's notifications here for a while
        (re-announced only when half the time has passed). A process outside the group hears
        every notification itself and announces nothing."""
        if not self.member:
            return
        now = time.time()
        if self._announced.get(endpoint_id, 0.0) - now > self.interest_ttl_s / 2:
            return
        until = now + self.interest_ttl_s
        self._announced[endpoint_id] = until
        if len(self._announced) > 100_000:
            self._announced = {k: v for k, v in self._announced.items() if v > now}
        self._publish_note(cluster.ClusterNote("interest", self.process_id, endpoint_id,
                                               reply=self.reply_topic, until=until))

    def withdraw_interest(self, endpoint_id: str) -> None:
        """Tell the other processes to stop forwarding this agent's notifications here (an interest
        with ``until`` 0). Why: an announced interest otherwise lives ``interest_ttl_s`` (15 min), and
        every notification of the agent meanwhile costs a forward nobody waits for."""
        if not self.member or self._announced.pop(endpoint_id, None) is None:
            return
        self._publish_note(cluster.ClusterNote("interest", self.process_id, endpoint_id,
                                               reply=self.reply_topic, until=0.0))

    def _on_cluster(self, inbound: Inbound) -> None:
        try:
            note = cluster.ClusterNote.decode(inbound.payload)
        except ValueError as exc:
            self.stats.cluster_bad += 1
            log.debug("ignoring a bad note on %s: %s", inbound.topic, exc)
            return
        if note.sender == self.process_id:
            return
        self.stats.cluster_in += 1
        if note.kind == "interest":
            self._interests.note(note)
            return
        if note.kind == "inbox":  # said on the inbox topic only
            return
        st = self._state(note.endpoint_id)
        now = time.time()
        if note.at < st.presence_at:  # relays of one agent can overtake each other: the newest wins
            return
        st.presence_at = note.at
        if note.topic and st.topic_source in ("convention", "stored"):
            st.topic, st.mqtt_version, st.topic_source = note.topic, note.mqtt_version, "relayed"
        if note.connected:
            if not st.connected:
                self._connected_n += 1
                st.connected, st.connected_since, st.disconnect_reason = True, now, ""
            if self._pending:  # another process heard its connect Record: the same as hearing it here
                self._note_reconnect(st.endpoint_id)
            self._emit(UspEvent("connect", st.endpoint_id, now, {"topic": st.topic, "relayed": True}),
                       waiters_only=True)
        elif st.connected is not False:
            self._agent_gone(st, note.reason or "disconnected (heard by another process)", now, relayed=True)

    def _learn_topic(self, st: AgentState, topic: str, version: int, source: str) -> None:
        """The agent said where it listens: use it from now on, and store it for other processes."""
        if st.topic == topic and st.mqtt_version == version:
            if st.topic_source == source:
                return  # every response says it again: nothing new to store
            if st.topic_source in _LEARNT:  # said again another way (connect Record, then a PUBLISH):
                st.topic_source = source    # noted when first learnt — the book keeps topic and version only
                return
        st.topic, st.mqtt_version, st.topic_source = topic, version, source
        if self.topics is not None:
            self.topics.note(st.endpoint_id, topic, version, source)

    def _note_foreign(self, from_id: str, to_id: str) -> None:
        """An agent addressed a Record to another controller: remember whom, to explain its silence."""
        if self._foreign.get(from_id) != to_id:
            log.warning("USP agent %s addresses its records to controller %r, but this controller is %r: they are "
                        "dropped (set GATEWARD_USP_ENDPOINT_ID, or the agent's Device.LocalAgent.Controller.{i}."
                        "EndpointID)", from_id, to_id, self.endpoint_id)
        self._foreign[from_id] = to_id
        self._foreign.move_to_end(from_id)
        if self.topics is not None:  # every process can then name both endpoint IDs
            self.topics.note_mismatch(from_id, to_id, self.endpoint_id, "its records name the other controller")
        if len(self._foreign) > 10000:
            self._foreign.popitem(last=False)

    def foreign_controller(self, endpoint_id: str) -> str | None:
        """The other controller an agent addresses its records to, if it was heard doing so."""
        return self._foreign.get(endpoint_id)

    def mismatch(self, endpoint_id: str) -> str:
        """Why a connected agent may not answer: the endpoint IDs, both named (empty if unknown)."""
        foreign = self._foreign.get(endpoint_id)
        if foreign is not None:
            return (f"the controller endpoint IDs do not match: agent {endpoint_id} is configured for controller "
                    f"{foreign!r} (its records name it), this controller is {self.endpoint_id!r} — set "
                    "GATEWARD_USP_ENDPOINT_ID or the agent's Device.LocalAgent.Controller.{i}.EndpointID")
        st = self._agents.get(endpoint_id)
        if st is not None and st.connected and st.addressed_to == self.endpoint_id:
            # Its records name this controller, so the IDs match: saying they "probably do not" (and
            # naming the same ID twice) sent operators hunting a misconfiguration that is not there.
            return (f"agent {endpoint_id} is connected and its records address this controller "
                    f"({self.endpoint_id!r}), so the endpoint IDs match: it is busy or restarting (e.g. after "
                    "Reboot() or FactoryReset(), a real agent answers nothing until it is back) — retry after "
                    "its next contact")
        if st is not None and st.connected:
            return (f"agent {endpoint_id} is connected but silent: the controller endpoint IDs probably do not "
                    f"match — the agent's configured controller is {st.addressed_to or 'unknown'!r}, this "
                    f"controller is {self.endpoint_id!r}; a real agent silently drops records with a wrong endpoint "
                    "ID, from a controller it does not know (Device.LocalAgent.Controller.{i}.EndpointID) or "
                    "does not trust — or it is busy")
        return ""

    async def _recall_topic(self, st: AgentState) -> None:
        """For an agent not heard from since this process started: the topic another process stored."""
        if self.topics is None or st.topic_source != "convention" or st.topic_looked_up:
            return
        st.topic_looked_up = True
        self.stats.topic_lookups += 1
        try:
            known = await asyncio.to_thread(self.topics.lookup, st.endpoint_id)
        except Exception as exc:  # the database is away: the convention is all we have
            log.warning("could not look up the stored topic of USP agent %s (%s); using %s", st.endpoint_id, exc,
                        st.topic)
            return
        if known is not None and st.topic_source == "convention":  # a Record may have come meanwhile
            st.topic, st.mqtt_version, st.topic_source = known.topic, known.mqtt_version, "stored"

    def _note_reconnect(self, endpoint_id: str) -> None:
        """The agent sent a connect Record while requests were pending: those it was sent before now
        may be lost. Why: the OB-USP-Agent restarts its MQTT connection when an MTP or MQTT client
        parameter is Set (a clean DISCONNECT, no will, no ``disconnect`` Record) and subscribes again
        a second later with a clean session, so what was published to it meanwhile reached no one —
        a lifecycle's verify read right after such a Set went unanswered until its timeout, and the
        change that had been made was rolled back. The scan is one per loop turn, not per Record."""
        if endpoint_id in self._reconnected or self._loop is None:
            return
        if not self._reconnected:
            self._loop.call_soon(self._resend_reads)
        self._reconnected[endpoint_id] = time.monotonic()

    def _resend_reads(self) -> None:
        """Send again the reads still waiting for an answer from an agent that (re)connected after
        they were sent (same msg_id: if the first copy was answered after all, the second answer
        is a duplicate and ignored). Anything else — Set, Add, Delete, Operate — may have been
        carried out before the connection went, so it is never repeated: it times out as before."""
        reconnected, self._reconnected = self._reconnected, {}
        again: list[tuple[str, _Pending]] = []
        for msg_id, p in list(self._pending.items()):
            at = reconnected.get(p.endpoint_id)
            if at is not None and p.msg_type in _READS and p.payload and p.sent_at < at and not p.future.done():
                again.append((msg_id, p))
        for msg_id, p in again:
            st = self._agents.get(p.endpoint_id)
            if st is None or st.connected is not True:
                continue
            if self._publish_request(st, p.payload):
                self.stats.resent_reads += 1
                # "connected", not "reconnected": a first contact resends too (a probe sent on every
                # conventional topic before the agent was up; the copy answered second is ignored)
                log.info("USP agent %s connected after %s msg_id %s was sent and before it was answered: "
                         "sent again", p.endpoint_id, p.what, msg_id)

    def _agent_gone(self, st: AgentState, reason: str, now: float, *, relayed: bool = False) -> None:
        if st.connected:
            self._connected_n -= 1
        st.connected = False
        st.disconnect_reason = reason
        self.stats.disconnects += 1
        for msg_id, p in list(self._pending.items()):
            if p.endpoint_id != st.endpoint_id or p.future.done() or p.gone:
                continue
            if p.msg_type in _READS:  # nothing changed: it is simply not there to ask
                p.future.set_exception(AgentOffline(st.endpoint_id, f"it disconnected ({reason}) before answering"))
                self._pending.pop(msg_id, None)
            elif p.msg_type == _OPERATE:  # a Reboot()'s goodbye is the expected one: its Boot! tells
                p.future.set_exception(self._gone_error(p, msg_id, reason))
                self._pending.pop(msg_id, None)
            else:  # a Set, Add or Delete: its answer may follow the goodbye
                p.gone = reason
                if self._deadlines is not None:
                    self._deadlines.add(msg_id, GONE_GRACE_S)
        self._emit(UspEvent("disconnect", st.endpoint_id, now, {"reason": reason}), waiters_only=relayed)

    def _on_msg(self, st: AgentState, msg: msg_pb.Msg, now: float, raw: bytes = b"", body: str | None = None,
                msg_id: str | None = None) -> None:
        body = body or msg.body.WhichOneof("msg_body")
        msg_id = msg_id or msg.header.msg_id
        if body == "request":
            request = msg.body.request
            if request.WhichOneof("req_type") == "notify":
                self._on_notify(st, request.notify, msg_id, now, raw=raw)
            else:
                self._send(st, records.error(msg_id, 7001, "this controller accepts only Notify requests"))
            return
        self._settle(st, msg_id, body == "error", msg)

    def _settle(self, st: AgentState, msg_id: str, error: bool, msg: msg_pb.Msg | None,
                set_resp: msg_pb.SetResp | None = None) -> None:
        """An answer from ``st`` to the request ``msg_id`` — a response, or an Error Message when
        ``error`` — goes to its waiter, once it is known to be ours and to come from the agent asked.
        ``set_resp``: the SetResp, parsed alone (:meth:`_answer_from_wire`); ``msg`` is None then."""
        pending = self._pending.get(msg_id)
        if pending is None:
            if msg_id in self._done_ids:
                self.stats.duplicate_responses += 1
                log.debug("duplicate response %s from %s ignored", msg_id, st.endpoint_id)
            else:
                self.stats.unknown_msg_id += 1
                log.info("response with unknown msg_id %r from %s ignored (late, or not ours)", msg_id,
                         st.endpoint_id)
            return
        if pending.endpoint_id != st.endpoint_id:
            self.stats.wrong_sender += 1
            log.warning("response %s came from %s, but was asked of %s: ignored", msg_id, st.endpoint_id,
                        pending.endpoint_id)
            return
        del self._pending[msg_id]
        self._done_ids.add(msg_id)
        self.stats.responses += 1
        fut = pending.future
        if fut.done():
            return
        if set_resp is not None:
            fut.set_result(set_resp)
        elif msg is None:  # (not reached: either is given)
            fut.set_exception(records.MalformedRecord(f"answer {msg_id} from {st.endpoint_id} holds no Message"))
        elif error:  # the body kind is known here: the caller need not ask again
            fut.set_exception(_usp_error(msg))
        elif pending.set_resp:
            fut.set_result(msg.body.response.set_resp)
        else:
            fut.set_result(msg)

    def _remember_done(self, msg_id: str) -> None:
        self._done_ids.add(msg_id)

    def _on_notify(self, st: AgentState, n: msg_pb.Notify, msg_id: str, now: float, *, raw: bytes = b"",
                   forwarded: bool = False) -> None:
        """Answer (unless ``forwarded``: the process that received it answered), then deliver once.
        Forwarded notifications only wake this process's waiters."""
        sub = n.subscription_id
        if not forwarded:
            stats = self.stats
            stats.notifies += 1
            # Outside the group, while a member holds the group's session, that member answers (a
            # CLI process waiting for a Boot! answered it too: the agent got two NotifyResps).
            # An agent on a WebSocket is heard by this process alone: it always answers.
            if n.send_resp and (self.member or not self.group_live or st.mtp is not None):
                self._publish_record(st, records.notify_resp_record(msg_id, sub, to_id=st.endpoint_id,
                                                                    from_id=self.endpoint_id), qos=1)
                stats.notify_resp_sent += 1
        # one string, not a tuple: a storm keeps 200,000 of these, and strings are no GC work
        key = f"{len(msg_id)}:{msg_id}{st.endpoint_id}"
        if key in self._seen_notifies:
            self.stats.duplicate_notifies += 1
            return
        self._seen_notifies.add(key)
        if raw and self.member:
            for target in self._interests.targets(st.endpoint_id):
                if self.link.publish(target + cluster.FORWARD_SUFFIX, raw, qos=1):
                    self.stats.forwarded_out += 1
        self._deliver_notify(st, n, msg_id, sub, now, waiters_only=forwarded)

    def _deliver_notify(self, st: AgentState, n: msg_pb.Notify, msg_id: str, sub: str, now: float, *,
                        waiters_only: bool) -> None:
        """The notification as a :class:`UspEvent` (Boot! also updates the agent's state)."""
        ep = st.endpoint_id
        which = n.WhichOneof("notification")
        event: UspEvent
        if which == "event":
            ev = n.event
            event_params = ev.params
            params = {k: event_params[k] for k in event_params}  # dict(map) goes through the Mapping ABC: slower
            if ev.event_name == "Boot!":
                st.boots += 1
                st.last_boot = params
                event = _event("boot", ep, now, {"obj_path": ev.obj_path, **params}, sub, msg_id)
            else:
                event = _event("event", ep, now, {"obj_path": ev.obj_path, "event_name": ev.event_name,
                                                  "params": params}, sub, msg_id)
        elif which == "on_board_req":
            ob = n.on_board_req
            st.identity = {"oui": ob.oui, "product_class": ob.product_class, "serial_number": ob.serial_number}
            st.usp_versions = ob.agent_supported_protocol_versions
            event = _event("onboard", ep, now, {**st.identity, "versions": st.usp_versions}, sub, msg_id)
        elif which == "value_change":
            event = _event("value_change", ep, now, {"path": n.value_change.param_path,
                                                     "value": n.value_change.param_value}, sub, msg_id)
        elif which == "oper_complete":
            oc = n.oper_complete
            data: dict[str, Any] = {"obj_path": oc.obj_path, "command": oc.command_name,
                                    "command_key": oc.command_key}
            if oc.WhichOneof("operation_resp") == "cmd_failure":
                data["failure"] = {"code": int(oc.cmd_failure.err_code), "message": oc.cmd_failure.err_msg}
            else:
                data["output"] = dict(oc.req_output_args.output_args)
            event = _event("operation_complete", ep, now, data, sub, msg_id)
        elif which == "obj_creation":
            event = _event("object_creation", ep, now, {"path": n.obj_creation.obj_path,
                                                        "keys": dict(n.obj_creation.unique_keys)}, sub, msg_id)
        elif which == "obj_deletion":
            event = _event("object_deletion", ep, now, {"path": n.obj_deletion.obj_path}, sub, msg_id)
        else:
            return
        self._emit(event, waiters_only=waiters_only)

    # ------------------------------------------------------------------ outbound
    def _send(self, st: AgentState, msg: msg_pb.Msg, *, qos: int = 0) -> bool:
        """Publish an answer to the agent's own request (an Error) on the main link; requests go
        through :meth:`_publish_request`."""
        return self._publish_record(st, records.wrap_payload(msg.SerializeToString(), to_id=st.endpoint_id,
                                                             from_id=self.endpoint_id), qos=qos)

    def _publish_record(self, st: AgentState, payload: bytes, *, qos: int = 0) -> bool:
        """:meth:`_send` of a whole serialized Record (a NotifyResp)."""
        mtp = st.mtp
        if mtp is not None:  # on a WebSocket: back over its connection
            return mtp.send(payload)
        if st.mqtt_version == 3 or self.mqtt_version == 3:
            return self.link.publish(self._reply_to_topic(st.topic, self.topic), payload, qos=qos, content_type=None)
        return self.link.publish(st.topic, payload, qos=qos, response_topic=self.topic)

    def _publish_request(self, st: AgentState, payload: bytes) -> bool:
        """Send a serialized request Message to the agent in its Record: over its WebSocket, or on the
        reply link with the Response Topic (MQTT 5) or ``/reply-to=`` topic (3.1.1) that brings the
        answer back there. False when that connection is down.

        Why the kept head: every request to an agent starts with the same bytes — the PUBLISH's topic
        and properties, the Record's version, to_id and from_id — so they are encoded once per agent
        (and again when its topic changes) and a request is one join (:func:`mqtt_wire.publish_parts`)."""
        mtp = st.mtp
        if mtp is not None:
            return mtp.send(records.wrap_payload(payload, to_id=st.endpoint_id, from_id=self.endpoint_id))
        kept = self._request_heads.get(st.endpoint_id)
        if kept is None or kept[0] is not st.topic or kept[1] != st.mqtt_version:
            kept = self._request_head(st)
        n = len(payload)
        return self.reply_link.publish_after(
            kept[2], records.SESSION_PREFIXES[n] if n < 0x7E else records.session_prefix(n), payload)

    def _request_head(self, st: AgentState) -> tuple[str, int, bytes]:
        """(the agent's topic, its MQTT version, the head of every request PUBLISH to it) — what
        :meth:`_publish_request` keeps per agent while its topic and version stay (the topic by
        identity: a string kept here cannot be replaced by another at the same address). Raises
        ValueError for a topic MQTT forbids."""
        link, reply, topic = self.reply_link, self.reply_topic, st.topic
        if st.mqtt_version == 3 or self.mqtt_version == 3:
            head = link.publish_head(self._reply_to_topic(topic, reply), content_type=None)
        else:
            head = link.publish_head(topic, response_topic=reply)
        kept = (topic, st.mqtt_version, head + records.record_head(to_id=st.endpoint_id, from_id=self.endpoint_id))
        if len(self._request_heads) >= 20000:  # one per agent asked; bounded all the same
            self._request_heads.clear()
        self._request_heads[st.endpoint_id] = kept
        return kept

    def _reply_to_topic(self, topic: str, reply: str) -> str:
        """``with_reply_to(topic, reply)``, kept per agent topic and reply topic: an MQTT 3.1.1 fan-out
        addresses the same agents again and again (a string built and hashed anew each time)."""
        kept = self._reply_to_topics.get(reply)
        if kept is None:
            kept = self._reply_to_topics[reply] = {}
        full = kept.get(topic)
        if full is None:
            if len(kept) >= 20000:  # one per agent addressed; bounded all the same
                kept.clear()
            full = kept[topic] = with_reply_to(topic, reply)
        return full

    async def request(self, endpoint_id: str, msg: msg_pb.Msg, timeout: float | None = None,
                      *, force: bool = False) -> msg_pb.Msg:
        """Send a request Message and return the agent's response Message.

        Raises :class:`UspError` for an Error response, :class:`UspTimeout` when nothing comes back,
        :class:`AgentOffline` when the agent is known to be disconnected (unless ``force``).
        """
        return await self._request(endpoint_id, msg.header.msg_id, msg.header.msg_type, msg.SerializeToString(),
                                   timeout, force=force)

    async def _request(self, endpoint_id: str, msg_id: str, msg_type: int, payload: bytes,
                       timeout: float | None = None, *, force: bool = False) -> msg_pb.Msg:
        """:meth:`request` of a serialized request Message (``msg_id`` and ``msg_type`` its header)."""
        assert self._loop is not None, "controller not started"
        st = self._state(endpoint_id)
        if st.connected is False and not force:
            since = time.strftime("%H:%M:%S", time.gmtime(st.last_seen)) if st.last_seen else "?"
            reason = st.disconnect_reason or "no reason given"
            raise AgentOffline(endpoint_id, f"disconnected since {since}Z ({reason})")
        if st.mtp is None and not self.reply_link.connected:
            raise ConnectionError(f"the controller is not connected to the MQTT broker at {self.link.url}")
        if st.connected is None:
            await self._recall_topic(st)
        return await self._send_request(st, msg_id, msg_type, payload, timeout)

    def _send_request(self, st: AgentState, msg_id: str, msg_type: int, payload: bytes, timeout: float | None
                      ) -> asyncio.Future[msg_pb.Msg]:
        """Send a request and return the future of its answer (an Error Message's answer is a
        :class:`UspError`). :meth:`_request` after its checks."""
        assert self._loop is not None
        fut: asyncio.Future[msg_pb.Msg] = self._loop.create_future()
        self._enqueue(st, msg_id, msg_type, payload, timeout, fut)
        return fut

    def _enqueue(self, st: AgentState, msg_id: str, msg_type: int, payload: bytes, timeout: float | None,
                 waiter: _Waiter, *, set_resp: bool = False) -> None:
        """Send a request whose answer goes to ``waiter`` (the SetResp alone with ``set_resp``), under
        its deadline. Raises ConnectionError, having sent nothing, when the agent's connection is down."""
        deadlines = self._deadlines
        assert deadlines is not None
        if msg_type == _OPERATE:  # its Boot!/OperationComplete may land elsewhere
            self.announce_interest(st.endpoint_id)
        if not self._publish_request(st, payload):
            raise ConnectionError(f"could not send {_TYPE_NAMES.get(msg_type)} to {st.endpoint_id}: its "
                                  f"{'WebSocket' if st.mtp is not None else 'MQTT'} connection is down")
        # (registered once written: the answer is read on this thread, after this returns)
        self._pending[msg_id] = _Pending(st.endpoint_id, waiter, msg_type, time.monotonic(), payload, "", set_resp)
        self.stats.requests_sent += 1
        deadlines.add(msg_id, self.request_timeout_s if timeout is None else timeout)

    def request_threadsafe(self, endpoint_id: str, msg: msg_pb.Msg, timeout: float | None = None
                           ) -> msg_pb.Msg | None:
        """:meth:`request` for a caller on another thread, sent from that thread: the answer is the
        only hop (the executor's synchronous ``read``). Returns None, having sent nothing,
        when the loop must do it — the controller is not running, the agent is not known to be
        connected (the loop probes, recalls its topic or raises :class:`AgentOffline`), an Operate
        (interest is announced on the loop) or the connection has packets queued. A timeout is
        expired on the loop, exactly as for :meth:`request` (stats, the agent marked unanswered,
        the endpoint-ID mismatch noted)."""
        loop = self._loop
        if loop is None or not self.started or msg.header.msg_type == _OPERATE:
            return None
        st = self._agents.get(endpoint_id)
        if st is None or st.connected is not True:
            return None
        msg_id = msg.header.msg_id
        msg_type = msg.header.msg_type
        body = msg.SerializeToString()
        waiter = SyncWaiter()
        pending = _Pending(endpoint_id, waiter, msg_type, time.monotonic(), body)
        self._pending[msg_id] = pending
        payload = records.wrap_payload(body, to_id=endpoint_id, from_id=self.endpoint_id)
        if st.mtp is not None:
            sent = st.mtp.send_threadsafe(payload)
        elif st.mqtt_version == 3 or self.mqtt_version == 3:
            sent = self.reply_link.publish_threadsafe(with_reply_to(st.topic, self.reply_topic), payload,
                                                      content_type=None)
        else:
            sent = self.reply_link.publish_threadsafe(st.topic, payload, response_topic=self.reply_topic)
        if not sent:
            self._pending.pop(msg_id, None)
            return None
        with self._count_lock:
            self.stats.requests_sent_threadsafe += 1
        timeout = self.request_timeout_s if timeout is None else timeout
        if not waiter.wait(timeout):
            loop.call_soon_threadsafe(self._expire, msg_id)
            if not waiter.wait(5.0):  # the loop is stuck: say so without its bookkeeping
                self._pending.pop(msg_id, None)
                raise UspTimeout(endpoint_id, msg_id, timeout, pending.what)
        return waiter.result()

    @staticmethod
    def _gone_error(p: _Pending, msg_id: str, reason: str) -> AgentGoneMidRequest:
        return AgentGoneMidRequest(p.endpoint_id, (
            f"it disconnected ({reason}) before answering {p.what} msg_id {msg_id}, which it had been sent: "
            "it may have carried it out"))

    def _expire(self, msg_id: str) -> None:
        """A request's time is up (a no-op when it was answered meanwhile)."""
        p = self._pending.pop(msg_id, None)
        if p is None or p.future.done():
            return
        if p.gone:  # the agent's goodbye came and its answer did not follow
            self._remember_done(msg_id)
            p.future.set_exception(self._gone_error(p, msg_id, p.gone))
            return
        self.stats.timeouts += 1
        self._remember_done(msg_id)
        st = self._state(p.endpoint_id)
        timeout = time.monotonic() - p.sent_at
        st.unanswered = f"{p.what} msg_id {msg_id} ({timeout:.1f}s)"
        if st.connected and self.topics is not None:  # connected yet silent: store the suspicion for every process
            self.topics.note_mismatch(p.endpoint_id, self._foreign.get(p.endpoint_id), self.endpoint_id,
                                      f"{p.what} unanswered after {timeout:.1f}s")
        p.future.set_exception(UspTimeout(p.endpoint_id, msg_id, round(timeout, 2), p.what,
                                          self.mismatch(p.endpoint_id)))

    # ------------------------------------------------------------------ typed requests
    async def get(self, endpoint_id: str, paths: Iterable[str], *, timeout: float | None = None,
                  ) -> tuple[dict[str, str], dict[str, tuple[int, str]]]:
        """``({param path: value}, {requested path: (err_code, err_msg)})``."""
        resp = await self.request(endpoint_id, records.get(records.new_msg_id(), list(paths)), timeout)
        return records.flatten_get_resp(resp.body.response.get_resp)

    async def set(self, endpoint_id: str, values: Mapping[str, object], *, timeout: float | None = None,
                  allow_partial: bool = False) -> msg_pb.SetResp:
        """Set full parameter paths atomically (``allow_partial=false``, every param ``required``)."""
        msg_id, payload = records.set_request(values, allow_partial)
        st = self._agents.get(endpoint_id)
        loop, deadlines = self._loop, self._deadlines
        fut: asyncio.Future[msg_pb.SetResp]
        if st is not None and st.connected is True and loop is not None and deadlines is not None:
            # What _request checks, then _enqueue, _publish_request, the link's publish_after and the
            # deadlines' add_soon inline for an agent on MQTT (a fan-out's Set: a call costs as much as
            # a step here, and they were a sixth of a Set's CPU).
            link = self.reply_link
            sock = link._sock
            if st.mtp is None and link.connected and sock is not None:
                kept = self._request_heads.get(endpoint_id)
                if kept is None or kept[0] is not st.topic or kept[1] != st.mqtt_version:
                    kept = self._request_head(st)
                head = kept[2]
                n = len(payload)
                middle = records.SESSION_PREFIXES[n] if n < 0x7E else records.session_prefix(n)
                rest = len(head) + len(middle) + n
                if rest < 4096:  # link.publish_after, inline
                    if link._client._out_packet:  # whatever paho queued (a SUBSCRIBE, ...) goes out first
                        link._client.loop_write()
                    sock.send(b"".join((_PUBLISH_QOS0_HEADS[rest], head, middle, payload)))
                    link.stats.published_loop += 1
                elif not link.publish_after(head, middle, payload):
                    raise ConnectionError(f"could not send SET to {endpoint_id}: its MQTT connection is down")
                fut = loop.create_future()
                self._pending[msg_id] = _Pending(endpoint_id, fut, _SET, time.monotonic(), payload, "", True)
                self.stats.requests_sent += 1
                if timeout is None:
                    timeout = self.request_timeout_s
                fresh = deadlines._fresh.get(timeout)  # deadlines.add_soon(msg_id, timeout), inline
                if fresh is None:
                    deadlines.add_soon(msg_id, timeout)
                else:
                    fresh.append(msg_id)
                return await fut
            if st.mtp is not None:
                fut = loop.create_future()
                self._enqueue(st, msg_id, _SET, payload, timeout, fut, set_resp=True)
                return await fut
        resp = await self._request(endpoint_id, msg_id, _SET, payload, timeout)
        return resp.body.response.set_resp

    async def add(self, endpoint_id: str, obj_path: str, params: Mapping[str, object] | None = None, *,
                  timeout: float | None = None) -> str:
        """Create one instance; returns its path (e.g. ``Device.LocalAgent.Subscription.3.``)."""
        msg = records.add(records.new_msg_id(), obj_path, params or {})
        resp = await self.request(endpoint_id, msg, timeout)
        res: msg_pb.AddResp.CreatedObjectResult  # the repeated-field container is untyped (no protobuf stubs)
        (res,) = resp.body.response.add_resp.created_obj_results
        status = res.oper_status
        if status.WhichOneof("oper_status") == "oper_failure":
            raise UspError(int(status.oper_failure.err_code), status.oper_failure.err_msg)
        return status.oper_success.instantiated_path

    async def delete(self, endpoint_id: str, obj_paths: Iterable[str], *, timeout: float | None = None
                     ) -> list[str]:
        """Delete instances; returns the affected paths (deleting a missing instance is no error)."""
        resp = await self.request(endpoint_id, records.delete(records.new_msg_id(), list(obj_paths)), timeout)
        affected: list[str] = []
        for res in resp.body.response.delete_resp.deleted_obj_results:
            status = res.oper_status
            if status.WhichOneof("oper_status") == "oper_failure":
                raise UspError(int(status.oper_failure.err_code), status.oper_failure.err_msg)
            affected.extend(status.oper_success.affected_paths)
        return affected

    async def operate(self, endpoint_id: str, command: str, args: Mapping[str, object] | None = None, *,
                      command_key: str = "", timeout: float | None = None
                      ) -> msg_pb.OperateResp.OperationResult:
        msg = records.operate(records.new_msg_id(), command, command_key=command_key, args=args)
        resp = await self.request(endpoint_id, msg, timeout)
        results = resp.body.response.operate_resp.operation_results
        if not results:
            raise UspError(7022, f"OperateResp for {command} holds no result")
        first: msg_pb.OperateResp.OperationResult = results[0]  # the container is untyped (no protobuf stubs)
        return first

    async def get_supported_dm(self, endpoint_id: str, obj_paths: Iterable[str], *, first_level_only: bool = False,
                               timeout: float | None = None) -> msg_pb.GetSupportedDMResp:
        msg = records.get_supported_dm(records.new_msg_id(), list(obj_paths), first_level_only=first_level_only)
        resp = await self.request(endpoint_id, msg, timeout)
        return resp.body.response.get_supported_dm_resp

    async def get_instances(self, endpoint_id: str, obj_paths: Iterable[str], *, first_level_only: bool = False,
                            timeout: float | None = None) -> dict[str, list[str]]:
        """``{requested object path: [instance paths]}``; a bad path raises :class:`UspError`."""
        msg = records.get_instances(records.new_msg_id(), list(obj_paths), first_level_only=first_level_only)
        resp = await self.request(endpoint_id, msg, timeout)
        out: dict[str, list[str]] = {}
        for r in resp.body.response.get_instances_resp.req_path_results:
            if r.err_code:
                raise UspError(int(r.err_code), f"{r.requested_path}: {r.err_msg}")
            out[r.requested_path] = [c.instantiated_obj_path for c in r.curr_insts]
        return out

    async def get_supported_protocol(self, endpoint_id: str, *, timeout: float | None = None) -> str:
        resp = await self.request(endpoint_id, records.get_supported_protocol(records.new_msg_id()), timeout)
        versions = resp.body.response.get_supported_protocol_resp.agent_supported_protocol_versions
        self._state(endpoint_id).usp_versions = versions
        return versions

    async def probe(self, endpoint_id: str, timeout: float) -> bool:
        """Whether the agent answers a GetSupportedProtocol within ``timeout`` (sent even to an agent
        not heard from yet). An agent whose topic was never learnt nor stored is asked on every
        conventional topic at once (:attr:`agent_topics`: ``usp/agent/<endpoint>`` and OB-USP-Agent's
        shipped ``/usp/agent``), and the one it answers on is learnt — an agent connected before this
        controller, on its factory defaults, sends nothing until it reconnects."""
        st = self._state(endpoint_id)
        if st.connected is None and st.mtp is None:
            await self._recall_topic(st)
            if st.topic_source == "convention":
                return await self._probe_conventions(st, timeout)
        try:
            await self.get_supported_protocol(endpoint_id, timeout=timeout)
        except (UspTimeout, AgentOffline):
            return False
        except UspError:
            return True  # it answered, if only with an error
        return True

    async def _probe_conventions(self, st: AgentState, timeout: float) -> bool:
        """:meth:`probe` on every conventional topic at once; the first answer wins and its topic is
        learnt (from the answer's Response Topic or reply-to when it carries one, else the topic it
        was asked on). The other requests are withdrawn, so their silence counts against no one."""
        assert self._loop is not None
        candidates = conventional_topics(st.endpoint_id, self.agent_topics)
        if not self.reply_link.connected:
            raise ConnectionError(f"the controller is not connected to the MQTT broker at {self.link.url}")
        asked: dict[asyncio.Future[msg_pb.Msg], tuple[str, str]] = {}
        original = st.topic
        try:
            for topic in candidates:
                msg = records.get_supported_protocol(records.new_msg_id())
                st.topic = topic  # _send_request publishes to st.topic
                with contextlib.suppress(ConnectionError):
                    fut = self._send_request(st, msg.header.msg_id, msg.header.msg_type, msg.SerializeToString(),
                                             timeout)
                    asked[fut] = (topic, msg.header.msg_id)
        finally:
            if st.topic_source == "convention":
                st.topic = original
        answered: str | None = None
        pending = set(asked)
        while pending and answered is None:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for fut in done:
                if not fut.cancelled() and (fut.exception() is None or isinstance(fut.exception(), UspError)):
                    answered = asked[fut][0]
                    if fut.exception() is None:
                        st.usp_versions = fut.result().body.response.get_supported_protocol_resp.\
                            agent_supported_protocol_versions
                    break
        for fut in pending:  # withdrawn: no timeout, no mismatch noted for a topic nobody listens on
            self._pending.pop(asked[fut][1], None)
            fut.cancel()
        if answered is None:
            return False
        if st.topic_source == "convention":  # the answer carried no topic of its own
            self._learn_topic(st, answered, st.mqtt_version, "probe")
        return True

    async def subscribe(self, endpoint_id: str, notif_type: str, reference_list: str, *,
                        subscription_id: str, notif_retry: bool = False, root: str = "Device.",
                        timeout: float | None = None) -> str:
        """Create (or find) a ``<root>LocalAgent.Subscription.{i}`` for this controller.

        Idempotent on ``subscription_id`` (its unique key): an existing one is kept.
        """
        table = f"{root}LocalAgent.Subscription."
        values, _ = await self.get(endpoint_id, [f"{table}*.ID"], timeout=timeout)
        for path, value in values.items():
            if value == subscription_id:
                return path[: -len("ID")]
        return await self.add(endpoint_id, table, {
            "Enable": True, "ID": subscription_id, "NotifType": notif_type, "ReferenceList": reference_list,
            "Persistent": True, "NotifRetry": notif_retry,
        }, timeout=timeout)
