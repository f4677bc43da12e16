"""MQTT PUBLISH and PUBACK on the wire: encoding and decoding the packets USP traffic is made of.

Why not paho's own codec for these: paho-mqtt is pure Python and general — every PUBLISH builds an
``MQTTMessage`` and, on MQTT 5, a ``Properties`` object that is packed and unpacked property by
property. Profiled under the fan-out and reconnect-storm benchmarks, that was 60-70 % of the
controller's and of the agent simulator's CPU per USP Record (MQTT 5: ~250 us per Set on each
side; MQTT 3.1.1 without properties: ~130 us). A USP Record needs exactly two properties (Response
Topic, Content Type, TR-369 R-MQTT.23/27), so :class:`~executors.usp.mqtt.MqttLink` encodes and
decodes PUBLISH (QoS 0 and 1) and PUBACK here, with the fixed parts of a packet (topic and
properties) encoded once per destination; paho keeps everything else — CONNECT and the will,
SUBSCRIBE, keepalive, DISCONNECT, QoS 2 — and any PUBLISH this module declines
(:class:`Unsupported`) is handed to paho as before. ``tests/usp/test_mqtt_wire.py`` checks the
bytes against paho's for both MQTT versions.

Everything here is pure (bytes in, bytes out).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

PUBLISH = 0x30
PUBACK = 0x40
MAX_REMAINING = 268_435_455  # MQTT: four bytes of variable-length integer

# MQTT 5 property identifiers by how their value is encoded (MQTT 5.0, section 2.2.2.2)
PROP_CONTENT_TYPE = 0x03
PROP_RESPONSE_TOPIC = 0x08
PROP_TOPIC_ALIAS = 0x23
_PROP_BYTE = frozenset({0x01, 0x17, 0x19, 0x24, 0x25, 0x28, 0x29, 0x2A})
_PROP_INT16 = frozenset({0x13, 0x21, 0x22})  # 0x23 (topic alias) is declined instead
_PROP_INT32 = frozenset({0x02, 0x11, 0x18, 0x27})
_PROP_VARINT = frozenset({0x0B})
_PROP_STRING = frozenset({0x03, 0x08, 0x09, 0x12, 0x15, 0x16, 0x1A, 0x1C, 0x1F})  # UTF-8 and binary data
_PROP_PAIR = frozenset({0x26})


class Unsupported(ValueError):
    """A packet this codec leaves to paho (QoS 2, a topic alias, a malformed body)."""


def varint(n: int) -> bytes:
    """An MQTT variable byte integer."""
    if n < 128:
        return bytes((n,))
    if n < 16384:  # a USP PUBLISH: one pair of bytes, no loop
        return bytes(((n & 0x7F) | 0x80, n >> 7))
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _str16(value: str) -> bytes:
    data = value.encode("utf-8")
    if len(data) > 0xFFFF:
        raise ValueError(f"MQTT string too long ({len(data)} bytes, at most 65535)")
    return len(data).to_bytes(2, "big") + data


def check_topic(topic: str) -> None:
    """The rules paho applies to a topic we publish to (a learnt topic can be anything)."""
    if not topic:
        raise ValueError("Invalid topic.")
    if "+" in topic or "#" in topic:
        raise ValueError("Publish topic cannot contain wildcards.")
    if len(topic.encode("utf-8")) > 0xFFFF:
        raise ValueError("Publish topic is too long.")


def properties(*, response_topic: str | None = None, content_type: str | None = None) -> bytes:
    """The MQTT 5 property block of a USP PUBLISH (length prefix included), in paho's order."""
    body = b""
    if content_type:
        body += bytes((PROP_CONTENT_TYPE,)) + _str16(content_type)
    if response_topic:
        body += bytes((PROP_RESPONSE_TOPIC,)) + _str16(response_topic)
    return varint(len(body)) + body


_PROPS: dict[tuple[str | None, str | None], bytes] = {}


def props_block(response_topic: str | None, content_type: str | None) -> bytes:
    """:func:`properties`, cached: a process publishes with a handful of reply topics."""
    key = (response_topic, content_type)
    block = _PROPS.get(key)
    if block is None:
        if len(_PROPS) > 1024:  # a few reply topics in practice; bounded all the same
            _PROPS.clear()
        block = _PROPS[key] = properties(response_topic=response_topic, content_type=content_type)
    return block


def topic_field(topic: str) -> bytes:
    """The length-prefixed UTF-8 topic of a PUBLISH we send, checked with paho's rules."""
    if not topic or "+" in topic or "#" in topic:
        check_topic(topic)  # raises, saying which rule
    encoded = topic.encode("utf-8")
    if len(encoded) > 0xFFFF:
        raise ValueError("Publish topic is too long.")
    return len(encoded).to_bytes(2, "big") + encoded


_LEN1 = [bytes((i,)) for i in range(128)]  # one-byte remaining lengths, made once
_FIRST = (bytes((PUBLISH,)), bytes((PUBLISH | 2,)))  # QoS 0, QoS 1


def publish_packet(topic: bytes, props: bytes, payload: bytes, qos: int = 0, mid: int = 0) -> bytes:
    """A whole PUBLISH (QoS 0 or 1) from a :func:`topic_field`, a property block (empty for MQTT
    3.1.1) and the payload. Why a function of encoded parts: a storm answers each of 200,000 agents
    once, so per-destination objects would only be garbage for the cyclic collector."""
    if qos:
        rest = len(topic) + len(props) + len(payload) + 2
        if rest < 128:
            return b"".join((_FIRST[1], _LEN1[rest], topic, mid.to_bytes(2, "big"), props, payload))
        if rest > MAX_REMAINING:
            raise ValueError("Payload too large.")
        return b"".join((_FIRST[1], varint(rest), topic, mid.to_bytes(2, "big"), props, payload))
    rest = len(topic) + len(props) + len(payload)
    if rest < 128:
        return b"".join((_FIRST[0], _LEN1[rest], topic, props, payload))
    if rest > MAX_REMAINING:
        raise ValueError("Payload too large.")
    return b"".join((_FIRST[0], varint(rest), topic, props, payload))


def publish_parts(head: bytes, middle: bytes, payload: bytes) -> bytes:
    """A QoS 0 PUBLISH whose variable header and payload are ``head + middle + payload``: ``head`` a
    :func:`topic_field` and property block with whatever else every packet to one destination starts
    with (a USP Record's envelope), ``middle`` what depends on the payload's length. Why: the
    controller's requests to one agent differ only in their Message, so one join makes the packet."""
    rest = len(head) + len(middle) + len(payload)
    if rest < 128:
        return b"".join((_FIRST[0], _LEN1[rest], head, middle, payload))
    if rest > MAX_REMAINING:
        raise ValueError("Payload too large.")
    return b"".join((_FIRST[0], varint(rest), head, middle, payload))


@dataclass(frozen=True, slots=True)
class PublishPrefix:
    """The parts of a PUBLISH that depend only on its destination: encoded once, reused."""

    first: int  # packet type and flags (QoS; never DUP or RETAIN here)
    topic: bytes  # length-prefixed topic
    props: bytes  # MQTT 5 property block (empty for 3.1.1)
    qos: int

    @classmethod
    def build(cls, topic: str, *, qos: int, v5: bool, response_topic: str | None = None,
              content_type: str | None = None) -> PublishPrefix:
        field = topic_field(topic)
        if qos not in (0, 1):
            raise ValueError("this codec publishes QoS 0 and 1 only")
        props = props_block(response_topic, content_type) if v5 else b""
        return cls(PUBLISH | (qos << 1), field, props, qos)

    def packet(self, payload: bytes, mid: int = 0) -> bytes:
        """The whole PUBLISH packet carrying ``payload`` (``mid``: the packet id of a QoS 1 one)."""
        return publish_packet(self.topic, self.props, payload, self.qos, mid)


def puback(mid: int) -> bytes:
    """PUBACK, reason Success (MQTT 5 allows the short form; it is the 3.1.1 form too)."""
    return bytes((PUBACK, 2, mid >> 8, mid & 0xFF))


def pubacks(mids: list[int]) -> bytes:
    """:func:`puback` for each packet id, in order, as one write: a PUBACK is exactly one
    big-endian 32-bit word (``0x40 0x02 <id>``)."""
    return struct.pack(f">{len(mids)}I", *[0x40020000 | m for m in mids])


#: A decoded PUBLISH — what USP needs of it: (topic, payload, qos, packet id, Response Topic,
#: Content Type). A plain tuple: one is made per message received.
Publish = tuple[str, bytes, int, int, "str | None", "str | None"]


def frame_length(buf: bytes | bytearray | memoryview, pos: int) -> tuple[int, int] | None:
    """``(start of the body, end of the packet)`` for the packet at ``pos``, or None while it is
    incomplete. Raises :class:`Unsupported` for a remaining length longer than four bytes."""
    n = len(buf)
    i = pos + 1
    rest = 0
    shift = 0
    while True:
        if i >= n:
            return None
        byte = buf[i]
        i += 1
        rest |= (byte & 0x7F) << shift
        if byte < 0x80:
            break
        shift += 7
        if shift > 21:
            raise Unsupported("remaining length longer than four bytes")
    end = i + rest
    return (i, end) if end <= n else None


def decode_publish(first: int, buf: bytes, start: int, end: int, *, v5: bool) -> Publish:
    """The PUBLISH whose body is ``buf[start:end]`` (after the fixed header ``first`` and the
    remaining length). Raises :class:`Unsupported` for QoS 2, a topic alias, or bytes that are not a
    well-formed PUBLISH, and ``UnicodeDecodeError`` for a topic or property that is not UTF-8."""
    qos = (first >> 1) & 3
    if qos > 1:
        raise Unsupported("QoS 2 (or the reserved QoS 3)")
    try:
        if start + 2 > end:
            raise Unsupported("no topic length")
        p = start + 2 + ((buf[start] << 8) | buf[start + 1])
        if p > end:
            raise Unsupported("topic runs past the packet")
        topic = buf[start + 2 : p].decode()
        mid = 0
        if qos:
            if p + 2 > end:
                raise Unsupported("no packet id")
            mid = (buf[p] << 8) | buf[p + 1]
            p += 2
        response_topic = content_type = None
        if v5:
            if p >= end:
                raise Unsupported("no property length")
            plen = buf[p]
            p += 1
            if plen & 0x80:  # a property block of 128 bytes or more: a longer length
                plen &= 0x7F
                shift = 7
                while True:
                    if p >= end:
                        raise Unsupported("property length runs past the packet")
                    byte = buf[p]
                    p += 1
                    plen |= (byte & 0x7F) << shift
                    if byte < 0x80:
                        break
                    shift += 7
                    if shift > 21:
                        raise Unsupported("property length longer than four bytes")
            pend = p + plen
            if pend > end:
                raise Unsupported("properties run past the packet")
            if p < pend:
                response_topic, content_type = _usp_properties(buf, p, pend)
                p = pend
        if p > end:
            raise Unsupported("truncated PUBLISH")
        return topic, buf[p:end], qos, mid, response_topic, content_type
    except IndexError:
        raise Unsupported("truncated PUBLISH") from None


def usp_properties(block: bytes) -> tuple[str | None, str | None]:
    """(Response Topic, Content Type) of a PUBLISH's MQTT 5 property block (without its length), as
    :func:`decode_publish` reads them; :class:`Unsupported` and ``UnicodeDecodeError`` as there.
    Why apart: a receiver that keeps them per block (the controller, one block per agent) reads a
    block once."""
    try:
        return _usp_properties(block, 0, len(block))
    except IndexError:
        raise Unsupported("truncated property block") from None


def _usp_properties(buf: bytes, p: int, pend: int) -> tuple[str | None, str | None]:
    response_topic = content_type = None
    while p < pend:
        pid = buf[p]
        p += 1
        if pid in _PROP_STRING:
            q = p + 2 + ((buf[p] << 8) | buf[p + 1])
            if q > pend:
                raise Unsupported("a property runs past the property block")
            if pid == PROP_RESPONSE_TOPIC:
                response_topic = buf[p + 2 : q].decode()
            elif pid == PROP_CONTENT_TYPE:
                content_type = buf[p + 2 : q].decode()
            p = q
        elif pid in _PROP_BYTE:
            p += 1
        elif pid in _PROP_INT16:
            p += 2
        elif pid in _PROP_INT32:
            p += 4
        elif pid in _PROP_VARINT:
            while buf[p] & 0x80:
                p += 1
            p += 1
        elif pid in _PROP_PAIR:
            p += 2 + ((buf[p] << 8) | buf[p + 1])
            p += 2 + ((buf[p] << 8) | buf[p + 1])
        else:  # a topic alias (0x23) or an identifier MQTT 5 does not define
            raise Unsupported(f"property 0x{pid:02x}")
    if p != pend:
        raise Unsupported("a property runs past the property block")
    return response_topic, content_type
