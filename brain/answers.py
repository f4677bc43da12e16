"""Answers to questions that need only an answer: read-only, cited, nothing drafted.

Why a path of its own: "when did it last reboot?", "what firmware is it on?", "how many devices
are connected?" are questions about facts the planner can read — not symptoms to diagnose and
not operations to draft. Each answer here is built from the evidence bundle and, where the
bundle lacks it, one more read-only tool call (reported like every other), and every fact it
states carries its source: the parameter path (or the store record), the value and when it was
read. Device strings (host names, SSIDs) are quoted and cut, never interpreted.

Topics (``brain.understanding.clauses.TOPICS``): presence and last contact, firmware and whether it is known
to be bad (the compatibility matrix from execution evidence, firmware-bug events on this box),
uptime and last reboot, connected hosts per band by name, SSIDs, channel / width / DFS, a named
client's signal, recent changes and who made them, why something was changed, live campaigns,
proposals and remediation cases touching the device.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from brain.channels import rules_for
from brain.evidence import radio_window, window_total
from brain.plan import Plan
from brain.tools import ReadArgs, ToolContext, ToolResult, call_tool, radios_from_values
from core.kernel.jsontypes import JsonObject
from core.kernel.models import utcnow
from core.kernel.secrets import mask_value
from core.kernel.values import parse_bool

OnTool = Callable[[ToolResult], None]
Evidence_ = dict[str, dict[str, Any]]

_PRINTABLE = re.compile(r"[^\w .\-'()@+]", re.UNICODE)


class Facts:
    """The facts an answer cites: ``{source, value, read_at}`` (source: a parameter path or a
    store record)."""

    def __init__(self) -> None:
        self.items: list[JsonObject] = []

    def add(self, source: str, value: Any, read_at: datetime, how: str = "live") -> str:
        self.items.append({"source": source, "value": value, "read_at": read_at.isoformat(), "how": how})
        return f"{source}, {how} {read_at.astimezone(UTC):%H:%M:%S} UTC"


def label(text: Any) -> str:
    """A device-supplied string as a short printable label (quoted by the caller)."""
    return _PRINTABLE.sub("", str(text or "")).strip()[:40] or "(unnamed)"


def human_duration(seconds: float) -> str:
    s = max(0, int(seconds))
    d, rem = divmod(s, 86400)
    h, rem = divmod(rem, 3600)
    m = rem // 60
    if d:
        return f"{d} d {h} h"
    if h:
        return f"{h} h {m} min"
    return f"{m} min"


def ago(seconds: float) -> str:
    """How long ago, as the planner says it elsewhere (``playbooks._when``): minutes under an hour,
    hours up to two days, then days."""
    s = max(0.0, seconds)
    if s < 3600:
        return f"{int(s // 60)} min ago"
    if s < 48 * 3600:
        return f"{int(s // 3600)} h ago"
    return f"{int(s // 86400)} days ago"


def _when(t: datetime, now: datetime) -> str:
    return f"{t.astimezone(UTC):%Y-%m-%d %H:%M} UTC ({ago((now - t).total_seconds())})"


def _ts(text: Any) -> datetime | None:
    try:
        t = datetime.fromisoformat(str(text))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _summary(ev: Evidence_) -> dict[str, Any]:
    return dict(((ev.get("device_summary") or {}).get("data")) or {})


def _online(ev: Evidence_) -> bool:
    return bool((_summary(ev).get("presence") or {}).get("online"))


def _active_hosts_by_where(vals: dict[str, Any], ssid_band: dict[str, str]) -> dict[str, list[str]]:
    """The active hosts' quoted names by where they connect: a band (through the SSID their Layer1Interface names),
    "Wi-Fi (band unknown)", or "wired"."""
    per: dict[str, list[str]] = {}
    for p in sorted(vals, key=_index):
        if not (p.startswith("Device.Hosts.Host.") and p.endswith(".HostName")):
            continue
        base = p[: -len("HostName")]
        if parse_bool((vals.get(base + "Active") or {}).get("value")) is not True:
            continue
        l1 = str((vals.get(base + "Layer1Interface") or {}).get("value") or "").rstrip(".")
        kind = str((vals.get(base + "InterfaceType") or {}).get("value") or "")
        where = ssid_band.get(l1) or ("Wi-Fi (band unknown)" if kind.lower().startswith("wi") else "wired")
        per.setdefault(where, []).append(f'"{label((vals.get(p) or {}).get("value"))}"')
    return per


class Answerer:
    """Answers for one turn: reads what the bundle lacks once, cites every fact."""

    def __init__(self, ctx: ToolContext, ev: Evidence_, question: str, on_tool: OnTool) -> None:
        self.ctx, self.ev, self.q, self.on_tool = ctx, ev, question, on_tool
        self.facts = Facts()
        self.now = utcnow()
        self._reads: dict[str, tuple[JsonObject, datetime, str]] = {}

    # ------------------------------------------------------------------ reads
    def values(self, prefix: str) -> tuple[dict[str, Any], datetime, str]:
        """Values under ``prefix``: from this turn's bundle when it holds them, else one read
        (live when the device is online, else the stored snapshot)."""
        if prefix in self._reads:
            return self._reads[prefix]
        for key in ("radios", "dns", "mgmt"):
            item = self.ev.get(key) or {}
            vals = (item.get("data") or {}).get("values") or {}
            if item.get("ok") and any(p.startswith(prefix) for p in vals):
                out = ({p: v for p, v in vals.items() if p.startswith(prefix)}, self.now,
                       "read live" if (item.get("data") or {}).get("source") == "live" else "stored")
                self._reads[prefix] = out
                return out
        source: Literal["live", "stored"] = "live" if _online(self.ev) else "stored"
        r = call_tool(self.ctx, "read_parameters", ReadArgs(paths=[prefix], source=source).model_dump())
        self.on_tool(r)
        vals = dict((r.data or {}).get("values") or {}) if r.ok else {}
        out = (vals, utcnow(), "read live" if source == "live" else "stored snapshot")
        self._reads[prefix] = out
        return out

    def value(self, path: str) -> tuple[Any, str] | None:
        prefix = path.rsplit(".", 1)[0] + "."
        vals, at, how = self.values(prefix)
        item = vals.get(path)
        if item is None:
            return None
        v = item.get("value") if isinstance(item, dict) else item
        return v, self.facts.add(path, v, at, how)

    def band_wanted(self) -> str | None:
        from brain.understanding import targets

        found = targets.bands_in(targets.normalise_bands(self.q))
        return found[0] if len(found) == 1 else None

    def again(self) -> str:
        return ("Which question should I answer for that? I have no earlier question in this chat to ask again "
                "of it.")

    def radios(self) -> list[Any]:
        vals, _, _ = self.values("Device.WiFi.Radio.")
        return radios_from_values(vals)

    # ------------------------------------------------------------------ topics
    def presence(self) -> str:
        pres = _summary(self.ev).get("presence") or {}
        dev = _summary(self.ev).get("device") or {}
        last = _ts(pres.get("last_seen") or dev.get("last_seen"))
        cite = self.facts.add("presence (ACS/controller)", {"online": pres.get("online"),
                                                             "last_seen": pres.get("last_seen")}, self.now, "checked")
        seen = f"last contact {_when(last, self.now)}" if last else "no contact recorded"
        if pres.get("online"):
            return f"It is online ({seen}) [{cite}]."
        return (f"It is OFFLINE: {seen}; {label(pres.get('detail')) if pres.get('detail') else 'no recent inform'}"
                f" [{cite}]. Nothing can be read or changed live until it is back.")

    def firmware(self) -> str:
        got = self.value("Device.DeviceInfo.SoftwareVersion")
        if got is None:
            d = self.ctx.device
            cite = self.facts.add("inventory (device record)", d.firmware, self.now, "stored")
            return f"Firmware {d.firmware} ({d.vendor} {d.model}) [{cite}]."
        v, cite = got
        return f"Firmware {label(v)} on the {self.ctx.device.vendor} {self.ctx.device.model} [{cite}]."

    def known_bad(self) -> str:
        parts = [self.firmware()]
        compat = _summary(self.ev).get("compat") or {}
        bad = {wf: c for wf, c in compat.items() if c.get("status") in ("red", "yellow")}
        cite = self.facts.add("compatibility matrix", {wf: c.get("status") for wf, c in compat.items()}, self.now,
                              "checked")
        if bad:
            parts.append("Known issues: the compatibility matrix marks this model/firmware " + "; ".join(
                f"{c['status']} for {wf} ({label(c.get('source'))[:120]})" for wf, c in sorted(bad.items()))
                + f" [{cite}].")
        else:
            parts.append(f"The compatibility matrix marks it green for every workflow [{cite}].")
        hist = ((self.ev.get("history") or {}).get("data")) or {}
        lost = [e for e in hist.get("events") or [] if e.get("kind") == "dns_lost"]
        if lost:
            e = lost[0]
            t = _ts(e.get("ts"))
            c = self.facts.add("device event dns_lost", (e.get("data") or {}).get("cause"), t or self.now, "logged")
            parts.append(f"This box also lost its WAN DNS servers after a reboot ({len(lost)} dns_lost event(s) in "
                         f"24 h, the last {_when(t, self.now) if t else 'recently'}: "
                         f"{label((e.get('data') or {}).get('cause')) or 'firmware bug'}) [{c}] — a known bug of "
                         "this firmware; ask me to restore the DNS servers if the customer has no internet.")
        outcomes = hist.get("model_outcomes") or {}
        rolled = {s: n for s, n in (outcomes.get("by_state") or {}).items() if s in ("rolled_back", "failed")}
        if rolled:
            c = self.facts.add("proposal outcomes on this model/firmware (30 d)", rolled, self.now, "counted")
            ended = ", ".join(f"{n} {s}" for s, n in rolled.items())
            parts.append(f"Across the fleet, changes on this model/firmware ended {ended} in 30 days [{c}].")
        if not bad and not lost and not rolled:
            parts.append("No known problem is recorded for this firmware.")
        return " ".join(parts)

    def dns(self) -> str:
        """The WAN DNS servers the gateway uses (``Device.DNS.Client.Server.{i}``)."""
        vals, at, how = self.values("Device.DNS.Client.Server.")
        servers = []
        for p in sorted(vals, key=_index):
            if p.endswith(".DNSServer") and str((vals.get(p) or {}).get("value") or "").strip():
                servers.append(f"{label((vals.get(p) or {}).get('value'))} ({p})")
                self.facts.add(p, (vals.get(p) or {}).get("value"), at, how)
        if not servers:
            return f"No DNS server is set on the gateway (Device.DNS.Client.Server.) [{how} {at:%H:%M:%S} UTC]."
        return f"DNS servers: {'; '.join(servers)} [{how} {at:%H:%M:%S} UTC]."

    def uptime(self) -> str:
        got = self.value("Device.DeviceInfo.UpTime")
        if got is None:
            return "I could not read its uptime (Device.DeviceInfo.UpTime)."
        v, cite = got
        try:
            secs = int(v)
        except (TypeError, ValueError):
            return f"Its uptime reads {label(v)!r} [{cite}], which is not a number of seconds."
        boot = self.now - timedelta(seconds=secs)
        return (f"Up for {human_duration(secs)}: it last (re)started around {boot:%Y-%m-%d %H:%M} UTC "
                f"(UpTime {secs} s) [{cite}].")

    def _ssid_band(self) -> dict[str, str]:
        """``Device.WiFi.SSID.{i}`` → band, through its radio."""
        vals, _, _ = self.values("Device.WiFi.SSID.")
        bands = {f"Device.WiFi.Radio.{r.index}": r.band for r in self.radios()}
        out = {}
        for p, item in vals.items():
            if p.endswith(".LowerLayers"):
                out[p[: -len(".LowerLayers")]] = bands.get(str(item.get("value") or "").rstrip("."), "?")
        return out

    def named_host(self) -> str | None:
        """The address of a connected host the question names ("what IP did the PS5 get?", "need the MAC of the
        ThinkPad"), or where it is connected ("which band is the TV on?"): its own row of ``Device.Hosts.Host.{i}``,
        not the gateway's — None when no host is named or nothing of it is asked."""
        want_ip, want_mac = bool(_IP_WORD.search(self.q)), bool(_MAC_WORD.search(self.q))
        want_band = bool(_WHERE_WORD.search(self.q))
        if not (want_ip or want_mac or want_band):
            return None
        vals, at, how = self.values("Device.Hosts.")
        out = []
        for p in sorted(vals, key=_index):
            if p.startswith("Device.Hosts.Host.") and p.endswith(".HostName") and _names(self.q, vals[p].get("value")):
                base = p[: -len("HostName")]
                for leaf, wanted in (("IPAddress", want_ip), ("PhysAddress", want_mac)):
                    v = (vals.get(base + leaf) or {}).get("value")
                    if wanted and v:
                        cite = self.facts.add(base + leaf, v, at, how)
                        out.append(f'"{label(vals[p].get("value"))}": {leaf} {v} [{cite}]')
                if want_band and not (want_ip or want_mac):
                    out.append(self._host_where(vals, base, at, how))
        if not out and want_band and _CLIENT_NOUN.search(self.q):
            return self._no_such_host(vals, at, how)  # "which band is the TV on?" with no TV: never the radios' bands
        return "; ".join(out[:6]) + "." if out else None

    def _no_such_host(self, vals: dict[str, Any], at: datetime, how: str) -> str:
        names = [label((vals.get(p) or {}).get("value")) for p in sorted(vals, key=_index)
                 if p.startswith("Device.Hosts.Host.") and p.endswith(".HostName")]
        cite = self.facts.add("Device.Hosts.Host.{i}.HostName", len(names), at, how)
        listed = ", ".join(f'"{n}"' for n in names[:8]) if names else "none"
        return (f"No host this gateway lists is named like the device you mean; the hosts it lists: {listed} "
                f"[{cite}]. Its name on the network may differ — which of these is it?")

    def _host_where(self, vals: dict[str, Any], base: str, at: datetime, how: str) -> str:
        """Where one host is connected: its band (through the SSID its ``Layer1Interface`` names), wired, or not
        connected now — cited by the host's own parameters."""
        name = label((vals.get(base + "HostName") or {}).get("value"))
        if parse_bool((vals.get(base + "Active") or {}).get("value")) is not True:
            cite = self.facts.add(base + "Active", False, at, how)
            return f'"{name}" is not connected right now [{cite}]'
        l1 = str((vals.get(base + "Layer1Interface") or {}).get("value") or "").rstrip(".")
        kind = str((vals.get(base + "InterfaceType") or {}).get("value") or "")
        band = self._ssid_band().get(l1)
        cite = self.facts.add(base + "Layer1Interface", l1 or None, at, how)
        if band:
            return f'"{name}" is on the {band} Wi-Fi ({l1}) [{cite}]'
        how_connected = "by Wi-Fi, band unknown" if kind.lower().startswith("wi") else "by cable"
        return f'"{name}" is connected {how_connected} [{cite}]'

    def hosts(self) -> str:
        """The hosts connected now, by band (a question that names one band is answered for that band first)."""
        named = self.named_host()
        if named is not None:
            return named
        vals, at, how = self.values("Device.Hosts.")
        ssid_band = self._ssid_band()
        per = _active_hosts_by_where(vals, ssid_band)
        total = sum(len(v) for v in per.values())
        cite = self.facts.add("Device.Hosts.Host.{i}.(HostName, Active, Layer1Interface)", total, at, how)
        if not total:
            return f"No active hosts are listed right now [{cite}]."
        want = self.band_wanted()  # "how many are on the 5 GHz?": that band first, the rest beside it
        if want is not None and want in ssid_band.values():
            on = per.get(want, [])
            rest = total - len(on)
            return (f"{len(on)} device(s) on {want} right now" + (f" — {', '.join(on[:10])}" if on else "")
                    + (" …" if len(on) > 10 else "") + f"; {rest} more elsewhere"
                    + (f" ({', '.join(f'{w}: {len(n)}' for w, n in sorted(per.items()) if w != want)})" if rest else "")
                    + f" [{cite}].")
        groups = "; ".join(f"{where}: {len(names)} — {', '.join(names[:10])}" + (" …" if len(names) > 10 else "")
                           for where, names in sorted(per.items()))
        return f"{total} device(s) connected right now — {groups} [{cite}]."

    def ssid(self) -> str:
        vals, at, how = self.values("Device.WiFi.SSID.")
        ssid_band = self._ssid_band()
        want = self.band_wanted()  # "the SSID on the 5 GHz side": that band's, when one is known to be on it
        if want is not None and want not in ssid_band.values():
            want = None
        names = []
        for p in sorted(vals, key=_index):
            if p.endswith(".SSID") and p.count(".") == 4:
                base = p[: -len(".SSID")]
                enabled = parse_bool((vals.get(base + ".Enable") or {}).get("value"))
                if enabled is False or (want is not None and ssid_band.get(base) != want):
                    continue
                names.append(f'"{label((vals.get(p) or {}).get("value"))}" on {ssid_band.get(base, "?")} ({p})')
                self.facts.add(p, (vals.get(p) or {}).get("value"), at, how)
        if not names:
            return "I could not read any enabled SSID."
        return f"Enabled networks: {'; '.join(names)} [{how} {at:%H:%M:%S} UTC]."

    def guest(self) -> str:
        """The guest network(s): name, band, on or off — by the device's own marks (``brain.roles``)."""
        from brain import roles

        ssid_vals, at, how = self.values("Device.WiFi.SSID.")
        ap_vals, _, _ = self.values("Device.WiFi.AccessPoint.")
        radios, _, _ = self.values("Device.WiFi.Radio.")
        found = [x for x in roles.ssids({**ssid_vals, **ap_vals}, radios_from_values(radios)) if x.role == "guest"]
        if not found:
            return "This gateway has no guest network: no SSID is isolated or named as one."
        lines = []
        for x in found:
            path = f"Device.WiFi.SSID.{x.index}"
            self.facts.add(path + ".SSID", x.name, at, how)
            self.facts.add(path + ".Enable", x.enabled, at, how)
            state = "on" if x.enabled else "off" if x.enabled is False else "in an unknown state"
            lines.append(f'"{label(x.name)}" on {x.band or "?"} is {state} ({path})')
        return f"Guest network: {'; '.join(lines)} [{how} {at:%H:%M:%S} UTC]."

    def passphrase(self) -> str:
        vals, at, how = self.values("Device.WiFi.AccessPoint.")
        paths = sorted(p for p in vals if p.endswith(".Security.KeyPassphrase"))
        cite = self.facts.add(paths[0] if paths else "Device.WiFi.AccessPoint.{i}.Security.KeyPassphrase",
                              "********", at, how)
        return (f"The Wi-Fi passphrase is a secret: Gateward reads it only masked (********) and never shows it "
                f"[{cite}]. If the customer has lost it, ask them for a new one (at least 12 characters) and I will "
                "set it.")

    def _radio_lines(self, what: str) -> list[str]:
        want = self.band_wanted()
        lines = []
        for r in self.radios():
            if want and r.band != want:
                continue
            base = f"Device.WiFi.Radio.{r.index}."
            if what == "channel":
                got = self.value(base + "Channel")
                auto = " (auto-channel on)" if r.auto_channel else ""
                if got:
                    lines.append(f"{r.band}: channel {got[0]}{auto} [{got[1]}]")
            elif what == "width":
                got = self.value(base + "OperatingChannelBandwidth")
                if got:
                    lines.append(f"{r.band}: {got[0]} wide [{got[1]}]")
        return lines

    def channel(self) -> str:
        lines = self._radio_lines("channel")
        return ("Channels — " + "; ".join(lines) + ".") if lines else "I could not read the radios' channels."

    def width(self) -> str:
        lines = self._radio_lines("width")
        return ("Channel width — " + "; ".join(lines) + ".") if lines else "I could not read the channel width."

    def dfs(self) -> str:
        out = []
        radar = int((((self.ev.get("history") or {}).get("data") or {}).get("event_counts") or {}).get("dfs_radar", 0))
        for r in self.radios():
            if r.band != "5GHz" or r.channel is None:
                continue
            got = self.value(f"Device.WiFi.Radio.{r.index}.Channel")
            cite = got[1] if got else "radio read"
            rules = rules_for(self.ctx.policy_data(), self.ctx.device.region, r.band)
            if rules is None:
                out.append(f"5 GHz radio {r.index} is on channel {r.channel} [{cite}]; I have no regulatory table "
                           f"for {self.ctx.device.region} to say whether that is DFS.")
                continue
            dfs = rules.is_dfs(r.channel)
            c2 = self.facts.add("device events dfs_radar (24 h)", radar, self.now, "counted")
            counter = window_total(radio_window(self.ev, "wifi.dfs_radar_events", r.index))  # some count only here
            heard = ""
            if counter:
                c3 = self.facts.add(f"telemetry wifi.dfs_radar_events radio {r.index} (24 h)", counter, self.now,
                                    "summed")
                heard = f", and its radar counter reported {counter} [{c3}]"
            out.append(f"5 GHz radio {r.index} is on channel {r.channel} [{cite}], which is "
                       f"{'a DFS channel' if dfs else 'not a DFS channel'} in {self.ctx.device.region}; "
                       f"{radar} radar event(s) logged in the last 24 h [{c2}]{heard}"
                       + (" — each forces a channel switch; ask me to fix it and I'll pick a clean non-DFS channel."
                          if dfs and (radar or counter) else "."))
        return " ".join(out) or "This gateway has no 5 GHz radio I could read, so no DFS channel."

    def signal(self) -> str:
        hosts, at, how = self.values("Device.Hosts.")
        q = self.q.lower()
        named = []
        for p, item in hosts.items():
            if p.startswith("Device.Hosts.Host.") and p.endswith(".HostName"):
                name = str((item or {}).get("value") or "")
                if len(name) >= 3 and name.lower() in q:
                    base = p[: -len("HostName")]
                    named.append((name, str((hosts.get(base + "PhysAddress") or {}).get("value") or "").lower(), base))
        if not named:
            return self._band_signal("I did not find a connected host by that name; ")
        aps, at2, how2 = self.values("Device.WiFi.AccessPoint.")
        out = []
        if not any(".AssociatedDevice." in p for p in aps):
            ssid_band = self._ssid_band()
            where = ", ".join(
                f'"{label(name)}" is on '
                + (ssid_band.get(str((hosts.get(base + "Layer1Interface") or {}).get("value") or "").rstrip("."))
                   or "an interface I cannot place") for name, _, base in named[:3])
            cite = self.facts.add("Device.WiFi.AccessPoint.{i}.AssociatedDevice.", "absent", at2, how2)
            return self._band_signal(f"This gateway reports no per-client signal (no AssociatedDevice table) "
                                     f"[{cite}]; {where}; ")
        for name, mac, base in named[:3]:
            hit = None
            for p, item in aps.items():
                if ".AssociatedDevice." in p and p.endswith(".MACAddress") and \
                        str((item or {}).get("value") or "").lower() == mac and mac:
                    hit = p[: -len("MACAddress")]
            if hit is None:
                out.append(f'"{label(name)}" is not associated to the Wi-Fi right now (no AssociatedDevice entry '
                           f'with its MAC) [{self.facts.add(base + "PhysAddress", mac, at, how)}].')
                continue
            sig = (aps.get(hit + "SignalStrength") or {}).get("value")
            cite = self.facts.add(hit + "SignalStrength", sig, at2, how2)
            try:
                dbm = int(str(sig))
            except (TypeError, ValueError):
                out.append(f'"{label(name)}": signal {label(sig)} [{cite}].')
                continue
            quality = "good" if dbm >= -60 else "fair" if dbm >= -70 else "weak"
            out.append(f'"{label(name)}": signal {dbm} dBm ({quality}) [{cite}].')
        return " ".join(out)

    def _band_signal(self, prefix: str) -> str:
        wins = [w for w in (((self.ev.get("history") or {}).get("data") or {}).get("telemetry") or [])
                if w.get("metric") == "wifi.client_rssi_dbm"]
        if not wins:
            return prefix + "no per-client signal telemetry either."
        parts = [f"{(w.get('labels') or {}).get('band') or 'radio ' + str((w.get('labels') or {}).get('radio'))}: "
                 f"mean {w.get('mean')} dBm, min {w.get('min')} dBm" for w in wins]
        cite = self.facts.add("telemetry wifi.client_rssi_dbm (24 h)", parts, self.now, "aggregated")
        return prefix + "clients overall: " + "; ".join(parts) + f" [{cite}]."

    def _proposals(self) -> list[dict[str, Any]]:
        return list((((self.ev.get("history") or {}).get("data") or {}).get("proposals")) or [])

    def changes(self) -> str:
        past = self._proposals()
        cite = self.facts.add("proposal history (this device)", len(past), self.now, "read")
        if not past:
            return f"No change to this gateway is recorded through Gateward [{cite}]."
        lines = []
        for p in past[:5]:
            t = _ts(p.get("created_at"))
            what = ", ".join([*(str(x) for x in p.get("paths") or []), *(f"{o}()" for o in p.get("operations") or [])])
            lines.append(f"{p['id']} by {p.get('author')} {_when(t, self.now) if t else ''} ({p.get('state')}): "
                         f"{label(p.get('intent'))[:100]} — {what}")
        return f"Recent changes, newest first [{cite}]: " + "; ".join(lines) + "."

    _SUBJECTS = (("channel", r"channel|kanal|canal"), ("SSID", r"ssid|name|nom|nombre"),
                 ("KeyPassphrase", r"pass|kennwort|mot de passe|contraseña|clave"),
                 ("TransmitPower", r"power|leistung|puissance|potencia"),
                 ("Bandwidth", r"width|breite|largeur|ancho"), ("DNSServer", r"dns"),
                 ("PeriodicInform", r"inform"))

    def why_changed(self) -> str:
        subject = next((k for k, rx in self._SUBJECTS if re.search(rx, self.q, re.I)), None)
        want = self.band_wanted()
        radios = {f"Device.WiFi.Radio.{r.index}.": r.band for r in self.radios()}
        past = self._proposals()
        hits = []
        for p in past:
            paths = [str(x) for x in p.get("paths") or []]
            if subject and not any(subject.lower() in x.lower() for x in paths):
                continue
            if want and subject in ("channel", "TransmitPower", "Bandwidth") and not any(
                    radios.get(x.rsplit(".", 1)[0] + ".") == want for x in paths):
                continue
            hits.append(p)
        cite = self.facts.add("proposal history (this device)", [p["id"] for p in hits], self.now, "read")
        if not hits:
            return (f"No change to {subject or 'that'} on this gateway is recorded through Gateward [{cite}]; "
                    "it may have been set by the device itself (auto-channel) or outside Gateward.")
        out = []
        from core.store import repo

        with self.ctx.runtime.store.read() as s:
            for p in hits[:2]:
                t = _ts(p.get("created_at"))
                try:
                    why = repo.get_proposal_row(s, p["id"]).rationale
                except Exception:  # the history row is enough to answer
                    why = ""
                out.append(f"{p['id']} by {p.get('author')}, {_when(t, self.now) if t else 'earlier'} "
                           f"({p.get('state')}): \"{label(p.get('intent'))[:160]}\""
                           + (f" — rationale: {label(why)[:200]}" if why else ""))
        return f"It was changed by {'; '.join(out)} [{cite}]."

    def campaigns(self) -> str:
        live = list(_summary(self.ev).get("open_proposals") or [])
        parts = []
        camps = [p for p in live if p.get("campaign")]
        plain = [p for p in live if not p.get("campaign")]
        cite = self.facts.add("live proposals/campaigns touching the device", [p["id"] for p in live], self.now,
                              "read")
        if camps:
            parts.append("Campaigns: " + "; ".join(
                f"{p['campaign']['id']} \"{label(p['campaign']['name'])}\" ({p['campaign']['state']}; proposal "
                f"{p['id']} sets {', '.join(p.get('paths') or []) or ', '.join(p.get('operations') or [])})"
                for p in camps))
        if plain:
            parts.append("Open proposals: " + "; ".join(f"{p['id']} ({p.get('state')}): {label(p.get('intent'))[:80]}"
                                                        for p in plain))
        cases = self._cases()
        if cases:
            parts.append("Remediation cases: " + "; ".join(cases))
        if not parts:
            return f"No campaign, open proposal or remediation case touches this gateway [{cite}]."
        return " ".join(parts) + f" [{cite}]."

    def _cases(self) -> list[str]:
        from sqlalchemy import select

        from brain.remediation.schema import ACTIVE, RemediationCaseRow

        with self.ctx.runtime.store.read() as s:
            rows = s.scalars(select(RemediationCaseRow).where(RemediationCaseRow.device_id == self.ctx.device.id,
                                                              RemediationCaseRow.status.in_(ACTIVE))
                             .order_by(RemediationCaseRow.opened_at.desc()).limit(5)).all()
        return [f"{r.id} {r.problem} ({r.status}, opened {_when(r.opened_at, self.now)})" for r in rows]


    # ------------------------------------------------------------------ anything else the data model holds
    def lookup(self) -> str:
        """A question no topic answers, answered from the parameters the device's data model holds for
        it (``brain.lookup``: ranked by names, the standard's descriptions and four-language synonyms),
        read live and cited; narrowed to the band, network or side the question names."""
        from brain import lookup

        named = self.named_host()
        if named is not None:
            return named
        found = lookup.find(self.q, lambda root: self.values(root)[0], self._band_of, role_of=self._role_of)
        if not found and str(self.ctx.device.protocol) == "usp" and lookup.about_inform(self.q):
            return ("This is a USP (TR-369) agent: it has no ACS and no periodic inform — it keeps a live "
                    "session with its controller instead, so there is no inform to check or fix.")
        if not found:
            return (f"I looked in this gateway's data model for what you asked (\u201c{label(self.q)[:80]}\u201d) "
                    "and found no value of it I could read. Tell me which setting you mean.")
        _, at, how = self.values(found[0].path.rsplit(".", 1)[0] + ".")
        parts = [f"{f.path} is {_said(f.path, _plain(f.value))} [{self.facts.add(f.path, _plain(f.value), at, how)}]"
                 for f in found]
        about = f" ({found[0].about})" if found[0].about else ""
        return "; ".join(parts) + about

    def schedule(self) -> str:
        """When the change waiting on this gateway runs ("so when does that happen?"): its state and
        not-before in the device's local time, from the lifecycle."""
        from core import localtime
        from core.store import repo

        with self.ctx.runtime.store.read() as s:
            live = repo.live_proposals_touching(s, [self.ctx.device.id], exclude="")
        cite = self.facts.add("live proposals touching the device", [p.id for p in live], self.now, "read")
        if not live:
            return f"No change is waiting on this gateway [{cite}]."
        out = []
        for p in sorted(live, key=lambda x: x.created_at)[-3:]:
            if p.not_before is not None:
                at = localtime.local(p.not_before, self.ctx.device.region)
                when = f"not before {at:%a %d %b %H:%M} local time ({at.tzname()})"
                who = " — confirmed, the worker starts it then" if p.start_requested_by else ""
            else:
                when, who = "with no time set (it runs when applied)", ""
            out.append(f"{p.id} ({p.state}): {label(p.intent)[:80]}, {when}{who}")
        return "Waiting on this gateway: " + "; ".join(out) + f" [{cite}]."

    def _band_of(self, path: str, values: dict[str, Any]) -> str | None:
        m = re.match(r"^Device\.WiFi\.(Radio|SSID|AccessPoint)\.(\d+)\.", path)
        if m is None:
            return None
        kind, i = m.group(1), m.group(2)
        if kind == "Radio":
            return next((r.band for r in self.radios() if str(r.index) == i), None)
        ssid = f"Device.WiFi.SSID.{i}"
        if kind == "AccessPoint":
            ref = values.get(f"Device.WiFi.AccessPoint.{i}.SSIDReference")
            ssid = str(_plain(ref) or ssid).rstrip(".")
        return self._ssid_band().get(ssid)

    def _role_of(self, path: str, values: dict[str, Any]) -> str | None:
        from brain import roles

        m = re.match(r"^Device\.WiFi\.(SSID|AccessPoint)\.(\d+)\.", path)
        if m is None:
            return None
        ssid_vals, _, _ = self.values("Device.WiFi.SSID.")
        ap_vals, _, _ = self.values("Device.WiFi.AccessPoint.")
        found = roles.ssids({**ssid_vals, **ap_vals}, self.radios())
        return next((x.role for x in found if str(x.index) == m.group(2)), None)


def _plain(item: Any) -> Any:
    return item.get("value") if isinstance(item, dict) else item


def _index(path: str) -> tuple[int, str]:
    parts = path.split(".")
    return (int(parts[3]) if len(parts) > 3 and parts[3].isdigit() else 0, path)


_IP_WORD = re.compile(r"\b(ip|ips|ip-adresse|adresse ip|dirección ip|address|adresse|dirección)\b", re.I)
_MAC_WORD = re.compile(r"\b(mac|mac-adresse|adresse mac|dirección mac|physical address)\b", re.I)
# Where a named host is connected: "which band is the TV on?", "auf welchem Band ist das iPad?", "le PS5 est sur
# quelle bande ?", "¿en qué banda está el Kindle?", "is the printer wired?"
_WHERE_WORD = re.compile(r"\b(band|bands|frequency|frequenz|bande|banda|fréquence|frecuencia|wired|cable|kabel|câble|"
                         r"lan-?kabel|wireless|connected to|verbunden mit|connecté à|conectad[oa] a)\b", re.I)
# A client device named by its kind ("the TV", "das Tablet", "l'imprimante", "la consola")
_CLIENT_NOUN = re.compile(r"\b(tv|télé|tele|fernseher|tablet|tablette|tableta|ipad|phone|handy|smartphone|téléphone|"
                          r"móvil|laptop|notebook|portátil|ordinateur|computer|pc|printer|drucker|imprimante|"
                          r"impresora|console|konsole|consola|playstation|xbox|doorbell|camera|kamera|caméra|cámara|"
                          r"speaker|lautsprecher|enceinte|altavoz|watch)\b", re.I)
# A part of a host's name that names it alone ("TV" of "LG-webOS-TV"): letters only, and no everyday word
_NAME_PART_STOP = frozenset({"one", "air", "dot", "bridge", "von", "pro", "max", "mini", "plus", "the", "and", "home",
                             "box", "hub", "go", "lite"})


def _names(question: str, name: object) -> bool:
    """The question names this host: its whole name, or the name without the number the network gave it
    ("ThinkPad" for "ThinkPad-185"; at least three letters, as a word)."""
    full = str(name or "").strip()
    if len(full) < 3:
        return False
    q = question.lower()
    stem = re.sub(r"[-_ ]?\d+$", "", full)
    if full.lower() in q or (len(stem) >= 3 and re.search(rf"(?<![\w-]){re.escape(stem.lower())}(?![\w])", q)
                             is not None):
        return True
    # the last part of a compound name said alone ("the TV" for "LG-webOS-TV", "the doorbell" for "ring-doorbell")
    last = re.split(r"[-_ ]", stem)[-1].lower()
    return (len(re.split(r"[-_ ]", stem)) > 1 and last.isalpha() and len(last) >= 2 and last not in _NAME_PART_STOP
            and re.search(rf"(?<![\w-]){re.escape(last)}(?![\w-])", q) is not None)


def answer(ctx: ToolContext, ev: Evidence_, topics: list[str], question: str, on_tool: OnTool) -> Plan:
    """An ``answer`` plan for ``topics``, each fact cited; nothing drafted."""
    a = Answerer(ctx, ev, question, on_tool)
    parts: list[str] = []
    offline_noted = False
    for topic in topics:
        if not _online(ev) and topic not in ("presence", "changes", "why_changed", "campaigns", "known_bad",
                                             "firmware") and not offline_noted:
            parts.append(a.presence() + " What follows is the last stored snapshot.")
            offline_noted = True
        parts.append(getattr(a, topic)())
    return Plan(outcome="answer", finding="answer", text=" ".join(parts),
                data={"facts": a.facts.items, "topics": topics, "question": question[:300]})


def resolve(topics: list[str], question: str, history: list[Any], text: str) -> tuple[list[str], str]:
    """``topics`` and ``question`` with a follow-up ("again") replaced by the earlier question it repeats."""
    if "again" not in topics:
        return topics, question
    earlier = carried(history, text)
    if earlier is None:
        return topics, question
    rest = [t for t in topics if t != "again"]
    return [*earlier[0], *(t for t in rest if t not in earlier[0])], earlier[1]


def carried(history: list[Any], text: str) -> tuple[list[str], str] | None:
    """A follow-up that only names another band or network ("and the 5 GHz?", "und beim 5er?", "et
    l'invité ?"): the last question's topics, asked again of what the follow-up names. None when no
    earlier answer said what it was about."""
    from brain.understanding import targets

    last = next((e for e in reversed(history) if e.kind == "answer" and (e.data or {}).get("topics")), None)
    if last is None:
        return None
    topics = [t for t in last.data["topics"] if t not in ("again", "schedule")]
    before = targets.normalise_bands(str(last.data.get("question") or ""))
    bands = targets.bands_in(targets.normalise_bands(text)) or targets.bare_band(text)
    role = targets.role_in(text)
    if not topics or not before:
        return None
    if bands:
        before = re.sub(r"\b(2\.4GHz|5GHz|6GHz)\b", "", before)
        before = f"{before.rstrip(' ?')} on the {' and '.join(bands)}?"
    if role:
        before = f"{before.rstrip(' ?')} ({role} network)?"
    return topics, before


def state_of(ctx: ToolContext, changes: list[Any], on_tool: OnTool, ev: Evidence_ | None = None) -> Plan:
    """A question about the state an operation would set ("is the 5 GHz radio on?", "läuft das 2,4er
    auf Kanal 6?"), answered from a live read of exactly the parameters that operation would write:
    the first is the one asked about (yes when it already holds the value asked), the rest are said
    as they are. Nothing is drafted."""
    a = Answerer(ctx, ev or {}, "", on_tool)
    if not _summary(a.ev):
        a.ev = {**a.ev, "device_summary": {"data": {"presence": {"online": ctx.reader.presence(ctx.device).online}}}}
    parts: list[str] = []
    verdict = ""
    for i, change in enumerate(changes[:4]):
        got = a.value(change.path)
        if got is None:
            parts.append(f"{change.path} could not be read")
            continue
        value, cite = got
        parts.append(f"{change.path} is {_said(change.path, value)} [{cite}]")
        if i == 0:
            same = str(value).strip().lower() == str(change.value).strip().lower()
            verdict = "Yes" if same else "No"
            if not same:
                parts[-1] += f", not {_said(change.path, change.value)}"
    head = f"{verdict} — " if verdict else ""
    return Plan(outcome="answer", finding="state", data={"facts": a.facts.items}, text=(
        f"{head}{'; '.join(parts)}. Nothing drafted: you asked a question — say so if it should change."))


def _said(path: str, value: Any) -> str:
    """A value as read, masked when the parameter is a secret, device strings quoted and cut."""
    masked = mask_value(path, value)
    if isinstance(masked, bool):
        return "true" if masked else "false"
    if not isinstance(masked, str):
        return str(masked)
    # a device string, quoted and cut — a list keeps its commas ("g,n,ax"), an address its colons
    return '"' + (re.sub(r"[^\w .,:;/\-'()@+%*]", "", masked).strip()[:80] or "(empty)") + '"'


def offer(finding: Any, plan: Plan, now: datetime) -> Plan:
    """A question whose diagnosis would draft a fix ("questions are never requests"):
    the finding as an answer, its facts cited — for dense air the loud neighbours per channel and
    the utilisation now and over 24 h — and the fix offered; nothing is drafted. ``pending`` lets
    "fix it" (or "yes") on the next turn draft it."""
    facts = Facts()
    data = dict(getattr(finding, "data", None) or {})
    parts = [f"Answer: {getattr(finding, 'summary', '') or plan.text}."]
    per = data.get("per_channel") or []
    band = data.get("band") or getattr(finding, "band", None) or ""
    if per:
        rows = ", ".join(f"channel {p['channel']}: {p['loud']} (loudest {p['loudest_dbm']:g} dBm)" for p in per)
        cite = facts.add(f"wifi_neighbors {band}", per, now, "scanned")
        parts.append(f"Loud neighbour APs by channel: {rows} [{cite}].")
    util = data.get("utilisation") or {}
    if util.get("mean") is not None or util.get("last") is not None:
        radio = (util.get("labels") or {}).get("radio", getattr(finding, "radio", None))
        src = f"wifi.channel_utilization_pct (radio {radio})"
        cite = facts.add(src, {"last": util.get("last"), "mean_24h": util.get("mean")}, now, "read")
        now_txt = f"{util['last']:g}% now" if util.get("last") is not None else "now unknown"
        avg_txt = f"{util['mean']:g}% on average over 24 h" if util.get("mean") is not None else ""
        parts.append(f"Channel utilisation: {now_txt}, {avg_txt} [{cite}].")
    if data.get("channel") is not None and data.get("width"):
        cite = facts.add(f"Device.WiFi.Radio.{getattr(finding, 'radio', '')}.Channel", data["channel"], now)
        parts.append(f"The radio is on channel {data['channel']} at {data['width']} MHz [{cite}].")
    fix = "; ".join(f"{c.path} → {mask_value(c.path, c.value)}"
                    for c in (plan.draft.changes if plan.draft else [])) or plan.text
    parts.append(f"Nothing drafted — you asked a question. Say 'fix it' and I'll draft: {fix}.")
    return Plan(outcome="answer", finding=str(getattr(finding, "kind", "answer")), text=" ".join(parts),
                data={"facts": facts.items, "offer": fix, "pending": "offer", "missing": []})
