"""The USP controller's requests: addressing an agent, sending, waiting and expiring, and the typed
requests (Get, Set, Add, Delete, Operate, GetSupportedDM, GetInstances, probes, subscriptions).

Phase functions of :class:`executors.usp.controller.UspController` (its façade binds each as a method;
the state they read and write is the controller's own).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from executors.usp import records
from executors.usp.controller_types import (
    _OPERATE,
    _SET,
    _TYPE_NAMES,
    AgentGoneMidRequest,
    AgentOffline,
    AgentState,
    SyncWaiter,
    UspTimeout,
    _Pending,
    _Waiter,
)
from executors.usp.errors import UspError
from executors.usp.mqtt import _PUBLISH_QOS0_HEADS
from executors.usp.proto import msg_pb
from executors.usp.topics import (
    conventional_topics,
    with_reply_to,
)

if TYPE_CHECKING:
    from executors.usp.controller import UspController


def send(self: UspController, st: AgentState, msg: msg_pb.Msg, *, qos: int = 0) -> bool:
    """Publish an answer to the agent's own request (an Error) on the main link; requests go
    through :meth:`_publish_request`."""
    return self._publish_record(st, records.wrap_payload(msg.SerializeToString(), to_id=st.endpoint_id,
                                                         from_id=self.endpoint_id), qos=qos)


def publish_record(self: UspController, st: AgentState, payload: bytes, *, qos: int = 0) -> bool:
    """:meth:`_send` of a whole serialized Record (a NotifyResp)."""
    mtp = st.mtp
    if mtp is not None:  # on a WebSocket: back over its connection
        return mtp.send(payload)
    if st.mqtt_version == 3 or self.mqtt_version == 3:
        return self.link.publish(self._reply_to_topic(st.topic, self.topic), payload, qos=qos, content_type=None)
    return self.link.publish(st.topic, payload, qos=qos, response_topic=self.topic)


def publish_request(self: UspController, st: AgentState, payload: bytes) -> bool:
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


def request_head(self: UspController, st: AgentState) -> tuple[str, int, bytes]:
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


def reply_to_topic(self: UspController, topic: str, reply: str) -> str:
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


async def request(self: UspController, endpoint_id: str, msg: msg_pb.Msg, timeout: float | None = None,
                  *, force: bool = False) -> msg_pb.Msg:
    """Send a request Message and return the agent's response Message.

    Raises :class:`UspError` for an Error response, :class:`UspTimeout` when nothing comes back,
    :class:`AgentOffline` when the agent is known to be disconnected (unless ``force``).
    """
    return await self._request(endpoint_id, msg.header.msg_id, msg.header.msg_type, msg.SerializeToString(),
                               timeout, force=force)


async def dispatch(self: UspController, endpoint_id: str, msg_id: str, msg_type: int, payload: bytes,
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


def send_request(self: UspController, st: AgentState, msg_id: str, msg_type: int, payload: bytes, timeout: float | None
                  ) -> asyncio.Future[msg_pb.Msg]:
    """Send a request and return the future of its answer (an Error Message's answer is a
    :class:`UspError`). :meth:`_request` after its checks."""
    assert self._loop is not None
    fut: asyncio.Future[msg_pb.Msg] = self._loop.create_future()
    self._enqueue(st, msg_id, msg_type, payload, timeout, fut)
    return fut


def enqueue(self: UspController, st: AgentState, msg_id: str, msg_type: int, payload: bytes, timeout: float | None,
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


def request_threadsafe(self: UspController, endpoint_id: str, msg: msg_pb.Msg, timeout: float | None = None
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


def gone_error(p: _Pending, msg_id: str, reason: str) -> AgentGoneMidRequest:
    return AgentGoneMidRequest(p.endpoint_id, (
        f"it disconnected ({reason}) before answering {p.what} msg_id {msg_id}, which it had been sent: "
        "it may have carried it out"))


def expire(self: UspController, msg_id: str) -> None:
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


async def get_params(self: UspController, endpoint_id: str, paths: Iterable[str], *, timeout: float | None = None,
              ) -> tuple[dict[str, str], dict[str, tuple[int, str]]]:
    """``({param path: value}, {requested path: (err_code, err_msg)})``."""
    resp = await self.request(endpoint_id, records.get(records.new_msg_id(), list(paths)), timeout)
    return records.flatten_get_resp(resp.body.response.get_resp)


async def set_params(self: UspController,
                     endpoint_id: str, values: Mapping[str, object], *, timeout: float | None = None,
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


async def add_object(self: UspController,
                     endpoint_id: str, obj_path: str, params: Mapping[str, object] | None = None, *,
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


async def delete_objects(self: UspController,
                         endpoint_id: str, obj_paths: Iterable[str], *, timeout: float | None = None
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


async def operate_command(self: UspController,
                          endpoint_id: str, command: str, args: Mapping[str, object] | None = None, *,
                  command_key: str = "", timeout: float | None = None
                  ) -> msg_pb.OperateResp.OperationResult:
    msg = records.operate(records.new_msg_id(), command, command_key=command_key, args=args)
    resp = await self.request(endpoint_id, msg, timeout)
    results = resp.body.response.operate_resp.operation_results
    if not results:
        raise UspError(7022, f"OperateResp for {command} holds no result")
    first: msg_pb.OperateResp.OperationResult = results[0]  # the container is untyped (no protobuf stubs)
    return first


async def get_supported_dm(self: UspController,
                           endpoint_id: str, obj_paths: Iterable[str], *, first_level_only: bool = False,
                           timeout: float | None = None) -> msg_pb.GetSupportedDMResp:
    msg = records.get_supported_dm(records.new_msg_id(), list(obj_paths), first_level_only=first_level_only)
    resp = await self.request(endpoint_id, msg, timeout)
    return resp.body.response.get_supported_dm_resp


async def get_instances(self: UspController,
                        endpoint_id: str, obj_paths: Iterable[str], *, first_level_only: bool = False,
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


async def get_supported_protocol(self: UspController, endpoint_id: str, *, timeout: float | None = None) -> str:
    resp = await self.request(endpoint_id, records.get_supported_protocol(records.new_msg_id()), timeout)
    versions = resp.body.response.get_supported_protocol_resp.agent_supported_protocol_versions
    self._state(endpoint_id).usp_versions = versions
    return versions


async def probe(self: UspController, endpoint_id: str, timeout: float) -> bool:
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


async def probe_conventions(self: UspController, st: AgentState, timeout: float) -> bool:
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


async def subscribe(self: UspController, endpoint_id: str, notif_type: str, reference_list: str, *,
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
