"""``discover()`` reports every parameter with its writability, in TR-181 terms, on every adapter
(issue 11, deliverable 5): the simulator's firmware model, GenieACS's ``_writable`` flags (TR-181 and
TR-098 through the translation view), USP GetSupportedDM. ``core.capabilities`` stores that and
validation refuses what the device's own data model marks read-only. At HEAD ``Discovery`` had no
``parameters`` at all."""

from __future__ import annotations

import pytest

from core.capabilities import RULE_MISSING, RULE_READ_ONLY, CapabilitySet, split_parameters
from core.models import Device
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
