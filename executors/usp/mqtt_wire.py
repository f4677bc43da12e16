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
        check_topic(topic)
        if qos not in (0, 1):
            raise ValueError("this codec publishes QoS 0 and 1 only")
        props = properties(response_topic=response_topic, content_type=content_type) if v5 else b""
        return cls(PUBLISH | (qos << 1), _str16(topic), props, qos)

    def packet(self, payload: bytes, mid: int = 0) -> bytes:
        """The whole PUBLISH packet carrying ``payload`` (``mid``: the packet id of a QoS 1 one)."""
        rest = len(self.topic) + len(self.props) + len(payload) + (2 if self.qos else 0)
        if rest > MAX_REMAINING:
            raise ValueError("Payload too large.")
        if self.qos:
            return b"".join((bytes((self.first,)), varint(rest), self.topic, mid.to_bytes(2, "big"), self.props,
                             payload))
        return b"".join((bytes((self.first,)), varint(rest), self.topic, self.props, payload))


def puback(mid: int) -> bytes:
    """PUBACK, reason Success (MQTT 5 allows the short form; it is the 3.1.1 form too)."""
    return bytes((PUBACK, 2, mid >> 8, mid & 0xFF))


@dataclass(slots=True)
class Publish:
    """A decoded PUBLISH: what USP needs of it."""

    topic: str
    payload: bytes
    qos: int
    mid: int
    response_topic: str | None
    content_type: str | None


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


def decode_publish(first: int, body: memoryview, *, v5: bool) -> Publish:
    """A PUBLISH body (after the fixed header). Raises :class:`Unsupported` for QoS 2, a topic alias,
    or bytes that are not a well-formed PUBLISH, and ``UnicodeDecodeError`` for a topic that is
    not UTF-8."""
    qos = (first >> 1) & 3
    if qos == 3 or qos == 2:
        raise Unsupported("QoS 2 (or the reserved QoS 3)")
    try:
        tlen = (body[0] << 8) | body[1]
        p = 2 + tlen
        if p > len(body):
            raise Unsupported("topic runs past the packet")
        topic = bytes(body[2:p]).decode("utf-8")
        mid = 0
        if qos:
            mid = (body[p] << 8) | body[p + 1]
            p += 2
        response_topic = content_type = None
        if v5:
            plen = 0
            shift = 0
            while True:
                byte = body[p]
                p += 1
                plen |= (byte & 0x7F) << shift
                if byte < 0x80:
                    break
                shift += 7
                if shift > 21:
                    raise Unsupported("property length longer than four bytes")
            pend = p + plen
            if pend > len(body):
                raise Unsupported("properties run past the packet")
            while p < pend:
                pid = body[p]
                p += 1
                if pid in _PROP_STRING:
                    n = (body[p] << 8) | body[p + 1]
                    if pid == PROP_RESPONSE_TOPIC:
                        response_topic = bytes(body[p + 2 : p + 2 + n]).decode("utf-8")
                    elif pid == PROP_CONTENT_TYPE:
                        content_type = bytes(body[p + 2 : p + 2 + n]).decode("utf-8")
                    p += 2 + n
                elif pid in _PROP_BYTE:
                    p += 1
                elif pid in _PROP_INT16:
                    p += 2
                elif pid in _PROP_INT32:
                    p += 4
                elif pid in _PROP_VARINT:
                    while body[p] & 0x80:
                        p += 1
                    p += 1
                elif pid in _PROP_PAIR:
                    p += 2 + ((body[p] << 8) | body[p + 1])
                    p += 2 + ((body[p] << 8) | body[p + 1])
                else:  # a topic alias (0x23) or an identifier MQTT 5 does not define
                    raise Unsupported(f"property 0x{pid:02x}")
            if p != pend:
                raise Unsupported("a property runs past the property block")
        return Publish(topic, bytes(body[p:]), qos, mid, response_topic, content_type)
    except IndexError:
        raise Unsupported("truncated PUBLISH") from None
