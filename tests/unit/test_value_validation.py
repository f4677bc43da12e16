"""Issue 10, defect 5: bad values reached devices.

SSIDs with NUL, ESC, a newline or a right-to-left override, an SSID of 33 UTF-8 bytes, an empty
SSID, DNS servers ``999.1.1.1`` and ``not-an-ip``, and a TransmitPower the radio does not list were
all accepted and applied. Each is now refused before anything is written: the first ones by
validation (the proposal ends ``invalid`` with a message that says why), the device-listed one by
the preview (the device's preview line fails, so policy denies). Good values still pass.
"""

from __future__ import annotations

from typing import Any

import pytest

from core.kernel.datamodel.registry import RULES, DataModelError, get_registry, load_table
from core.kernel.models import Change, Device, ProposalDraft, ProposalState, Root
from core.kernel.values import byte_length, control_problem, listed_values, named_type_check
from core.store import repo
from core.users import get_actor
from core.validation import device_listed_issues, listed_by, listed_error, validate_changes
from executors.base import InvalidParameterName

S = ProposalState
SSID = "Device.WiFi.SSID.1.SSID"
DNS = "Device.DNS.Client.Server.1.DNSServer"
POOL_DNS = "Device.DHCPv4.Server.Pool.1.DNSServers"
EMOJI_32 = "\N{GRINNING FACE}" * 8  # 8 characters, 32 UTF-8 bytes: exactly the 802.11 limit

# (path, bad value, what the message must say): every bad value of the issue.
BAD = [
    (SSID, "home\x00net", "contains control character U+0000 (NUL)"),
    (SSID, "home\x1b[31mnet", "contains control character U+001B (ESC)"),
    (SSID, "home\nnet", "contains control character U+000A (LF)"),
    (SSID, "home\u202enet", "contains bidirectional control U+202E (RIGHT-TO-LEFT OVERRIDE)"),
    (SSID, "\u00e9" * 16 + "x", "length 33 bytes (17 characters) is outside 0..32"),
    (SSID, "", "an empty SSID is not a valid 802.11 network name (1..32 bytes)"),
    (DNS, "999.1.1.1", "'999.1.1.1' is not an IP address"),
    (DNS, "not-an-ip", "'not-an-ip' is not an IP address"),
    (POOL_DNS, "192.0.2.1,999.1.1.1", "item '999.1.1.1' is not an IPv4 address"),
]
GOOD = [(DNS, "192.0.2.1"), (DNS, "2001:db8::1"), (SSID, EMOJI_32), (SSID, "Caf\u00e9 Wi-Fi"),
        (POOL_DNS, "192.0.2.1,198.51.100.7"), (DNS, "")]


# ------------------------------------------------------------------------------------------ core.kernel.values

def test_control_characters_are_named() -> None:
    assert control_problem("a\x7fb", display=False) == "contains control character U+007F (DEL)"
    assert control_problem("a\x85b", display=False) == "contains control character U+0085 (NEL)"
    assert control_problem("a\u2066b", display=True) == \
        "contains bidirectional control U+2066 (LEFT-TO-RIGHT ISOLATE)"
    # Line breaks and bidi controls are refused only in display strings; other C0 everywhere.
    assert control_problem("line 1\nline 2", display=False) is None
    assert control_problem("a\u202eb", display=False) is None
    assert control_problem("a\x1bb", display=False) is not None
    # A secret's message does not say which character (it would disclose part of it).
    assert control_problem("pass\x1bword", display=False, secret=True) == "contains a control character"
    assert control_problem("Caf\u00e9 \N{GRINNING FACE} \u05e9\u05dc\u05d5\u05dd", display=True) is None


def test_sizes_are_utf8_bytes() -> None:
    assert byte_length("abc") == 3
    assert byte_length(EMOJI_32) == 32
    assert byte_length("\u00e9") == 2


@pytest.mark.parametrize(("type_chain", "good", "bad"), [
    (("IPAddress",), ["192.0.2.1", "2001:db8::1", "0:0:0:0:0:0:13.1.68.3", ""],
     ["999.1.1.1", "not-an-ip", "192.0.2", "fe80::1%eth0", "192.0.2.1 "]),
    (("IPv4Address", "IPAddress"), ["192.0.2.1", "255.255.255.0"], ["2001:db8::1", "192.0.2.01", "1.2.3.256"]),
    (("IPv6Address", "IPAddress"), ["2001:db8::1", "::"], ["192.0.2.1", "2001:db8::g"]),
    (("IPv4Prefix", "IPPrefix"), ["192.0.2.0/24", "/24"], ["192.0.2.0/33", "192.0.2.0", "999.0.0.0/8"]),
    (("IPv6Prefix", "IPPrefix"), ["2001:db8::/32", "/64"], ["2001:db8::/129", "192.0.2.0/24"]),
    (("MACAddress",), ["00:11:22:aa:BB:cc"], ["00:11:22:33:44", "00-11-22-33-44-55"]),
])
def test_named_types_check_what_they_mean(type_chain: tuple[str, ...], good: list[str], bad: list[str]) -> None:
    check = named_type_check(type_chain)
    assert check is not None
    assert [v for v in good if check(v) is not None] == []
    assert [v for v in bad if check(v) is None] == []


def test_listed_values_expand_ranges() -> None:
    assert listed_values("1-4,36") == frozenset({"1", "2", "3", "4", "36"})
    assert listed_values("-1,25,50") == frozenset({"-1", "25", "50"})
    assert listed_values(" a, n ,ac") == frozenset({"a", "n", "ac"})
    assert listed_values("") is None


# ------------------------------------------------------------------------------------------ registry

@pytest.mark.parametrize(("path", "value", "needle"), BAD)
@pytest.mark.parametrize("flavour", ["cwmp", "usp"])
def test_registry_refuses_each_bad_value(flavour: str, path: str, value: str, needle: str) -> None:
    with pytest.raises(DataModelError) as info:
        get_registry("Device.", flavour).validate(path, value)
    assert info.value.rule in RULES
    assert needle in str(info.value)


@pytest.mark.parametrize(("path", "value"), GOOD)
def test_registry_accepts_good_values(path: str, value: str) -> None:
    assert get_registry().validate(path, value) == value


def test_named_types_ship_with_their_base_chain() -> None:
    """The generated tables carry the BBF named types, so a derived type keeps its base's meaning."""
    reg = get_registry()
    assert reg.type_chain("IPv4Address") == ("IPv4Address", "IPAddress")
    types = load_table("tr181-cwmp.json.gz")["types"]
    assert types["IPv4Address"]["base"] == "IPAddress" and types["IPv4Address"]["size"] == [[None, 15]]
    assert types["MACAddress"]["pattern"][1].startswith("([0-9A-Fa-f]")
    assert "IPAddress" in load_table("tr098.json.gz")["types"]


def test_tr098_lists_of_ip_addresses_check_each_item() -> None:
    igd = get_registry(Root.IGD)
    path = "InternetGatewayDevice.LANDevice.1.LANHostConfigManagement.DNSServers"
    assert igd.validate(path, "192.0.2.1,2001:db8::1") == "192.0.2.1,2001:db8::1"
    assert "item 'not-an-ip' is not an IP address" in str(igd.check(path, "192.0.2.1,not-an-ip"))


def test_reported_values_are_not_held_to_write_rules() -> None:
    """A device may report what a controller may not write (an empty SSID of a disabled radio)."""
    reg = get_registry()
    assert reg.validate(SSID, "", for_write=False) == ""
    assert reg.validate(SSID, "two\nlines", for_write=False) == "two\nlines"
    assert reg.check(DNS, "999.1.1.1", for_write=False) is not None  # but an IPAddress is always one


def test_secret_messages_stay_secret() -> None:
    path = "Device.WiFi.AccessPoint.1.Security.KeyPassphrase"
    exc = get_registry().check(path, "Orchard\x1bLantern")
    assert exc is not None and exc.rule == "control"
    assert "Orchard" not in str(exc) and "U+001B" not in str(exc)


# ------------------------------------------------------------------------------------------ device-listed

DEV = Device(id="d1", vendor="v", model="m", firmware="1")
RADIO = {"Device.WiFi.Radio.1.PossibleChannels": "1-13", "Device.WiFi.Radio.1.TransmitPowerSupported": "25,50,75,100",
         "Device.WiFi.Radio.1.SupportedStandards": {"value": "b,g,n"}}


def test_listed_by_follows_prose_and_enumeration_refs() -> None:
    assert listed_by("Device.WiFi.Radio.2.Channel") == "Device.WiFi.Radio.2.PossibleChannels"
    assert listed_by("Device.WiFi.Radio.2.TransmitPower") == "Device.WiFi.Radio.2.TransmitPowerSupported"
    assert listed_by("Device.WiFi.Radio.2.OperatingStandards") == "Device.WiFi.Radio.2.SupportedStandards"
    assert listed_by("Device.WiFi.EndPoint.3.Profile.2.Security.ModeEnabled") == \
        "Device.WiFi.EndPoint.3.Security.ModesSupported"
    assert listed_by(SSID) is None


@pytest.mark.parametrize(("path", "value", "needle"), [
    ("Device.WiFi.Radio.1.TransmitPower", 60,
     "Device.WiFi.Radio.1.TransmitPower: 60 is not supported by this device (TransmitPowerSupported: 25,50,75,100)"),
    ("Device.WiFi.Radio.1.TransmitPower", -1, "-1 is not supported"),  # auto only when listed
    ("Device.WiFi.Radio.1.Channel", 36, "36 is not supported by this device (PossibleChannels: 1-13)"),
    ("Device.WiFi.Radio.1.OperatingStandards", "n,ax", "ax is not supported by this device (SupportedStandards"),
])
def test_unlisted_values_are_issues(path: str, value: Any, needle: str) -> None:
    issues = device_listed_issues(DEV, [Change(path=path, value=value)], RADIO)
    assert [i.rule for i in issues] == ["device_listed"]
    assert needle in issues[0].message
    # validate_changes does the same when the caller knows the device's values (its snapshot).
    assert [i.message for i in validate_changes(DEV, [Change(path=path, value=value)], RADIO)] == \
        [issues[0].message]


@pytest.mark.parametrize(("path", "value"), [
    ("Device.WiFi.Radio.1.TransmitPower", "50"), ("Device.WiFi.Radio.1.Channel", 13),
    ("Device.WiFi.Radio.1.OperatingStandards", "g,n"), (SSID, "anything"),
])
def test_listed_values_pass(path: str, value: Any) -> None:
    assert device_listed_issues(DEV, [Change(path=path, value=value)], RADIO) == []


def test_a_list_the_device_does_not_report_says_nothing() -> None:
    change = [Change(path="Device.WiFi.Radio.1.TransmitPower", value=60)]
    assert device_listed_issues(DEV, change, {}) == []
    assert device_listed_issues(DEV, change, {"Device.WiFi.Radio.1.TransmitPowerSupported": ""}) == []
    # The lists ``known`` lacks are read when a reader is given (a path the device lacks is skipped).
    asked: list[list[str]] = []

    class Reader:
        def read(self, device: Device, paths: Any) -> dict[str, Any]:
            asked.append(list(paths))
            if device.id != DEV.id:
                raise InvalidParameterName(device.id, "no such parameter")
            return {p: "100" for p in paths}

    assert "60 is not supported" in (listed_error(DEV, change, {}, Reader()) or "")
    assert asked == [["Device.WiFi.Radio.1.TransmitPowerSupported"]]
    assert listed_error(DEV.model_copy(update={"id": "other"}), change, {}, Reader()) is None


# ------------------------------------------------------------------------------------------ end to end

def _pick(rt: Any, root: Root = Root.DEVICE) -> Any:
    from gateward.seed import twin_for

    with rt.store.read() as s:
        devs, _ = repo.list_devices(s, limit=1000)
    d = next(d for d in devs if d.root is root and str(d.protocol) == "cwmp")
    for kind in ("offline", "unreachable"):
        twin_for(rt).clear(d.id, kind)
    return d


def _params(rt: Any, device_id: str) -> dict[str, Any]:
    from gateward.seed import twin_for

    return dict(twin_for(rt).params(device_id))


@pytest.mark.parametrize(("path", "value", "needle"), BAD)
def test_each_bad_value_ends_invalid_and_writes_nothing(runtime: Any, path: str, value: str, needle: str) -> None:
    d = _pick(runtime)
    before = _params(runtime, d.id)
    draft = ProposalDraft(intent="issue 10 defect 5", targets=[d.id], changes=[Change(path=path, value=value)])
    p = runtime.lifecycle.submit(draft, get_actor(runtime.store, "alice"))
    assert p.state is S.INVALID
    assert needle in (p.error or "")
    assert _params(runtime, d.id) == before


@pytest.mark.parametrize(("path", "value"), [(DNS, "192.0.2.1"), (DNS, "2001:db8::1"), (SSID, EMOJI_32)])
def test_good_values_pass_validation(runtime: Any, path: str, value: str) -> None:
    d = _pick(runtime)
    draft = ProposalDraft(intent="good value", targets=[d.id], changes=[Change(path=path, value=value)])
    p = runtime.lifecycle.submit(draft, get_actor(runtime.store, "alice"))
    assert p.state is not S.INVALID, p.error


@pytest.mark.parametrize("root", [Root.DEVICE, Root.IGD])
def test_unlisted_transmit_power_fails_the_preview_and_is_denied(runtime: Any, root: Root) -> None:
    d = _pick(runtime, root)
    reader = runtime.router.reader(d)
    supported = str(reader.read(d, ["Device.WiFi.Radio.1.TransmitPowerSupported"])
                    ["Device.WiFi.Radio.1.TransmitPowerSupported"].value)
    unlisted = next(n for n in range(1, 100) if str(n) not in supported.split(","))
    before = _params(runtime, d.id)
    draft = ProposalDraft(intent="lower the power", targets=[d.id],
                          changes=[Change(path="Device.WiFi.Radio.1.TransmitPower", value=unlisted)])
    message = (f"Device.WiFi.Radio.1.TransmitPower: {unlisted} is not supported by this device "
               f"(TransmitPowerSupported: {supported})")
    # Issue 11: validate now holds the change to the device's stored snapshot (``known``), so the
    # refusal comes first there, before any preview; the preview check below covers devices without one.
    p = runtime.lifecycle.submit(draft, get_actor(runtime.store, "alice"))
    assert p.state is S.INVALID and message in (p.error or ""), p.error
    from sqlalchemy import delete

    from core.store.schema import ParameterSnapshotRow

    with runtime.store.write() as s:
        s.execute(delete(ParameterSnapshotRow).where(ParameterSnapshotRow.device_id == d.id))
    p = runtime.lifecycle.submit(draft, get_actor(runtime.store, "alice"))
    with runtime.store.read() as s:
        preview = repo.get_proposal_row(s, p.id).preview
    line = preview["devices"][0]
    assert line["present"] is True
    assert line["error"] == message
    assert p.state is S.DENIED, p.error
    assert _params(runtime, d.id) == before
