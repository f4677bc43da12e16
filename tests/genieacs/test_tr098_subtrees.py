"""TR-098 without refreshing the whole tree (issue 12 deliverable 6).

Discover refreshes only the objects the TR-181 view is built from, in one task, and learns the
same as a refresh of the whole tree did; every TR-098 read asks GenieACS for a projection instead
of the whole device document.
"""

from __future__ import annotations

from typing import Any

from core.kernel.models import Device, Root
from executors.genieacs.executor import TR098_SUBTREES, GenieAcsExecutor


def _gpv_paths(nbi: Any, d: Device, since: int) -> list[str]:
    return [e["path"] for e in nbi.rpc_log(d.id)[since:] if e["rpc"] == "GetParameterValues"]


def test_tr098_discover_refreshes_subtrees_and_learns_the_same(
    executor: GenieAcsExecutor, nbi: Any, devices: dict[str, Device]
) -> None:
    d = devices["tr098"]
    mark = len(nbi.rpc_log(d.id))
    posted = len(nbi.store.device_tasks(nbi.genie_id(d.id)))
    disc = executor.discover(d)
    refreshed = _gpv_paths(nbi, d, mark)
    assert "" not in refreshed and "InternetGatewayDevice" not in refreshed, refreshed
    assert set(refreshed) <= {*TR098_SUBTREES, "InternetGatewayDevice.DeviceSummary"}, refreshed
    assert len(nbi.store.device_tasks(nbi.genie_id(d.id))) == posted  # nothing left queued

    # a record that does not know the root yet refreshes the whole tree (the old discover): same result
    mark = len(nbi.rpc_log(d.id))
    whole = executor.discover(d.model_copy(update={"root": Root.DEVICE}))
    assert "" in _gpv_paths(nbi, d, mark)
    assert disc.root == whole.root == "InternetGatewayDevice."
    assert disc.data_model_version == whole.data_model_version != ""
    assert disc.supported_objects == whole.supported_objects
    assert disc.parameters == whole.parameters
    assert disc.instance_map == whole.instance_map


def test_tr098_reads_use_projections(executor: GenieAcsExecutor, devices: dict[str, Device]) -> None:
    d = devices["tr098"]
    projections: list[Any] = []
    real = executor.client.device

    def spy(gid: str, projection: Any = None) -> Any:
        projections.append(projection)
        return real(gid, projection)

    executor.client.device = spy  # type: ignore[method-assign,assignment]
    values = executor.read(d, ["Device.WiFi.SSID.1.SSID", "Device.DeviceInfo."])
    assert values["Device.WiFi.SSID.1.SSID"].value
    assert any(p.startswith("Device.DeviceInfo.") for p in values)
    assert projections and all(p is not None for p in projections), projections


def test_tr098_read_of_a_device_genieacs_knows_only_from_its_inform(
    executor: GenieAcsExecutor, nbi: Any, twin: Any, devices: dict[str, Device]
) -> None:
    """Found against GenieACS 1.2.16 + genieacs-sim: a newly registered device's document holds its
    Inform parameters and at most the names under ``LANDevice`` (no values), so no instance map
    could be built and ``Device.WiFi.SSID.1.SSID`` was refused as absent. The read now refreshes
    the LAN and WAN devices first."""
    d = devices["tr098"]
    rec = nbi.record(nbi.genie_id(d.id))
    with nbi.store.lock:  # what GenieACS 1.2 holds after registration: no LAN/WAN values
        for name in [n for n in rec.params if n.startswith(("InternetGatewayDevice.LANDevice.",
                                                             "InternetGatewayDevice.WANDevice."))]:
            del rec.params[name]
    native = next(v for k, v in twin.params(d.id).items() if k.endswith("WLANConfiguration.1.SSID"))
    mark = len(nbi.rpc_log(d.id))
    values = executor.read(d, ["Device.WiFi.SSID.1.SSID"])
    assert values["Device.WiFi.SSID.1.SSID"].value == native
    # no session of its own for the SSID: the LAN device's refresh already read it (behind NAT each
    # session is an inform interval). How many sessions that refresh takes is timing — on a loaded
    # machine GenieACS's one-second refresh alignment can answer it from the cache once and it is
    # asked again with the same names (the read's retry) — so the names asked are what is checked.
    refreshed = _gpv_paths(nbi, d, mark)
    assert "InternetGatewayDevice.LANDevice" in refreshed, nbi.rpc_log(d.id)[mark:]
    assert set(refreshed) <= {"InternetGatewayDevice.LANDevice", "InternetGatewayDevice.WANDevice"}, refreshed


def test_tr098_read_of_an_object_fetches_what_genieacs_knows_only_by_name(
    executor: GenieAcsExecutor, nbi: Any, twin: Any, devices: dict[str, Device]
) -> None:
    """Found against GenieACS 1.2.16: after registration a device's document holds the Inform's
    DeviceInfo leaves only (SoftwareVersion, HardwareVersion, ...) and knows ``ModelName`` and
    ``Manufacturer`` by name at most. A read of ``Device.DeviceInfo.`` refreshed only the leaves
    that had values, so those two never arrived (and the inventory's model stayed the product
    class). An object read now refreshes the native object itself."""
    d = devices["tr098"]
    rec = nbi.record(nbi.genie_id(d.id))
    with nbi.store.lock:  # what a stock GenieACS holds: no ModelName / Manufacturer value
        for name in ("InternetGatewayDevice.DeviceInfo.ModelName", "InternetGatewayDevice.DeviceInfo.Manufacturer"):
            rec.params.pop(name, None)
    mark = len(nbi.rpc_log(d.id))
    values = executor.read(d, ["Device.DeviceInfo."])
    native = twin.params(d.id)
    assert values["Device.DeviceInfo.ModelName"].value == native["InternetGatewayDevice.DeviceInfo.ModelName"]
    assert values["Device.DeviceInfo.Manufacturer"].value == native["InternetGatewayDevice.DeviceInfo.Manufacturer"]
    assert "InternetGatewayDevice.DeviceInfo" in _gpv_paths(nbi, d, mark)
    # GenieACS now holds them: the next inventory sync reads the device's model from its document
    with nbi.store.lock:
        held = rec.params["InternetGatewayDevice.DeviceInfo.ModelName"].value
    assert held == values["Device.DeviceInfo.ModelName"].value
