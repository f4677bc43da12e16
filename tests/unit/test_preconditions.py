"""The one evaluator of preconditions (core/preconditions.py), fact by fact, at its boundaries: what a
device's read shows for each fact, whether the condition holds, and the words a refusal or an answer
names it with. The lifecycle and the planner both call it (tests/integration/test_schedule_*.py drive
it through a write); here each rule is pinned on its own, as `make mutate` asks of it."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from core import preconditions as pre
from core.kernel.models import Precondition


def cond(fact: str, expect: str, value: Any = None, **kw: Any) -> Precondition:
    return Precondition(fact=fact, expect=expect, value=value, text=f"{fact} {expect} {value}", **kw)


DNS = {"Device.DNS.Client.Enable": True,
       "Device.DNS.Client.Server.1.DNSServer": "192.0.2.53", "Device.DNS.Client.Server.1.Enable": True,
       "Device.DNS.Client.Server.2.DNSServer": "198.51.100.53", "Device.DNS.Client.Server.2.Enable": "false",
       "Device.DNS.Client.Server.3.DNSServer": " ", "Device.DNS.Client.Server.3.Enable": True,
       "Device.DNS.Client.Server.10.DNSServer": "203.0.113.9", "Device.DNS.Client.Server.4.Enable": True,
       "Device.DNS.Client.ServerNumberOfEntries": 4, "Device.DNS.Client.Server.x.DNSServer": "9.9.9.9"}


def test_dns_servers_are_the_enabled_non_empty_rows_in_instance_order() -> None:
    """Disabled (false in any spelling) and blank rows are not servers, nor a row with no DNSServer; a
    row without Enable is one; the count and a row that is not an instance are not rows; a ParamValue's
    value is read."""
    c = cond("dns_servers", "nonempty")
    assert pre.observed(c, DNS) == ["192.0.2.53", "203.0.113.9"]
    wrapped = {k: SimpleNamespace(value=v) for k, v in DNS.items()}
    assert pre.observed(c, wrapped) == ["192.0.2.53", "203.0.113.9"]


@pytest.mark.parametrize("expect, value, ok", [
    ("nonempty", None, True), ("empty", None, False), ("eq", "192.0.2.53", True), ("eq", " 203.0.113.9 ", True),
    ("eq", "198.51.100.53", False), ("ne", "192.0.2.53", False), ("ne", "8.8.8.8", True), ("gt", 1, False)])
def test_a_list_fact_holds_by_its_items(expect: str, value: Any, ok: bool) -> None:
    held, said = pre.holds(cond("dns_servers", expect, value), DNS)
    assert held is ok and said == "DNS servers set: 192.0.2.53, 203.0.113.9"


def test_no_dns_server_reads_none_and_an_empty_list_holds_empty() -> None:
    held, said = pre.holds(cond("dns_servers", "empty"), {})
    assert held and said == "DNS servers set: none"
    assert pre.holds(cond("dns_servers", "nonempty"), {}) == (False, "DNS servers set: none")


def test_a_long_list_says_five_and_how_many_more() -> None:
    hosts = {f"Device.Hosts.Host.{i}.HostName": f"h{i}" for i in range(1, 9)}
    held, said = pre.holds(cond("hosts_connected", "empty"), hosts)
    assert not held and said == "devices connected: h1, h2, h3, h4, h5 and 3 more"
    six = {f"Device.Hosts.Host.{i}.HostName": f"h{i}" for i in range(1, 7)}
    assert pre.holds(cond("hosts_connected", "nonempty"), six)[1].endswith("h5 and 1 more")
    five = {f"Device.Hosts.Host.{i}.HostName": f"h{i}" for i in range(1, 6)}
    assert pre.holds(cond("hosts_connected", "nonempty"), five)[1] == "devices connected: h1, h2, h3, h4, h5"


def test_connected_hosts_are_the_active_ones_named_by_host_name_or_address() -> None:
    values = {"Device.Hosts.Host.1.HostName": "laptop", "Device.Hosts.Host.1.Active": True,
              "Device.Hosts.Host.2.PhysAddress": "02:00:00:00:00:02", "Device.Hosts.Host.2.Active": "1",
              "Device.Hosts.Host.3.HostName": "printer", "Device.Hosts.Host.3.Active": "false",
              "Device.Hosts.Host.4.IPAddress": "192.168.1.9"}
    assert pre.observed(cond("hosts_connected", "empty"), values) == ["laptop", "02:00:00:00:00:02", "?"]


NEAR = [{"ssid": "loud", "band": "5GHz", "channel": 36, "rssi_dbm": -80.0},
        {"ssid": "faint", "band": "5GHz", "channel": 36, "rssi_dbm": -80.5},
        {"bssid": "02:00:5e:00:00:01", "band": "5GHz", "channel": "36", "rssi_dbm": -60},
        {"ssid": "other channel", "band": "5GHz", "channel": 40, "rssi_dbm": -50},
        {"ssid": "other band", "band": "2.4GHz", "channel": 36, "rssi_dbm": -50},
        {"ssid": "no band said", "channel": 36, "rssi_dbm": -70},
        {"channel": 36, "rssi_dbm": -75}, {"ssid": "no level", "channel": 36}]


def test_a_neighbour_counts_at_the_nearby_level_or_louder_on_the_channel_and_band() -> None:
    c = cond("neighbour_on_channel", "empty", 36, band="5GHz")
    assert pre.observed(c, {}, neighbours=NEAR) == ["loud (-80 dBm)", "02:00:5e:00:00:01 (-60 dBm)",
                                                    "no band said (-70 dBm)", "? (-75 dBm)"]
    any_band = pre.observed(cond("neighbour_on_channel", "empty", 36), {}, neighbours=NEAR)
    assert "other band (-50 dBm)" in any_band and len(any_band) == 5
    held, said = pre.holds(c, {}, neighbours=NEAR)
    assert not held and said.startswith("neighbours heard at -80 dBm or louder on channel 36: loud (-80 dBm)")


def test_online_is_presence() -> None:
    assert pre.holds(cond("online", "eq", True), {}, online=True) == (True, "online: True")
    assert pre.holds(cond("online", "eq", True), {}, online=False)[0] is False
    assert pre.holds(cond("online", "ne", True), {}, online=False)[0] is True
    assert pre.holds(cond("online", "eq", "1"), {}, online=True)[0] is True  # a boolean compares as one (TR-106)


@pytest.mark.parametrize("seen, named, ok", [
    ("7.2.6-CGW3400", "7.2.6", True), ("7.2.6", "7.2.6", True), ("7.2.60", "7.2.6", False),
    ("7.2.6.1", "7.2.6", False), ("7.2.6.x", "7.2.6", True), ("7.2.6 beta", "7.2.6", True),
    ("V3R017C10S105", "S105", True), ("V3R017C10S105", "s105", True), ("V3R017C10S105", "105", False),
    ("V3R017C10XS105", "S105", False), ("V3R017C10-S105", "S105", True), ("S105", "S105", True),
    ("V3R017C10S105", "05", False), ("abcS1", "S1", False), ("8.0", "7.2.6", False), ("", "", True),
    ("V3R017C10S105", "v3r017c10", True), ("v3r017c10s105", "V3R017C10", True), ("7.2.6.5a", "7.2.6", False),
    ("1-S106", "S105", False), ("V3R-1234", "1234", False), ("ABC-S1", "S1", False), ("V3R017C10S10", "S10", True)])
def test_a_firmware_is_named_by_its_version_or_a_trailing_build_component(seen: str, named: str, ok: bool) -> None:
    values = {"Device.DeviceInfo.SoftwareVersion": seen}
    c = cond("firmware", "eq", named, paths=["Device.DeviceInfo.SoftwareVersion"])
    assert pre.holds(c, values) == (ok, f"firmware: {seen}")
    assert pre.holds(cond("firmware", "ne", named, paths=["Device.DeviceInfo.SoftwareVersion"]), values)[0] is not ok


def test_only_the_firmware_fact_matches_by_version() -> None:
    c = cond("channel", "eq", "3", paths=["Device.WiFi.Radio.1.Channel"])
    assert pre.holds(c, {"Device.WiFi.Radio.1.Channel": "36"}) == (False, "channel: 36")
    assert pre.holds(c, {"Device.WiFi.Radio.1.Channel": 3}) == (True, "channel: 3")
    # a live read's ParamValue: its value, not the object
    assert pre.holds(c, {"Device.WiFi.Radio.1.Channel": SimpleNamespace(value=3, path="x")}) == (True, "channel: 3")


@pytest.mark.parametrize("expect, seen, value, ok", [
    ("gt", 3601, 3600, True), ("gt", 3600, 3600, False), ("lt", 3599, 3600, True), ("lt", 3600, 3600, False),
    ("gt", "90061", "90060.5", True), ("lt", "abc", 5, False), ("gt", None, 5, False), ("gt", 5, None, False)])
def test_gt_and_lt_compare_numbers_strictly(expect: str, seen: Any, value: Any, ok: bool) -> None:
    c = cond("uptime", expect, value, paths=["Device.DeviceInfo.UpTime"])
    held, said = pre.holds(c, {"Device.DeviceInfo.UpTime": seen})
    assert held is ok
    if said.endswith("(not a number)"):
        assert said == f"up for: {seen} (not a number)"


@pytest.mark.parametrize("seconds, words", [(59, "0 h 0 min"), (3599, "0 h 59 min"), (3540, "0 h 59 min"),
                                            (3600, "1 h 0 min"), (3660, "1 h 1 min"), (3661, "1 h 1 min"),
                                            (86399, "23 h 59 min"), (86400, "1 d 0 h"), (90061, "1 d 1 h"),
                                            (2 * 86400 + 7200, "2 d 2 h")])
def test_an_uptime_is_said_in_days_and_hours_or_hours_and_minutes(seconds: int, words: str) -> None:
    c = cond("uptime", "gt", 1, paths=["Device.DeviceInfo.UpTime"])
    assert pre.holds(c, {"Device.DeviceInfo.UpTime": seconds}) == (True, f"up for: {words}")


def test_a_number_not_an_uptime_is_said_as_read() -> None:
    c = cond("power", "lt", 50, paths=["Device.WiFi.Radio.1.TransmitPower"])
    assert pre.holds(c, {"Device.WiFi.Radio.1.TransmitPower": 25}) == (True, "transmit power (%): 25")


@pytest.mark.parametrize("seen, empty", [(None, True), ("", True), (0, False), ("x", False), (False, False)])
def test_empty_and_nonempty_of_one_parameter(seen: Any, empty: bool) -> None:
    path = "Device.WiFi.SSID.1.SSID"
    values = {} if seen is None else {path: seen}
    assert pre.holds(cond("ssid_enabled", "empty", paths=[path]), values)[0] is empty
    assert pre.holds(cond("ssid_enabled", "nonempty", paths=[path]), values)[0] is not empty
    assert pre.holds(cond("ssid_enabled", "empty"), values)[0] is True  # no path given: nothing read


@pytest.mark.parametrize("a, b, same", [("Up", " up ", True), ("true", True, True), (1, True, True), ("0", False, True),
                                        ("false", True, False), ("on", "1", False), ("5GHz", "5ghz", True)])
def test_values_compare_case_blind_and_booleans_as_booleans(a: Any, b: Any, same: bool) -> None:
    path = "Device.WiFi.Radio.1.Enable"
    assert pre.holds(cond("band_enabled", "eq", b, paths=[path]), {path: a})[0] is same


def test_every_fact_has_its_words() -> None:
    words = {"dns_servers": "DNS servers set", "hosts_connected": "devices connected", "online": "online",
             "firmware": "firmware", "channel": "channel", "band_enabled": "radio enabled",
             "ssid_enabled": "network enabled", "uptime": "up for", "power": "transmit power (%)",
             "neighbour_on_channel": "neighbours heard at -80 dBm or louder on channel 11"}
    for fact, said in words.items():
        assert pre.label(cond(fact, "eq", 11)) == said


@pytest.mark.parametrize("fact, paths, read", [
    ("dns_servers", ["Device.X."], ["Device.DNS.Client.Server."]), ("hosts_connected", [], ["Device.Hosts.Host."]),
    ("firmware", [], ["Device.DeviceInfo.SoftwareVersion"]), ("uptime", [], ["Device.DeviceInfo.UpTime"]),
    ("neighbour_on_channel", ["Device.WiFi."], []), ("online", [], []),
    ("channel", ["Device.WiFi.Radio.1.Channel", "InternetGatewayDevice.X", "rm -rf /"],
     ["Device.WiFi.Radio.1.Channel", "InternetGatewayDevice.X"])])
def test_what_is_read_for_a_fact(fact: str, paths: list[str], read: list[str]) -> None:
    assert pre.read_paths(cond(fact, "eq", 1, paths=paths)) == read


SCAN = pre.SCAN


def _scan(*rows: dict[str, Any]) -> dict[str, Any]:
    return {f"{SCAN}{i}.{k}": v for i, row in enumerate(rows, start=1) for k, v in row.items()}


def test_a_live_scan_reads_as_neighbours_with_ours_on_their_channel_now() -> None:
    values = _scan({"SSID": "ours", "BSSID": "02:AA:00:00:00:01", "OperatingFrequencyBand": "5GHz", "Channel": "36",
                    "SignalStrength": "-61"},
                   {"SSID": "theirs", "BSSID": "02:BB:00:00:00:02", "OperatingFrequencyBand": "2.4GHz",
                    "Channel": 6, "SignalStrength": -70.5},
                   {"SSID": "broken", "BSSID": "02:CC", "Channel": "auto", "SignalStrength": "-50"},
                   {"SSID": "ours, other band", "BSSID": "02:dd:00:00:00:04", "OperatingFrequencyBand": "2.4GHz",
                    "Channel": "1", "SignalStrength": "-55"},
                   {"SSID": "no band", "BSSID": "02:EE:00:00:00:05", "Channel": "11", "SignalStrength": "-58"})
    values.update({f"{SCAN}10.SSID": "tenth", f"{SCAN}10.Channel": "44", f"{SCAN}10.SignalStrength": "-40"})
    managed = {"02:aa:00:00:00:01": ("5GHz", 149), "02:dd:00:00:00:04": ("5GHz", 48),
               "02:ee:00:00:00:05": ("2.4GHz", 6)}
    heard = pre.heard_now(values, managed)
    assert [(n["ssid"], n["bssid"], n["band"], n["channel"], n["rssi_dbm"]) for n in heard] == [
        ("ours", "02:aa:00:00:00:01", "5GHz", 149, -61.0),
        ("theirs", "02:bb:00:00:00:02", "2.4GHz", 6, -70.5),
        ("ours, other band", "02:dd:00:00:00:04", "2.4GHz", 1, -55.0),
        ("no band", "02:ee:00:00:00:05", None, 6, -58.0),
        ("tenth", "", None, 44, -40.0)]


def test_our_gateways_are_put_on_the_channel_their_stored_state_has(runtime: Any) -> None:
    """A neighbour that is one of Gateward's gateways is read on the channel its newest stored state
    has on that band (what a verified apply merged in), not the one the scan heard it on; every
    stored neighbour of every band is read, loudest first within a band."""
    from sqlalchemy import select

    from core.store import repo
    from core.store.schema import WifiNeighborRow

    with runtime.store.read() as s:
        rows = s.scalars(select(WifiNeighborRow).where(WifiNeighborRow.neighbor_device_id.is_not(None))).all()
        dev = max({r.device_id for r in rows}, key=lambda d: sum(r.device_id == d for r in rows))
        ours = [r for r in rows if r.device_id == dev]
        snaps = repo.latest_snapshots(s, sorted({str(r.neighbor_device_id) for r in ours}))
        managed = pre.managed_channels(s, dev)
        heard = pre.stored_neighbours(s, dev)
        every = s.scalars(select(WifiNeighborRow).where(WifiNeighborRow.device_id == dev)).all()
    want = {}
    for r in ours:
        snap = snaps.get(str(r.neighbor_device_id)) or {}
        for i in range(1, 4):
            band = (snap.get(f"Device.WiFi.Radio.{i}.OperatingFrequencyBand") or {}).get("value")
            channel = (snap.get(f"Device.WiFi.Radio.{i}.Channel") or {}).get("value")
            if band == r.band and str(channel).isdigit():
                want[r.bssid.lower()] = (r.band, int(channel))
                break
    assert want and managed == want
    assert sorted(n["bssid"] for n in heard) == sorted(r.bssid for r in every)
    for band in ("2.4GHz", "5GHz", "6GHz"):
        levels = [float(n["rssi_dbm"]) for n in heard if n["band"] == band]
        assert levels == sorted(levels, reverse=True)
