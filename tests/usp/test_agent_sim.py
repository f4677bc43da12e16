"""The simulated agent's device side (no MQTT): how it answers each USP request."""

from __future__ import annotations

from pathlib import Path

import pytest

from executors.sim.twin import Twin
from executors.sim.usp_agent import SimAgent
from executors.usp import records
from executors.usp.proto import msg_pb

VT = msg_pb.GetSupportedDMResp


@pytest.fixture
def twin(tmp_path: Path) -> Twin:
    t = Twin(f"sqlite:///{tmp_path / 'twin.db'}")
    yield t
    t.close()


@pytest.fixture
def agent(twin: Twin) -> SimAgent:
    d = twin.add_device("prplnet-px7000-1.3", "PX7K20000001", region="DE")
    return SimAgent(twin, d.id, controller_id="proto::c")


def _get(agent: SimAgent, *paths: str) -> tuple[dict[str, str], dict[str, tuple[int, str]]]:
    out = agent.handle(records.get("g", paths)).response
    assert out is not None
    return records.flatten_get_resp(out.body.response.get_resp)


def test_endpoint_and_identity(agent: SimAgent) -> None:
    assert agent.endpoint_id == "os::3C9A77-PX7K20000001"
    values, _ = _get(agent, "Device.LocalAgent.EndpointID", "Device.DeviceInfo.SerialNumber")
    assert values == {"Device.LocalAgent.EndpointID": "os::3C9A77-PX7K20000001",
                      "Device.DeviceInfo.SerialNumber": "PX7K20000001"}


def test_get_partial_wildcard_and_invalid_paths(agent: SimAgent) -> None:
    values, errors = _get(agent, "Device.WiFi.Radio.1.", "Device.WiFi.Radio.*.Channel", "Device.Nope.",
                          "Device.WiFi.Radio.1.Nope", "InternetGatewayDevice.DeviceInfo.")
    assert "Device.WiFi.Radio.1.Channel" in values and "Device.WiFi.Radio.2.Channel" in values
    assert set(errors) == {"Device.Nope.", "Device.WiFi.Radio.1.Nope", "InternetGatewayDevice.DeviceInfo."}
    assert all(code == 7026 for code, _ in errors.values())
    secret, _ = _get(agent, "Device.WiFi.AccessPoint.1.Security.KeyPassphrase")
    assert secret["Device.WiFi.AccessPoint.1.Security.KeyPassphrase"] == ""


def test_set_all_or_nothing_with_param_errs(agent: SimAgent, twin: Twin) -> None:
    before = twin.params(agent.device_id)
    out = agent.handle(records.set_("s", {
        "Device.WiFi.SSID.1.SSID": "fine",
        "Device.WiFi.Radio.1.Channel": "six",
        "Device.WiFi.Radio.2.Channel": 999,
        "Device.DeviceInfo.SoftwareVersion": "x",
        "Device.WiFi.Radio.9.Channel": 1,
    })).response
    assert out is not None and out.body.WhichOneof("msg_body") == "error"
    err = out.body.error
    assert err.err_code == 7004
    codes = {p.param_path: p.err_code for p in err.param_errs}
    assert codes == {"Device.WiFi.Radio.1.Channel": 7011, "Device.WiFi.Radio.2.Channel": 7012,
                     "Device.DeviceInfo.SoftwareVersion": 7013, "Device.WiFi.Radio.9.Channel": 7026}
    assert twin.params(agent.device_id) == before  # nothing landed


def test_set_success_persists_with_key(agent: SimAgent, twin: Twin) -> None:
    out = agent.handle(records.set_("s", {"Device.WiFi.SSID.1.SSID": "Home",
                                          "Device.LocalAgent.X_GATEWARD_ParameterKey": "p-1"})).response
    assert out is not None and out.body.WhichOneof("msg_body") == "response"
    results = out.body.response.set_resp.updated_obj_results
    assert {r.requested_path for r in results} == {"Device.WiFi.SSID.1.", "Device.LocalAgent."}
    assert twin.params(agent.device_id)["Device.WiFi.SSID.1.SSID"] == "Home"
    assert twin.state(agent.device_id).parameter_key == "p-1"
    values, _ = _get(agent, "Device.LocalAgent.X_GATEWARD_ParameterKey")
    assert values["Device.LocalAgent.X_GATEWARD_ParameterKey"] == "p-1"


def test_allow_partial_with_optional_params(agent: SimAgent, twin: Twin) -> None:
    msg = records.set_("s", {"Device.WiFi.SSID.1.SSID": "Partial", "Device.WiFi.Radio.1.Channel": 999},
                       allow_partial=True, required=False)
    out = agent.handle(msg).response
    assert out is not None and out.body.WhichOneof("msg_body") == "response"
    errs = [(e.param, e.err_code) for r in out.body.response.set_resp.updated_obj_results
            for i in r.oper_status.oper_success.updated_inst_results for e in i.param_errs]
    assert errs == [("Channel", 7012)]
    assert twin.params(agent.device_id)["Device.WiFi.SSID.1.SSID"] == "Partial"


def test_injected_faults_on_set(agent: SimAgent, twin: Twin) -> None:
    twin.inject(agent.device_id, "fault_on_set", code=9002)
    agent.refresh()
    out = agent.handle(records.set_("s", {"Device.WiFi.SSID.1.SSID": "x"})).response
    assert out is not None and out.body.error.err_code == 7003
    twin.clear(agent.device_id)
    twin.inject(agent.device_id, "reject_value", path="Device.WiFi.SSID.1.SSID")
    agent.refresh()
    out = agent.handle(records.set_("s", {"Device.WiFi.SSID.1.SSID": "x"})).response
    assert out is not None and [(p.param_path, p.err_code) for p in out.body.error.param_errs] == [
        ("Device.WiFi.SSID.1.SSID", 7012)]


def test_supported_dm_describes_the_firmware(agent: SimAgent) -> None:
    out = agent.handle(records.get_supported_dm("d", ["Device."])).response
    assert out is not None
    (ror,) = out.body.response.get_supported_dm_resp.req_obj_results
    assert ror.data_model_inst_uri == "urn:broadband-forum-org:tr-181-2-16-0-usp"
    objs = {o.supported_obj_path: o for o in ror.supported_objs}
    radio = objs["Device.WiFi.Radio.{i}."]
    assert radio.is_multi_instance
    params = {p.param_name: p for p in radio.supported_params}
    assert params["Channel"].value_type == VT.PARAM_UNSIGNED_INT
    assert params["Channel"].access == VT.PARAM_READ_WRITE
    assert params["PossibleChannels"].access == VT.PARAM_READ_ONLY
    cmds = {c.command_name: c for c in objs["Device.IP.Diagnostics."].supported_commands}
    assert cmds["IPPing()"].command_type == VT.CMD_ASYNC and "Host" in cmds["IPPing()"].input_arg_names
    assert [c.command_name for c in objs["Device."].supported_commands] == ["Reboot()", "FactoryReset()"]
    assert [e.event_name for e in objs["Device."].supported_events] == ["Boot!"]
    la = {p.param_name for p in objs["Device.LocalAgent."].supported_params}
    assert "X_GATEWARD_ParameterKey" in la
    bad = agent.handle(records.get_supported_dm("d", ["Device.Nope."])).response
    assert bad is not None and bad.body.response.get_supported_dm_resp.req_obj_results[0].err_code == 7026
    first = agent.handle(records.get_supported_dm("d", ["Device.WiFi."], first_level_only=True)).response
    assert first is not None
    paths = {o.supported_obj_path for o in first.body.response.get_supported_dm_resp.req_obj_results[0].supported_objs}
    assert "Device.WiFi.Radio.{i}." in paths and "Device.WiFi.AccessPoint.{i}.Security." not in paths


def test_add_get_instances_delete_rows(agent: SimAgent, twin: Twin) -> None:
    out = agent.handle(records.add("a", "Device.DNS.Client.Server.", {"DNSServer": "9.9.9.9", "Enable": True}))
    assert out.response is not None
    path = out.response.body.response.add_resp.created_obj_results[0].oper_status.oper_success.instantiated_path
    assert path.startswith("Device.DNS.Client.Server.") and path.endswith(".")
    assert twin.params(agent.device_id)[path + "DNSServer"] == "9.9.9.9"
    inst = agent.handle(records.get_instances("i", ["Device.DNS.Client.Server."], first_level_only=True))
    assert inst.response is not None
    found = [c.instantiated_obj_path for c in inst.response.body.response.get_instances_resp.req_path_results[0]
             .curr_insts]
    assert path in found
    gone = agent.handle(records.delete("d", [path])).response
    assert gone is not None
    assert list(gone.body.response.delete_resp.deleted_obj_results[0].oper_status.oper_success.affected_paths) \
        == [path]
    assert not any(p.startswith(path) for p in twin.params(agent.device_id))
    again = agent.handle(records.delete("d", [path])).response  # deleting a missing row is no error
    assert again is not None and again.body.WhichOneof("msg_body") == "response"
    bad = agent.handle(records.add("a", "Device.DeviceInfo.", {})).response
    assert bad is not None and bad.body.error.err_code == 7018
    bad_param = agent.handle(records.add("a", "Device.DNS.Client.Server.", {"Nope": "1"})).response
    assert bad_param is not None and bad_param.body.error.param_errs[0].err_code == 7026


def test_subscriptions_table(agent: SimAgent) -> None:
    out = agent.handle(records.add("a", "Device.LocalAgent.Subscription.", {
        "ID": "s-1", "NotifType": "ValueChange", "ReferenceList": "Device.WiFi.SSID.1.SSID", "Enable": True}))
    assert out.response is not None
    ok = out.response.body.response.add_resp.created_obj_results[0].oper_status.oper_success
    assert dict(ok.unique_keys) == {"ID": "s-1"}
    dup = agent.handle(records.add("a", "Device.LocalAgent.Subscription.", {"ID": "s-1", "NotifType": "Event"}))
    assert dup.response is not None and dup.response.body.error.err_code == 7025
    values, _ = _get(agent, "Device.LocalAgent.Subscription.*.ID")
    assert sorted(values.values()) == ["gw-boot", "s-1"]
    assert [s.id for s in agent.subscriptions_for("ValueChange", "Device.WiFi.SSID.1.SSID")] == ["s-1"]


def test_operate_unknown_and_bad_arguments(agent: SimAgent) -> None:
    out = agent.handle(records.operate("o", "Device.SelfDestruct()")).response
    assert out is not None and out.body.error.err_code == 7026
    out = agent.handle(records.operate("o", "Device.IP.Diagnostics.IPPing()", args={"Host": ""})).response
    assert out is not None
    assert out.body.response.operate_resp.operation_results[0].cmd_failure.err_code == 7027
    ok = agent.handle(records.operate("o", "Device.IP.Diagnostics.IPPing()", args={"Host": "192.0.2.1"}))
    assert ok.response is not None
    assert ok.response.body.response.operate_resp.operation_results[0].req_obj_path == "Device.LocalAgent.Request.1."
    assert ok.actions and ok.actions[0].kind == "async"
    values, _ = _get(agent, "Device.LocalAgent.Request.1.Status")
    assert values == {"Device.LocalAgent.Request.1.Status": "Active"}


def test_unsupported_message_type(agent: SimAgent) -> None:
    msg = records.notify("n", "x", send_resp=False)
    out = agent.handle(msg).response
    assert out is not None and out.body.error.err_code == 7001


def test_batched_persistence_flushes_later(twin: Twin) -> None:
    d = twin.add_device("prplnet-px7000-1.3", "PX7K20000002", region="DE")
    agent = SimAgent(twin, d.id, controller_id="proto::c", persist="batched")
    agent.handle(records.set_("s", {"Device.WiFi.SSID.1.SSID": "Batched"}))
    values, _ = _get(agent, "Device.WiFi.SSID.1.SSID")
    assert values["Device.WiFi.SSID.1.SSID"] == "Batched"  # acknowledged from memory
    assert twin.params(d.id)["Device.WiFi.SSID.1.SSID"] != "Batched"
    assert agent.flush() == 1
    assert twin.params(d.id)["Device.WiFi.SSID.1.SSID"] == "Batched"
