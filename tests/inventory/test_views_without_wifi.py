"""Views that do not assume Wi-Fi (issue 11, deliverable 6).

A device built like the real OB-USP-Agent's — no Wi-Fi, no DNS client, no ManagementServer — is
registered by hand and shown by ``gateward device ID`` and the API live view: what it has,
DeviceInfo first, with the objects it lacks named. At HEAD the CLI exited 2 and the API's live
view was ``null`` with an invalid-parameter-name error. Real store, real simulated device; the last
test reads the same kind of device through the real USP controller and a simulated agent."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from core.device_overview import CLI_OBJECTS, OVERVIEW_OBJECTS, read_overview
from core.inventory import DeviceSpec, Inventory
from core.kernel.secrets import MASK
from tests.inventory.conftest import actor, serial

PRPL = "prplnet-px7000-1.3"
BARE = {"Device.WiFi.": None, "Device.DNS.Client.": None}  # like the OB-USP-Agent's data model
ABSENT = ["Device.WiFi.", "Device.DNS.Client.", "Device.ManagementServer."]


@pytest.fixture(scope="module")
def bare(rt: Any) -> Any:
    """A USP gateway without Wi-Fi and DNS client objects (USP agents have no ManagementServer),
    in the simulator and registered by hand."""
    from gateward.seed import twin_for

    record = twin_for(rt).add_device(PRPL, serial("PXB"), region="DE", overrides=dict(BARE))
    spec = DeviceSpec.checked({"id": record.id, "adapter": "sim", "protocol": "usp", "root": "Device.",
                               "vendor": record.vendor, "model": record.model, "firmware": record.firmware,
                               "region": "DE"})
    return Inventory(rt.store).add(spec, actor(rt, "dave"))


@pytest.fixture
def cli(rt: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from gateward import cli as cli_module

    monkeypatch.setattr(cli_module, "_runtime", rt)
    monkeypatch.setattr(cli_module, "console", Console(width=300, color_system=None))
    monkeypatch.setattr(cli_module, "err", Console(width=300, color_system=None, stderr=True))

    def run(*args: str) -> Any:
        return CliRunner().invoke(cli_module.app, list(args))

    yield run


def test_cli_device_shows_what_a_device_without_wifi_has(cli: Any, bare: Any) -> None:
    result = cli("device", bare.id)
    assert result.exit_code == 0, result.output
    lines = [ln for ln in result.output.splitlines() if "Device." in ln and "│" in ln]
    assert lines and all("Device.DeviceInfo." in ln for ln in lines)  # DeviceInfo is what it has
    assert "Device.DeviceInfo.SerialNumber" in result.output
    assert "not on this device: Device.WiFi.Radio., Device.DNS.Client., Device.ManagementServer." in result.output


def test_cli_device_lists_deviceinfo_first_on_a_full_device(cli: Any, rt: Any) -> None:
    from core.store import repo

    with rt.store.read() as s:
        items, _ = repo.list_devices(s, limit=1000)
    d = next(x for x in items if str(x.root) == "Device." and str(x.protocol) == "cwmp" and x.subscriber)
    result = cli("device", d.id)
    assert result.exit_code == 0, result.output
    rows = [ln.split("│")[1].strip() for ln in result.output.splitlines() if ln.startswith("│")]
    first_radio = next(i for i, p in enumerate(rows) if p.startswith("Device.WiFi.Radio."))
    assert rows[0].startswith("Device.DeviceInfo.") and first_radio > 0
    assert all(p.startswith("Device.DeviceInfo.") for p in rows[:first_radio])
    assert "not on this device" not in result.output


def test_cli_device_with_only_absent_paths_is_a_clear_error(cli: Any, bare: Any) -> None:
    result = cli("device", bare.id, "--path", "Device.WiFi.SSID.")
    assert result.exit_code == 2
    assert f"{bare.id} has none of Device.WiFi.SSID." in result.output


def test_api_live_view_shows_what_the_device_has(rt: Any, bare: Any) -> None:
    from tests.api.conftest import make_api

    api = make_api(rt, "inventory")
    try:
        body = api.get(f"/api/devices/{bare.id}", params={"live": "true"}).json()
        assert body["live_error"] is None, body["live_error"]
        assert body["live"] and body["live"][0]["path"].startswith("Device.DeviceInfo.")
        assert body["live_absent"] == ABSENT
        only_wifi = api.get(f"/api/devices/{bare.id}/parameters",
                            params={"prefix": "Device.WiFi.", "live": "true"}).json()
        assert only_wifi["live"] == [] and only_wifi["live_error"] == "the device has no Device.WiFi."
    finally:
        api.client.close()


def test_overview_keeps_request_order_and_masks_secrets(rt: Any) -> None:
    from core.store import repo

    with rt.store.read() as s:
        items, _ = repo.list_devices(s, limit=1000)
    d = next(x for x in items if str(x.root) == "Device." and str(x.protocol) == "cwmp" and x.subscriber)
    ov = read_overview(rt.router.reader(d), d, ["Device.WiFi.AccessPoint.", "Device.DeviceInfo.", "Device.Nope."])
    paths = [v.path for v in ov.values]
    first_info = next(i for i, p in enumerate(paths) if p.startswith("Device.DeviceInfo."))
    assert all(p.startswith("Device.WiFi.AccessPoint.") for p in paths[:first_info])
    assert ov.absent == ["Device.Nope."] and ov.error is None
    secret = [r for r in ov.rows() if r["path"].endswith("KeyPassphrase")]
    assert secret and all(r["value"] == MASK for r in secret)


@pytest.mark.mqtt
def test_usp_agent_without_wifi_is_shown_over_the_real_controller(tmp_path: Path) -> None:
    from tests.usp.support import usp_rig

    def devices(twin: Any) -> list[Any]:
        return [twin.add_device(PRPL, "PXUSP0000001", region="DE", overrides=dict(BARE))]

    with usp_rig(tmp_path, devices) as rig:
        d = rig.devices[0]
        ov = read_overview(rig.executor, d, OVERVIEW_OBJECTS)
        assert ov.error is None and ov.absent == ABSENT
        assert ov.values and all(v.path.startswith("Device.DeviceInfo.") for v in ov.values)
        narrow = read_overview(rig.executor, d, CLI_OBJECTS)
        assert narrow.absent == ["Device.WiFi.Radio.", "Device.DNS.Client.", "Device.ManagementServer."]
