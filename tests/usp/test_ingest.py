"""The controller's ingest path without a broker (issue 15, the reconnect storm): bytes in through
``MqttLink``'s read handler, bytes out through a socket that records what is written.

What is pinned: one read is answered in one write (every answer first, then the PUBACKs in the
order the PUBLISHes came); every Boot! is answered and delivered exactly once, a retransmission
answered again but not delivered again even behind a storm of others; the agent's topic is noted
once although every connect Record and every PUBLISH says it again; and the bounded bookkeeping
(recently seen notifications, the TopicBook's clear times) forgets only what it may."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from core import usp_topics as agent_topics
from executors.usp import mqtt_wire as wire
from executors.usp import records
from executors.usp.controller import RecentKeys, UspController, UspEvent, _Deadlines
from executors.usp.mqtt import BufferedSocket, MqttLink
from executors.usp.proto import msg_pb
from executors.usp.records import Header
from executors.usp.topics import agent_topic

CONTROLLER = "proto::controller-ingest"


class RecordingSocket:
    """The raw socket under a ``BufferedSocket``: reads come from ``chunks``, writes are kept."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.writes: list[bytes] = []

    def recv(self, _n: int) -> bytes:
        if not self.chunks:
            raise BlockingIOError
        return self.chunks.pop(0)

    def send(self, data: bytes | bytearray | memoryview) -> int:
        self.writes.append(bytes(data))
        return len(data)

    def fileno(self) -> int:
        return -1


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def _attach(link: MqttLink, loop: asyncio.AbstractEventLoop) -> RecordingSocket:
    raw = RecordingSocket()
    link._sock = BufferedSocket(raw, loop)
    link._loop = loop
    link.connected = True
    return raw


def _read(link: MqttLink, raw: RecordingSocket, data: bytes, loop: asyncio.AbstractEventLoop) -> None:
    raw.chunks.append(data)
    link._readable()
    loop.run_until_complete(asyncio.sleep(0))  # the loop turn ends: anything scheduled is flushed


def _packets(data: bytes) -> list[tuple[int, bytes, int]]:
    """(first byte, body, end) of every packet in ``data``."""
    out = []
    pos = 0
    while pos < len(data):
        frame = wire.frame_length(data, pos)
        assert frame is not None
        out.append((data[pos], data[frame[0]:frame[1]], frame[1]))
        pos = frame[1]
    return out


def test_one_read_is_answered_in_one_write(loop: asyncio.AbstractEventLoop) -> None:
    link = MqttLink("mqtt://127.0.0.1:1")
    got: list[str] = []

    def answer(inbound: Any) -> None:
        got.append(inbound.topic)
        link.publish("answers", b"re:" + inbound.payload, qos=0)

    link.on_message = answer
    raw = _attach(link, loop)
    prefix = wire.PublishPrefix.build("questions", qos=1, v5=True, content_type="usp.msg")
    _read(link, raw, b"".join(prefix.packet(b"q%d" % i, 100 + i) for i in range(5)), loop)
    assert got == ["questions"] * 5
    assert len(raw.writes) == 1, "answers and acknowledgements leave in one send"
    packets = _packets(raw.writes[0])
    answers = [p for p in packets if p[0] & 0xF0 == wire.PUBLISH]
    acks = [p for p in packets if p[0] & 0xF0 == wire.PUBACK]
    assert [a[1].endswith(b"re:q%d" % i) for i, a in enumerate(answers)] == [True] * 5
    assert [int.from_bytes(a[1][:2], "big") for a in acks] == [100, 101, 102, 103, 104]  # in arrival order
    assert raw.writes[0].endswith(b"".join(wire.puback(100 + i) for i in range(5)))
    assert wire.pubacks([1, 0xABCD]) == wire.puback(1) + wire.puback(0xABCD)
    assert link.stats.received == 5


def test_a_publish_split_across_reads_is_acknowledged_once(loop: asyncio.AbstractEventLoop) -> None:
    link = MqttLink("mqtt://127.0.0.1:1")
    got: list[bytes] = []
    link.on_message = lambda inbound: got.append(inbound.payload)
    raw = _attach(link, loop)
    packet = wire.PublishPrefix.build("t", qos=1, v5=True).packet(b"p" * 300, 7)  # a two-byte length
    for cut in (1, 2, 50):
        _read(link, raw, packet[:cut], loop)
        _read(link, raw, packet[cut:], loop)
    assert got == [b"p" * 300] * 3
    assert b"".join(raw.writes) == wire.puback(7) * 3


class CountingBook:
    """The part of a TopicBook the controller calls on every Record."""

    def __init__(self) -> None:
        self.noted: list[tuple[str, str, int, str]] = []
        self.cleared = 0

    def note(self, endpoint_id: str, topic: str, mqtt_version: int, source: str) -> bool:
        self.noted.append((endpoint_id, topic, mqtt_version, source))
        return True

    def clear_mismatch(self, endpoint_id: str) -> bool:
        self.cleared += 1
        return False


def _controller(loop: asyncio.AbstractEventLoop, topics: Any = None) -> tuple[UspController, RecordingSocket]:
    ctl = UspController("mqtt://127.0.0.1:1", endpoint_id=CONTROLLER, topics=topics, share_group=None)
    ctl._loop = loop
    ctl._deadlines = _Deadlines(loop, ctl._pending, ctl._expire)
    ctl.started = True
    return ctl, _attach(ctl.link, loop)


def _agent_publishes(i: int, boot_msg_id: str) -> bytes:
    ep = f"os::0AF0E1-ST{i:06d}"
    prefix = wire.PublishPrefix.build(f"usp/controller/{CONTROLLER}", qos=1, v5=True, response_topic=agent_topic(ep),
                                      content_type="usp.msg")
    boot = records.notify(boot_msg_id, "gw-boot", send_resp=True)
    ev = boot.body.request.notify.event
    ev.obj_path, ev.event_name = "Device.", "Boot!"
    ev.params["Cause"] = "LocalReboot"
    return (prefix.packet(records.mqtt_connect_record(to_id=CONTROLLER, from_id=ep, subscribed_topic=agent_topic(ep)),
                          (2 * i) % 65535 + 1)
            + prefix.packet(records.wrap(boot, to_id=CONTROLLER, from_id=ep), (2 * i + 1) % 65535 + 1))


def _notify_resps(raw: RecordingSocket) -> list[tuple[str, str, str]]:
    """(agent topic, to_id, msg_id) of every NotifyResp the controller wrote."""
    out = []
    for first, body, _ in _packets(b"".join(raw.writes)):
        if first & 0xF0 != wire.PUBLISH:
            continue
        topic, payload, *_ = wire.decode_publish(first, body, 0, len(body), v5=True)
        decoded = records.decode(payload)
        assert decoded.msg is not None and decoded.msg.header.msg_type == Header.NOTIFY_RESP
        assert decoded.msg.body.response.notify_resp.subscription_id == "gw-boot"
        out.append((topic, decoded.to_id, decoded.msg_id))
    return out


def test_a_storm_is_answered_and_delivered_exactly_once(loop: asyncio.AbstractEventLoop) -> None:
    book = CountingBook()
    ctl, raw = _controller(loop, book)
    events: list[UspEvent] = []
    ctl.add_listener(events.append)
    n = 300
    stream = b"".join(_agent_publishes(i, f"boot-{i}") for i in range(n))
    for start in range(0, len(stream), 4096):  # reads that cut packets anywhere
        _read(ctl.link, raw, stream[start:start + 4096], loop)
    _read(ctl.link, raw, _agent_publishes(7, "boot-7"), loop)  # agent 7 retransmits (and reconnects)
    answers = _notify_resps(raw)
    assert len(answers) == n + 1  # the retransmission is answered again ...
    assert sorted(a[2] for a in answers) == sorted([f"boot-{i}" for i in range(n)] + ["boot-7"])
    assert all(topic == agent_topic(to_id) for topic, to_id, _ in answers)  # each to the agent that asked
    boots = [e for e in events if e.kind == "boot"]
    assert len(boots) == n and len({e.endpoint_id for e in boots}) == n  # ... but delivered once
    assert boots[0] == UspEvent("boot", boots[0].endpoint_id, boots[0].ts,
                                {"obj_path": "Device.", "Cause": "LocalReboot"}, "gw-boot", "boot-0")
    assert ctl.stats.duplicate_notifies == 1 and ctl.stats.notify_resp_sent == n + 1
    assert sum(1 for e in events if e.kind == "connect") == n + 1
    assert ctl.connected_count() == n
    # every Record names the topic again (connect Record, then the Boot!'s Response Topic): noted once each
    assert len(book.noted) == n and len({ep for ep, *_ in book.noted}) == n
    assert book.cleared == 2 * n + 2
    st = ctl.agent("os::0AF0E1-ST000007")
    assert st is not None and st.boots == 1 and st.last_boot == {"Cause": "LocalReboot"}


def test_a_retransmission_behind_many_notifications_is_still_delivered_once(
        loop: asyncio.AbstractEventLoop, monkeypatch: pytest.MonkeyPatch) -> None:
    ctl, raw = _controller(loop)
    ctl._seen_notifies = RecentKeys(50)  # the window, small: at least 50 newer keys are remembered
    boots: list[str] = []
    ctl.add_listener(lambda e: boots.append(e.msg_id) if e.kind == "boot" else None)
    _read(ctl.link, raw, _agent_publishes(0, "first"), loop)
    for i in range(1, 50):
        _read(ctl.link, raw, _agent_publishes(i, f"other-{i}"), loop)
    _read(ctl.link, raw, _agent_publishes(0, "first"), loop)
    assert boots.count("first") == 1
    # the same msg_id from another agent is another notification
    _read(ctl.link, raw, _agent_publishes(1, "first"), loop)
    assert boots.count("first") == 2


def test_recent_keys_remember_at_least_size_keys() -> None:
    keys = RecentKeys(3)
    for k in "abcdefg":
        keys.add(k)
        assert k in keys
    assert all(k in keys for k in "efg")  # the last `size` always
    assert "a" not in keys and len(keys) <= 6  # older ones go, a generation at a time


def test_topic_book_forgets_only_clear_times_that_expired(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(agent_topics.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(agent_topics, "MAX_CLEARED", 4)
    book = agent_topics.TopicBook(store=None)
    monkeypatch.setattr(book, "_start_writer", lambda: None)  # nothing is written here
    assert book.clear_mismatch("old-1") and book.clear_mismatch("old-2")
    now[0] += agent_topics.RECHECK_CLEAR_S + 1
    assert book.clear_mismatch("new-1") and book.clear_mismatch("new-2") and book.clear_mismatch("new-3")
    assert set(book._cleared_at) == {"new-1", "new-2", "new-3"}  # the bound dropped the expired ones only
    assert not book.clear_mismatch("new-1")  # so a recent one queues no second DELETE within the interval
    assert book.clear_mismatch("old-1")  # an expired one does, as it always did


def test_hand_built_set_resp_is_protobufs() -> None:
    import random
    import string

    rnd = random.Random(7)

    def text(*sizes: int) -> str:
        return "".join(rnd.choice(string.printable + "äö€\x00") for _ in range(rnd.choice(sizes)))

    for _ in range(500):
        results = []
        for _ in range(rnd.choice([0, 1, 1, 3])):
            params = {text(0, 5, 130): text(0, 8, 200) for _ in range(rnd.choice([0, 1, 1, 4]))}
            errs = [(text(0, 6), rnd.choice([0, 7011, 7012]), text(0, 30, 150)) for _ in range(rnd.choice([0, 0, 2]))]
            results.append((text(0, 20, 140), params, errs))
        msg_id = text(0, 12, 200)
        want = records.response(msg_id, Header.SET)
        for obj, params, errs in results:
            res = want.body.response.set_resp.updated_obj_results.add(requested_path=obj)
            inst = res.oper_status.oper_success.updated_inst_results.add(affected_path=obj)
            for k, v in params.items():
                inst.updated_params[k] = v
            for name, code, message in errs:
                inst.param_errs.add(param=name, err_code=code, err_msg=message)
        built = records.set_resp_payload(msg_id, results)
        assert msg_pb.Msg.FromString(built) == want
        if all(len(p) <= 1 for _, p, _ in results):  # map order is protobuf's hash order beyond one entry
            assert built == want.SerializeToString()
