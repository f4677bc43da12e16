"""Per-device capabilities used at validate, and firmware drift in compat (issue 11, deliverable 5).

Real store (SQLite, and PostgreSQL when configured), the real lifecycle, the simulated fleet's own
firmware data models discovered through the executor contract. At HEAD a change to a parameter the
firmware implements read-only (TR-181 says writable) validated, previewed and could be approved; the
device refused it only at apply. Now the discovered data model refuses it at validate.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from rich.console import Console
from sqlalchemy import select
from typer.testing import CliRunner

from core import capabilities
from core.kernel.errors import Conflict, Invalid
from core.kernel.models import Change, ProposalDraft, ProposalState
from core.store.schema import DeviceCapabilityRow, DeviceInstancesRow
from tests.inventory.conftest import actor, audit_events

V72 = ("Vantec", "CGW-3400", "7.2.6-CGW3400")
V74 = ("Vantec", "CGW-3400", "7.4.1-beta3")
LUMENET = ("Lumenet", "ONT-G240W", "3.2.1-1412")
SINOTEL = ("Sinotel", "HG8020-L", "V3R017C10S120")
# Read-only on every simulated firmware, writable in TR-181: the registry alone lets it through.
READ_ONLY = "Device.DNS.Client.Server.1.Interface"
# Vantec 7.2 does not implement it (fixed in 7.4): registry-valid, absent from the device.
MISSING = "Device.IP.Diagnostics.IPPing.ProtocolVersion"


def _device(rt: Any, cls: tuple[str, str, str], skip: int = 0) -> Any:
    from core.store import repo
    from core.store.schema import DeviceRow

    with rt.store.read() as s:
        ids = list(s.scalars(select(DeviceRow.id).where(DeviceRow.vendor == cls[0], DeviceRow.model == cls[1],
                                                        DeviceRow.firmware == cls[2], DeviceRow.adapter == "sim",
                                                        DeviceRow.status == "active").order_by(DeviceRow.id)))
        assert len(ids) > skip, f"the seeded fleet has no {cls}"
        return repo.get_devices(s, [ids[skip]])[ids[skip]]


def _forget(rt: Any, cls: tuple[str, str, str]) -> None:
    """Drop stored capabilities of one class (tests share a module-scoped runtime)."""
    from sqlalchemy import delete

    with rt.store.write() as s:
        s.execute(delete(DeviceCapabilityRow).where(DeviceCapabilityRow.vendor == cls[0],
                                                    DeviceCapabilityRow.model == cls[1],
                                                    DeviceCapabilityRow.firmware == cls[2]))


def _discover(rt: Any, device: Any) -> dict[str, Any]:
    result = capabilities.discover(rt.store, rt.router, [device])[0]
    assert result["stored"], result
    return result


def _propose(rt: Any, device_id: str, changes: dict[str, Any]) -> Any:
    draft = ProposalDraft(intent="capability test", targets=[device_id],
                          changes=[Change(path=p, value=v) for p, v in changes.items()])
    return rt.lifecycle.create(draft, actor(rt, "alice"))


def _validate_error(rt: Any, pid: str) -> str:
    with pytest.raises(Invalid) as exc:
        rt.lifecycle.validate(pid, actor(rt, "alice"))
    return str(exc.value)


@pytest.fixture
def v72(rt: Any) -> Iterator[Any]:
    d = _device(rt, V72)
    _discover(rt, d)
    yield d
    _forget(rt, V72)


def test_read_only_in_the_devices_data_model_is_invalid_at_validate(rt: Any, v72: Any) -> None:
    p = _propose(rt, v72.id, {READ_ONLY: "Device.IP.Interface.1"})
    err = _validate_error(rt, p.id)
    assert (f"{READ_ONLY} is not writable on Vantec CGW-3400 fw 7.2.6-CGW3400 "
            "(the device's own data model says read-only)") in err
    got = rt.lifecycle.get(p.id)
    assert got.state is ProposalState.INVALID
    with pytest.raises(Conflict):  # nothing can be previewed, so nobody can approve it
        rt.lifecycle.preview(p.id, actor(rt, "alice"))
    with pytest.raises(Conflict):
        rt.lifecycle.approve(p.id, actor(rt, "bob"))
    assert rt.lifecycle.preview_of(p.id) is None


def test_a_path_the_device_lacks_is_invalid_at_validate(rt: Any, v72: Any) -> None:
    p = _propose(rt, v72.id, {MISSING: "IPv4"})
    err = _validate_error(rt, p.id)
    assert f"{MISSING} is not supported by Vantec CGW-3400 fw 7.2.6-CGW3400 (the device's own data model" in err


def test_an_instance_the_device_lacks_is_invalid_at_validate(rt: Any, v72: Any) -> None:
    with rt.store.read() as s:
        have = s.get(DeviceInstancesRow, v72.id).instances["Device.WiFi.SSID."]
    absent = max(have) + 5
    p = _propose(rt, v72.id, {f"Device.WiFi.SSID.{absent}.SSID": "guest"})
    err = _validate_error(rt, p.id)
    assert f"Device.WiFi.SSID.{absent} does not exist on this device" in err
    assert f"instances {', '.join(str(n) for n in have)}" in err


def test_a_full_schema_device_without_the_instance_is_invalid_at_validate(rt: Any) -> None:
    """Issue 37: an SSID change on a USP agent with no SSID passed validate and approval and failed at
    the agent (7026). A discovery that lists the whole schema and every instance
    (``instances_complete``, USP) is stored so: the table it has no instances of, and a table its
    schema lacks, are refused at validate; the same discovery without the claim (TR-069) lets both
    through for the device to answer, as before."""
    from sqlalchemy import delete

    d = _device(rt, V72, skip=1)
    disc = rt.router.reader(d).discover(d)
    no_ssid = {k: w for k, w in disc.parameters.items() if not k.startswith("Device.WiFi.SSID.")}
    no_ssid["Device.WiFi.SSID.{i}.SSID"] = True  # in the schema, no instance (GetSupportedDM + GetInstances)
    cases = {"Device.WiFi.SSID.1.SSID": "home-net", "Device.Optical.Interface.1.Enable": True}
    try:
        for complete in (False, True):
            with rt.store.write() as s:
                s.execute(delete(DeviceCapabilityRow).where(DeviceCapabilityRow.firmware == V72[2]))
                summary = capabilities.record(s, d, disc.model_copy(update={"parameters": no_ssid,
                                                                            "instances_complete": complete}))
            assert summary["instances_complete"] is complete
            for path, value in cases.items():
                p = _propose(rt, d.id, {path: value})
                if not complete:
                    assert rt.lifecycle.validate(p.id, actor(rt, "alice")).state is ProposalState.VALIDATED, path
                    continue
                err = _validate_error(rt, p.id)
                if path.startswith("Device.WiFi"):
                    assert ("Device.WiFi.SSID.1 does not exist on this device: it has no Device.WiFi.SSID "
                            "instances") in err
                else:
                    assert "Device.Optical.Interface.1.Enable is not supported by Vantec CGW-3400" in err
        ok = _propose(rt, d.id, {"Device.WiFi.Radio.1.Channel": 6})  # what it has still validates
        assert rt.lifecycle.validate(ok.id, actor(rt, "alice")).state is ProposalState.VALIDATED
    finally:
        _forget(rt, V72)


def test_what_the_device_can_write_still_validates(rt: Any, v72: Any) -> None:
    p = _propose(rt, v72.id, {"Device.WiFi.SSID.1.SSID": "home-net", "Device.WiFi.Radio.1.Channel": 6})
    assert rt.lifecycle.validate(p.id, actor(rt, "alice")).state is ProposalState.VALIDATED


def test_devices_without_stored_capabilities_validate_as_before(rt: Any) -> None:
    """Never block on missing discovery: the registry alone decides (the read-only path validates)."""
    _forget(rt, LUMENET)
    d = _device(rt, LUMENET)
    p = _propose(rt, d.id, {READ_ONLY: "Device.IP.Interface.1"})
    assert rt.lifecycle.validate(p.id, actor(rt, "alice")).state is ProposalState.VALIDATED


def test_tr098_device_capabilities_are_in_tr181_terms(rt: Any) -> None:
    """A TR-098 device's discovery is stored as its TR-181 view: ordinary writes still validate,
    and a path its translation lacks is refused naming the device's own data model."""
    d = _device(rt, SINOTEL)
    summary = _discover(rt, d)
    try:
        assert summary["root"] == "InternetGatewayDevice." and summary["parameters"] > 20
        ok = _propose(rt, d.id, {"Device.WiFi.SSID.1.SSID": "home-net"})
        assert rt.lifecycle.validate(ok.id, actor(rt, "alice")).state is ProposalState.VALIDATED
    finally:
        _forget(rt, SINOTEL)


def test_stored_snapshot_values_are_used_at_validate(rt: Any) -> None:
    """H4's device-listed check is wired: a channel the device's stored snapshot does not list is
    refused at validate (at HEAD ``known`` was never passed and this validated)."""
    from core.store import repo

    d = _device(rt, LUMENET)
    with rt.store.read() as s:
        snap = repo.latest_snapshot(s, d.id) or {}
    listed = snap.get("Device.WiFi.Radio.1.PossibleChannels")
    assert listed, "the seeded fleet stores a snapshot with the radio's channel list"
    channels = {int(c) for c in str(listed["value"] if isinstance(listed, dict) else listed).split(",") if c.strip()}
    unlisted = next(c for c in range(1, 15) if c not in channels) if len(channels) < 14 else None
    if unlisted is None:
        pytest.fail(f"{d.id} lists every 2.4 GHz channel; the test needs a device with an unlisted one")
    p = _propose(rt, d.id, {"Device.WiFi.Radio.1.Channel": unlisted})
    err = _validate_error(rt, p.id)
    assert "is not supported by this device (PossibleChannels:" in err


def test_split_parameters_merges_writability_and_keeps_instances() -> None:
    params, inst = capabilities.split_parameters({
        "Device.WiFi.SSID.1.SSID": True, "Device.WiFi.SSID.3.SSID": False,
        "Device.WiFi.Radio.1.Status": False, "Device.WiFi.Radio.{i}.Channel": None,
    })
    assert params == {"Device.WiFi.SSID.{i}.SSID": True, "Device.WiFi.Radio.{i}.Status": False,
                      "Device.WiFi.Radio.{i}.Channel": None}
    assert inst == {"Device.WiFi.Radio.": [1], "Device.WiFi.SSID.": [1, 3]}
    caps = capabilities.CapabilitySet("X Y fw 1", params, inst)
    assert caps.problem("Device.WiFi.Radio.1.Channel") is None  # writability not said: not refused
    assert caps.problem("Device.WiFi.Radio.1.Status") is not None  # read-only on every instance
    assert caps.problem("Device.WiFi.SSID.2.SSID") is not None  # instance 2 absent


def test_a_table_empty_when_discovered_refuses_nothing_in_it() -> None:
    """A unit with no DNS servers right now lists no DNS server parameters: that says nothing about its
    firmware, so a change there is not refused as missing (a path in no table still is)."""
    caps = capabilities.CapabilitySet("X Y fw 1", {"Device.WiFi.SSID.{i}.SSID": True,
                                                   "Device.DeviceInfo.SoftwareVersion": False})
    assert caps.problem("Device.DNS.Client.Server.1.Enable") is None
    missing = caps.problem("Device.ManagementServer.PeriodicInformInterval")
    assert missing is not None and missing[0] == capabilities.RULE_MISSING


def test_rediscovery_widens_and_never_narrows(rt: Any) -> None:
    """Units of one firmware differ in what they hold now: a second discovery adds to the class."""
    from core.kernel.models import Root
    from executors.base import Discovery

    d = _device(rt, LUMENET)
    first = Discovery(device_id=d.id, root=Root.DEVICE, firmware=d.firmware,
                      parameters={"Device.A.B": False, "Device.A.C": True})
    second = Discovery(device_id=d.id, root=Root.DEVICE, firmware=d.firmware,
                       parameters={"Device.A.B": True, "Device.A.D": False})
    try:
        with rt.store.write() as s:
            capabilities.record(s, d, first)
        with rt.store.write() as s:
            capabilities.record(s, d, second)
        with rt.store.read() as s:
            row = s.get(DeviceCapabilityRow, (d.vendor, d.model, d.firmware, "Device."))
            assert row.params == {"Device.A.B": True, "Device.A.C": True, "Device.A.D": False}
    finally:
        _forget(rt, LUMENET)


def test_a_command_the_devices_data_model_lacks_is_invalid_at_validate(rt: Any) -> None:
    """Issue 37 item 6: a governed download to an agent without ``Device.DeviceInfo.FirmwareImage.`` passed
    validate and approval and failed at the agent (USP 7026). A discovery that says which commands the
    device has (``Discovery.commands``) is stored with its class, and an operation it lacks is refused at
    validate, naming the command its data model does not have; one that does not say (``None``) validates
    as before, and a re-discovery that does not say keeps what an earlier one said (it never narrows)."""
    from core.kernel.models import Operation

    d = _device(rt, LUMENET)
    base = rt.router.reader(d).discover(d)
    assert base.commands is None  # the simulator's twins do not say (every command works on them)
    paths = {"reboot": "Device.Reboot()", "download": "Device.DeviceInfo.FirmwareImage.{i}.Download()"}
    label = f"{d.vendor} {d.model} fw {d.firmware}"

    def record(commands: list[str] | None, *, forget: bool = True) -> None:
        if forget:
            _forget(rt, LUMENET)
        with rt.store.write() as s:
            capabilities.record(s, d, base.model_copy(update={"commands": commands, "command_paths": paths}))

    def validate(command: Any) -> Any:
        image = "https://firmware.gateward.example/lmnt/3.3.bin"
        args: dict[str, Any] = {"url": image} if command == "download" else {}
        draft = ProposalDraft(intent="command test", targets=[d.id], operations=[Operation(command=command, args=args)])
        p = rt.lifecycle.create(draft, actor(rt, "alice"))
        try:
            return rt.lifecycle.validate(p.id, actor(rt, "alice")).state
        except Invalid as exc:
            return str(exc)

    try:
        record(None)
        assert validate("download") is ProposalState.VALIDATED
        record(["reboot"])
        err = validate("download")
        assert (f"download is not supported by {label}: its own data model has no "
                "Device.DeviceInfo.FirmwareImage.{i}.Download() (`gateward devices discover` refreshes)") in err
        assert validate("reboot") is ProposalState.VALIDATED
        assert "ipping is not supported by" in validate("ipping")  # no path given: still refused, by name
        record(["reboot", "download"], forget=False)  # widens
        assert validate("download") is ProposalState.VALIDATED
        record(None, forget=False)  # says nothing: keeps what was said
        with rt.store.read() as s:
            assert capabilities.for_devices(s, [d])[d.id].commands == frozenset({"reboot", "download"})
    finally:
        _forget(rt, LUMENET)


def test_first_contact_discovers_once_per_class_and_only_when_cheap(rt: Any) -> None:
    d = _device(rt, LUMENET)
    _forget(rt, LUMENET)
    try:
        first = capabilities.discover_if_unknown(rt.store, rt.router, d)
        assert first is not None and first["stored"]
        assert capabilities.discover_if_unknown(rt.store, rt.router, _device(rt, LUMENET, skip=1)) is None
        acs = d.model_copy(update={"adapter": "genieacs"})  # a full-tree refresh: only on request
        assert capabilities.discover_if_unknown(rt.store, rt.router, acs) is None
    finally:
        _forget(rt, LUMENET)


def test_tree_drift_separates_what_cannot_be_compared() -> None:
    from core import compat

    old = {"Device.DeviceInfo.X": False, "Device.WiFi.SSID.{i}.SSID": True, "Device.IP.Old": True}
    new = {"Device.DeviceInfo.X": True, "Device.WiFi.SSID.{i}.SSID": True, "Device.IP.New": True,
           "Device.DNS.Client.Server.{i}.Enable": True}
    d = compat.tree_drift(old, new)
    assert d["added"] == ["Device.IP.New"] and d["removed"] == ["Device.IP.Old"]
    assert d["writability_changed"] == [{"path": "Device.DeviceInfo.X", "from": False, "to": True}]
    assert d["not_comparable"] == ["Device.DNS.Client.Server.{i}.Enable"]
    assert compat.firmware_key("7.2.6") < compat.firmware_key("7.10.0")
    assert compat.firmware_key("V3R017C10S105") < compat.firmware_key("V3R017C10S120")


# ---------------------------------------------------------------------------- drift and surfaces
def test_firmware_drift_between_two_firmwares_of_one_model(rt: Any) -> None:
    from core import compat

    a, b = _device(rt, V72), _device(rt, V74)
    _discover(rt, a)
    _discover(rt, b)
    try:
        with rt.store.read() as s:
            report = compat.firmware_drift(s, vendor="Vantec", model="CGW-3400")
        assert len(report) == 1
        r = report[0]
        assert (r["from_firmware"], r["to_firmware"]) == (V72[2], V74[2])
        # 7.4 implements them; 7.2 does not (catalogue: "unsupported"): IPPing's ProtocolVersion and
        # the TraceRoute / TR-143 download and upload diagnostics the beta firmware adds.
        diag = ("Device.IP.Diagnostics.TraceRoute.", "Device.IP.Diagnostics.DownloadDiagnostics.",
                "Device.IP.Diagnostics.UploadDiagnostics.")
        assert MISSING in r["added"] and all(p == MISSING or p.startswith(diag) for p in r["added"])
        assert any(p.startswith(diag[0]) for p in r["added"]) and any(p.startswith(diag[1]) for p in r["added"])
        assert r["removed"] == [] and r["writability_changed"] == []
        assert r["summary"].startswith(f"{V72[2]} → {V74[2]}: ")
    finally:
        _forget(rt, V72)
        _forget(rt, V74)


def test_same_tree_across_firmwares_says_behaviour_may_still_differ(rt: Any) -> None:
    """Sinotel S105 → S120: the same TR-181 paths, but S105 drops WAN DNS servers after a reboot.
    The drift report says the tree alone does not prove the same behaviour (seed knowledge)."""
    from core import compat

    s105, s120 = ("Sinotel", "HG8020-L", "V3R017C10S105"), SINOTEL
    _discover(rt, _device(rt, s105))
    _discover(rt, _device(rt, s120))
    try:
        with rt.store.read() as s:
            (r,) = compat.firmware_drift(s, vendor="Sinotel", model="HG8020-L")
        assert (r["from_firmware"], r["to_firmware"]) == (s105[2], s120[2])
        assert r["added"] == r["removed"] == r["writability_changed"] == []
        assert r["note"] == compat.SAME_PATH_NOTE
    finally:
        _forget(rt, s105)
        _forget(rt, s120)


@pytest.fixture
def cli(rt: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from gateward import cli as cli_module

    monkeypatch.setattr(cli_module, "_runtime", rt)
    monkeypatch.setattr(cli_module, "console", Console(width=300, color_system=None))
    monkeypatch.setattr(cli_module, "err", Console(width=300, color_system=None, stderr=True))

    def run(*args: str) -> Any:
        return CliRunner().invoke(cli_module.app, list(args))

    yield run


def test_cli_discover_and_compat_drift(cli: Any, rt: Any) -> None:
    a = _device(rt, V72)
    try:
        one = cli("devices", "discover", a.id)
        assert one.exit_code == 0, one.output
        assert a.id in one.output and "read-only" in one.output
        many = cli("devices", "discover", "--model", "CGW-3400")  # one device per firmware of the model
        assert many.exit_code == 0, many.output
        assert many.output.count(V72[2]) == 1 and many.output.count(V74[2]) == 1, many.output
        one_fw = cli("devices", "discover", "--model", "CGW-3400", "--firmware", V72[2], "--limit", "2")
        assert one_fw.exit_code == 0 and one_fw.output.count(V72[2]) == 2 and V74[2] not in one_fw.output
        drift = cli("compat", "--drift", "--model", "CGW-3400")
        assert drift.exit_code == 0, drift.output
        assert V72[2] in drift.output and V74[2] in drift.output and "added" in drift.output
        bad = cli("devices", "discover")
        assert bad.exit_code != 0 and "device ID or --model" in bad.output
    finally:
        _forget(rt, V72)
        _forget(rt, V74)


# ---------------------------------------------------------------------------- unknown identities
def _unidentify(rt: Any, device: Any) -> Any:
    """The device as an agent onboarded from its endpoint ID alone is registered: vendor, model and
    firmware ``unknown``. Returns the device as stored now."""
    from core.store import repo
    from core.store.schema import DeviceRow

    with rt.store.write() as s:
        row = s.get(DeviceRow, device.id)
        row.vendor = row.model = row.firmware = "unknown"
    with rt.store.read() as s:
        return repo.get_device(s, device.id)


def _restore_identity(rt: Any, device: Any) -> None:
    from sqlalchemy import delete

    from core.store.schema import DeviceRow

    with rt.store.write() as s:
        row = s.get(DeviceRow, device.id)
        row.vendor, row.model, row.firmware = device.vendor, device.model, device.firmware
        s.execute(delete(DeviceCapabilityRow).where(DeviceCapabilityRow.model.like("%@%")))


class _NoDeviceInfo:
    """The fleet's router, except that DeviceInfo cannot be read (an agent whose identity stays
    unknown): discovery itself still works."""

    def __init__(self, router: Any) -> None:
        self._router = router

    def reader(self, device: Any) -> Any:
        from executors.base import DeviceOffline

        real = self._router.reader(device)

        class _Reader:
            def read(self, d: Any, paths: list[str]) -> Any:
                raise DeviceOffline(d.id, "DeviceInfo unreadable (test)")

            def discover(self, d: Any) -> Any:
                return real.discover(d)

        return _Reader()


def test_discovery_learns_an_unknown_identity_from_device_info(rt: Any) -> None:
    original = _device(rt, SINOTEL)
    d = _unidentify(rt, original)
    _forget(rt, SINOTEL)
    try:
        said = rt.router.reader(d).read(d, ["Device.DeviceInfo.Manufacturer", "Device.DeviceInfo.SoftwareVersion"])
        result = capabilities.discover_if_unknown(rt.store, rt.router, d)
        assert result is not None and result["stored"], result
        from core.store import repo

        with rt.store.read() as s:
            now = repo.get_device(s, d.id)
        assert now.vendor == said["Device.DeviceInfo.Manufacturer"].value != "unknown"
        assert now.firmware == said["Device.DeviceInfo.SoftwareVersion"].value != "unknown"
        assert now.model not in ("", "unknown")
        assert (result["vendor"], result["model"], result["firmware"]) == (now.vendor, now.model, now.firmware)
        (event,) = [e for e in audit_events(rt, "device.updated", d.id) if e.actor == "discovery"]
        assert event.data["source"] == "DeviceInfo"
        assert event.data["changed"]["vendor"] == {"before": "unknown", "after": now.vendor}
        # learnt once: an identified device is not read or changed again
        assert capabilities.learn_identity(rt.store, rt.router, now) == now
    finally:
        _restore_identity(rt, original)
        _forget(rt, SINOTEL)


def test_devices_of_unknown_identity_never_share_a_capability_class(rt: Any) -> None:
    vantec, lumenet = _device(rt, V72, skip=1), _device(rt, LUMENET, skip=1)
    a, b = _unidentify(rt, vantec), _unidentify(rt, lumenet)
    router = _NoDeviceInfo(rt.router)
    try:
        first = capabilities.discover_if_unknown(rt.store, router, a)
        assert first is not None and first["stored"] and first["own_class"], first
        # the second unknown agent is discovered on its own, not skipped as "class already stored"
        second = capabilities.discover_if_unknown(rt.store, router, b)
        assert second is not None and second["stored"], second
        assert first["model"] != second["model"]
        with rt.store.read() as s:
            caps = capabilities.for_devices(s, [a, b])
            assert s.get(DeviceCapabilityRow, ("unknown", "unknown", "unknown", "Device.")) is None
        # each is validated against its own data model: Vantec 7.2 lacks the path, Lumenet has it
        assert caps[a.id].problem(MISSING) is not None and caps[b.id].problem(MISSING) is None
        assert a.id in caps[a.id].label and "unknown unknown" not in caps[a.id].label
        p = _propose(rt, a.id, {MISSING: "Any"})
        assert "not supported by device " + a.id in _validate_error(rt, p.id)
        # one proposal to both: each is its own class at validate, not one "unknown" representative
        # (whichever device the database picked). Say b's firmware lacks the path too: both are named.
        with rt.store.write() as s:
            row = s.get(DeviceCapabilityRow, capabilities.class_key(b))
            row.params = {k: v for k, v in row.params.items() if k != MISSING}
        draft = ProposalDraft(intent="capability test", targets=sorted([a.id, b.id], reverse=True),
                              changes=[Change(path=MISSING, value="Any")])
        both = rt.lifecycle.create(draft, actor(rt, "alice"))
        error = _validate_error(rt, both.id)
        assert a.id in error and b.id in error
    finally:
        _restore_identity(rt, vantec)
        _restore_identity(rt, lumenet)


class _SaysCommands:
    """The fleet's router, its discovery reporting the contract commands as the USP adapter's does."""

    def __init__(self, router: Any, commands: list[str] | None) -> None:
        self._router, self._commands = router, commands
        self.discovered = 0

    def reader(self, device: Any) -> Any:
        real = self._router.reader(device.model_copy(update={"adapter": "sim"}))
        outer = self

        class _Reader:
            def read(self, d: Any, paths: list[str]) -> Any:
                return real.read(d.model_copy(update={"adapter": "sim"}), paths)

            def discover(self, d: Any) -> Any:
                outer.discovered += 1
                return real.discover(d.model_copy(update={"adapter": "sim"})).model_copy(
                    update={"commands": outer._commands, "command_paths": {"reboot": "Device.Reboot()"}})

        return _Reader()


def _age_classes(rt: Any, model: str, days: float) -> None:
    from datetime import timedelta

    from sqlalchemy import update

    from core.kernel.models import utcnow

    with rt.store.write() as s:
        s.execute(update(DeviceCapabilityRow).where(DeviceCapabilityRow.model == model)
                  .values(discovered_at=utcnow() - timedelta(days=days)))


def test_a_usp_class_stored_without_its_commands_is_discovered_again_when_next_met(rt: Any) -> None:
    """A class discovered before the commands were stored (migration 0029) says nothing about them, so
    a download to a device lacking the table validated; the next contact of a USP device of that class
    discovers it again and stores them — once: a class that said is not asked again."""
    d = _device(rt, LUMENET)
    usp = d.model_copy(update={"adapter": "usp"})
    _forget(rt, LUMENET)
    try:
        with rt.store.write() as s:  # as stored before 0029: the data model, no commands
            capabilities.record(s, d, rt.router.reader(d).discover(d))
        _age_classes(rt, d.model, days=30)
        with rt.store.read() as s:
            assert capabilities.for_devices(s, [d])[d.id].commands is None
        router = _SaysCommands(rt.router, ["reboot"])
        assert capabilities.discover_if_unknown(rt.store, router, d) is None  # the simulator never says
        result = capabilities.discover_if_unknown(rt.store, router, usp)
        assert result is not None and result["stored"], result
        with rt.store.read() as s:
            assert capabilities.for_devices(s, [d])[d.id].commands == frozenset({"reboot"})
        _age_classes(rt, d.model, days=30)
        assert capabilities.discover_if_unknown(rt.store, router, usp) is None and router.discovered == 1
    finally:
        _forget(rt, LUMENET)


def test_an_agent_that_never_says_its_commands_is_asked_again_at_most_daily(rt: Any) -> None:
    """An agent whose GetSupportedDM lists no command leaves the class without commands: it is asked
    again when the stored discovery is a day old, not at every contact (a whole data model each time)."""
    d = _device(rt, LUMENET)
    usp = d.model_copy(update={"adapter": "usp"})
    _forget(rt, LUMENET)
    try:
        with rt.store.write() as s:
            capabilities.record(s, d, rt.router.reader(d).discover(d))
        router = _SaysCommands(rt.router, None)  # says nothing, as such an agent does
        assert capabilities.discover_if_unknown(rt.store, router, usp) is None  # discovered just now
        _age_classes(rt, d.model, days=1.5)
        result = capabilities.discover_if_unknown(rt.store, router, usp)
        assert result is not None and result["stored"] and router.discovered == 1, result
        assert capabilities.discover_if_unknown(rt.store, router, usp) is None and router.discovered == 1
        with rt.store.read() as s:
            assert capabilities.for_devices(s, [d])[d.id].commands is None
    finally:
        _forget(rt, LUMENET)


def test_an_instance_the_stored_model_thinks_missing_is_asked_of_the_device_at_submit(rt: Any) -> None:
    """Issue 46 item 2 (found against OB-USP-Agent): an instance made after discovery (the controller's
    own subscriptions) was refused as missing. Submitting asks the device first: the instance it has
    is added to its stored instances and the change validates; one it lacks is still refused."""
    from sqlalchemy import delete

    d = _device(rt, V72, skip=1)
    disc = rt.router.reader(d).discover(d)
    no_ssid = {k: w for k, w in disc.parameters.items() if not k.startswith("Device.WiFi.SSID.")}
    no_ssid["Device.WiFi.SSID.{i}.SSID"] = True  # in the schema; its instances made after discovery
    try:
        with rt.store.write() as s:
            s.execute(delete(DeviceCapabilityRow).where(DeviceCapabilityRow.firmware == V72[2]))
            capabilities.record(s, d, disc.model_copy(update={"parameters": no_ssid, "instances_complete": True}))
        alice = actor(rt, "alice")
        present = rt.lifecycle.submit(ProposalDraft(intent="rename", targets=[d.id], rationale="asked",
                                                    changes=[Change(path="Device.WiFi.SSID.1.SSID", value="home")]),
                                      alice)
        assert present.state is not ProposalState.INVALID, present.error
        with rt.store.read() as s:
            assert 1 in s.get(DeviceInstancesRow, d.id).instances["Device.WiFi.SSID."]
        absent = rt.lifecycle.submit(ProposalDraft(intent="rename", targets=[d.id], rationale="asked",
                                                   changes=[Change(path="Device.WiFi.SSID.97.SSID", value="x")]),
                                     alice)
        assert absent.state is ProposalState.INVALID
        assert "Device.WiFi.SSID.97 does not exist on this device" in (absent.error or "")
    finally:
        _forget(rt, V72)
