"""The PUBLISH/PUBACK codec (``executors.usp.mqtt_wire``) against paho's own bytes, and the link
that uses it against a real broker: QoS 1 acknowledged once, big payloads across reads, what the
codec declines still delivered through paho, writes from another thread kept whole and in order."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from executors.usp import mqtt_wire as wire
from executors.usp.loop import LoopThread
from executors.usp.mqtt import BrokerAddress, Inbound, MqttLink
from tests.usp.support import BrokerInfo, wait_until


class _NoSocket:
    def close(self) -> None:
        pass


def _paho_publish_bytes(version: int, topic: str, payload: bytes, qos: int, mid: int,
                        props: Properties | None) -> bytes:
    """The PUBLISH packet paho itself would write (captured from its output queue)."""
    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5 if version == 5 else paho.MQTTv311)
    client._sock = _NoSocket()  # type: ignore[assignment]  # paho only checks that it has one
    client.on_socket_register_write = lambda *_a: None  # queue, do not write
    client._send_publish(mid, topic.encode(), payload, qos, False, False, None, props)
    return bytes(client._out_packet[-1]["packet"])


def _props(response_topic: str | None, content_type: str | None) -> Properties | None:
    if not (response_topic or content_type):
        return None
    p = Properties(PacketTypes.PUBLISH)
    if response_topic:
        p.ResponseTopic = response_topic
    if content_type:
        p.ContentType = content_type
    return p


@pytest.mark.parametrize("version", [5, 3])
@pytest.mark.parametrize("qos", [0, 1])
@pytest.mark.parametrize("size", [0, 100, 200, 20_000, 3_000_000])
@pytest.mark.parametrize("props", [(None, None), ("usp/controller-reply/x", "usp.msg"), (None, "usp.msg")])
def test_publish_bytes_are_pahos(version: int, qos: int, size: int, props: tuple[str | None, str | None]) -> None:
    payload = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    topic = "usp/agent/os::012345-PX7K%2F0001"
    rt, ct = props
    ours = wire.PublishPrefix.build(topic, qos=qos, v5=version == 5, response_topic=rt if version == 5 else None,
                                    content_type=ct if version == 5 else None).packet(payload, 4711 if qos else 0)
    theirs = _paho_publish_bytes(version, topic, payload, qos, 4711, _props(rt, ct) if version == 5 else None)
    assert ours == theirs


@pytest.mark.parametrize("version", [5, 3])
@pytest.mark.parametrize("qos", [0, 1])
def test_decoding_paho_packets(version: int, qos: int) -> None:
    props = None
    if version == 5:  # every kind of property USP does not use is skipped, the two it uses are read
        props = _props("usp/agent/äöü", "usp.msg")
        assert props is not None
        props.UserProperty = [("usp-endpoint-id", "os::x"), ("k", "v")]
        props.MessageExpiryInterval = 3600
        props.CorrelationData = b"\x00\x01"
        props.PayloadFormatIndicator = 0
    packet = _paho_publish_bytes(version, "usp/controller/ctl", b"\x0a\x03abc", qos, 513, props)
    body, end = wire.frame_length(packet, 0) or (0, 0)
    assert end == len(packet)
    topic, payload, got_qos, mid, response_topic, content_type = wire.decode_publish(
        packet[0], packet + b"next packet", body, end, v5=version == 5)
    assert (topic, payload, got_qos, mid) == ("usp/controller/ctl", b"\x0a\x03abc", qos, 513 if qos else 0)
    if version == 5:
        assert (response_topic, content_type) == ("usp/agent/äöü", "usp.msg")
    else:
        assert (response_topic, content_type) == (None, None)


def test_frames_declined_or_incomplete() -> None:
    packet = wire.PublishPrefix.build("t", qos=1, v5=True, content_type="usp.msg").packet(b"p" * 300, 7)
    for cut in (1, 2, 3, len(packet) - 1):
        assert wire.frame_length(packet[:cut], 0) is None  # wait for the rest
    with pytest.raises(wire.Unsupported):
        wire.frame_length(b"\x30\xff\xff\xff\xff\x01", 0)  # a five-byte remaining length
    end = len(packet)
    with pytest.raises(wire.Unsupported):
        wire.decode_publish(0x34, packet, 3, end, v5=True)  # QoS 2: paho's job
    for cut in (4, 5, 7, 9, 15):  # cut before the payload, followed by another packet
        with pytest.raises(wire.Unsupported):
            wire.decode_publish(packet[0], packet[:cut] + packet, 3, cut, v5=True)
    props = Properties(PacketTypes.PUBLISH)
    props.TopicAlias = 3
    alias = _paho_publish_bytes(5, "t", b"p", 0, 0, props)
    with pytest.raises(wire.Unsupported):
        wire.decode_publish(alias[0], alias, 2, len(alias), v5=True)
    bad_topic = b"\x00\x02\xff\xfe\x00payload"
    with pytest.raises(UnicodeDecodeError):
        wire.decode_publish(0x30, bad_topic, 0, len(bad_topic), v5=True)
    long_props = _props("r" * 300, "usp.msg")  # a property block of two-byte length
    big = _paho_publish_bytes(5, "t", b"p", 1, 9, long_props)
    body, end = wire.frame_length(big, 0) or (0, 0)
    assert wire.decode_publish(big[0], big, body, end, v5=True) == ("t", b"p", 1, 9, "r" * 300, "usp.msg")


@pytest.mark.parametrize("version", [5, 3])
@pytest.mark.parametrize("size", [0, 60, 200, 5_000, 20_000])
def test_a_kept_head_makes_paho_s_packet(version: int, size: int) -> None:
    """A sender that keeps a destination's head (``MqttLink.publish_head`` + the start of its payloads)
    and writes the rest per message (``publish_parts``, or the link's inline table) writes paho's bytes;
    ``usp_properties`` reads a property block as ``decode_publish`` does."""
    payload = b"\x0a\x03abc" + bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    link = MqttLink("mqtt://127.0.0.1:1", version=version)
    topic, rt = "usp/agent/os::012345-PX7K%2F0001", "usp/controller-reply/ctl"
    head = link.publish_head(topic, response_topic=rt)
    theirs = _paho_publish_bytes(version, topic, payload, 0, 0, _props(rt, "usp.msg") if version == 5 else None)
    for cut in (0, 3, len(payload)):
        assert wire.publish_parts(head + payload[:cut], b"", payload[cut:]) == theirs
        assert wire.publish_parts(head, payload[:cut], payload[cut:]) == theirs
    if version == 5:
        block = wire.properties(response_topic=rt, content_type="usp.msg")
        assert wire.usp_properties(block[1:]) == (rt, "usp.msg")
        assert wire.usp_properties(b"") == (None, None)
        props = Properties(PacketTypes.PUBLISH)
        props.TopicAlias = 3
        alias = _paho_publish_bytes(5, "t", b"p", 0, 0, props)
        assert alias[5] == 3  # the property block's length: then the block, then the payload
        with pytest.raises(wire.Unsupported, match="0x23"):
            wire.usp_properties(alias[6:-1])
        with pytest.raises(wire.Unsupported):
            wire.usp_properties(block[1:-1])  # a property cut short
    with pytest.raises(ValueError):
        link.publish_head("usp/+/x")


@pytest.mark.parametrize("topic", ["", "usp/+/x", "usp/#"])
def test_publish_topics_paho_refuses_are_refused(topic: str) -> None:
    with pytest.raises(ValueError):
        wire.PublishPrefix.build(topic, qos=0, v5=True)


def test_puback_is_the_short_form() -> None:
    assert wire.puback(0x1234) == b"\x40\x02\x12\x34"
    assert wire.varint(0) == b"\x00" and wire.varint(127) == b"\x7f" and wire.varint(128) == b"\x80\x01"
    assert wire.varint(268_435_455) == b"\xff\xff\xff\x7f"


# ---------------------------------------------------------------------- the link on a real broker

@pytest.fixture
def loop() -> Any:
    runner = LoopThread("wire-test")
    yield runner
    runner.stop()


def _link(broker: BrokerInfo, got: list[Inbound], **kw: Any) -> MqttLink:
    return MqttLink(broker.url, version=5 if broker.mqtt5 else 3, on_message=got.append, **kw)


@pytest.mark.mqtt
def test_link_round_trip_qos1_big_and_threadsafe(usp_broker: BrokerInfo, loop: Any) -> None:
    topic = f"gw-test/wire/{uuid.uuid4().hex}"
    got: list[Inbound] = []
    rx = _link(usp_broker, got)
    tx = _link(usp_broker, [])
    try:
        loop.run(rx.connect())
        loop.run(rx.subscribe([topic], qos=1))
        loop.run(tx.connect())
        rx._client._last_bytes_received = time.monotonic() - 1000  # as if nothing came for long
        big = bytes(range(256)) * 4096  # 1 MiB: arrives over many reads
        loop.run(_call(lambda: tx.publish(topic, b"first", qos=1, response_topic="reply/here")))
        loop.run(_call(lambda: tx.publish(topic, big, qos=1)))
        sent: list[bool] = []
        threads = [threading.Thread(target=lambda k=k: sent.extend(
            tx.publish_threadsafe(topic, f"t{k}-{i}".encode()) for i in range(200))) for k in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert all(sent) and len(sent) == 600
        wait_until(lambda: len(got) == 602, 10, "every publish")
        assert got[0].payload == b"first" and got[0].qos == 1
        if usp_broker.mqtt5:
            assert got[0].response_topic == "reply/here" and got[0].content_type == "usp.msg"
        assert got[1].payload == big
        for k in range(3):  # each thread's publishes arrive whole and in its order
            mine = [m.payload for m in got[2:] if m.payload.startswith(f"t{k}-".encode())]
            assert mine == [f"t{k}-{i}".encode() for i in range(200)]
        assert rx.stats.received == 602 and tx.stats.published == 602
        # paho's keepalive hears of the traffic it no longer reads itself (else a busy connection
        # whose PINGRESP waits behind a storm of PUBLISHes would be dropped as dead)
        assert time.monotonic() - rx._client._last_bytes_received < 5
    finally:
        loop.run(rx.close())
        loop.run(tx.close())


@pytest.mark.mqtt
def test_qos1_is_acknowledged_and_qos2_still_delivered(usp_broker: BrokerInfo, loop: Any) -> None:
    """A QoS 1 PUBLISH the link acknowledged is not redelivered to its persistent session; a QoS 2
    one (declined by the codec) reaches the handler through paho."""
    if not usp_broker.mqtt5:
        pytest.skip("persistent MQTT 5 session needed")
    topic = f"gw-test/wire/{uuid.uuid4().hex}"
    cid = f"gw-wire-{uuid.uuid4().hex[:8]}"
    got: list[Inbound] = []
    rx = _link(usp_broker, got, client_id=cid, clean_start=False, session_expiry_s=60, reconnect=False)
    pub = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    try:
        loop.run(rx.connect())
        loop.run(rx.subscribe([topic], qos=2))
        addr = BrokerAddress.parse(usp_broker.url)
        pub.connect(addr.host, addr.port)
        pub.loop_start()
        pub.publish(topic, b"q1", qos=1).wait_for_publish(5)
        pub.publish(topic, b"q2", qos=2).wait_for_publish(5)
        wait_until(lambda: len(got) == 2, 5, "both publishes")
        assert sorted(m.payload for m in got) == [b"q1", b"q2"]
        assert rx.stats.handed_to_paho == 1
        loop.run(asyncio.sleep(0.2))  # let the acknowledgements reach the broker
        loop.run(rx.close())
        again: list[Inbound] = []
        rx2 = _link(usp_broker, again, client_id=cid, clean_start=False, session_expiry_s=60, reconnect=False)
        loop.run(rx2.connect())
        loop.run(asyncio.sleep(0.5))
        assert again == []  # nothing was left unacknowledged in the session
        loop.run(rx2.close(end_session=True))
    finally:
        pub.loop_stop()
        pub.disconnect()


async def _call(fn: Any) -> Any:
    return fn()
