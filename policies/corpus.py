"""A seeded corpus of varied, well-formed policy inputs.

Why: a rewrite of the Rego pack for speed must decide exactly as before, and a handful of
hand-written samples reaches only the rules their author thought of. This generator mixes every
fact the rules read (roles, automation and its catalogue, regions and their windows, radios and
bands, channels inside and outside the tables, DFS, widths, power, passphrases, management-plane
paths, operations and their compat status, preview states, live proposals and profiles, target
counts across every threshold) so that comparing two packs over a few hundred documents
exercises each rule both firing and not firing. Deterministic for a seed, so a failure names a
document that can be regenerated.
"""

from __future__ import annotations

import random
from typing import Any

from core.kernel.jsontypes import JsonObject
from policies import samples

_DEVICE_CLASSES: tuple[tuple[str, str, str], ...] = (
    ("AVM", "FRITZ!Box 7590", "7.57"),
    ("AVM", "FRITZ!Box 7590", "7.29"),
    ("AVM", "FRITZ!Box 7590", "8.00"),
    ("Sagemcom", "F@st 5866T", "SG5866T-4.2.1"),
    ("Zyxel", "VMG8825-T50", "V5.50(ABPY.1)C0"),
    ("Nokia", "G-240W-F", "3FE46606AFIB89"),
    ("Technicolor", "CGA4233", "x"),
)
_REGIONS = ("DE", "FR", "NL", "GB", "US", "EU", "XX")
_BANDS = ("2.4GHz", "5GHz", "6GHz")
_ROLE_SETS: tuple[list[str], ...] = (
    ["support_agent"], ["support_agent"], ["approver"], ["senior_approver"], ["admin"], ["auditor"],
    ["auditor", "approver"], ["support_agent", "approver"], [], ["nobody"], ["automation"],
)
_ACTION_TYPES = (None, "wifi.channel_change", "wifi.tx_power_adjust", "dns.server_fix", "device.reboot",
                 "diagnostics.ipping", "nope")
_OPERATIONS: tuple[JsonObject, ...] = (
    {"command": "reboot", "args": {}},
    {"command": "ipping", "args": {"host": "192.0.2.1"}},
    {"command": "factory_reset", "args": {}},
    {"command": "download", "args": {"url": "https://firmware.gateward.example/fw.bin"}},
    {"command": "download", "args": {"url": "https://elsewhere.example/fw.bin"}},
    {"command": "download", "args": {}},
)
_TARGET_COUNTS = (0, 1, 1, 1, 2, 5, 6, 10, 49, 50, 60, 199, 200, 501, 1000, 5000, 60000)


def _radios(rng: random.Random) -> list[dict[str, Any]]:
    radios = []
    for index in sorted(rng.sample([1, 2, 3], rng.randint(0, 3))):
        band = _BANDS[index - 1] if rng.random() < 0.8 else rng.choice(_BANDS)
        radios.append({"index": index, "band": band, "channel": 6, "auto_channel": rng.random() < 0.4,
                       "bandwidth": "20MHz"})
    return radios


def _device(rng: random.Random, i: int) -> dict[str, Any]:
    vendor, model, firmware = rng.choice(_DEVICE_CLASSES)
    return samples.device(
        f"dev-{i}",
        vendor=vendor,
        model=model,
        firmware=firmware,
        region=rng.choice(_REGIONS),
        compat=rng.choice([None, None, None, "green", "yellow", "red"]),
        present=rng.random() < 0.9,
        reboots_24h=rng.choice([0, 0, 1, 2, 3]),
        failed_changes_7d=rng.choice([0, 0, 1, 2, 3, 5]),
        radios=_radios(rng),
    )


def _radio_change(rng: random.Random) -> JsonObject:
    index = rng.choice([1, 2, 2, 3, 4])
    base = f"Device.WiFi.Radio.{index}."
    kind = rng.choice(["Channel", "Channel", "Channel", "AutoChannelEnable", "OperatingChannelBandwidth",
                       "TransmitPower"])
    if kind == "Channel":
        value: Any = rng.choice([1, 6, 11, 13, 14, 36, 44, 52, 100, 144, 149, 165, 5, 93, 233, "44"])
        return samples.change(base + kind, value)
    if kind == "AutoChannelEnable":
        return samples.change(base + kind, rng.choice([True, False, False]), "boolean")
    if kind == "OperatingChannelBandwidth":
        return samples.change(base + kind, rng.choice(["20MHz", "80MHz", "160MHz", "320MHz", "Auto", "7MHz"]),
                              "string")
    return samples.change(base + kind, rng.choice([-1, 5, 10, 25, 50, 80, 90, 100, 120, "x"]), "int")


def _other_change(rng: random.Random) -> JsonObject:
    choice = rng.randrange(9)
    if choice == 0:
        return samples.passphrase_change(rng.choice(["correct horse battery", "short", "password123456",
                                                     "FlatFourB-and-more", "x" * 70]))
    if choice == 1:
        c = samples.passphrase_change("correct horse battery staple")
        if rng.random() < 0.5:
            c["secret"] = False
        else:
            c["value"] = "plain-text-secret"
        if rng.random() < 0.5:
            c.pop("secret_facts")
        return c
    if choice == 2:
        return samples.change("Device.ManagementServer.URL", "https://acs.example", "string")
    if choice == 3:
        return samples.change("Device.LocalAgent.Controller.1.EndpointID", "proto::x", "string")
    if choice == 4:
        return samples.change("Device.DNS.Client.Server.1.DNSServer", rng.choice(["192.0.2.53", "8.8.8.8"]),
                              "string")
    if choice == 5:
        return samples.change("Device.WiFi.SSID.1.SSID", "Home", "string")
    if choice == 6:
        return samples.change("Device.DeviceInfo.ProvisioningCode", "X1", "string")
    if choice == 7:
        return samples.change("Device.IP.Diagnostics.IPPing.Host", "192.0.2.1", "string")
    return samples.change("Device.X_VENDOR.Thing", 1)


def _preview(rng: random.Random, count: int) -> JsonObject:
    preview: JsonObject = {"exists": rng.random() < 0.93, "devices_total": count,
                               "devices_present": count if rng.random() < 0.8 else max(count - 1, 0),
                               "blind": rng.random() < 0.1}
    if rng.random() < 0.5:
        preview.update(source=rng.choice(["live", "snapshot"]), complete=True,
                       failed=rng.choice([0, 0, 0, 1]), offline=rng.choice([0, 0, 0, 2]),
                       age_s=rng.choice([5, 60, 4000]),
                       not_restorable=rng.choice([[], [], ["Device.WiFi.AccessPoint.1.Security.KeyPassphrase"]]))
    return preview


def _others(rng: random.Random, targets: list[str], changes: list[dict[str, Any]]) -> tuple[list[Any], list[Any]]:
    live: list[JsonObject] = []
    profiles: list[JsonObject] = []
    for n in range(rng.choice([0, 0, 1, 2])):
        picked = rng.sample(changes, min(len(changes), 1)) if changes else []
        live.append({"id": rng.choice([f"p{n}", "prop-1"]), "author": "bob",
                     "targets": rng.choice([targets[:1], ["elsewhere"]]) if targets else [],
                     "changes": [{"path": c["path"], "value": rng.choice([c["value"], 36])} for c in picked]})
    for n in range(rng.choice([0, 0, 1])):
        picked = rng.sample(changes, min(len(changes), 1)) if changes else []
        profiles.append({"id": f"base{n}", "version": rng.randint(1, 4),
                         "targets": rng.choice([targets, ["elsewhere"]]),
                         "changes": [{"path": c["path"], "value": rng.choice([c["value"], 40])} for c in picked]})
    return live, profiles


def varied_input(rng: random.Random) -> dict[str, Any]:
    """One random, schema-valid input document."""
    devices = [_device(rng, i) for i in range(rng.choice([1, 1, 1, 2, 3, 4]))]
    changes = [_radio_change(rng) if rng.random() < 0.55 else _other_change(rng)
               for _ in range(rng.choice([0, 1, 1, 1, 2, 3]))]
    if changes and rng.random() < 0.08:
        changes.append({**changes[0], "value": "different"})  # the same path twice
    operations = [dict(op) for op in rng.sample(_OPERATIONS, rng.choice([0, 0, 0, 1, 1, 2]))]
    job = rng.random() < 0.25
    roles = ["automation"] if job else list(rng.choice(_ROLE_SETS))
    count = max(rng.choice(_TARGET_COUNTS), len(devices)) if rng.random() < 0.5 else len(devices)
    targets = [d["id"] for d in devices]
    live, profiles = _others(rng, targets, changes)
    doc = samples.policy_input(
        changes=changes,
        operations=operations,
        devices=devices,
        roles=roles,
        kind="job" if job and rng.random() < 0.8 else "human",
        action_type=rng.choice(_ACTION_TYPES) if job or rng.random() < 0.1 else None,
        emergency=rng.random() < 0.12,
        now=rng.choice([samples.IN_WINDOW_NOW, samples.OUT_OF_WINDOW_NOW]),
        target_count=count,
        preview=_preview(rng, count),
        live_proposals=live,
        profiles=profiles,
    )
    doc["proposal"]["staged"] = rng.random() < 0.3
    return doc


def varied_inputs(n: int = 300, seed: int = 15) -> list[dict[str, Any]]:
    """``n`` documents from ``seed`` (the same list every time for the same arguments)."""
    rng = random.Random(seed)
    docs = [varied_input(rng) for _ in range(n)]
    for doc in docs[5::17]:  # a support agent's rollback request; no draw: the rest stay as they were
        doc["proposal"]["source"] = "rollback_request"
    return docs
