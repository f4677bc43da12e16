"""What reaches the USP controller over MQTT: Records parsed (answers straight from the wire on the
hot path), who sent them, answers settled, notifications answered and delivered.

Phase functions of :class:`executors.usp.controller.UspController` (its façade binds each as a method;
the state they read and write is the controller's own).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from google.protobuf.message import DecodeError

from executors.usp import cluster, records
from executors.usp import mqtt_wire as wire
from executors.usp.controller_types import (
    _MQTT_V5,
    AgentState,
    UspEvent,
    _event,
    _usp_error,
    log,
)
from executors.usp.mqtt import USP_CONTENT_TYPES, Inbound
from executors.usp.proto import msg_pb
from executors.usp.topics import (
    REPLY_TO,
    split_reply_to,
)

if TYPE_CHECKING:
    from executors.usp.controller import UspController


def on_message(self: UspController, inbound: Inbound) -> None:
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


def answers_from_wire(self: UspController, buf: bytes, pos: int, n: int) -> tuple[int, int]:
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


def answer_from_wire(self: UspController, buf: bytes, p: int, end: int) -> bool:
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


def sender(self: UspController, key: bytes, buf: bytes, p: int, end: int
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


def heard(self: UspController, st: AgentState, topic: str, response_topic: str | None, now: float) -> None:
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


def malformed(self: UspController, topic: str, exc: records.MalformedRecord) -> None:
    """A Record that could not be read is dropped (TR-369), counted, and logged once per 5 s."""
    stats = self.stats
    stats.malformed += 1
    mono = time.monotonic()
    if mono - self._malformed_logged > 5.0:  # one line per 5 s, however many arrive
        self._malformed_logged = mono
        log.warning("dropping a malformed USP Record on %s: %s (%d so far)", topic, exc, stats.malformed)


def reply_to_in(self: UspController, topic: str) -> str | None:
    """``split_reply_to(topic)[1]``, kept per topic: a 3.1.1 agent names the same one in every Record."""
    kept = self._reply_to_of
    if topic in kept:
        return kept[topic]
    if len(kept) >= 20000:  # one per agent heard; bounded all the same
        kept.clear()
    reply_to = kept[topic] = split_reply_to(topic)[1]
    return reply_to


def on_msg(self: UspController, st: AgentState, msg: msg_pb.Msg, now: float, raw: bytes = b"", body: str | None = None,
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


def settle(self: UspController, st: AgentState, msg_id: str, error: bool, msg: msg_pb.Msg | None,
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


def remember_done(self: UspController, msg_id: str) -> None:
    self._done_ids.add(msg_id)


def on_notify(self: UspController, st: AgentState, n: msg_pb.Notify, msg_id: str, now: float, *, raw: bytes = b"",
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


def deliver_notify(self: UspController, st: AgentState, n: msg_pb.Notify, msg_id: str, sub: str, now: float, *,
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
