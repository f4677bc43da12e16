"""``discover()`` reports every parameter with its writability, in TR-181 terms, on every adapter
(issue 11, deliverable 5): the simulator's firmware model, GenieACS's ``_writable`` flags (TR-181 and
TR-098 through the translation view), USP GetSupportedDM. ``core.capabilities`` stores that and
validation refuses what the device's own data model marks read-only. At HEAD ``Discovery`` had no
``parameters`` at all."""

from __future__ import annotations

import pytest

from core.capabilities import RULE_INSTANCE, RULE_MISSING, RULE_READ_ONLY, CapabilitySet, split_parameters
from core.kernel.models import Device
from tests.contract.conftest import Harness


def _devices(h: Harness) -> list[Device]:
    return [d for d in (h.tr181_device, h.tr098_device, h.usp_device) if d is not None]


def test_discover_reports_writability_in_tr181_terms(harness: Harness) -> None:
    for d in _devices(harness):
        disc = harness.executor.discover(d)
        params, _ = split_parameters(disc.parameters)
        assert params, f"{d.id}: no parameters discovered"
        assert all(p.startswith("Device.") for p in params), d.id
        assert params.get("Device.DeviceInfo.SoftwareVersion") is False, d.id
        assert params.get("Device.WiFi.SSID.{i}.SSID") is True, d.id


@pytest.mark.parametrize("path, rule", [("Device.DeviceInfo.SoftwareVersion", RULE_READ_ONLY),
                                        ("Device.DeviceInfo.X_NOT_THERE", RULE_MISSING)])
def test_discovered_model_refuses_what_the_device_cannot_write(harness: Harness, path: str, rule: str) -> None:
    d = harness.tr181_device
    params, instances = split_parameters(harness.executor.discover(d).parameters)
    caps = CapabilitySet(f"{d.vendor} {d.model} fw {d.firmware}", params, instances)
    problem = caps.problem(path)
    assert problem is not None and problem[0] == rule
    assert "the device's own data model" in problem[1]
    assert caps.problem("Device.WiFi.SSID.1.SSID") is None


def test_discover_reports_the_devices_own_instance_numbers(harness: Harness) -> None:
    """Instance numbers are per device (USP: GetInstances on top of GetSupportedDM's schema)."""
    d = harness.tr181_device
    _, instances = split_parameters(harness.executor.discover(d).parameters)
    ssids = instances.get("Device.WiFi.SSID.")
    assert ssids and 1 in ssids, instances
    caps = CapabilitySet("x", *split_parameters(harness.executor.discover(d).parameters))
    problem = caps.problem(f"Device.WiFi.SSID.{max(ssids) + 7}.SSID")
    assert problem is not None and "does not exist on this device" in problem[1]


def test_concretise_keeps_empty_tables_generic() -> None:
    from core.capabilities import concretise

    out = concretise({"Device.WiFi.SSID.{i}.SSID": True, "Device.DNS.Client.Server.{i}.Enable": True,
                      "Device.DeviceInfo.SoftwareVersion": False},
                     ["Device.WiFi.SSID.1.", "Device.WiFi.SSID.3."])
    assert out == {"Device.WiFi.SSID.1.SSID": True, "Device.WiFi.SSID.3.SSID": True,
                   "Device.DNS.Client.Server.{i}.Enable": True, "Device.DeviceInfo.SoftwareVersion": False}


# --------------------------------------------------------------------------- issue 37, item 3
def _drop_rows(h: Harness, device: Device, table: str) -> None:
    """Delete every instance of ``table`` on the device itself (its twin state; a USP agent is synced)."""
    twin = h.extras["twin"]
    twin.transact(device.id, lambda s: s.set_values({table: None}))
    rig = h.extras.get("rig")
    if rig is not None:
        rig.run_agents(rig.host.sync(device.id))


def _caps(h: Harness, device: Device) -> tuple[CapabilitySet, bool]:
    disc = h.executor.discover(device)
    params, instances = split_parameters(disc.parameters)
    return CapabilitySet(f"{device.vendor} {device.model} fw {device.firmware}", params, instances,
                         instances_complete=disc.instances_complete), disc.instances_complete


def test_a_full_schema_device_refuses_a_table_it_has_no_instances_of(harness: Harness) -> None:
    """An SSID change on an agent with no SSID passed validation and approval and failed at the agent
    (USP 7026). A device whose discovery lists its whole schema and every instance (USP) refuses it at
    validate, naming the missing instance; a TR-069 device's discovery cannot tell a table with no
    instances from one it did not list, so such a path still goes to the device (unchanged)."""
    d = harness.tr181_device
    _drop_rows(harness, d, "Device.WiFi.SSID.")
    caps, complete = _caps(harness, d)
    assert complete is bool(harness.extras.get("full_schema")), "which adapters list every instance"
    problem = caps.problem("Device.WiFi.SSID.1.SSID")
    if not complete:
        assert problem is None, problem
        return
    assert problem is not None and problem[0] == RULE_INSTANCE, problem
    assert "Device.WiFi.SSID.1 does not exist on this device: it has no Device.WiFi.SSID instances" in problem[1]
    assert caps.problem("Device.WiFi.Radio.1.Channel") is None  # tables it has still pass


def test_a_full_schema_device_refuses_what_its_schema_lacks(harness: Harness) -> None:
    """A path in a table the device's schema does not have at all (an agent without that object) is
    refused as missing on a full-schema device; on TR-069 a table nobody saw an instance of says nothing."""
    caps, complete = _caps(harness, harness.tr181_device)
    problem = caps.problem("Device.Optical.Interface.1.Enable")
    if not complete:
        assert problem is None, problem
        return
    assert problem is not None and problem[0] == RULE_MISSING, problem


def test_local_agent_read_only_parameters_are_refused_as_read_only(harness: Harness) -> None:
    """``Device.LocalAgent.*`` stays in the discovered model, so a parameter the agent implements
    read-only there (TR-181 says writable) is refused as read-only — not as unsupported, and not let
    through. Only an agent has a LocalAgent controller table to say so."""
    caps, complete = _caps(harness, harness.tr181_device)
    if not complete:
        pytest.skip("only a USP agent reports Device.LocalAgent.Controller.{i}")
    problem = caps.problem("Device.LocalAgent.Controller.1.Enable")
    assert problem is not None and problem[0] == RULE_READ_ONLY, problem


# --------------------------------------------------------------------------- issue 37, item 6
def test_discover_says_which_contract_commands_the_device_has(harness: Harness) -> None:
    """``Discovery.commands``: the contract commands the device's own data model has, each named by the
    command it runs as (``command_paths``), or ``None`` when the adapter cannot say (TR-069: Download and
    Reboot are RPCs, not data-model commands; the simulator's twins: every command). A USP agent's
    GetSupportedDM lists its commands, so its discovery says: every one on the simulated agents."""
    from core.kernel.ports.executor import COMMANDS

    for d in _devices(harness):
        disc = harness.executor.discover(d)
        if disc.commands is None:
            assert not harness.extras.get("full_schema"), f"{d.id}: a USP agent's discovery says its commands"
            continue
        assert sorted(disc.commands) == sorted(COMMANDS), (d.id, disc.commands)
        assert set(disc.command_paths) == set(COMMANDS), d.id
        root = str(getattr(disc.root, "value", disc.root))
        assert all(p.startswith(root) and p.endswith("()") for p in disc.command_paths.values()), disc.command_paths
    if harness.extras.get("full_schema"):
        disc = harness.executor.discover(harness.tr181_device)
        assert disc.command_paths["download"] == "Device.DeviceInfo.FirmwareImage.{i}.Download()"
