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

Not product code: ``lint-imports`` forbids importing ``testing`` from the product.
"""

from __future__ import annotations

import base64
import json
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
