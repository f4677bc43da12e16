"""Which data-model parameters are which KPI: what a real device reports, in Gateward's series.

Why in the kernel: a USP agent's ValueChange notifications and the values a CWMP device sends in
its periodic Informs (read from GenieACS) carry the same TR-181 parameters; both adapters and the
composition root that stores the samples must read them the same way (docs/campaigns.md,
"Telemetry after every change"). A parameter not listed here is not a KPI; a KPI with no standard
parameter (DNS failures, radar events) is said to be unavailable from the standard models there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class KpiParameter:
    """A parameter pattern (``{i}`` for an instance number), the series it feeds, how its value
    becomes the series' value, and which instance numbers become labels."""

    pattern: str
    metric: str
    convert: str  # "number" | "per_255" (0..255 → %) | "up" (Up/Connected → 1, else 0)
    labels: tuple[str, ...] = ()

    def regex(self) -> re.Pattern[str]:
        parts = re.escape(self.pattern).split(re.escape("{i}"))
        return re.compile("^" + r"(\d+)".join(parts) + "$")


PARAMETERS: tuple[KpiParameter, ...] = (
    KpiParameter("Device.WiFi.AccessPoint.{i}.AssociatedDevice.{i}.SignalStrength", "wifi.client_rssi_dbm", "number",
                 ("access_point", "client")),
    KpiParameter("Device.WiFi.DataElements.Network.Device.{i}.Radio.{i}.ChannelUtilization",
                 "wifi.channel_utilization_pct", "per_255", ("", "radio")),
    KpiParameter("Device.WiFi.Radio.{i}.Stats.Noise", "wifi.noise_dbm", "number", ("radio",)),
    KpiParameter("Device.PPP.Interface.{i}.Status", "wan.up", "up", ("ppp",)),
    KpiParameter("InternetGatewayDevice.WANDevice.{i}.WANConnectionDevice.{i}.WANIPConnection.{i}.ConnectionStatus",
                 "wan.up", "up"),
    KpiParameter("InternetGatewayDevice.WANDevice.{i}.WANConnectionDevice.{i}.WANPPPConnection.{i}.ConnectionStatus",
                 "wan.up", "up"),
)
_COMPILED = [(p, p.regex()) for p in PARAMETERS]
UNAVAILABLE = {"dns.failures": "no standard parameter counts DNS failures",
               "wifi.dfs_radar_events": "no standard parameter counts radar hits",
               "wifi.retransmissions_pct": "RetransCount and PacketsSent are counters: a share needs two reads"}


def sample(path: str, value: object) -> tuple[str, float, dict[str, str]] | None:
    """``(metric, value, labels)`` for a KPI parameter's value, or None (not a KPI, not a number)."""
    for p, rx in _COMPILED:
        m = rx.match(path)
        if m is None:
            continue
        labels = {name: num for name, num in zip(p.labels, m.groups(), strict=False) if name}
        text = str(value).strip()
        if p.convert == "up":
            return p.metric, 1.0 if text in ("Up", "Connected") else 0.0, labels
        try:
            x = float(text)
        except ValueError:
            return None
        return p.metric, round(x * 100.0 / 255.0, 2) if p.convert == "per_255" else x, labels
    return None


def watch_paths(root: str = "Device.") -> list[str]:
    """Root-relative wildcard paths of the KPI parameters under ``root`` (what a USP controller
    subscribes ValueChange on, or a GenieACS preset refreshes on each periodic Inform)."""
    return [p.pattern.removeprefix(root).replace("{i}", "*") for p in PARAMETERS if p.pattern.startswith(root)]
