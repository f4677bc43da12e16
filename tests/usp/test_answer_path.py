"""The controller's answer path without a broker: requests out through a socket that records what
is written, answers in through the reply link's read handler (``MqttLink.on_publish`` ->
``UspController._answer_from_wire``), on MQTT 5 and 3.1.1.

What is pinned: a Set's SetResp reaches its caller, and the agent's topic is learnt from the answer
(and used for the next request); an answer is taken only from the agent asked, once, and by its
msg_id — another agent's, a repeated, an unknown or an unreadable one is counted and dropped; an
Error is raised; what the fast path declines (QoS 1, another addressee) takes the general path with
the same outcome; and the Sets the callers woken by one read send leave in one write."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from executors.usp import mqtt_wire as wire
from executors.usp import records
from executors.usp.controller import UspController, _Deadlines
from executors.usp.errors import UspError
from executors.usp.mqtt import BufferedSocket, MqttLink
from executors.usp.proto import msg_pb
from executors.usp.topics import agent_topic, split_reply_to, with_reply_to

CONTROLLER = "proto::controller-answers"
SSID = "Device.WiFi.SSID.1.SSID"


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


def _controller(loop: asyncio.AbstractEventLoop, version: int = 5) -> tuple[UspController, RecordingSocket]:
    ctl = UspController("mqtt://127.0.0.1:1", endpoint_id=CONTROLLER, mqtt_version=version, share_group=None)
    ctl._loop = loop
    ctl._deadlines = _Deadlines(loop, ctl._pending, ctl._expire)
    ctl.started = True
    raw = RecordingSocket()
    link = ctl.reply_link
    link._sock = BufferedSocket(raw, loop)
    link._loop = loop
    link.connected = True
    return ctl, raw


def _agent(ctl: UspController, ep: str, version: int = 5) -> None:
    st = ctl._state(ep)
    st.connected, st.mqtt_version = True, version


def _turn(loop: asyncio.AbstractEventLoop, n: int = 3) -> None:
    for _ in range(n):
        loop.run_until_complete(asyncio.sleep(0))


def _read(ctl: UspController, raw: RecordingSocket, data: bytes, loop: asyncio.AbstractEventLoop) -> None:
    raw.chunks.append(data)
    ctl.reply_link._readable()
    _turn(loop)


def _requests(raw: RecordingSocket, version: int = 5) -> list[tuple[str, str | None, records.Decoded]]:
    """(topic, Response Topic, the Record) of every PUBLISH written, in order."""
    out = []
    data = b"".join(raw.writes)
    pos = 0
    while pos < len(data):
        frame = wire.frame_length(data, pos)
        assert frame is not None
        if data[pos] & 0xF0 == wire.PUBLISH:
            topic, payload, _, _, rt, _ = wire.decode_publish(data[pos], data, frame[0], frame[1], v5=version == 5)
            out.append((topic, rt, records.decode(payload)))
        pos = frame[1]
    return out


def _answer(ctl: UspController, msg_id: str, ep: str, *, value: str = "x", listen: str | None = None,
            version: int = 5, qos: int = 0, payload: bytes | None = None, to_id: str = CONTROLLER) -> bytes:
    """The agent's answer PUBLISH (a SetResp unless ``payload``), saying it listens on ``listen``."""
    listen = listen or agent_topic(ep)
    body = payload if payload is not None else records.set_resp_payload(
        msg_id, [("Device.WiFi.SSID.1.", {"SSID": value}, [])])
    if version == 5:
        prefix = wire.PublishPrefix.build(ctl.reply_topic, qos=qos, v5=True, response_topic=listen,
                                          content_type="usp.msg")
    else:
        prefix = wire.PublishPrefix.build(with_reply_to(ctl.reply_topic, listen), qos=qos, v5=False)
    return prefix.packet(records.wrap_payload(body, to_id=to_id, from_id=ep), 77 if qos else 0)


@pytest.mark.parametrize("version", [5, 3])
def test_a_set_is_answered_and_the_agent_s_topic_learnt(loop: asyncio.AbstractEventLoop, version: int) -> None:
    ctl, raw = _controller(loop, version)
    ep = "os::012345-ANSWER1"
    _agent(ctl, ep, version)
    task = loop.create_task(ctl.set(ep, {SSID: "new"}))
    _turn(loop)
    ((topic, rt, req),) = _requests(raw, version)
    if version == 5:
        assert (topic, rt) == (agent_topic(ep), ctl.reply_topic)
    else:
        assert split_reply_to(topic) == (agent_topic(ep), ctl.reply_topic) and rt is None
    assert req.msg_type == records.Header.SET and req.to_id == ep and req.from_id == CONTROLLER
    assert req.msg is not None and req.msg.body.request.set.update_objs[0].param_settings[0].value == "new"

    _read(ctl, raw, _answer(ctl, req.msg_id, ep, value="new", listen="usp/agent/moved", version=version), loop)
    resp = task.result()
    assert isinstance(resp, msg_pb.SetResp)
    assert resp.updated_obj_results[0].oper_status.oper_success.updated_inst_results[0].updated_params["SSID"] == "new"
    st = ctl.agent(ep)
    assert st is not None and st.topic == "usp/agent/moved" and st.mqtt_version == version and st.last_seen
    assert (ctl.stats.records_in, ctl.stats.responses, ctl.stats.malformed) == (1, 1, 0)
    assert ctl.reply_link.stats.received == 1 and not ctl._pending

    raw.writes.clear()  # the next request goes where the agent said it listens
    task = loop.create_task(ctl.set(ep, {SSID: "again"}))
    _turn(loop)
    ((topic, _, req),) = _requests(raw, version)
    assert (topic if version == 5 else split_reply_to(topic)[0]) == "usp/agent/moved"
    task.cancel()


def test_answers_are_taken_once_from_the_agent_asked(loop: asyncio.AbstractEventLoop) -> None:
    ctl, raw = _controller(loop)
    a, b = "os::012345-A", "os::012345-B"
    _agent(ctl, a)
    _agent(ctl, b)
    first = loop.create_task(ctl.set(a, {SSID: "1"}))
    second = loop.create_task(ctl.set(a, {SSID: "2"}))
    _turn(loop)
    (_, _, r1), (_, _, r2) = _requests(raw)

    _read(ctl, raw, _answer(ctl, r1.msg_id, b), loop)  # another agent answering for it: ignored
    assert ctl.stats.wrong_sender == 1 and not first.done()
    _read(ctl, raw, _answer(ctl, r1.msg_id, a, payload=b"\x0a\x02\x0a"), loop)  # not a Message: dropped
    assert ctl.stats.malformed == 1 and not first.done()
    _read(ctl, raw, _answer(ctl, r1.msg_id, a, value="1"), loop)
    assert first.done() and first.result().updated_obj_results[0].requested_path == "Device.WiFi.SSID.1."
    _read(ctl, raw, _answer(ctl, r1.msg_id, a), loop)  # again
    _read(ctl, raw, _answer(ctl, "gw-never-asked", a), loop)
    assert (ctl.stats.duplicate_responses, ctl.stats.unknown_msg_id) == (1, 1)
    error = records.error(r2.msg_id, 7004, "Invalid value").SerializeToString()
    _read(ctl, raw, _answer(ctl, r2.msg_id, a, payload=error), loop)
    with pytest.raises(UspError) as err:
        second.result()
    assert err.value.code == 7004
    assert ctl.stats.responses == 2 and not ctl._pending


def test_what_the_fast_path_declines_ends_the_same(loop: asyncio.AbstractEventLoop) -> None:
    """A QoS 1 answer is acknowledged and taken by the general path; one addressed to another
    controller is dropped there, as before."""
    ctl, raw = _controller(loop)
    ep = "os::012345-Q1"
    _agent(ctl, ep)
    task = loop.create_task(ctl.set(ep, {SSID: "q"}))
    _turn(loop)
    ((_, _, req),) = _requests(raw)
    _read(ctl, raw, _answer(ctl, req.msg_id, ep, to_id="proto::someone-else"), loop)
    assert ctl.stats.wrong_to_id == 1 and not task.done()
    raw.writes.clear()
    _read(ctl, raw, _answer(ctl, req.msg_id, ep, value="q", qos=1), loop)
    assert task.result().updated_obj_results[0].oper_status.oper_success.updated_inst_results[0] \
        .updated_params["SSID"] == "q"
    assert b"".join(raw.writes) == wire.puback(77)
    short = wire.PublishPrefix.build("x", qos=0, v5=True).packet(b"\x0a")  # shorter than our topic: not an answer
    _read(ctl, raw, short + short, loop)
    assert ctl.stats.malformed == 2 and ctl.reply_link.stats.received == 4


def test_the_sets_one_read_wakes_leave_in_one_write(loop: asyncio.AbstractEventLoop) -> None:
    """Callers woken by a read of many answers send their next Sets before the link writes: one
    ``send`` for all of them (not one for the first and another for the rest)."""
    ctl, raw = _controller(loop)
    agents = [f"os::012345-W{i:03d}" for i in range(30)]
    for ep in agents:
        _agent(ctl, ep)

    async def caller(ep: str) -> None:
        await ctl.set(ep, {SSID: "a"})
        await ctl.set(ep, {SSID: "b"})

    tasks: list[Any] = [loop.create_task(caller(ep)) for ep in agents]
    _turn(loop)
    asked = _requests(raw)
    assert len(asked) == 30
    raw.writes.clear()
    _read(ctl, raw, b"".join(_answer(ctl, d.msg_id, d.to_id) for _, _, d in asked), loop)
    assert len(raw.writes) == 1 and len(_requests(raw)) == 30
    for t in tasks:
        t.cancel()
    _turn(loop)


def test_a_link_s_fast_handler_takes_what_it_can_and_loses_nothing(loop: asyncio.AbstractEventLoop) -> None:
    """``MqttLink.on_publish`` takes the packets it handles from where it is offered them; what it
    stops at — or what it was offered when it failed — is decoded and delivered as usual."""
    link = MqttLink("mqtt://127.0.0.1:1")
    raw = RecordingSocket()
    link._sock = BufferedSocket(raw, loop)
    link._loop = loop
    link.connected = True
    offered: list[int] = []

    def handler(buf: bytes, pos: int, n: int) -> tuple[int, int]:
        offered.append(pos)
        if len(offered) == 1:
            raise RuntimeError("a bug")
        if len(offered) == 2:  # takes this packet and the next
            first = wire.frame_length(buf, pos)
            assert first is not None
            second = wire.frame_length(buf, first[1])
            assert second is not None
            return second[1], 2
        return pos, 0  # not for it

    got: list[bytes] = []
    link.on_publish = handler
    link.on_message = lambda inbound: got.append(inbound.payload)
    prefix = wire.PublishPrefix.build("t", qos=0, v5=True)
    raw.chunks.append(b"".join(prefix.packet(p) for p in (b"one", b"two", b"three", b"four")))
    link._readable()
    _turn(loop)
    assert len(offered) == 3 and got == [b"one", b"four"] and link.stats.received == 4


@pytest.mark.parametrize("version", [5, 3])
def test_agents_that_share_a_topic_are_told_apart(loop: asyncio.AbstractEventLoop, version: int) -> None:
    """OB-USP-Agent's factory topic is one for every agent (``/usp/agent``): answers that start alike
    up to the Record's from_id still go to the agent that sent them, and one agent's answer never
    completes another's request."""
    ctl, raw = _controller(loop, version)
    agents = ["os::012345-SHARED1", "os::012345-SHARED2"]
    for ep in agents:
        _agent(ctl, ep, version)
    for rnd in range(3):
        raw.writes.clear()
        tasks = [loop.create_task(ctl.set(ep, {SSID: f"{ep}-{rnd}"})) for ep in agents]
        _turn(loop)
        asked = {d.to_id: d.msg_id for _, _, d in _requests(raw, version)}
        _read(ctl, raw, _answer(ctl, asked[agents[0]], agents[1], listen="/usp/agent", version=version), loop)
        assert not any(t.done() for t in tasks)  # the other agent's msg_id: not taken
        for ep in reversed(agents):
            _read(ctl, raw, _answer(ctl, asked[ep], ep, value=f"{ep}-{rnd}", listen="/usp/agent", version=version),
                  loop)
        for ep, t in zip(agents, tasks, strict=True):
            params = t.result().updated_obj_results[0].oper_status.oper_success.updated_inst_results[0].updated_params
            assert params["SSID"] == f"{ep}-{rnd}"
    assert ctl.stats.wrong_sender == 3 and ctl.stats.responses == 6
    assert all(st.topic == "/usp/agent" for st in ctl.agents())


@pytest.mark.parametrize("version", [5, 3])
def test_the_next_answers_of_an_agent_are_taken_inline_with_the_same_checks(
        loop: asyncio.AbstractEventLoop, version: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Once an agent's first answer was read, its next SetResps are taken without reading the
    envelope again — and still only by msg_id, from the agent asked, when they parse; anything else
    goes the way a first answer goes."""
    ctl, raw = _controller(loop, version)
    a, b = "os::012345-INLINE-A", "os::012345-INLINE-B"
    for ep in (a, b):
        _agent(ctl, ep, version)

    def ask(*eps: str) -> tuple[list[asyncio.Task[msg_pb.SetResp]], list[str]]:
        raw.writes.clear()
        tasks = [loop.create_task(ctl.set(ep, {SSID: f"{ep}-{i}"})) for i, ep in enumerate(eps)]
        _turn(loop)
        return tasks, [d.msg_id for _, _, d in _requests(raw, version)]

    def value(t: asyncio.Task[msg_pb.SetResp]) -> str:
        resp = t.result()
        return str(resp.updated_obj_results[0].oper_status.oper_success.updated_inst_results[0].updated_params["SSID"])

    tasks, ids = ask(a, b)  # first answers: read in full, their senders kept
    _read(ctl, raw, b"".join(_answer(ctl, m, ep, value=f"{ep}-{i}", version=version)
                             for i, (m, ep) in enumerate(zip(ids, (a, b), strict=True))), loop)
    assert [value(t) for t in tasks] == [f"{a}-0", f"{b}-1"]

    slow: list[int] = []
    full = ctl._answer_from_wire
    monkeypatch.setattr(ctl, "_answer_from_wire", lambda buf, p, end: slow.append(p) or full(buf, p, end))
    tasks, ids = ask(a, a, b)
    _read(ctl, raw, b"".join(_answer(ctl, m, ep, value=f"{ep}-{i}", version=version)
                             for i, (m, ep) in enumerate(zip(ids, (a, a, b), strict=True))), loop)
    assert [value(t) for t in tasks] == [f"{a}-0", f"{a}-1", f"{b}-2"] and not slow
    assert ctl.stats.responses == 5 and ctl.stats.records_in == 5 and not ctl._pending
    st = ctl.agent(a)
    assert st is not None and st.topic == agent_topic(a) and st.mqtt_version == version and st.last_seen

    (task,), (msg_id,) = ask(a)
    _read(ctl, raw, _answer(ctl, msg_id, b, version=version), loop)  # b answers for a: not taken
    good = records.set_resp_payload(msg_id, [("Device.WiFi.SSID.1.", {"SSID": "x"}, [])])
    bad = good[:-8] + b"\x0a\x7f" + good[-6:]  # the SetResp's last bytes: a field longer than what is left
    _read(ctl, raw, _answer(ctl, msg_id, a, payload=bad, version=version), loop)
    assert (ctl.stats.wrong_sender, ctl.stats.malformed) == (1, 1) and len(slow) == 2 and not task.done()
    _read(ctl, raw, _answer(ctl, msg_id, a, value="late but good", version=version), loop)
    assert value(task) == "late but good" and len(slow) == 2
