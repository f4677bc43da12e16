"""Records, topics and error mapping: pure functions, exercised with good and bad input."""

from __future__ import annotations

from typing import Any

import pytest

from executors.base import Fault, InvalidParameterName, InvalidValue, NotWritable
from executors.usp import records
from executors.usp.errors import UspError, fault_from_problems, to_cwmp, to_usp, typed_fault
from executors.usp.proto import msg_pb, record_pb
from executors.usp.topics import agent_topic, split_reply_to, topic_level, with_reply_to


def test_request_round_trip() -> None:
    msg = records.get("m-1", ["Device.WiFi.Radio.1.Channel", "Device.DeviceInfo."])
    wire = records.wrap(msg, to_id="os::A-1", from_id="proto::c")
    d = records.decode(wire)
    assert d.kind == "no_session_context"
    assert d.record.to_id == "os::A-1" and d.record.from_id == "proto::c" and d.record.version == "1.3"
    assert d.msg_id == "m-1" and d.msg_type == msg_pb.Header.GET and d.msg is not None
    assert list(d.msg.body.request.get.param_paths) == ["Device.WiFi.Radio.1.Channel", "Device.DeviceInfo."]


def test_set_groups_params_per_object_all_required() -> None:
    msg = records.set_("m-2", {"Device.WiFi.SSID.1.SSID": "x", "Device.WiFi.SSID.1.Enable": True,
                               "Device.WiFi.Radio.2.Channel": 36})
    req = msg.body.request.set
    assert req.allow_partial is False
    objs = {u.obj_path: {p.param: (p.value, p.required) for p in u.param_settings} for u in req.update_objs}
    assert objs == {"Device.WiFi.SSID.1.": {"SSID": ("x", True), "Enable": ("true", True)},
                    "Device.WiFi.Radio.2.": {"Channel": ("36", True)}}
    with pytest.raises(ValueError, match="not a parameter path"):
        records.set_("m-3", {"Device.WiFi.": 1})


def test_mqtt_connect_and_disconnect_records() -> None:
    d = records.decode(records.mqtt_connect_record(to_id="c", from_id="a", subscribed_topic="usp/agent/a",
                                                   mqtt_version=3))
    assert d.kind == "mqtt_connect" and d.msg is None
    assert d.record.mqtt_connect.version == record_pb.MQTTConnectRecord.V3_1_1
    d = records.decode(records.disconnect_record(to_id="c", from_id="a", reason="bye", reason_code=7003))
    assert d.kind == "disconnect" and d.record.disconnect.reason == "bye"


@pytest.mark.parametrize("payload", [b"", b"\xff\xff\xff\xff", b"garbage that is not protobuf",
                                     b"\x0a\x031.3"])
def test_malformed_bytes_are_a_clear_error(payload: bytes) -> None:
    with pytest.raises(records.MalformedRecord):
        records.decode(payload)


def test_record_with_bad_message_or_missing_fields() -> None:
    rec = record_pb.Record(version="1.3", to_id="a", from_id="c")
    rec.no_session_context.payload = b"\xff\x00\x01"
    with pytest.raises(records.MalformedRecord, match="no valid Message"):
        records.decode(rec.SerializeToString())
    msg = msg_pb.Msg()
    msg.header.msg_type = msg_pb.Header.GET
    msg.body.request.get.param_paths.append("Device.")
    rec.no_session_context.payload = msg.SerializeToString()
    with pytest.raises(records.MalformedRecord, match="no msg_id"):
        records.decode(rec.SerializeToString())
    no_ids = record_pb.Record(version="1.3")
    no_ids.mqtt_connect.subscribed_topic = "t"
    with pytest.raises(records.MalformedRecord, match="to_id/from_id"):
        records.decode(no_ids.SerializeToString())
    tls = record_pb.Record(version="1.3", to_id="a", from_id="c", payload_security=record_pb.Record.TLS12)
    tls.no_session_context.payload = records.get("x", ["Device."]).SerializeToString()
    with pytest.raises(records.MalformedRecord, match="TLS"):
        records.decode(tls.SerializeToString())


def test_flatten_get_resp() -> None:
    resp = msg_pb.GetResp()
    ok = resp.req_path_results.add(requested_path="Device.WiFi.Radio.1.")
    res = ok.resolved_path_results.add(resolved_path="Device.WiFi.Radio.1.")
    res.result_params["Channel"] = "6"
    bad = resp.req_path_results.add(requested_path="Device.Nope.", err_code=7026, err_msg="Invalid path")
    assert bad.err_code == 7026
    values, errors = records.flatten_get_resp(resp)
    assert values == {"Device.WiFi.Radio.1.Channel": "6"}
    assert errors == {"Device.Nope.": (7026, "Invalid path")}


def test_usp_values() -> None:
    assert records.usp_value(True) == "true" and records.usp_value(False) == "false"
    assert records.usp_value(36) == "36" and records.usp_value("x y") == "x y"


def test_msg_ids_are_unique() -> None:
    ids = {records.new_msg_id() for _ in range(1000)}
    assert len(ids) == 1000


# --------------------------------------------------------------------------- topics


@pytest.mark.parametrize("endpoint", ["os::A4C3F0-AB/CD+EF#1", "os::%2F-weird", "proto::ctl/x", "os::nul\x00"])
def test_odd_endpoint_ids_become_one_safe_topic_level(endpoint: str) -> None:
    level = topic_level(endpoint)
    assert "/" not in level and "+" not in level and "#" not in level and "\x00" not in level
    assert agent_topic(endpoint).count("/") == 2
    others = {topic_level(e) for e in ["os::A4C3F0-AB/CD+EF#1", "os::%2F-weird", "proto::ctl/x", "os::nul\x00"]}
    assert len(others) == 4  # distinct endpoints stay distinct


def test_reply_to_convention() -> None:
    topic = with_reply_to("usp/agent/os::X", "usp/controller/proto::c")
    assert topic == "usp/agent/os::X/reply-to=usp%2Fcontroller%2Fproto::c"
    assert split_reply_to(topic) == ("usp/agent/os::X", "usp/controller/proto::c")
    assert split_reply_to("usp/agent/os::X") == ("usp/agent/os::X", None)
    assert split_reply_to("usp/agent/os::X/reply-to=") == ("usp/agent/os::X", None)


# --------------------------------------------------------------------------- errors


def test_param_errs_map_to_typed_faults() -> None:
    e = UspError(7004, "Invalid arguments", [("Device.WiFi.Radio.1.Channel", 7012, "999 not allowed")])
    f = typed_fault("dev", e, doing="USP Set")
    assert isinstance(f, InvalidValue) and f.code == 9007
    assert f.per_parameter["Device.WiFi.Radio.1.Channel"][0] == 9007 and "7012" in str(f)
    assert isinstance(typed_fault("d", UspError(7004, "x", [("P.a", 7013, "ro")]), doing="s"), NotWritable)
    assert isinstance(typed_fault("d", UspError(7004, "x", [("P.a", 7026, "bad")]), doing="s"),
                      InvalidParameterName)
    wrong_type = typed_fault("d", UspError(7004, "x", [("P.a", 7011, "type")]), doing="s")
    assert isinstance(wrong_type, InvalidValue) and wrong_type.code == 9006
    mixed = typed_fault("d", UspError(7004, "x", [("P.a", 7013, "ro"), ("P.b", 7012, "bad")]), doing="s")
    assert type(mixed) is Fault and mixed.code == 9003
    assert mixed.per_parameter == {"P.a": (9008, mixed.per_parameter["P.a"][1]),
                                   "P.b": (9007, mixed.per_parameter["P.b"][1])}


def test_device_paths_map_back_to_tr181() -> None:
    e = UspError(7004, "x", [("InternetGatewayDevice.LANDevice.1.WLANConfiguration.1.SSID", 7012, "too long")])
    f = typed_fault("d", e, doing="s",
                    to_tr181={"InternetGatewayDevice.LANDevice.1.WLANConfiguration.1.SSID": "Device.WiFi.SSID.1.SSID"})
    assert set(f.per_parameter) == {"Device.WiFi.SSID.1.SSID"}


def test_message_level_errors() -> None:
    f = typed_fault("d", UspError(7003, "boom"), doing="USP Set")
    assert type(f) is Fault and f.code == 9002 and "7003" in str(f)
    assert to_cwmp(7850) == 9002  # vendor codes
    for cwmp in (9001, 9002, 9003, 9005, 9006, 9007, 9008):
        assert to_cwmp(to_usp(cwmp)) == cwmp


def test_local_problems() -> None:
    f = fault_from_problems("d", {"a": (9006, "type")}, doing="not sent")
    assert isinstance(f, InvalidValue) and f.code == 9006
    assert fault_from_problems("d", {"a": (9006, "t"), "b": (9005, "n")}, doing="x").code == 9003


def test_partial_set_from_a_noncompliant_agent_is_unknown_state() -> None:
    from core.kernel.models import Device
    from executors.base import Timeout
    from executors.usp.errors import PartialApply
    from executors.usp.executor import UspExecutor

    d = Device(id="X-Y-Z", vendor="v", model="m", firmware="f")
    ok = msg_pb.SetResp()
    ok.updated_obj_results.add(requested_path="Device.WiFi.SSID.1.").oper_status.oper_success.SetInParent()
    UspExecutor._check_set_resp(d, ok, {})  # all success: nothing raised
    bad = msg_pb.SetResp()
    bad.CopyFrom(ok)
    failed = bad.updated_obj_results.add(requested_path="Device.WiFi.Radio.1.")
    failed.oper_status.oper_failure.err_code = 7012
    failed.oper_status.oper_failure.err_msg = "bad channel"
    with pytest.raises(PartialApply, match="only in part") as err:
        UspExecutor._check_set_resp(d, bad, {})
    assert isinstance(err.value, Timeout) and err.value.retryable


def test_hand_built_records_are_protobufs_bytes() -> None:
    """wrap_payload / notify_resp_payload / notify_resp_record / mqtt_connect_record / disconnect_record /
    set_payload / with_header / response (templates) skip protobuf's objects on hot paths; they must
    write exactly what protobuf writes, for any text (empty, long, non-ASCII)."""
    import random
    import string

    rnd = random.Random(15)

    def text(*sizes: int) -> str:
        return "".join(rnd.choice(string.printable + "äöü€\x00") for _ in range(rnd.choice(sizes)))

    for _ in range(2000):
        msg_id, sub = text(0, 1, 12, 200), text(0, 7, 150)
        answer = records.notify_resp(msg_id, sub)
        assert records.notify_resp_payload(msg_id, sub) == answer.SerializeToString()
        payload = answer.SerializeToString() if rnd.random() < 0.9 else b""
        to_id, from_id, version = text(0, 20, 300), text(0, 20), rnd.choice(["1.3", "", "1.4"])
        rec = record_pb.Record(version=version, to_id=to_id, from_id=from_id)
        rec.no_session_context.payload = payload
        assert records.wrap_payload(payload, to_id=to_id, from_id=from_id, version=version) == rec.SerializeToString()
        rec.no_session_context.payload = answer.SerializeToString()
        assert records.notify_resp_record(msg_id, sub, to_id=to_id, from_id=from_id,
                                          version=version) == rec.SerializeToString()
    for _ in range(500):
        to_id, from_id, topic = text(0, 20, 300), text(0, 20), text(0, 30, 200)
        mqtt_version, reason, code = rnd.choice([3, 5]), text(0, 10, 150), rnd.choice([0, 7003, 2**32 - 1])
        rec = record_pb.Record(version=records.USP_VERSION, to_id=to_id, from_id=from_id)
        rec.mqtt_connect.version = (record_pb.MQTTConnectRecord.V5 if mqtt_version == 5
                                    else record_pb.MQTTConnectRecord.V3_1_1)
        rec.mqtt_connect.subscribed_topic = topic
        assert records.mqtt_connect_record(to_id=to_id, from_id=from_id, subscribed_topic=topic,
                                           mqtt_version=mqtt_version) == rec.SerializeToString()
        rec = record_pb.Record(version=records.USP_VERSION, to_id=to_id, from_id=from_id)
        rec.disconnect.reason = reason
        rec.disconnect.reason_code = code
        assert records.disconnect_record(to_id=to_id, from_id=from_id, reason=reason,
                                         reason_code=code) == rec.SerializeToString()
    for _ in range(1000):
        values: dict[str, object] = {}
        for _ in range(rnd.choice([1, 1, 2, 6])):
            obj = rnd.choice(["Device.WiFi.SSID.1.", "Device.LocalAgent.", f"Device.{text(1, 140).replace('.', '')}x."])
            values[obj + text(1, 130).replace(".", "") + "p"] = rnd.choice([True, False, 0, -3, 1.5, "", text(3, 200)])
        partial, required, msg_id = rnd.random() < 0.3, rnd.random() < 0.8, text(0, 5, 140)
        want = records.set_(msg_id, values, allow_partial=partial, required=required).SerializeToString()
        assert records.set_payload(msg_id, values, allow_partial=partial, required=required) == want
    for msg_id in ("", "boot-1", text(200)):
        boot = records.notify(msg_id, "gw-boot", send_resp=True)
        boot.body.request.notify.event.event_name = "Boot!"
        boot.body.request.notify.event.params["Cause"] = "LocalReboot"
        only_body = msg_pb.Msg()
        only_body.body.CopyFrom(boot.body)
        built = records.with_header(msg_id, records.Header.NOTIFY, only_body.SerializeToString())
        assert built == boot.SerializeToString()
    for request_type, field in records._RESPONSE_FIELD.items():
        built = records._msg("m-1", records.RESPONSE_OF[request_type])
        getattr(built.body.response, field).SetInParent()
        assert records.response("m-1", request_type) == built
    decoded = records.decode(records.wrap(records.get("g-1", ["Device."]), to_id="a", from_id="c"))
    assert decoded.body == "request" and decoded.msg_id == "g-1"


def test_record_head_and_session_prefix_make_wrap_payload() -> None:
    """The controller keeps each agent's ``record_head`` and adds ``session_prefix`` per request: the
    same bytes as ``wrap_payload``, whatever the length (one and two byte lengths, their edges)."""
    for n in (0, 1, 0x7D, 0x7E, 0x7F, 0x80, 300, 0x3FFF, 0x4000, 70_000):
        payload = bytes(range(256)) * (n // 256) + b"m" * (n % 256)
        head = records.record_head(to_id="os::012345-äöü", from_id="proto::controller", version="1.4")
        assert head + records.session_prefix(n) + payload == records.wrap_payload(
            payload, to_id="os::012345-äöü", from_id="proto::controller", version="1.4")
        if n < 0x7E:
            assert records.SESSION_PREFIXES[n] == records.session_prefix(n)


def _answers(rnd: Any, to_id: str) -> list[bytes]:
    """Records an agent might answer with: SetResps (one and many parameters), GetResps, Errors, a
    request, with short, long and non-ASCII ids, and in every version."""
    def text(*sizes: int) -> str:
        return "".join(rnd.choice("abcXYZ019-_:.äö€") for _ in range(rnd.choice(sizes)))

    out = []
    for _ in range(400):
        msg_id, ep = text(1, 12, 130), text(1, 20, 130)
        kind = rnd.choice(["set", "set", "get", "error", "request", "empty_set"])
        if kind == "set":
            payload = records.set_resp_payload(msg_id, [("Device.WiFi.SSID.1.", {"SSID": text(0, 5, 300)}, [])
                                                        for _ in range(rnd.choice([1, 1, 3, 40]))])
        elif kind == "empty_set":
            payload = records.response(msg_id, records.Header.SET).SerializeToString()
        elif kind == "get":
            msg = records.response(msg_id, records.Header.GET)
            rpr = msg.body.response.get_resp.req_path_results.add(requested_path="Device.")
            rpr.resolved_path_results.add(resolved_path="Device.").result_params["X"] = text(0, 300)
            payload = msg.SerializeToString()
        elif kind == "error":
            payload = records.error(msg_id, 7004, text(0, 40)).SerializeToString()
        else:
            payload = records.get(msg_id, ["Device."]).SerializeToString()
        version = rnd.choice(["1.3", "1.4", "1.0", "", "2.0", "1.10"])
        out.append(records.wrap_payload(payload, to_id=rnd.choice([to_id, to_id, "proto::other"]), from_id=ep,
                                        version=version))
    return out


def test_peek_answer_reads_what_protobuf_reads() -> None:
    """``peek_answer`` (the controller's answer path) must never read a Record otherwise than protobuf
    does: whenever it accepts one — intact, truncated, or with any byte changed — protobuf reads the
    same addressee, sender, msg_id and body kind, and the Message (or SetResp) it points at is the one
    protobuf finds; a Record it accepts but protobuf refuses is refused by the Message parse that
    follows. Requests, other addressees and versions, and long lengths it leaves to ``decode``. And
    ``peek_set_answer``, given the envelope kept from a sender's first answer, finds in the next ones
    exactly what ``peek_answer`` finds, or nothing."""
    import random

    from google.protobuf.message import DecodeError

    rnd = random.Random(46)
    to_id = "proto::controller-ä"
    to = records.addressed_to(to_id)
    accepted = declined = mutated_accepted = 0
    quick = 0
    for rec in _answers(rnd, to_id):
        first = records.peek_answer(rec, to)
        # what the controller keeps of an agent from its first answer: the Record up to the end of from_id
        prefix = rec[: len(to[0]) + 1 + len(first[0].encode())] if first is not None else None
        variants = [(rec, False)]
        for _ in range(20):
            b = bytearray(rec)
            if rnd.random() < 0.3:
                del b[rnd.randrange(len(b)):]
            else:
                b[rnd.randrange(len(b))] = rnd.randrange(256)
            variants.append((bytes(b), True))
        for data, mutated in variants:
            got = records.peek_answer(data, to)
            if prefix is not None and data.startswith(prefix):  # and its next answers: compared, not read
                fast = records.peek_set_answer(data, len(prefix), len(data))
                if fast is not None:
                    quick += 1
                    assert got is not None and got[2] == records.RESPONSE_TAG and got[4]
                    assert fast == (got[1], got[3], got[4])
                elif got is not None and got[4] and not mutated:
                    assert len(got[1].encode()) >= 120 or b"\x10\x05" not in data, "a SetResp not recognised"
            try:
                decoded = records.decode(data)
            except records.MalformedRecord:
                decoded = None
            if got is None:
                declined += 1
                ordinary = (not mutated and decoded is not None and decoded.to_id == to_id and decoded.body != "request"
                            and decoded.record.version in ("1.3", "1.4", "1.0") and len(data) < 0x4000
                            and len(decoded.msg_id.encode()) < 120 and len(decoded.from_id.encode()) < 0x80)
                assert not ordinary, f"an ordinary answer was declined: {decoded}"
                continue
            accepted += 1
            mutated_accepted += mutated
            from_id, msg_id, tag, start, set_at = got
            if decoded is None:  # then the Message itself is what protobuf refuses
                with pytest.raises(DecodeError):
                    msg_pb.Msg.FromString(data[start:])
                if set_at:
                    with pytest.raises(DecodeError):
                        msg_pb.SetResp.FromString(data[set_at:])
                continue
            assert decoded.msg is not None
            assert (decoded.to_id, decoded.from_id, decoded.msg_id) == (to_id, from_id, msg_id)
            assert decoded.body == {records.RESPONSE_TAG: "response", records.ERROR_TAG: "error"}[tag]
            assert msg_pb.Msg.FromString(data[start:]) == decoded.msg
            which = decoded.msg.body.response.WhichOneof("resp_type") if decoded.body == "response" else None
            if set_at:
                assert which == "set_resp"
                assert msg_pb.SetResp.FromString(data[set_at:]) == decoded.msg.body.response.set_resp
    assert accepted > 300 and declined > 300 and mutated_accepted > 50 and quick > 100  # every branch was exercised
