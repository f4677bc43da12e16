"""The simulated fleet's KPIs as its twins' state makes them: what a change really does here.

Why: an effect estimate is only tested if the thing it measures has effects that are *real in the
model* and noise around them. Here the Wi-Fi channel's busy share is the home's own load (by local
hour) plus the interference of every AP its radio hears on an overlapping channel, weighted by how
loud it is — so a channel move changes it, by as much as the air around that home says; client
signal follows the radio's transmit power (10·log10 of its share); DNS failures run at a few
hundred an hour while the device has no DNS server and stop when one is restored; retransmissions
follow busy air and weak signal; a device offline reports only that its WAN is down.

:func:`levels` is the noise-free level of every series at a time (what a test takes as the true
effect); :func:`samples` draws one report from it, with noise and a per-device offset that a
before/after difference cancels. Both are deterministic in (device, time): the same twin state
and time give the same sample in any process.

Series, labels and cadence match the seeded fleet's (``fleet._telemetry``): radio series every
15 minutes, client signal, WAN up and DNS failures hourly, DNS failures only when non-zero.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from core.kernel.models import Scalar
from executors.sim.state import DeviceState

UTC_OFFSET_H = {"DE": 1, "FR": 1, "GB": 0, "US": -5}
INTERFERENCE_PER_MW = 16.0  # busy % per (10^((rssi+50)/10)) of a co-channel AP: ~40 % for a congested home
INTERFERENCE_MAX = 65.0
LOAD = {"2.4GHz": 15.0, "5GHz": 8.0, "6GHz": 3.0}  # busy % of the home's own traffic, daytime
EVENING_BUMP = {"2.4GHz": 12.0, "5GHz": 10.0, "6GHz": 2.0}
DNS_LOST_PER_H = (40, 300)  # failures an hour with no DNS server (uniform): 170 expected


@dataclass(frozen=True)
class Heard:
    """An AP a device's radio hears: band, channel, loudness. The air is the inventory's
    (``wifi_neighbors``), with a managed neighbour's channel as its own twin has it now."""

    band: str
    channel: int
    rssi_dbm: float


@dataclass(frozen=True)
class Radio:
    index: int
    band: str
    channel: int
    tx_pct: float


Series = tuple[str, tuple[tuple[str, str], ...]]  # (metric, sorted labels)


def values181(state: DeviceState) -> Mapping[str, Scalar]:
    """The device's values in TR-181 terms (a TR-098 tree through its TR-181 view)."""
    if state.model.is_tr098:
        return {k: e.value for k, e in state.view().items()}
    return state.tree()


def radios(state: DeviceState) -> list[Radio]:
    v = values181(state)
    out = []
    for i in (1, 2, 3):
        band = v.get(f"Device.WiFi.Radio.{i}.OperatingFrequencyBand")
        ch = v.get(f"Device.WiFi.Radio.{i}.Channel")
        if band is None or ch is None:
            continue
        tx = v.get(f"Device.WiFi.Radio.{i}.TransmitPower", 100)
        pct = float(tx) if isinstance(tx, (int, float)) and not isinstance(tx, bool) and tx > 0 else 100.0
        out.append(Radio(i, str(band), int(ch), pct))
    return out


def channel_on(state: DeviceState, band: str) -> int | None:
    return next((r.channel for r in radios(state) if r.band == band), None)


def has_dns(state: DeviceState) -> bool:
    v = values181(state)
    return any(str(val or "").strip() for p, val in v.items()
               if p.startswith("Device.DNS.Client.Server.") and p.endswith(".DNSServer"))


def _unit(*parts: object) -> float:
    """A uniform [0, 1) number fixed by ``parts`` (a device's offsets, a sample's noise)."""
    h = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(h, "big") / 2**64


def _local_hour(ts: datetime, region: str) -> int:
    return (ts.hour + UTC_OFFSET_H.get(region, 0)) % 24


def _overlap(band: str, a: int, b: int) -> float:
    if band == "2.4GHz":
        return max(0.0, 1.0 - abs(a - b) / 5.0)  # 20 MHz channels 5 MHz apart
    return 1.0 if a == b else 0.0


def interference(radio: Radio, heard: Sequence[Heard]) -> float:
    total = sum(10 ** ((h.rssi_dbm + 50.0) / 10.0) * _overlap(radio.band, radio.channel, h.channel)
                for h in heard if h.band == radio.band)
    return min(INTERFERENCE_MAX, INTERFERENCE_PER_MW * total)


def _load(band: str, ts: datetime, region: str) -> float:
    hour = _local_hour(ts, region)
    base = LOAD.get(band, 3.0)
    if 18 <= hour <= 23:
        return base + EVENING_BUMP.get(band, 0.0)
    if 1 <= hour <= 6:
        return base * 0.6
    return base


def _signal_base(device_id: str) -> float:
    return -63.0 + 13.0 * _unit(device_id, "signal")


def levels(state: DeviceState, heard: Sequence[Heard], ts: datetime) -> dict[Series, float]:
    """The noise-free level of every series the device reports at ``ts`` (an offline device:
    only its WAN down)."""
    if not state.presence_flags()[0]:
        return {("wan.up", ()): 0.0}
    out: dict[Series, float] = {}
    offset = 8.0 * _unit(state.id, "busy") - 4.0
    rs = radios(state)
    sig = _signal_base(state.id)
    for r in rs:
        labels = (("band", r.band), ("channel", str(r.channel)), ("radio", str(r.index)))
        busy = min(98.0, max(0.5, _load(r.band, ts, state.region) + interference(r, heard) + offset))
        out[("wifi.channel_utilization_pct", labels)] = busy
        rssi = sig + 10.0 * math.log10(r.tx_pct / 100.0) + (-4.0 if r.band != "2.4GHz" else 0.0)
        out[("wifi.retransmissions_pct", labels)] = 1.5 + 0.12 * busy + 0.25 * max(0.0, -60.0 - rssi)
    r24 = next((r for r in rs if r.band == "2.4GHz"), None)
    if r24 is not None:
        out[("wifi.client_rssi_dbm", (("band", "2.4GHz"), ("radio", str(r24.index))))] = \
            sig + 10.0 * math.log10(r24.tx_pct / 100.0)
    out[("dns.failures", ())] = sum(DNS_LOST_PER_H) / 2 if not has_dns(state) else 0.02 * 2
    out[("wan.up", ())] = 0.7 if state.link.get("degraded") else 1.0
    return out


def samples(state: DeviceState, heard: Sequence[Heard], ts: datetime, *,
            hourly: bool) -> list[tuple[str, float, dict[str, str]]]:
    """One report at ``ts``: the 15-minute series, and with ``hourly`` the hourly ones too."""
    rng = random.Random(f"{state.id}|{ts.isoformat()}")
    rand = rng.random
    out: list[tuple[str, float, dict[str, str]]] = []
    for (metric, lab), level in levels(state, heard, ts).items():
        labels = dict(lab)
        if metric == "wifi.channel_utilization_pct":
            out.append((metric, round(min(100.0, max(0.0, level + (rand() + rand() - 1.0) * 7.3)), 1), labels))
        elif metric == "wifi.retransmissions_pct":
            out.append((metric, round(max(0.0, level + (rand() + rand() - 1.0) * 2.5), 2), labels))
        elif not hourly:
            continue
        elif metric == "wifi.client_rssi_dbm":
            out.append((metric, round(level + (rand() + rand() - 1.0) * 5.0, 1), labels))
        elif metric == "wan.up":
            out.append((metric, 1.0 if rand() < level else 0.0, labels))
        elif metric == "dns.failures":
            if level > 1.0:
                out.append((metric, float(rng.randint(*DNS_LOST_PER_H)), labels))
            elif rand() < 0.02:
                out.append((metric, float(rng.randint(1, 3)), labels))
    return out
