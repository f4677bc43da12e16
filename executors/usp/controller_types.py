"""The USP controller's types: its errors, an agent's state, events, counters, the waiters and the
requests' deadlines (:mod:`executors.usp.controller` re-exports every name)."""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from executors.usp.errors import UspError
from executors.usp.proto import msg_pb, record_pb
from executors.usp.records import Header
from executors.usp.transport import Transport

if TYPE_CHECKING:  # the WebSocket MTP (and the websockets library) loads only when it is used

    pass

log = logging.getLogger("executors.usp.controller")  # the controller's logger, whichever phase logs

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
