"""Recorded USP agents: what a real OB-USP-Agent sent, played back to a live controller, offline.

Why (issue 46 item 7): the simulated agent is this project's model of OB-USP-Agent; the behaviours
found by hand — a SetResp that comes *after* the agent's goodbye Record, a FactoryReset() whose
only sign is the process's reconnect and a ``LocalAgent.UpTime`` of seconds while its
``DeviceInfo.UpTime`` (the kernel's) is hours — were paragraphs. A cassette holds the Records that
crossed the broker during a by-hand run (captured by subscribing to ``#``), and
:class:`ReplayAgent` answers a live controller with them: for each request the controller sends, the
next recorded request of the same type is found and everything the agent sent after it (until the
controller's next request) is sent again with the recorded delays — responses carrying the live
request's msg_id, every Record addressed to the live controller, an ``mqtt_connect`` naming the
topic the replay listens on. The Records themselves are the agent's bytes otherwise.

The Records travel over MQTT 5 as they did when recorded — topics, Response Topic, the agent's
shipped ``/usp/agent`` — through :class:`LoopbackBroker`, a small MQTT broker in the test's own
process, so the replays need no Mosquitto and run in the fast tier. It routes PUBLISH packets to
matching subscriptions with their properties untouched; it is no model of a broker's limits (those
tests keep the real one).

Not product code: ``lint-imports`` forbids importing ``testing`` from the product.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import struct
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from executors.usp import records
from executors.usp.proto import msg_pb, record_pb


@dataclass(frozen=True)
class Recorded:
    """One Record that crossed the broker: when, where to, and its bytes."""

    t: float
    topic: str
    response_topic: str | None
    raw: bytes

    @property
    def decoded(self) -> Any:
        return records.decode(self.raw)


@dataclass
class UspCassette:
    peer: str
    note: str
    agent_id: str
    items: list[Recorded]

    @classmethod
    def load(cls, path: Path) -> UspCassette:
        raw = json.loads(path.read_text("utf-8"))
        items = [Recorded(r["t"], r["topic"], r.get("response_topic"), base64.b64decode(r["payload"]))
                 for r in raw["records"]]
        return cls(raw["peer"], raw.get("note", ""), raw["agent_id"], items)

    @classmethod
    def from_sniff(cls, lines: list[str], *, peer: str, note: str, agent_id: str) -> UspCassette:
        """Keep the Records between controllers and ``agent_id`` (not the controller group's own)."""
        items = []
        for line in lines:
            r = json.loads(line)
            raw = base64.b64decode(r["payload"])
            try:
                d = records.decode(raw)
            except Exception:  # the controllers' cluster relays are no USP Records
                continue
            if agent_id in (d.from_id, d.to_id):
                items.append(Recorded(r["t"], r["topic"], r.get("response_topic"), raw))
        return cls(peer, note, agent_id, items)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps({"peer": self.peer, "note": self.note, "agent_id": self.agent_id, "records": [
            {"t": r.t, "topic": r.topic, "response_topic": r.response_topic,
             "payload": base64.b64encode(r.raw).decode()} for r in self.items]}, indent=1) + "\n", "utf-8")


def _readdress(raw: bytes, *, to_id: str, msg_id: str | None = None, subscribed: str | None = None) -> bytes:
    """The agent's Record, sent to ``to_id``; a response's Msg carrying ``msg_id``; an mqtt_connect
    naming ``subscribed``."""
    rec = record_pb.Record()
    rec.ParseFromString(raw)
    rec.to_id = to_id
    if msg_id is not None and rec.WhichOneof("record_type") == "no_session_context":
        msg = msg_pb.Msg()
        msg.ParseFromString(rec.no_session_context.payload)
        msg.header.msg_id = msg_id
        rec.no_session_context.payload = msg.SerializeToString()
    if subscribed is not None and rec.WhichOneof("record_type") == "mqtt_connect":
        rec.mqtt_connect.subscribed_topic = subscribed
    return bytes(rec.SerializeToString())


class ReplayAgent:
    """Plays the recorded agent to a live controller on ``url`` (see the module docstring).
    ``agent_topic``: where it listens (tell the controller, e.g. by its topic conventions);
    ``controller_topic``: where its unsolicited Records go. ``answered`` counts what it replayed."""

    def __init__(self, cassette: UspCassette, url: str, *, agent_topic: str, controller_id: str,
                 controller_topic: str) -> None:
        self.cassette, self.agent_topic = cassette, agent_topic
        self.controller_id, self.controller_topic = controller_id, controller_topic
        self.answered = 0
        self.unmatched: list[str] = []
        self._used: set[int] = set()
        self._lock = threading.Lock()
        target = urlsplit(url)
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"replay-{uuid.uuid4().hex[:8]}",
                                   protocol=mqtt.MQTTv5)
        self._client.on_message = self._on_message
        self._host, self._port = target.hostname or "127.0.0.1", target.port or 1883

    def __enter__(self) -> ReplayAgent:
        ready = threading.Event()
        self._client.on_subscribe = lambda *a: ready.set()
        self._client.connect(self._host, self._port)
        self._client.loop_start()
        self._client.subscribe(self.agent_topic)
        if not ready.wait(10):
            raise TimeoutError("the replay agent could not subscribe")
        return self

    def __exit__(self, *exc: object) -> None:
        self._client.loop_stop()
        self._client.disconnect()

    def _is_request(self, i: int) -> bool:
        d = self.cassette.items[i].decoded
        return d.to_id == self.cassette.agent_id and d.msg is not None

    def _answered(self, i: int) -> bool:
        """Whether the agent answered recorded request ``i`` (a probe to a topic nobody listened on
        was not: a live request is matched to one the agent did answer)."""
        asked = self.cassette.items[i].decoded.msg_id
        return any(r.decoded.from_id == self.cassette.agent_id and r.decoded.msg_id == asked
                   for r in self.cassette.items[i + 1:])

    def _requests(self) -> set[str]:
        return {r.decoded.msg_id for i, r in enumerate(self.cassette.items) if self._is_request(i)}

    def _on_message(self, _c: Any, _u: Any, message: Any) -> None:
        try:
            live = records.decode(message.payload)
        except records.MalformedRecord:
            return
        if live.msg is None or live.to_id != self.cassette.agent_id:
            return
        reply_to = getattr(message.properties, "ResponseTopic", None)
        with self._lock:
            found = next((i for i, r in enumerate(self.cassette.items) if i not in self._used and self._is_request(i)
                          and r.decoded.msg.header.msg_type == live.msg.header.msg_type and self._answered(i)),
                         None)
            if found is None:
                self.unmatched.append(f"msg_type {live.msg.header.msg_type} msg_id {live.msg_id}")
                return
            self._used.add(found)
        threading.Thread(target=self._play, args=(found, live.msg_id, reply_to), daemon=True).start()

    def _play(self, i: int, msg_id: str, reply_to: str | None) -> None:
        """What the agent sent after request ``i`` (until the next controller request), with its delays."""
        items = self.cassette.items
        asked = items[i].decoded.msg_id
        other_answers = self._requests() - {asked}
        last = items[i].t
        for r in items[i + 1:]:
            d = r.decoded
            if d.to_id == self.cassette.agent_id:
                if d.msg is not None:
                    break  # the controller's next request: its answers wait for it
                continue
            time.sleep(max(0.0, r.t - last))
            last = r.t
            props = Properties(PacketTypes.PUBLISH)
            props.ResponseTopic = self.agent_topic
            if d.msg is not None and d.msg_id == asked:  # the answer: to the live request, where it asked
                payload = _readdress(r.raw, to_id=self.controller_id, msg_id=msg_id)
                self._client.publish(reply_to or self.controller_topic, payload, properties=props)
                self.answered += 1
            elif d.msg is None or d.msg_id not in other_answers:  # its own Records: goodbye, connect, Notify
                payload = _readdress(r.raw, to_id=self.controller_id, subscribed=self.agent_topic)
                self._client.publish(self.controller_topic, payload, properties=props)


# --------------------------------------------------------------------------- the loopback broker


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _read_varint(buf: bytes, at: int) -> tuple[int, int]:
    value, mult = 0, 1
    while True:
        byte = buf[at]
        at += 1
        value += (byte & 0x7F) * mult
        if not byte & 0x80:
            return value, at
        mult *= 128


def _string(buf: bytes, at: int) -> tuple[bytes, int]:
    (n,) = struct.unpack_from("!H", buf, at)
    return buf[at + 2 : at + 2 + n], at + 2 + n


def _packet(kind: int, flags: int, body: bytes) -> bytes:
    return bytes([kind << 4 | flags]) + _varint(len(body)) + body


def topic_matches(filter_: str, topic: str) -> bool:
    """MQTT topic filter matching (``+`` one level, ``#`` the rest; ``$`` topics only by name)."""
    if filter_.startswith("$share/"):
        filter_ = filter_.split("/", 2)[2] if filter_.count("/") >= 2 else filter_
    if topic.startswith("$") and not filter_.startswith("$"):
        return False
    f, t = filter_.split("/"), topic.split("/")
    for i, part in enumerate(f):
        if part == "#":
            return True
        if i >= len(t) or (part != "+" and part != t[i]):
            return False
    return len(f) == len(t)


class _Client:
    def __init__(self, writer: asyncio.StreamWriter, version: int) -> None:
        self.writer, self.version = writer, version
        self.filters: dict[str, int] = {}  # filter -> granted QoS
        self.will: tuple[str, bytes, bytes, int] | None = None  # topic, properties, payload, qos
        self._ids = 0

    def next_id(self) -> int:
        self._ids = self._ids % 65535 + 1
        return self._ids


class LoopbackBroker:
    """An MQTT 5 / 3.1.1 broker on 127.0.0.1 in a thread of the test process: CONNECT, SUBSCRIBE,
    UNSUBSCRIBE, PUBLISH at QoS 0 and 1 (properties forwarded as they came, to MQTT 5 subscribers),
    retained messages, wills, PING, DISCONNECT. Enough to carry USP Records between a controller
    and a replayed agent with nothing else installed; ``url`` is ``mqtt://127.0.0.1:<port>``."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._clients: set[_Client] = set()
        self._retained: dict[str, tuple[bytes, bytes, int]] = {}
        self._thread = threading.Thread(target=self._loop.run_forever, name="loopback-broker", daemon=True)
        self._server: asyncio.Server | None = None
        self.url = ""
        self.mqtt5 = True

    def __enter__(self) -> LoopbackBroker:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._serve, "127.0.0.1", 0), self._loop).result(10)
        self.url = f"mqtt://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    def __exit__(self, *exc: object) -> None:
        async def close() -> None:
            assert self._server is not None
            self._server.close()
            for c in list(self._clients):
                c.writer.close()
        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        client: _Client | None = None
        clean = False
        try:
            while True:
                head = await reader.readexactly(1)
                length, mult = 0, 1
                while True:
                    byte = (await reader.readexactly(1))[0]
                    length += (byte & 0x7F) * mult
                    mult *= 128
                    if not byte & 0x80:
                        break
                body = await reader.readexactly(length) if length else b""
                kind, flags = head[0] >> 4, head[0] & 0x0F
                if kind == 1:
                    client = self._connect(writer, body)
                elif client is None:
                    return
                elif kind == 3:
                    self._publish(client, flags, body)
                elif kind == 8:
                    self._subscribe(client, body)
                elif kind == 10:
                    self._unsubscribe(client, body)
                elif kind == 12:
                    writer.write(_packet(13, 0, b""))
                elif kind == 14:
                    clean = True
                    return
                # PUBACK (4) and anything else: nothing to do
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            if client is not None:
                self._clients.discard(client)
                if not clean and client.will is not None:
                    topic, props, payload, qos = client.will
                    self._route(topic, props, payload, qos)
            writer.close()

    def _connect(self, writer: asyncio.StreamWriter, body: bytes) -> _Client:
        _, at = _string(body, 0)
        version, flags = body[at], body[at + 1]
        at += 4  # level, flags, keepalive
        if version == 5:
            n, at = _read_varint(body, at)
            at += n
        _, at = _string(body, at)  # client id
        client = _Client(writer, 5 if version == 5 else 3)
        if flags & 0x04:  # a will
            props = b""
            if version == 5:
                n, start = _read_varint(body, at)
                props, at = body[start : start + n], start + n
            topic, at = _string(body, at)
            payload, at = _string(body, at)
            client.will = (topic.decode(), props, payload, (flags >> 3) & 0x03)
        self._clients.add(client)
        writer.write(_packet(2, 0, b"\x00\x00\x00" if version == 5 else b"\x00\x00"))
        return client

    def _subscribe(self, client: _Client, body: bytes) -> None:
        (pid,) = struct.unpack_from("!H", body, 0)
        at = 2
        if client.version == 5:
            n, at = _read_varint(body, at)
            at += n
        granted = bytearray()
        wanted: list[str] = []
        while at < len(body):
            raw, at = _string(body, at)
            qos = min(body[at] & 0x03, 1)
            at += 1
            client.filters[raw.decode()] = qos
            wanted.append(raw.decode())
            granted.append(qos)
        props = b"\x00" if client.version == 5 else b""
        client.writer.write(_packet(9, 0, struct.pack("!H", pid) + props + bytes(granted)))
        for topic, (rprops, payload, qos) in list(self._retained.items()):
            if any(topic_matches(f, topic) for f in wanted):
                self._deliver(client, topic, rprops, payload, qos, retain=True)

    def _unsubscribe(self, client: _Client, body: bytes) -> None:
        (pid,) = struct.unpack_from("!H", body, 0)
        at = 2
        if client.version == 5:
            n, at = _read_varint(body, at)
            at += n
        codes = bytearray()
        while at < len(body):
            raw, at = _string(body, at)
            client.filters.pop(raw.decode(), None)
            codes.append(0)
        tail = b"\x00" + bytes(codes) if client.version == 5 else b""
        client.writer.write(_packet(11, 0, struct.pack("!H", pid) + tail))

    def _publish(self, client: _Client, flags: int, body: bytes) -> None:
        qos, retain = (flags >> 1) & 0x03, bool(flags & 0x01)
        raw, at = _string(body, 0)
        topic = raw.decode()
        pid = None
        if qos:
            (pid,) = struct.unpack_from("!H", body, at)
            at += 2
        props = b""
        if client.version == 5:
            n, start = _read_varint(body, at)
            props, at = body[start : start + n], start + n
        payload = body[at:]
        if retain:
            if payload:
                self._retained[topic] = (props, payload, qos)
            else:
                self._retained.pop(topic, None)
        if pid is not None:
            client.writer.write(_packet(4, 0, struct.pack("!H", pid)))
        self._route(topic, props, payload, qos)

    def _route(self, topic: str, props: bytes, payload: bytes, qos: int) -> None:
        for other in list(self._clients):
            granted = [q for f, q in other.filters.items() if topic_matches(f, topic)]
            if granted:
                self._deliver(other, topic, props, payload, min(qos, max(granted)))

    @staticmethod
    def _deliver(client: _Client, topic: str, props: bytes, payload: bytes, qos: int, *, retain: bool = False) -> None:
        raw = topic.encode()
        body = struct.pack("!H", len(raw)) + raw
        if qos:
            body += struct.pack("!H", client.next_id())
        if client.version == 5:
            body += _varint(len(props)) + props
        with contextlib.suppress(ConnectionError, RuntimeError):
            client.writer.write(_packet(3, (qos << 1) | int(retain), body + payload))
