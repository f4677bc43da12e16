"""Preconditions: checks on live facts that must hold when a write starts.

Why in core: the planner checks a condition once, at preview ("use 8.8.8.8 *in case none is
configured*" — there is one, so nothing is drafted). Between that and the write an approver may
take an hour, or the proposal waits for its time; the fact can change. So the lifecycle reads the
condition's paths from the device again after it holds the device lock, and writes nothing if the
condition no longer holds (``core.lifecycle.apply``), exactly as the change window is re-checked.
Both use this one evaluator, so they cannot disagree.

Each fact reads TR-181 paths (objects end in ``.``) and reduces them to one value:

* ``dns_servers`` — the enabled, non-empty ``Device.DNS.Client.Server.{i}.DNSServer`` values;
* ``neighbour_on_channel`` — the access points the gateway hears *nearby* (at ``NEARBY_DBM`` or
  louder) on the channel (``value``) and band. At the write it is read live: the device's own latest
  scan (``Device.WiFi.NeighboringWiFiDiagnostic.Result.``, read, never triggered — a scan disturbs
  the subscriber's Wi-Fi), with Gateward's own gateways among them on the channel Gateward last
  wrote them to (a scan older than that move still shows them where they were). A device that has
  no scan table refuses the write ("cannot read …"): a stale seed-time scan never decides it;
* ``hosts_connected`` — the active ``Device.Hosts.Host.{i}`` entries;
* ``firmware`` — ``Device.DeviceInfo.SoftwareVersion``;
* ``channel`` / ``band_enabled`` / ``ssid_enabled`` / ``power`` — the one parameter in ``paths``;
* ``uptime`` — ``Device.DeviceInfo.UpTime`` in seconds (``gt``/``lt`` a number of seconds);
* ``online`` — the device's presence (no path).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.orm import Session

from core.kernel.jsontypes import Json, JsonObject
from core.kernel.models import Precondition, Scalar
from core.kernel.values import parse_bool

SCAN = "Device.WiFi.NeighboringWiFiDiagnostic.Result."
#: "nearby": an access point heard at this level or louder. Below it a neighbour does not disturb
#: the channel enough to count ("any AP at any level" used to count, a faint −92 dBm one included).
NEARBY_DBM = -80.0

PATHS: dict[str, list[str]] = {
    "dns_servers": ["Device.DNS.Client.Server."],
    "neighbour_on_channel": [],
    "hosts_connected": ["Device.Hosts.Host."],
    "firmware": ["Device.DeviceInfo.SoftwareVersion"],
    "uptime": ["Device.DeviceInfo.UpTime"],
}


def _rows(values: Mapping[str, Json], prefix: str) -> dict[str, JsonObject]:
    """``{instance: {leaf: value}}`` of a table read as ``prefix`` (e.g. ``Device.Hosts.Host.``)."""
    out: dict[str, JsonObject] = {}
    for path, v in values.items():
        if not path.startswith(prefix):
            continue
        rest = path[len(prefix):].split(".")
        if len(rest) >= 2 and rest[0].isdigit():
            out.setdefault(rest[0], {})[".".join(rest[1:])] = getattr(v, "value", v)
    return out


def observed(c: Precondition, values: Mapping[str, Any], online: bool | None = None,
             neighbours: Sequence[Mapping[str, Any]] = ()) -> Scalar | list[Any] | None:
    """What the device shows for ``c``'s fact, from ``values`` (path → ParamValue or raw value),
    its presence and the neighbours it hears (``ssid``, ``band``, ``channel``, ``rssi_dbm``)."""
    if c.fact == "online":
        return online
    if c.fact == "dns_servers":
        rows = _rows(values, "Device.DNS.Client.Server.")
        return [str(r.get("DNSServer")) for _, r in sorted(rows.items()) if str(r.get("DNSServer") or "").strip()
                and parse_bool(r.get("Enable", True)) is not False]
    if c.fact == "neighbour_on_channel":
        return [f"{n.get('ssid') or n.get('bssid') or '?'} ({float(n.get('rssi_dbm', -100)):g} dBm)"
                for n in neighbours if str(n.get("channel")) == str(c.value)
                and float(n.get("rssi_dbm", -100)) >= NEARBY_DBM
                and (c.band is None or str(n.get("band") or c.band) == c.band)]
    if c.fact == "hosts_connected":
        rows = _rows(values, "Device.Hosts.Host.")
        return [str(r.get("HostName") or r.get("PhysAddress") or "?") for _, r in sorted(rows.items())
                if parse_bool(r.get("Active", True)) is not False]
    path = c.paths[0] if c.paths else ""
    raw = values.get(path)
    return getattr(raw, "value", raw)


def holds(c: Precondition, values: Mapping[str, Any], online: bool | None = None,
          neighbours: Sequence[Mapping[str, Any]] = ()) -> tuple[bool, str]:
    """Whether ``c`` holds on what was read, and the fact in words (for the refusal or the answer)."""
    seen = observed(c, values, online, neighbours)
    if isinstance(seen, list):
        shown = ", ".join(seen[:5]) + (f" and {len(seen) - 5} more" if len(seen) > 5 else "") if seen else "none"
        # a list holds ``eq`` a value when one of its items is that value ("a DNS server is 192.0.2.53")
        holds_value = any(_same(x, c.value) for x in seen)
        ok = {"empty": not seen, "nonempty": bool(seen), "eq": holds_value, "ne": not holds_value}.get(c.expect, False)
        return ok, f"{_label(c)}: {shown}"
    if c.expect in ("eq", "ne"):
        same = _same(seen, c.value) or (c.fact == "firmware" and (_leading_version(seen, c.value)
                                                                   or _build_component(seen, c.value)))
        return (same if c.expect == "eq" else not same), f"{_label(c)}: {seen}"
    if c.expect in ("gt", "lt"):
        try:
            a, b = float(seen), float(c.value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return False, f"{_label(c)}: {seen} (not a number)"
        shown = _duration(a) if c.fact == "uptime" else f"{seen}"
        return (a > b if c.expect == "gt" else a < b), f"{_label(c)}: {shown}"
    empty = seen in (None, "")
    return (empty if c.expect == "empty" else not empty), f"{_label(c)}: {seen}"


def _duration(seconds: float) -> str:
    d, rest = divmod(int(seconds), 86400)
    return f"{d} d {rest // 3600} h" if d else f"{rest // 3600} h {(rest % 3600) // 60} min"


def _leading_version(seen: Any, named: Any) -> bool:
    """"7.2.6" names the build "7.2.6-CGW3400" (a leading version, never "7.2.60")."""
    s, n = str(seen or "").strip().lower(), str(named or "").strip().lower()
    if not n or not s.startswith(n):
        return False
    rest = s[len(n):]
    return not rest or not (rest[0].isdigit() or (rest[0] == "." and rest[1:2].isdigit()))


def _build_component(seen: Any, named: Any) -> bool:
    """"S105" names the build "V3R017C10S105": a trailing component that starts with a letter, right after a
    digit or a separator (never "105", which would match any build ending in those digits)."""
    s, n = str(seen or "").strip().lower(), str(named or "").strip().lower()
    if len(n) < 3 or not n[0].isalpha() or not s.endswith(n) or len(s) == len(n):
        return False
    before = s[-len(n) - 1]
    return before.isdigit() or not before.isalnum()


def _same(a: Any, b: Any) -> bool:
    if isinstance(b, bool) or isinstance(a, bool):
        return parse_bool(a) is parse_bool(b)
    return str(a).strip().lower() == str(b).strip().lower()


def label(c: Precondition) -> str:
    """The fact ``c`` reads, in words (what a refusal or an answer names)."""
    return _label(c)


def _label(c: Precondition) -> str:
    return {"dns_servers": "DNS servers set",
            "neighbour_on_channel": f"neighbours heard at {NEARBY_DBM:g} dBm or louder on channel {c.value}",
            "hosts_connected": "devices connected", "online": "online", "firmware": "firmware",
            "channel": "channel", "band_enabled": "radio enabled", "ssid_enabled": "network enabled",
            "uptime": "up for", "power": "transmit power (%)"}[c.fact]


def stored_neighbours(s: Session, device_id: str) -> list[dict[str, Any]]:
    """The access points ``device_id`` hears, every band, as the last scan stored them."""
    from core import topology

    g = topology.wifi_graph(s, device_id)
    return [n for band in ("2.4GHz", "5GHz", "6GHz") for n in topology.neighbours(g, device_id, band)]


def heard_now(values: Mapping[str, Any], managed: Mapping[str, tuple[str, int]]) -> list[dict[str, Any]]:
    """The rows of a live read of ``SCAN`` as neighbours (``ssid``, ``bssid``, ``band``, ``channel``,
    ``rssi_dbm``); a BSSID in ``managed`` (one of Gateward's gateways: bssid → (band, channel now)) is
    put on the channel it has now."""
    out: list[dict[str, Any]] = []
    for _, row in sorted(_rows(values, SCAN).items(), key=lambda kv: int(kv[0])):
        bssid = str(row.get("BSSID") or "").lower()
        try:
            channel, rssi = int(str(row.get("Channel"))), float(str(row.get("SignalStrength")))
        except ValueError:
            continue
        band = str(row.get("OperatingFrequencyBand") or "")
        if bssid in managed and (not band or managed[bssid][0] == band):
            channel = managed[bssid][1]
        out.append({"ssid": row.get("SSID"), "bssid": bssid, "band": band or None, "channel": channel,
                    "rssi_dbm": rssi})
    return out


def managed_channels(s: Session, device_id: str) -> dict[str, tuple[str, int]]:
    """bssid → (band, channel) of every gateway of ours ``device_id`` has heard, on the channel its
    latest stored state has on that band (a verified apply merges what it wrote into that state)."""
    from sqlalchemy import select

    from core.store import repo
    from core.store.schema import WifiNeighborRow

    rows = [(r.bssid.lower(), r.neighbor_device_id, r.band) for r in s.scalars(
        select(WifiNeighborRow).where(WifiNeighborRow.device_id == device_id,
                                      WifiNeighborRow.neighbor_device_id.is_not(None)))]
    snaps = repo.latest_snapshots(s, sorted({str(dev) for _, dev, _ in rows}))
    out: dict[str, tuple[str, int]] = {}
    for bssid, dev, band in rows:
        stored = snaps.get(str(dev)) or {}  # a snapshot keeps {"value", "type"} per path
        params = {k: v.get("value") if isinstance(v, dict) else v for k, v in stored.items()
                  if k.startswith("Device.WiFi.Radio.")}
        radios = _rows(params, "Device.WiFi.Radio.")
        for r in radios.values():
            if r.get("OperatingFrequencyBand") == band and str(r.get("Channel", "")).isdigit():
                out[bssid] = (band, int(str(r["Channel"])))
                break
    return out


def read_paths(c: Precondition) -> list[str]:
    """The paths to read for ``c`` (none for presence)."""
    if c.fact in PATHS:
        return PATHS[c.fact]
    return [p for p in c.paths if p.startswith(("Device.", "InternetGatewayDevice."))]
