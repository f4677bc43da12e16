"""The device page's reads (issue 39): the parameter tree one level at a time, from the snapshot
or read live for a subtree, with writable marks; and an applied change shows up in the device's
history as a marker with what it set."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import Api, pick, radio_of


def _level(api: Api, dev: str, prefix: str, live: bool = False) -> dict[str, Any]:
    r = api.get(f"/api/devices/{dev}/tree", params={"prefix": prefix, "live": str(live).lower()})
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_the_tree_opens_a_level_at_a_time(api: Api) -> None:
    dev = pick(api, fresh=False)["id"]
    root = _level(api, dev, "Device.")
    objects = {n["name"]: n for n in root["nodes"] if n["kind"] == "object"}
    assert {"WiFi", "DeviceInfo"} <= set(objects)
    assert all(n["kind"] == "object" or "." not in n["name"] for n in root["nodes"])
    with api.rt.store.read() as s:
        from core.store import repo

        snap = repo.latest_snapshot(s, dev) or {}
    assert objects["WiFi"]["parameters"] == sum(1 for p in snap if p.startswith("Device.WiFi."))
    radios = _level(api, dev, "Device.WiFi.Radio.")
    assert [n["name"] for n in radios["nodes"]][:2] == ["1", "2"]  # instances in number order
    idx, channel = radio_of(api, dev, "5GHz")
    radio = {n["name"]: n for n in _level(api, dev, f"Device.WiFi.Radio.{idx}.")["nodes"]}
    assert radio["Channel"]["value"] == channel and radio["Channel"]["writable"] is True
    assert radio["Channel"]["writable_source"] == "standard"
    info = {n["name"]: n for n in _level(api, dev, "Device.DeviceInfo.")["nodes"]}
    assert info["SoftwareVersion"]["writable"] is False
    bw = radio.get("OperatingChannelBandwidth")
    if bw is not None:
        assert bw["allowed"] and "80MHz" in bw["allowed"]


def test_a_subtree_is_read_live_with_the_devices_own_marks(api: Api) -> None:
    dev = pick(api, fresh=False)["id"]
    idx, channel = radio_of(api, dev, "5GHz")
    live = _level(api, dev, f"Device.WiFi.Radio.{idx}", live=True)
    assert live["source"] == "live" and live["error"] is None and live["prefix"] == f"Device.WiFi.Radio.{idx}."
    nodes = {n["name"]: n for n in live["nodes"]}
    assert nodes["Channel"]["value"] == channel and nodes["Channel"]["writable_source"] == "device"
    assert nodes["Channel"]["writable"] is True


def test_an_applied_change_is_a_marker_in_the_history(api: Api) -> None:
    dev = pick(api)["id"]
    idx, cur = radio_of(api, dev, "5GHz")
    target = 36 if cur != 36 else 40
    r = api.post("/api/proposals", {"intent": "move 5 GHz off a crowded channel", "targets": [dev],
                                    "changes": [{"path": f"Device.WiFi.Radio.{idx}.AutoChannelEnable", "value": False},
                                                {"path": f"Device.WiFi.Radio.{idx}.Channel", "value": target}],
                                    "rationale": "test"})
    assert r.status_code == 201, r.text
    pid = r.json()["proposal"]["id"]
    before = api.get(f"/api/devices/{dev}/history", params={"hours": 24}).json()["changes"]
    assert pid not in [c["proposal_id"] for c in before]  # not finished yet: no marker
    assert api.post(f"/api/proposals/{pid}/apply").json()["proposal"]["state"] == "done"
    changes = api.get(f"/api/devices/{dev}/history", params={"hours": 24}).json()["changes"]
    mine = next(c for c in changes if c["proposal_id"] == pid)
    assert mine["state"] == "done" and mine["intent"] == "move 5 GHz off a crowded channel"
    assert f"WiFi.Radio.{idx}.Channel = {target}" in mine["what"]


def test_history_names_each_series_in_words_as_the_approvers_chart_does(api: Api) -> None:
    """One definition of a metric's name and unit (core.history): the device page's charts get them
    with each series, the same an approver's evidence chart carries — the console keeps no copy."""
    from core.history import metric_name

    dev = pick(api, fresh=False)["id"]
    series = api.get(f"/api/devices/{dev}/history", params={"hours": 24}).json()["series"]
    assert series
    for item in series:
        assert (item["name"], item["unit"]) == metric_name(item["metric"]), item["metric"]
    busy = next(x for x in series if x["metric"] == "wifi.channel_utilization_pct")
    assert (busy["name"], busy["unit"]) == ("Wi-Fi channel busy", "%")


def _tr098(api: Api) -> str:
    items = api.get("/api/devices/page", params={"limit": 200}).json()["items"]
    return str(next(d["id"] for d in items if d["root"] == "InternetGatewayDevice." and d["presence"] == "online"))


def test_a_tr098_devices_tree_is_its_tr181_view_with_the_native_name_beside(api: Api) -> None:
    """The store keeps every device's tree in TR-181 names: a TR-098 device's tree opens under
    ``Device.`` and each parameter says what the device calls it — the form from the tables for the
    snapshot, the exact name when read live; a write the translation cannot carry is not offered."""
    dev = _tr098(api)
    root = _level(api, dev, "Device.")
    assert {"DeviceInfo", "WiFi"} <= {n["name"] for n in root["nodes"]}, root
    radio = {n["name"]: n for n in _level(api, dev, "Device.WiFi.Radio.1.")["nodes"]}
    assert "every WLANConfiguration of radio 1" in radio["Channel"]["native"], radio["Channel"]
    assert radio["Channel"]["native"].startswith("InternetGatewayDevice.LANDevice.{i}.WLANConfiguration.{i}.")
    assert radio["Channel"]["writable"] and not radio["OperatingStandards"]["writable"]  # TR-098 Standard: read-only
    live = {n["name"]: n for n in _level(api, dev, "Device.WiFi.Radio.1.", live=True)["nodes"]}
    assert live["Channel"]["native"].startswith("InternetGatewayDevice.LANDevice.1.WLANConfiguration."), live
    tr181 = pick(api, fresh=False)["id"]
    assert all(n.get("native") is None for n in _level(api, tr181, "Device.WiFi.Radio.1.")["nodes"])


def test_the_diff_of_a_tr098_device_says_what_is_written_on_it(api: Api) -> None:
    dev = _tr098(api)
    r = api.post("/api/proposals", {"intent": "native diff", "targets": [dev], "rationale": "test",
                                    "changes": [{"path": "Device.WiFi.Radio.1.Channel", "value": 6}]})
    assert r.status_code == 201, r.text
    for detail in (r.json(), api.get(f"/api/proposals/{r.json()['proposal']['id']}").json()):
        (line,) = detail["preview"]["devices"][0]["lines"]
        assert line["native"].startswith(line["device_path"]) and "WLANConfiguration" in line["device_path"], line
        assert "every other WLANConfiguration of radio 1" in line["native"], line
    api.post(f"/api/proposals/{r.json()['proposal']['id']}/cancel", {"reason": "test cleanup"})
