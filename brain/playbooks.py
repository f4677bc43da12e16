"""The offline planner: deterministic playbooks over the read-only tools.

Why deterministic playbooks: the planner must work with no language model at all (no key, an
air-gapped NOC) and must fall back to something predictable when the model fails. Each playbook
is evidence first: the request only picks which evidence to gather; what is proposed follows from
the data (radar events, channel utilisation, client signal, DNS servers, the inform interval,
the health of the upstream), never from wording. Device strings (SSIDs, host names, event text)
are never interpreted, so a hostile SSID cannot steer a playbook.

Every turn reads the same core evidence bundle (``brain.evidence``); detectors over it produce
ranked findings (``hypotheses``) and the wording only re-ranks them (see ``brain/README.md``).
Explicit requests ("set channel 11") are parsed by ``brain.understanding.actions`` and drafted by
``brain.explicit``.

Playbooks, by finding:

* ``dfs_radar`` — a 5 GHz radio on a DFS channel with radar events → the cleanest non-DFS channel
  (``brain.channels``), AutoChannelEnable=false when it was on;
* ``wifi_congestion`` — a busy 2.4 GHz channel → the cleanest of 1/6/11;
* ``poor_24_coverage`` — weak 2.4 GHz clients and reduced power → the highest supported transmit
  power within policy, 20 MHz width;
* ``dns_lost`` — no WAN DNS servers after a firmware bug → restore the operator's resolvers;
* ``periodic_inform_misconfigured`` → the operator profile's interval;
* ``ssid_change`` / ``passphrase_change`` — the subscriber's request (the passphrase never enters
  the planner's state: it is a placeholder resolved at drafting time);
* ``upstream_outage`` / ``device_offline`` — no CPE change; escalate with the evidence;
* anything else — a clarifying question or an escalation, never a guess.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from brain import air, charts, evidence, explicit, knowledge
from brain.channels import ChannelRules, choose_channel, rules_for, width_mhz
from brain.detectors.thresholds import thresholds
from brain.plan import Finding, Intent, Measure, Plan
from brain.tools import (
    RadioInfo,
    ReadArgs,
    ToolContext,
    ToolResult,
    call_tool,
    radios_from_values,
)
from brain.understanding import actions as requests
from brain.understanding.intent import _CONN, _HARD_UNSUPPORTED, SECRET_RE, extract_ssid
from brain.understanding.request import Request
from core import compat, topology
from core.kernel.jsontypes import JsonObject
from core.kernel.models import Change, Evidence, EvidenceSeries, ProposalDraft, Root, utcnow
from core.kernel.secrets import mask_value
from core.kernel.values import parse_bool

OnTool = Callable[[ToolResult], None]
Evidence_ = dict[str, dict[str, Any]]

# Thresholds. A busy channel and weak clients are the detectors' thresholds (``rules.json`` through
# ``brain.detectors.thresholds``), so a case the detector opens is a finding here. The day-long mean
# below is a planner-only signal (a channel busy all day but never for a sustained evening hour).
CONGESTED_MEAN_PCT = 45.0
DNS_FAILURES_HIGH = 20.0
PING_SLOW_MS = 150.0
SSID_MAX_BYTES = 32
RETRANS_HIGH_PCT = 15.0
DENSE_NEIGHBOURS = 6


# ============================================================================ gather


def _store(ev: Evidence_, key: str, r: ToolResult, on_tool: OnTool) -> ToolResult:
    ev[key] = {"name": r.name, "args": r.args, "ok": r.ok, "summary": r.summary, "data": r.data, "error": r.error}
    on_tool(r)
    return r


def gather(ctx: ToolContext, intent: Intent, on_tool: OnTool, *, cached: Evidence_ | None = None) -> Evidence_:
    """The core evidence bundle (``brain.evidence``) whatever the request, plus what an explicit
    request needs (the SSIDs for a rename). Every call is reported through ``on_tool``."""
    ev: Evidence_ = dict(cached) if cached else evidence.gather_bundle(ctx, on_tool,
                                                                          ping=intent == Intent.CONNECTIVITY)
    if intent in (Intent.SSID, Intent.PASSPHRASE, Intent.CREDENTIALS) and _online(ev) and "ssids" not in ev:
        _store(ev, "ssids", call_tool(ctx, "read_parameters", ReadArgs(paths=["Device.WiFi.SSID."]).model_dump()),
               on_tool)
    return ev


# ============================================================================ diagnose helpers


def _radios(ev: Evidence_) -> list[RadioInfo]:
    item = ev.get("radios")
    if not item or not item.get("ok"):
        return []
    return radios_from_values(item["data"].get("values", {}))


def _windows(ev: Evidence_, metric: str) -> list[dict[str, Any]]:
    return [w for w in ((ev.get("history") or {}).get("data") or {}).get("telemetry", []) if w["metric"] == metric]


def _window_for(ev: Evidence_, metric: str, radio: RadioInfo | None = None,
                band: str | None = None) -> dict[str, Any] | None:
    for w in _windows(ev, metric):
        lab = w.get("labels") or {}
        if radio is not None and str(lab.get("radio")) == str(radio.index):
            return w
        if band is not None and lab.get("band") == band:
            return w
    return None


def _event_count(ev: Evidence_, kind: str) -> int:
    return int((((ev.get("history") or {}).get("data") or {}).get("event_counts") or {}).get(kind, 0))


def _events(ev: Evidence_, kind: str) -> list[dict[str, Any]]:
    return [e for e in (((ev.get("history") or {}).get("data") or {}).get("events") or []) if e["kind"] == kind]


def _online(ev: Evidence_) -> bool:
    return bool((((ev.get("device_summary") or {}).get("data") or {}).get("presence") or {}).get("online"))


def _upstream(ev: Evidence_) -> dict[str, Any]:
    return (ev.get("topology") or {}).get("data") or {}


def _outage_finding(ev: Evidence_, reported_down: bool = False) -> Finding | None:
    """An upstream outage: the topology's verdict, or this gateway down (by its own WAN events, or
    as the agent reports it: "internet's dead") while at least two others on its feed are too."""
    up = _upstream(ev)
    own_wan = _event_count(ev, "wan_down") + _event_count(ev, "wan_degraded") + int(reported_down)
    if up.get("suspected_outage") or (own_wan and up.get("degraded_siblings", 0) >= 2):
        chain = " → ".join(n["label"] for n in up.get("chain", [])) or str(up.get("upstream_id"))
        return Finding(kind="upstream_outage", summary=(
            f"{up.get('degraded_siblings')} of {up.get('siblings')} other gateways on {up.get('upstream_id')} "
            f"({chain}) are degraded: this is an upstream problem, not a CPE problem"), data=up)
    return None


def _offline_finding(ev: Evidence_) -> Finding | None:
    if _online(ev):
        return None
    pres = (((ev.get("device_summary") or {}).get("data") or {}).get("presence") or {})
    dev = (((ev.get("device_summary") or {}).get("data") or {}).get("device") or {})
    since = pres.get("last_seen") or dev.get("last_seen")
    when = f"last seen {_when(since)}" if since else "never seen by the ACS"
    return Finding(kind="device_offline", summary=(
        f"the gateway is offline since its last contact ({when}; {pres.get('detail') or 'no recent contact'}) "
        "and its upstream looks healthy; "
        "nothing can be changed remotely until it is back"), data={"presence": pres})


def _when(iso: Any, now: datetime | None = None) -> str:
    """``2026-11-21 07:16 UTC (30 h ago)``: the agent tells the customer since when, so the age
    is spelled out (hours up to two days, then days) beside the timestamp."""
    t = _ts(iso)
    if t == datetime.min.replace(tzinfo=UTC):
        return str(iso)
    age = max(0.0, ((now or utcnow()) - t).total_seconds())
    if age < 3600:
        rel = f"{int(age // 60)} min ago"
    elif age < 48 * 3600:
        rel = f"{int(age // 3600)} h ago"
    else:
        rel = f"{int(age // 86400)} days ago"
    return f"{t.astimezone(UTC):%Y-%m-%d %H:%M} UTC ({rel})"


def _policy_rules(ctx: ToolContext, band: str) -> ChannelRules | None:
    return rules_for(ctx.policy_data(), ctx.device.region, band)


def _wifi_findings(ctx: ToolContext, ev: Evidence_) -> list[Finding]:
    out: list[Finding] = []
    radios = _radios(ev)
    for r in radios:
        rules = _policy_rules(ctx, r.band)
        if r.band == "5GHz" and rules is not None and r.channel is not None and rules.is_dfs(r.channel):
            # Radar is heard in the event log or in the radio's own counter (a device may report only
            # one of the two): whichever saw more in the day.
            w = evidence.radio_window(ev, "wifi.dfs_radar_events", r.index)
            radar = max(_event_count(ev, "dfs_radar"), evidence.window_total(w))
            if radar:
                out.append(Finding(kind="dfs_radar", radio=r.index, band=r.band, summary=(
                    f"radio {r.index} (5 GHz) sits on DFS channel {r.channel} and logged {radar} radar event(s) "
                    "in 24 h: each one forces a channel switch and drops clients"),
                    data={"channel": r.channel, "radar_events": radar},
                    measure=_measure("wifi.dfs_radar_events", w, r, how="max")))
    for r in radios:
        if r.band != "2.4GHz":
            continue
        w = _window_for(ev, "wifi.channel_utilization_pct", radio=r)
        if w and channel_congested(w):
            out.append(Finding(kind="wifi_congestion", radio=r.index, band=r.band, summary=(
                f"radio {r.index} (2.4 GHz) channel {r.channel} is congested: utilisation averages "
                f"{w.get('mean')}% and {w.get('evening_mean')}% in the evening"),
                data={"channel": r.channel, "utilisation": w}, measure=_busy_measure(w, r)))
    out += _dense_wide_findings(ev, radios)
    out += _dense_air_findings(ev, radios, {f.radio for f in out})
    cov = _coverage_finding(ctx, ev, require_weak=True)
    if cov is not None:
        out.append(cov)
    return out


def channel_congested(window: dict[str, Any]) -> bool:
    """A 2.4 GHz utilisation window is congested: its evening averages above the detectors' busy
    threshold, or the whole day averages above :data:`CONGESTED_MEAN_PCT`."""
    evening = window.get("evening_mean")
    return ((evening is not None and thresholds().channel_busy(float(evening)))
            or float(window.get("mean") or 0) >= CONGESTED_MEAN_PCT)


def clients_weak(window: dict[str, Any] | None) -> bool:
    """A 2.4 GHz client-RSSI window is weak by the detectors' own rule (mean below its threshold)."""
    return bool(window and window.get("mean") is not None and thresholds().clients_weak(float(window["mean"])))


def _dense_wide_findings(ev: Evidence_, radios: list[RadioInfo]) -> list[Finding]:
    """A wide 5 GHz radio (80/160 MHz) in dense air with many retransmissions: the wide block
    collides with neighbours on every sub-channel; halving the width trades peak rate for frames
    that get through."""
    out = []
    for r in radios:
        width = width_mhz(r.bandwidth)
        if r.band != "5GHz" or width < 80:
            continue
        w = _window_for(ev, "wifi.retransmissions_pct", radio=r) or _window_for(ev, "wifi.retransmissions_pct",
                                                                                band=r.band)
        neighbours = len((((ev.get(f"wifi_neighbors:{r.band}") or {}).get("data") or {}).get("neighbours")) or [])
        if w is None or float(w.get("mean") or 0) < RETRANS_HIGH_PCT or neighbours < DENSE_NEIGHBOURS:
            continue
        out.append(Finding(kind="wide_channel_dense", radio=r.index, band=r.band, summary=(
            f"radio {r.index} (5 GHz) runs {width} MHz among {neighbours} neighbour APs with {w.get('mean')}% "
            "retransmissions: the wide block collides with neighbours"),
            data={"width": width, "retransmissions": w, "neighbours": neighbours},
            measure=_measure("wifi.retransmissions_pct", w, r, RETRANS_HIGH_PCT,
                             f"dense: day average at or above {RETRANS_HIGH_PCT:g} %")))
    return out


def _dense_air_findings(ev: Evidence_, radios: list[RadioInfo], taken: set[int | None]) -> list[Finding]:
    """A 5 GHz radio in congested air (``brain.air``: loud neighbours and utilisation together): a
    wide one is narrowed, a 20 MHz one moves to its least crowded channel."""
    out = []
    for r in radios:
        if r.band != "5GHz" or r.index in taken:
            continue
        w = _window_for(ev, "wifi.channel_utilization_pct", radio=r)
        neighbours = (((ev.get(f"wifi_neighbors:{r.band}") or {}).get("data") or {}).get("neighbours")) or []
        verdict = air.judge(r.band, r.channel, width_mhz(r.bandwidth), neighbours, w, bool(w and channel_congested(w)))
        if verdict.congested:
            kind = "wide_channel_dense" if width_mhz(r.bandwidth) >= 40 else "wifi_congestion"
            out.append(Finding(kind=kind, radio=r.index, band=r.band, summary=verdict.summary, data=verdict.data,
                               measure=_busy_measure(w, r)))
    return out


def _coverage_finding(ctx: ToolContext, ev: Evidence_, *, require_weak: bool) -> Finding | None:
    r24 = next((r for r in _radios(ev) if r.band == "2.4GHz"), None)
    if r24 is None:
        return None
    w = _window_for(ev, "wifi.client_rssi_dbm", band="2.4GHz") or _window_for(ev, "wifi.client_rssi_dbm", radio=r24)
    weak = clients_weak(w)
    target = _target_power(ctx, r24)
    low_power = r24.tx_power is not None and r24.tx_power != -1 and target is not None and r24.tx_power < target
    wide = r24.bandwidth in ("40MHz", "Auto")
    if (require_weak and not weak) or not (low_power or (weak and wide)):
        return None
    return Finding(kind="poor_24_coverage", radio=r24.index, band="2.4GHz", summary=(
        f"2.4 GHz clients average {w.get('mean') if w else 'n/a'} dBm; radio {r24.index} transmits at "
        f"{r24.tx_power}% (policy allows up to {target}% on this radio), width {r24.bandwidth}"),
        data={"tx_power": r24.tx_power, "target": target, "bandwidth": r24.bandwidth, "rssi": w},
        measure=_measure("wifi.client_rssi_dbm", w, r24, thresholds().weak_client_dbm,
                         f"weak: average below {thresholds().weak_client_dbm:g} dBm"))


_LABEL_KEYS = ("radio", "band", "interface")  # what names a series; never device text


def _measure(metric: str, window: dict[str, Any] | None, radio: RadioInfo | None, threshold: float | None = None,
             text: str | None = None, how: Literal["mean", "max"] = "mean") -> Measure:
    """The series a finding was judged on: its window's labels (the radio, the band — not the
    channel, which a change moves), else the radio's; with the threshold the detector used."""
    labels = {k: str(v) for k, v in ((window or {}).get("labels") or {}).items() if k in _LABEL_KEYS}
    if not labels and radio is not None:
        labels = {"radio": str(radio.index)}
    return Measure(metric=metric, labels=labels, threshold=threshold, threshold_text=text, how=how)


def _busy_measure(window: dict[str, Any] | None, radio: RadioInfo) -> Measure:
    """A radio's channel utilisation with the threshold that made it busy: the detectors' evening
    one, the day-long mean, or "busy now" (``brain.air``); none when dense air was judged on its
    loud neighbours alone."""
    w = window or {}
    busy = thresholds().busy_channel_pct
    threshold, text = None, None
    if w.get("evening_mean") is not None and thresholds().channel_busy(float(w["evening_mean"])):
        threshold, text = busy, f"busy: evening average above {busy:g} %"
    elif float(w.get("mean") or 0) >= CONGESTED_MEAN_PCT:
        threshold, text = CONGESTED_MEAN_PCT, f"congested: day average at or above {CONGESTED_MEAN_PCT:g} %"
    elif w.get("last") is not None and float(w["last"]) >= air.BUSY_NOW_PCT:
        threshold, text = air.BUSY_NOW_PCT, f"busy now: at or above {air.BUSY_NOW_PCT:g} %"
    return _measure("wifi.channel_utilization_pct", window, radio, threshold, text)


def _target_power(ctx: ToolContext, r: RadioInfo) -> int | None:
    lo, hi = knowledge.tx_power_limits(ctx.policy_data(), r.band)
    allowed = [p for p in r.tx_supported if lo <= p <= hi]
    return max(allowed) if allowed else None


def _dns_servers(ev: Evidence_) -> list[str]:
    values = ((ev.get("dns") or {}).get("data") or {}).get("values", {})
    return [str(v.get("value")) for k, v in sorted(values.items())
            if k.endswith(".DNSServer") and str(v.get("value") or "").strip()]


# ============================================================================ diagnose


# Which findings a kind of request is about (words re-rank; they never hide a finding).
RELEVANT: dict[Intent, tuple[str, ...]] = {
    Intent.WIFI: ("dfs_radar", "wifi_congestion", "wide_channel_dense", "poor_24_coverage"),
    Intent.COVERAGE: ("poor_24_coverage", "wifi_congestion", "dfs_radar"),
    Intent.CONNECTIVITY: ("dns_lost", "line_degraded", "dns_failures_with_servers"),
    Intent.INFORM: ("periodic_inform_misconfigured",),
}
# With no hint from the words: the finding that hurts the subscriber most first.
SEVERITY = ("dns_lost", "dfs_radar", "wifi_congestion", "wide_channel_dense", "poor_24_coverage", "line_degraded",
            "dns_failures_with_servers", "periodic_inform_misconfigured")


def hypotheses(ctx: ToolContext, ev: Evidence_, intent: Intent) -> list[Finding]:
    """Every detector over the evidence bundle, ranked: findings the request is about first, then
    by severity. The words never gate a detector: an unrelated request still sees every finding."""
    found = _wifi_findings(ctx, ev)
    if intent == Intent.COVERAGE and not any(f.kind == "poor_24_coverage" for f in found):
        cov = _coverage_finding(ctx, ev, require_weak=False)
        if cov is not None:
            found.append(cov)
    conn = _connectivity_finding(ctx, ev)
    if conn.kind != "none":
        found.append(conn)
    inform = _inform_finding(ctx, ev)
    if inform.kind == "periodic_inform_misconfigured":
        found.append(inform)
    relevant = RELEVANT.get(intent, ())

    def rank(f: Finding) -> tuple[int, int]:
        r = relevant.index(f.kind) if f.kind in relevant else len(relevant)
        return r, SEVERITY.index(f.kind) if f.kind in SEVERITY else len(SEVERITY)

    return sorted(found, key=rank)


def diagnose(ctx: ToolContext, intent: Intent, ev: Evidence_, text: str, secrets: dict[str, str],
             request: Request | None = None) -> Finding:
    """Evidence first: upstream outage and presence, then the ranked detector findings; the words
    only choose among what the evidence shows, or what to say when it shows nothing. An explicit
    action is taken from the typed ``request`` when there is one (its data, not its words again)."""
    if intent in (Intent.SSID, Intent.PASSPHRASE, Intent.CREDENTIALS):
        return _credentials_finding(ctx, intent, ev, text, secrets)
    if intent != Intent.REQUEST and requests.reset_mood(text) == "question":
        return Finding(kind="destructive_question", summary="a question about a factory reset")
    if intent == Intent.REQUEST:
        typed = explicit.from_request(request) if request is not None else None
        req = typed or requests.parse(text.replace(explicit.CONFIRMED, " "))
        if req is not None:
            # Facts first: a reboot or reset cannot fix an upstream outage.
            outage = (_outage_finding(ev, reported_down=bool(_CONN.search(text)))
                      if req.action in ("reboot", "factory_reset") else None)
            return _offline_finding(ev) or outage or explicit.finding(req, text)
        intent = Intent.UNKNOWN
    firmware_only = intent == Intent.UNSUPPORTED and not _HARD_UNSUPPORTED.search(text)
    if intent == Intent.UNSUPPORTED and not firmware_only:
        return _unsupported()
    outage = _outage_finding(ev)
    if outage is not None:
        return outage
    offline = _offline_finding(ev)
    if offline is not None and intent != Intent.INFORM:
        return offline
    found = hypotheses(ctx, ev, intent)
    # Nothing asked (and no job trigger chose the intent): report what the evidence shows, propose
    # nothing yet. A remediation job passes no words, only its trigger's intent, and must get its fix.
    if not text.strip() and intent == Intent.UNKNOWN:
        return _with_other(Finding(kind="none", summary="the message was empty"), found)
    relevant = RELEVANT.get(intent, ())
    if found and (not relevant or found[0].kind in relevant):
        f = found[0]
        if len(found) > 1:
            f.data["also"] = [x.summary for x in found[1:]]
        again = _recurrence(f, ev)
        if again is not None:
            return again
        if firmware_only:
            f.data["note"] = ("a firmware change is not something I do from a support chat, and the evidence "
                              "points to a configuration fault instead")
        return f
    if firmware_only:
        return _unsupported()
    if intent in (Intent.WIFI, Intent.COVERAGE):
        return _with_other(Finding(kind="none", summary=_wifi_clean_summary(ev)), found)
    if intent == Intent.CONNECTIVITY:
        return _with_other(_connectivity_finding(ctx, ev), found)
    if intent == Intent.INFORM:
        return _inform_finding(ctx, ev)
    if intent == Intent.STATUS:
        return Finding(kind="status", summary=_status_summary(ctx, ev))
    return Finding(kind="unclear", summary="the request does not match a known problem",
                   data={"words": " ".join(text.split())[:160]})


# The parameter a finding's fix sets (for recognising the same fix in the device's history).
FIX_PATH = {"dfs_radar": "Device.WiFi.Radio.{radio}.Channel", "wifi_congestion": "Device.WiFi.Radio.{radio}.Channel",
            "poor_24_coverage": "Device.WiFi.Radio.{radio}.TransmitPower", "dns_lost": ".DNSServer",
            "periodic_inform_misconfigured": "Device.ManagementServer.PeriodicInformInterval"}
RECURRENCE_DAYS = 7
RECURRENCE_FIXES = 2


def _recurrence(f: Finding, ev: Evidence_) -> Finding | None:
    """The same fix applied twice within a week and the fault is back: a third try would not
    hold either, so this becomes an escalation with a firmware recommendation."""
    pattern = FIX_PATH.get(f.kind)
    if pattern is None:
        return None
    want = pattern.format(radio=f.radio)
    since = utcnow() - timedelta(days=RECURRENCE_DAYS)
    past = (((ev.get("history") or {}).get("data") or {}).get("proposals")) or []
    same = [p for p in past if p.get("state") == "done" and any(str(x).endswith(want) for x in p.get("paths", []))
            and _ts(p.get("created_at")) >= since]
    if len(same) < RECURRENCE_FIXES:
        return None
    ids = ", ".join(p["id"] for p in same[:4])
    return Finding(kind="recurring_fault", radio=f.radio, band=f.band, summary=(
        f"{f.summary}. The same fix was applied {len(same)} times in the last {RECURRENCE_DAYS} days ({ids}) and "
        "the fault is back"), data={"finding": f.model_dump(mode="json"), "proposals": [p["id"] for p in same]})


def _ts(text: Any) -> datetime:
    try:
        t = datetime.fromisoformat(str(text))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _unsupported() -> Finding:
    return Finding(kind="unsupported_request", summary=(
        "the request is for an action the chat planner does not take (factory reset, firmware, approvals, "
        "fleet-wide or shell actions): those go through an approver or the NOC"))


def _with_other(f: Finding, found: list[Finding]) -> Finding:
    """A request about one area with nothing wrong there: name what the evidence shows elsewhere."""
    if found:
        f.data["other"] = found[0].model_dump(mode="json")
    return f


def _wifi_clean_summary(ev: Evidence_) -> str:
    parts = []
    for r in _radios(ev):
        w = _window_for(ev, "wifi.channel_utilization_pct", radio=r)
        util = f"{w.get('mean')}% busy" if w else "no utilisation data"
        parts.append(f"{r.band} channel {r.channel} ({util})")
    radar = _event_count(ev, "dfs_radar")
    busy = any((w := _window_for(ev, "wifi.channel_utilization_pct", radio=r)) and channel_congested(w)
               for r in _radios(ev))
    clean = ("no radar events and normal client signal" if busy
             else "no radar events, no congestion and normal client signal")
    return (clean if not radar else "") + (
        f" — {', '.join(parts)}" if parts else "")


def _connectivity_finding(ctx: ToolContext, ev: Evidence_) -> Finding:
    servers = _dns_servers(ev)
    dns_read_ok = bool((ev.get("dns") or {}).get("ok"))
    lost = _events(ev, "dns_lost")
    failures = _window_for(ev, "dns.failures")
    if dns_read_ok and not servers:
        before = [str(x) for x in ((lost[0]["data"].get("servers_before") or []) if lost else [])]
        return Finding(kind="dns_lost", summary=(
            "the gateway has no WAN DNS servers" + (f" since a reboot on firmware {ctx.device.firmware} "
                                                    "(a known firmware bug)" if lost else "")
            + (f"; up to {int(failures['max'])} DNS failures an hour" if failures and failures.get("max") else "")),
            data={"servers_before": before, "dns_lost_events": len(lost)},
            measure=Measure(metric="dns.failures", how="max"))
    ping = (ev.get("ipping") or {}).get("data", {}).get("result") or {}
    if ping:
        lossy = int(ping.get("FailureCount") or 0) > 0
        slow = float(ping.get("AverageResponseTime") or 0) >= PING_SLOW_MS
        if lossy or slow:
            return Finding(kind="line_degraded", summary=(
                f"IPPing from the gateway: {ping.get('FailureCount')} of {ping.get('NumberOfRepetitions')} lost, "
                f"average {ping.get('AverageResponseTime')} ms, while the rest of the upstream looks healthy"),
                data={"ipping": ping})
    if failures and (failures.get("mean") or 0) >= DNS_FAILURES_HIGH and servers:
        return Finding(kind="dns_failures_with_servers", summary=(
            f"DNS lookups fail often ({failures.get('mean')} per hour) although servers are configured "
            f"({len(servers)}): a resolver-side problem"), data={"servers": servers, "failures": failures})
    return Finding(kind="none", summary=(
        "the line looks healthy: DNS servers present" + (
            f", IPPing {ping.get('SuccessCount')}/{ping.get('NumberOfRepetitions')} ok at "
            f"{ping.get('AverageResponseTime')} ms" if ping else "") + ", upstream healthy"))


def _inform_finding(ctx: ToolContext, ev: Evidence_) -> Finding:
    item = ev.get("mgmt") or {}
    values = (item.get("data") or {}).get("values", {})
    interval = values.get("Device.ManagementServer.PeriodicInformInterval", {}).get("value")
    enable = values.get("Device.ManagementServer.PeriodicInformEnable", {}).get("value")
    if not values:
        if str(ctx.device.protocol) == "usp":
            return Finding(kind="not_applicable", summary=(
                "this is a USP (TR-369) agent: it keeps a live MQTT session and has no periodic inform to fix"))
        return Finding(kind="unclear", summary="the inform settings could not be read")
    bad_interval = interval is not None and int(interval) > knowledge.MAX_INFORM_INTERVAL_S
    disabled = parse_bool(enable) is False
    if bad_interval or disabled:
        return Finding(kind="periodic_inform_misconfigured", summary=(
            f"periodic inform is {'disabled' if disabled else 'every ' + str(interval) + ' s'}; the operator "
            f"profile says every {knowledge.OPERATOR_PROFILE['Device.ManagementServer.PeriodicInformInterval']} s"),
            data={"interval": interval, "enable": enable})
    return Finding(kind="none", summary=f"periodic inform is enabled every {interval} s, as the profile says")


def _status_summary(ctx: ToolContext, ev: Evidence_) -> str:
    up = _upstream(ev)
    pres = "online" if _online(ev) else "offline"
    counts = (((ev.get("history") or {}).get("data") or {}).get("event_counts") or {})
    evs = ", ".join(f"{k}×{v}" for k, v in sorted(counts.items())) or "no events"
    return (f"{ctx.device.vendor} {ctx.device.model} on firmware {ctx.device.firmware}, {pres}; upstream "
            f"{up.get('upstream_id')} with {up.get('degraded_siblings', 0)}/{up.get('siblings', 0)} degraded; "
            f"last 24 h: {evs}")


def _credentials_finding(ctx: ToolContext, intent: Intent, ev: Evidence_, text: str,
                         secrets: dict[str, str]) -> Finding:
    if not _online(ev):
        return _offline_finding(ev) or Finding(kind="device_offline", summary="the gateway is offline")
    want_ssid = intent in (Intent.SSID, Intent.CREDENTIALS)
    want_pass = intent in (Intent.PASSPHRASE, Intent.CREDENTIALS)
    ssid = extract_ssid(text) if want_ssid else None
    refs = SECRET_RE.findall(text)
    secret_ref = next((f"[secret:{n}]" for n in refs if f"[secret:{n}]" in secrets), None) if want_pass else None
    missing = []
    if want_ssid and not ssid:
        missing.append("ssid")
    if want_pass and not secret_ref:
        missing.append("passphrase")
    kind = {Intent.SSID: "ssid_change", Intent.PASSPHRASE: "passphrase_change"}.get(intent, "ssid_and_passphrase")
    wanted = " and ".join(k for k, on in (("SSID", want_ssid), ("passphrase", want_pass)) if on)
    return Finding(kind=kind, summary=f"the subscriber asks for a new {wanted}",
                   data={"ssid": ssid, "secret_ref": secret_ref, "missing": missing})


# ============================================================================ draft


def _evidence_list(ev: Evidence_, keys: list[str]) -> list[Evidence]:
    out = []
    for k in keys:
        item = ev.get(k)
        if item and item.get("ok"):
            out.append(Evidence(kind=item["name"], summary=item["summary"], data={"args": item["args"]}))
    return out


def draft(ctx: ToolContext, finding: Finding, ev: Evidence_, *, exclude: dict[str, Any] | None = None,
          secrets: dict[str, str] | None = None) -> Plan:
    """Turn a finding into a Proposal draft — or into the reason no CPE change is right."""
    plan = _draft(ctx, finding, ev, exclude or {}, secrets or {})
    note = finding.data.get("note")
    if note:
        plan = plan.model_copy(update={"text": f"{str(note)[0].upper()}{str(note)[1:]}. {plan.text}"})
    if plan.draft is not None and finding.summary:
        facts = finding_facts(finding)
        series = measured_series(ctx, finding.measure or plan.measure)
        if series is not None:
            facts["series"] = series.model_dump(mode="json")
        fact = Evidence(kind="finding", summary=finding.summary, data=facts)
        plan = plan.model_copy(update={"draft": plan.draft.model_copy(
            update={"evidence": [fact, *plan.draft.evidence]})})
    return plan




def measured_series(ctx: ToolContext, m: Measure | None) -> EvidenceSeries | None:
    """The chart behind a drafted change: the device's stored series its finding
    was judged on (or, for an explicit request, the series of the radio it changes), over the day
    the diagnosis read, at most ``SERIES_MAX_POINTS`` points (``charts.series_for``)."""
    if m is None:
        return None
    with ctx.runtime.store.read() as s:
        return charts.series_for(s, ctx.device.id, m)


_FACT_KEYS = 8  # an approver weighs two or three numbers, not a dump
_FACT_TEXT = 64  # longer strings are device text or lists, not a fact to weigh


def finding_facts(finding: Finding) -> JsonObject:
    """The numbers behind a finding, as an approver reads them first ("evidence as the
    two or three facts behind a change, not `tool:read_parameters: 51 live value(s)`"): scalar
    values only, no secret references, device text cut out by length, at most a handful."""
    out: JsonObject = {}
    if finding.band:
        out["band"] = finding.band
    for key, value in finding.data.items():
        if len(out) >= _FACT_KEYS:
            break
        if key in ("secret_ref", "note") or value is None or isinstance(value, (dict, list, tuple, set)):
            continue
        if isinstance(value, str) and (len(value) > _FACT_TEXT or "[secret:" in value):
            continue
        out[key] = value
    return out


def _draft(ctx: ToolContext, finding: Finding, ev: Evidence_, exclude: dict[str, Any],
           secrets: dict[str, str]) -> Plan:
    k = finding.kind
    if k == "explicit_request":
        return explicit.draft(ctx, finding, ev)
    if k in ("dfs_radar", "wifi_congestion"):
        return _draft_channel(ctx, finding, ev, exclude)
    if k == "wide_channel_dense":
        return _draft_width(ctx, finding, ev)
    if k == "poor_24_coverage":
        return _draft_coverage(ctx, finding, ev, exclude)
    if k == "dns_lost":
        return _draft_dns(ctx, finding, ev)
    if k == "periodic_inform_misconfigured":
        return _draft_inform(ctx, finding, ev)
    if k in ("ssid_change", "passphrase_change", "ssid_and_passphrase"):
        return _draft_credentials(ctx, finding, ev, secrets)
    if k == "recurring_fault":
        return Plan(outcome="escalation", finding=k, text=(
            f"{finding.summary}: repeating it would not hold. Escalate to a CPE engineer with a firmware "
            f"recommendation: {ctx.device.vendor} {ctx.device.model} on firmware {ctx.device.firmware} loses this "
            "setting — check the release notes for a fix and plan a firmware update (a campaign), not another "
            "one-off change."), data=finding.data)
    if k == "upstream_outage":
        return Plan(outcome="escalation", finding=k, text=(
            f"No change on this gateway: {finding.summary}. Escalate to the NOC for {finding.data.get('upstream_id')}; "
            "the customer's Wi-Fi settings are not the cause."), data=finding.data)
    if k == "device_offline":
        return Plan(outcome="escalation", finding=k, text=(
            f"No remote change possible: {finding.summary}. Ask the customer to check power and the fibre/cable "
            "connection; if it stays offline, book a field visit."), data=finding.data)
    if k == "line_degraded":
        return Plan(outcome="escalation", finding=k, text=(
            f"No CPE setting explains this: {finding.summary}. Escalate to line support with the IPPing result."),
            data=finding.data)
    if k == "dns_failures_with_servers":
        return Plan(outcome="escalation", finding=k, text=(
            f"{finding.summary}. The gateway is configured correctly; escalate to the DNS/NOC team."),
            data=finding.data)
    if k == "unsupported_request":
        return Plan(outcome="escalation", finding=k, text=(
            f"I can't do that from a support chat: {finding.summary}. Raise it with an approver; "
            "I can help with Wi-Fi problems, coverage, connectivity/DNS, inform settings, or a new SSID/passphrase."))
    if k == "destructive_question":
        return Plan(outcome="answer", finding=k, text=(
            "A factory reset returns every setting to the firmware defaults — the subscriber's SSID, passphrase "
            "and anything else configured are lost — and rarely fixes what a diagnosis would find. I draft one "
            "only when you ask for it (e.g. 'factory reset the gateway'), and it then goes to an approver. "
            "Tell me the symptom instead and I'll look at the evidence."))
    if k == "not_applicable":
        return Plan(outcome="answer", finding=k, text=finding.summary + ". No change needed.")
    if k == "status":
        return Plan(outcome="answer", finding=k, text=finding.summary + ".")
    if k == "none" and finding.data.get("other"):
        other = Finding.model_validate(finding.data["other"])
        return Plan(outcome="question", finding=k, text=(
            f"Nothing wrong there: {finding.summary.strip(' —')}. But the evidence shows something else: "
            f"{other.summary}. Is that what the customer notices? Reply 'fix it' and I will draft the change."),
            data={"other": other.kind})
    if k == "none":
        return Plan(outcome="question", finding=k, text=(
            f"I found nothing to change: {finding.summary.strip(' —')}. When does the problem happen, and on which "
            "device or room? That tells me what to look at next."))
    words = str(finding.data.get("words") or "").strip()
    if not words:
        return Plan(outcome="question", finding=k, text=(
            "I'm not sure what the problem is. Is it Wi-Fi dropping or slow, weak coverage in part of the home, "
            "no internet at all, or a new network name/passphrase?"))
    # never the generic menu for words the agent wrote: the question names them
    return Plan(outcome="question", finding=k, text=(
        f"I could not place \u201c{words}\u201d: it names no problem I can diagnose, no change I can draft and no "
        "value of this gateway I can read. What should happen — and on which setting or symptom?"))


def conflict_gate(plan: Plan, ev: Evidence_) -> Plan:
    """A live proposal or campaign on this gateway that sets a parameter this draft sets (or runs
    the same operation) is a precedence conflict: two live changes to one parameter would race,
    so the planner names the other one — the campaign by name when it is one — instead of
    drafting a second."""
    if plan.outcome != "change" or plan.draft is None:
        return plan
    mine = {c.path for c in plan.draft.changes}
    my_ops = {o.command for o in plan.draft.operations}
    live = (((ev.get("device_summary") or {}).get("data") or {}).get("open_proposals")) or []
    clash = [(p, sorted(mine & set(p.get("paths") or [])) + sorted(my_ops & set(p.get("operations") or [])))
             for p in live]
    clash = [(p, what) for p, what in clash if what]
    if not clash:
        return plan
    p, what = clash[0]
    camp = p.get("campaign")
    other = (f"campaign {camp['id']} ({camp['name']!r}, {camp['state']}; its proposal {p['id']})" if camp else
             f"proposal {p['id']} ({p.get('state')}: {str(p.get('intent'))[:120]!r})")
    return Plan(outcome="escalation", finding="precedence_conflict", text=(
        f"{plan.text} — but {other} already sets {', '.join(what)} on this gateway: a precedence conflict. "
        + ("Ask the campaign's owner to exclude this gateway or wait for its ring to finish, then ask again."
           if camp else "Let it finish, or have its owner cancel it, then ask again.")),
        data={"conflict": p["id"], **({"campaign": camp["id"]} if camp else {}), "suggested": [
            {"path": c.path, "value": mask_value(c.path, c.value)} for c in plan.draft.changes]})


WORKFLOW_LABEL = {"config": "configuration changes", "reboot": "reboots", "factory_reset": "factory resets",
                  "download": "firmware downloads"}


def compat_gate(ctx: ToolContext, plan: Plan, ev: Evidence_) -> Plan:
    """A model the compatibility matrix (static, or from execution evidence) marks red for a
    workflow the draft exercises gets no proposal from the planner: the matrix is evidence that
    remote changes of that kind are unsupported or unsafe there."""
    from brain.tools import compat_of

    if plan.outcome != "change" or plan.draft is None:
        return plan
    known = (((ev.get("device_summary") or {}).get("data") or {}).get("compat") or {})
    workflows = compat.workflows_for(plan.draft.changes, plan.draft.operations, ctx.policy_data())
    for wf in workflows:
        item = known.get(wf)
        status, source = (item.get("status"), item.get("source")) if item else compat_of(ctx, wf)
        if status != "red":
            continue
        d = ctx.device
        return Plan(outcome="escalation", finding="compat_red", text=(
            f"{plan.text} — but the compatibility matrix marks {d.vendor} {d.model} {d.firmware} red for "
            f"{WORKFLOW_LABEL.get(wf, wf)} ({source}): remote changes of that kind are unsupported or unsafe on "
            "it. Escalate to a CPE engineer (or a device swap) with the suggested change."),
            data={"workflow": wf, "suggested": [{"path": c.path, "value": mask_value(c.path, c.value)}
                                                for c in plan.draft.changes]
                  + [{"operation": o.command} for o in plan.draft.operations]})
    return plan


def _draft_channel(ctx: ToolContext, finding: Finding, ev: Evidence_, exclude: dict[str, Any]) -> Plan:
    radio = next((r for r in _radios(ev) if r.index == finding.radio), None)
    band = finding.band or "5GHz"
    rules = _policy_rules(ctx, band)
    if radio is None or rules is None:
        return Plan(outcome="escalation", finding=finding.kind, text=(
            f"{finding.summary}, but I have no regulatory table for {ctx.device.region}/{band} or could not read the "
            "radio; escalate to a Wi-Fi engineer."))
    with ctx.runtime.store.read() as s:
        g = topology.wifi_graph(s, ctx.device.id)
    avoid = set(exclude.get("channels", []))
    if finding.kind == "dfs_radar" and radio.channel is not None:
        avoid.add(radio.channel)
    bw_path = f"Device.WiFi.Radio.{radio.index}.OperatingChannelBandwidth"
    can_narrow = bw_path in (((ev.get("radios") or {}).get("data") or {}).get("values") or {}) \
        and not exclude.get("no_width")
    choice = choose_channel(g, ctx.device.id, band, rules, possible=radio.possible, current=radio.channel,
                            width=width_mhz(radio.bandwidth), avoid=avoid, narrow=can_narrow)
    if choice.width is not None and f"{choice.width}MHz" not in knowledge.bandwidths(ctx.policy_data(), band):
        choice = choose_channel(g, ctx.device.id, band, rules, possible=radio.possible, current=radio.channel,
                                width=width_mhz(radio.bandwidth), avoid=avoid, narrow=False)
    if choice.channel is None:
        return Plan(outcome="escalation", finding=finding.kind, text=f"{finding.summary}; {choice.reason}.")
    if not choice.is_change:
        table = ", ".join(f"{c['channel']}: {c['interference_dbm'] if c['interference_dbm'] is not None else 'free'}"
                          + (" dBm" if c["interference_dbm"] is not None else "") for c in choice.candidates[:6])
        return Plan(outcome="escalation", finding=finding.kind, text=(
            f"{finding.summary}. No better channel: {choice.reason} (neighbour energy per channel — {table}). "
            "Moving would not help; escalate to a Wi-Fi engineer (a 5 GHz move for capable devices, an extra "
            "access point, or a survey)."), data={"candidates": choice.candidates[:6]})
    changes = [Change(path=f"Device.WiFi.Radio.{radio.index}.Channel", value=choice.channel)]
    if radio.auto_channel:
        changes.append(Change(path=f"Device.WiFi.Radio.{radio.index}.AutoChannelEnable", value=False))
    if choice.width is not None:
        changes.append(Change(path=bw_path, value=f"{choice.width}MHz"))
    what = "radar on a DFS channel" if finding.kind == "dfs_radar" else "a congested channel"
    d = ProposalDraft(
        intent=f"Move {band} radio {radio.index} from channel {radio.channel} to {choice.channel} ({what})"[:300],
        targets=[ctx.device.id], changes=changes, source="chat",
        action_type="wifi.channel_change",
        rationale=f"{finding.summary}. {choice.reason[0].upper() + choice.reason[1:]}.",
        evidence=_evidence_list(ev, ["history", f"wifi_neighbors:{band}", "radios", "topology"]),
    )
    return Plan(outcome="change", finding=finding.kind, draft=d, text=d.intent,
                data={"channel": choice.channel, "candidates": choice.candidates[:6]})


def _draft_coverage(ctx: ToolContext, finding: Finding, ev: Evidence_, exclude: dict[str, Any]) -> Plan:
    radio = next((r for r in _radios(ev) if r.index == finding.radio), None)
    if radio is None:
        return Plan(outcome="escalation", finding=finding.kind, text=f"{finding.summary}; the radio could not be read.")
    lo, hi = knowledge.tx_power_limits(ctx.policy_data(), radio.band)
    skip = set(exclude.get("tx_power", []))
    options = sorted((p for p in radio.tx_supported if lo <= p <= hi and p not in skip), reverse=True)
    changes: list[Change] = []
    if options and radio.tx_power is not None and radio.tx_power != -1 and options[0] > radio.tx_power:
        changes.append(Change(path=f"Device.WiFi.Radio.{radio.index}.TransmitPower", value=options[0]))
    widths = knowledge.bandwidths(ctx.policy_data(), radio.band)
    values = ((ev.get("radios") or {}).get("data") or {}).get("values", {})
    bw_path = f"Device.WiFi.Radio.{radio.index}.OperatingChannelBandwidth"
    if radio.bandwidth in ("40MHz", "Auto") and "20MHz" in widths and bw_path in values \
            and not exclude.get("no_width"):
        changes.append(Change(path=bw_path, value="20MHz"))
    if not changes:
        return Plan(outcome="answer", finding=finding.kind, text=(
            f"{finding.summary}. The radio already transmits at the most policy allows; a second access point or "
            "mesh unit is the fix, not a setting."))
    power = any("TransmitPower" in c.path for c in changes)
    d = ProposalDraft(
        intent=f"Improve 2.4 GHz coverage on radio {radio.index}"
               + (f": transmit power {radio.tx_power}% → {options[0]}%" if power else "")
               + (", 20 MHz width" if any("Bandwidth" in c.path for c in changes) else ""),
        targets=[ctx.device.id], changes=changes, source="chat", action_type="wifi.tx_power_adjust",
        rationale=f"{finding.summary}. Within the policy limit ({lo}–{hi}% on {radio.band}).",
        evidence=_evidence_list(ev, ["history", "radios"]),
    )
    return Plan(outcome="change", finding=finding.kind, draft=d, text=d.intent)


def _draft_width(ctx: ToolContext, finding: Finding, ev: Evidence_) -> Plan:
    width = int(finding.data.get("width") or 80)
    target = f"{width // 2}MHz"
    path = f"Device.WiFi.Radio.{finding.radio}.OperatingChannelBandwidth"
    if target not in knowledge.bandwidths(ctx.policy_data(), "5GHz"):
        return Plan(outcome="escalation", finding=finding.kind, text=(
            f"{finding.summary}; policy lists no {target} width for 5 GHz. Escalate to a Wi-Fi engineer."))
    d = ProposalDraft(
        intent=(f"Narrow 5 GHz radio {finding.radio} from {width} MHz to {target} "
                + (f"(congested air: {finding.data['loud_neighbours']} loud neighbour APs)"
                   if finding.data.get("loud_neighbours") else "(dense air, retransmissions)")),
        targets=[ctx.device.id], changes=[Change(path=path, value=target)], source="chat",
        action_type="wifi.channel_change", rationale=f"{finding.summary}.",
        evidence=_evidence_list(ev, ["history", "wifi_neighbors:5GHz", "radios"]))
    return Plan(outcome="change", finding=finding.kind, draft=d, text=d.intent)


def _draft_dns(ctx: ToolContext, finding: Finding, ev: Evidence_) -> Plan:
    allowed = knowledge.operator_resolvers(ctx.policy_data())
    before = [s for s in finding.data.get("servers_before", []) if s in allowed]
    servers = before or allowed
    changes = [Change(path=f"Device.DNS.Client.Server.{i}.DNSServer", value=srv)
               for i, srv in enumerate(servers[:2], start=1)]
    d = ProposalDraft(
        intent=f"Restore WAN DNS servers ({', '.join(servers[:2])}) dropped by firmware {ctx.device.firmware}",
        targets=[ctx.device.id], changes=changes, source="chat", action_type="dns.server_fix",
        rationale=f"{finding.summary}. The operator's resolvers from the automation catalogue are restored.",
        evidence=_evidence_list(ev, ["history", "dns", "topology"]),
    )
    return Plan(outcome="change", finding=finding.kind, draft=d, text=d.intent)


def _draft_inform(ctx: ToolContext, finding: Finding, ev: Evidence_) -> Plan:
    changes = []
    if finding.data.get("interval") is not None and int(finding.data["interval"]) > knowledge.MAX_INFORM_INTERVAL_S:
        changes.append(Change(path="Device.ManagementServer.PeriodicInformInterval",
                              value=knowledge.OPERATOR_PROFILE["Device.ManagementServer.PeriodicInformInterval"]))
    if parse_bool(finding.data.get("enable")) is False:
        changes.append(Change(path="Device.ManagementServer.PeriodicInformEnable", value=True))
    d = ProposalDraft(
        intent="Restore the periodic inform settings of the operator profile", targets=[ctx.device.id],
        changes=changes, source="chat", rationale=finding.summary + ".",
        evidence=_evidence_list(ev, ["mgmt", "history"]),
    )
    return Plan(outcome="change", finding=finding.kind, draft=d, text=d.intent)


def _primary_ssids(ev: Evidence_) -> list[tuple[int, str]]:
    values = ((ev.get("ssids") or {}).get("data") or {}).get("values", {})
    names: dict[int, str] = {}
    for path, item in values.items():
        parts = path.split(".")
        if len(parts) == 5 and parts[4] == "SSID" and parts[3].isdigit():
            names[int(parts[3])] = str(item.get("value") or "")
    if not names:
        return []
    base = names[min(names)]
    out = []
    for i in sorted(names):
        n = names[i]
        if "guest" in n.lower():
            continue
        if n == base or (n.startswith(base) and len(n) - len(base) <= 6):
            out.append((i, n[len(base):]))
    return out


def _draft_credentials(ctx: ToolContext, finding: Finding, ev: Evidence_, secrets: dict[str, str]) -> Plan:
    missing = finding.data.get("missing", [])
    if missing:
        asks = {"ssid": "What should the new network name (SSID) be? Put it in quotes.",
                "passphrase": "What should the new Wi-Fi passphrase be? At least 12 characters, not a common "
                              "password."}
        return Plan(outcome="question", finding=finding.kind, text=" ".join(asks[m] for m in missing),
                    data={"pending": finding.kind, "missing": missing})
    if finding.data.get("role") or finding.data.get("bands"):
        return _draft_credentials_for(ctx, finding, ev)
    primaries = _primary_ssids(ev)
    if not primaries:
        return Plan(outcome="escalation", finding=finding.kind, text="I could not read the gateway's SSIDs.")
    changes: list[Change] = []
    ssid = finding.data.get("ssid")
    longest = max((len(f"{ssid}{suffix}".encode()) for _, suffix in primaries), default=0) if ssid else 0
    if longest > SSID_MAX_BYTES:
        return Plan(outcome="question", finding=finding.kind, text=(
            f"The name {ssid!r} would be {longest} bytes on this gateway (with its band suffix); an SSID can have "
            f"at most {SSID_MAX_BYTES} bytes and I will not shorten it myself. What shorter name should I use? "
            "Put it in quotes."), data={"pending": finding.kind, "missing": ["ssid"]})
    if ssid:
        for i, suffix in primaries:
            changes.append(Change(path=f"Device.WiFi.SSID.{i}.SSID", value=f"{ssid}{suffix}"))
    ref = finding.data.get("secret_ref")
    if ref:
        for i, _ in primaries:
            changes.append(Change(path=f"Device.WiFi.AccessPoint.{i}.Security.KeyPassphrase", value=ref))
    what = " and ".join(x for x in (f"SSID {ssid!r}" if ssid else "", "a new passphrase" if ref else "") if x)
    d = ProposalDraft(intent=f"Set {what} on the primary Wi-Fi networks (subscriber request)", targets=[ctx.device.id],
                      changes=changes, source="chat", rationale="Requested by the subscriber through support.",
                      evidence=[Evidence(kind="chat", summary="subscriber request relayed by the support agent",
                                         untrusted=True)])
    return Plan(outcome="change", finding=finding.kind, draft=d, text=d.intent)


def _draft_credentials_for(ctx: ToolContext, finding: Finding, ev: Evidence_) -> Plan:
    """A rename or passphrase change limited to one network (the guest one) or to the bands named:
    exactly those SSIDs, by the device's own marks, the name exactly as given (no band suffix added —
    the agent named the one network it is for)."""
    from brain import qualify, roles

    role, bands = finding.data.get("role"), list(finding.data.get("bands") or [])
    chosen = roles.pick(qualify.ssid_facts(ctx, ev), role, bands)
    what = f"{role or 'primary'} network" + (f" on {' and '.join(bands)}" if bands else "")
    if not chosen:
        have = "; ".join(f'"{x.name}" ({x.role}, {x.band or "?"})' for x in qualify.ssid_facts(ctx, ev))
        return Plan(outcome="answer", finding=finding.kind, text=(
            f"This gateway has no {what}: its networks are {have or 'unreadable'}. Nothing was drafted."))
    ssid = finding.data.get("ssid")
    if ssid and len(str(ssid).encode()) > SSID_MAX_BYTES:
        return Plan(outcome="question", finding=finding.kind, text=(
            f"The name {ssid!r} is {len(str(ssid).encode())} bytes; an SSID can have at most {SSID_MAX_BYTES} bytes "
            "and I will not shorten it myself. What shorter name should I use? Put it in quotes."),
            data={"pending": finding.kind, "missing": ["ssid"]})
    changes = [Change(path=f"Device.WiFi.SSID.{x.index}.SSID", value=ssid) for x in chosen if ssid]
    ref = finding.data.get("secret_ref")
    changes += [Change(path=f"Device.WiFi.AccessPoint.{x.index}.Security.KeyPassphrase", value=ref)
                for x in chosen if ref]
    names = ", ".join(f'"{x.name}"' for x in chosen)
    told = " and ".join(x for x in (f"SSID {ssid!r}" if ssid else "", "a new passphrase" if ref else "") if x)
    d = ProposalDraft(intent=f"Set {told} on the {what} ({names}) (subscriber request)", targets=[ctx.device.id],
                      changes=changes, source="chat", rationale="Requested by the subscriber through support.",
                      evidence=[Evidence(kind="chat", summary="subscriber request relayed by the support agent",
                                         untrusted=True)])
    return Plan(outcome="change", finding=finding.kind, draft=d, text=d.intent)


def resolve_secrets(d: ProposalDraft, secrets: dict[str, str]) -> ProposalDraft:
    """Replace ``[secret:N]`` placeholders with the values held outside the planner's state (the
    secret field's or the generator's: ``brain.secret_field``). A secret anywhere else — a literal
    passphrase, a placeholder on another credential — is refused as a lost secret (KeyError): the
    agent is asked for the field again, nothing wrong is drafted (issue 54)."""
    from brain.secret_field import check_draft

    why = check_draft(d.changes, secrets)
    if why is not None:
        raise KeyError(why)
    changes = []
    for c in d.changes:
        v = c.value
        if isinstance(v, str) and SECRET_RE.fullmatch(v.strip()):
            if v.strip() not in secrets:
                raise KeyError(v.strip())
            v = secrets[v.strip()]
        changes.append(Change(path=c.path, value=v, type=c.type))
    return d.model_copy(update={"changes": changes})


def is_legacy(ctx: ToolContext) -> bool:
    return ctx.device.root is Root.IGD
