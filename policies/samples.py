"""Well-formed input documents for the engine's self-check, the tests and the benchmark.

Why it lives in the package rather than in tests: the engine evaluates one of these at
construction (a policy that cannot decide a normal proposal must not start), and the benchmark
and the OPA parity tests need the same realistic shapes.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from core.kernel.jsontypes import Json, JsonObject
from policies.schema import PolicyInput

# 02:30 UTC = 03:30 in DE (UTC+1): inside the default 01:00-05:00 window.
IN_WINDOW_NOW = datetime(2025, 3, 4, 2, 30, tzinfo=UTC)
# 13:00 UTC = 14:00 in DE: outside the window.
OUT_OF_WINDOW_NOW = datetime(2025, 3, 4, 13, 0, tzinfo=UTC)


def now_fields(now: datetime) -> JsonObject:
    """``context.now`` and ``context.now_ns`` for a UTC datetime."""
    now = now.astimezone(UTC)
    ns = int(now.timestamp()) * 1_000_000_000 + now.microsecond * 1000
    return {"now": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "now_ns": ns}


def device(device_id: str = "dev-1", **overrides: Any) -> dict[str, Any]:
    """An AVM FRITZ!Box 7590 in DE, present, with a 2.4 GHz and a 5 GHz radio."""
    doc: JsonObject = {
        "id": device_id,
        "vendor": "AVM",
        "model": "FRITZ!Box 7590",
        "firmware": "7.57",
        "region": "DE",
        "root": "Device.",
        "protocol": "cwmp",
        "compat": None,
        "present": True,
        "reboots_24h": 0,
        "failed_changes_7d": 0,
        "radios": [
            {"index": 1, "band": "2.4GHz", "channel": 6, "auto_channel": False, "bandwidth": "20MHz"},
            {"index": 2, "band": "5GHz", "channel": 36, "auto_channel": False, "bandwidth": "80MHz"},
        ],
        "ssids": [{"index": 1, "ssid": "FlatFourB"}],
    }
    doc.update(overrides)
    return doc


def change(path: str, value: Any, type_: str = "unsignedInt", **extra: Any) -> dict[str, Any]:
    """A change with its pattern derived the way the TR-181 registry does ({i} for numbers)."""
    pattern = ".".join("{i}" if part.isdigit() else part for part in path.split("."))
    doc: JsonObject = {"path": path, "pattern": pattern, "value": value, "type": type_, "secret": False}
    doc.update(extra)
    return doc


def passphrase_change(passphrase: str, ssid: str = "FlatFourB", index: int = 1) -> JsonObject:
    """A redacted Wi-Fi passphrase change with the facts the lifecycle computes."""
    return change(
        f"Device.WiFi.AccessPoint.{index}.Security.KeyPassphrase",
        "********",
        "string",
        secret=True,
        secret_facts={
            "length": len(passphrase),
            "sha256_lower": hashlib.sha256(passphrase.lower().encode()).hexdigest(),
            "contains_ssid": ssid.lower() in passphrase.lower(),
        },
    )


def policy_input(
    *,
    changes: list[dict[str, Any]] | None = None,
    operations: list[dict[str, Any]] | None = None,
    devices: list[dict[str, Any]] | None = None,
    roles: list[str] | None = None,
    kind: str = "human",
    action_type: str | None = None,
    emergency: bool = False,
    now: datetime = IN_WINDOW_NOW,
    target_count: int | None = None,
    preview: Mapping[str, Json] | None = None,
    live_proposals: list[Mapping[str, Json]] | None = None,
    profiles: list[Mapping[str, Json]] | None = None,
    actor_id: str = "alice",
) -> dict[str, Any]:
    """A full input document; by default a support agent moving one device's 5 GHz radio to 44."""
    devs = devices if devices is not None else [device()]
    targets = [d["id"] for d in devs]
    count = target_count if target_count is not None else len(targets)
    return {
        "proposal": {
            "id": "prop-1",
            "hash": "0" * 64,
            "author": actor_id,
            "author_kind": kind,
            "intent": "move the 5 GHz radio off a crowded channel",
            "emergency": emergency,
            "action_type": action_type,
            "source": "test",
            "target_count": count,
            "targets": targets,
            "changes": copy.deepcopy(changes)
            if changes is not None
            else [change("Device.WiFi.Radio.2.Channel", 44)],
            "operations": copy.deepcopy(operations) if operations is not None else [],
            "preview": preview
            if preview is not None
            else {"exists": True, "devices_total": count, "devices_present": count, "blind": False},
        },
        "devices": copy.deepcopy(devs),
        "actor": {"id": actor_id, "roles": roles if roles is not None else ["support_agent"], "kind": kind},
        "context": {
            **now_fields(now),
            "fleet_size": max(count, 1000),
            "live_proposals": live_proposals or [],
            "profiles": profiles or [],
        },
    }


def validated(doc: Mapping[str, Json]) -> JsonObject:
    """Round-trip through :class:`PolicyInput`: proves the sample matches the schema."""
    return PolicyInput.model_validate(doc).to_doc()


def self_check_inputs() -> list[tuple[str, dict[str, Any]]]:
    """Inputs that between them reach every rule set; the engine evaluates them at load."""
    job: dict[str, Any] = {"roles": ["automation"], "kind": "job"}
    return [
        ("support channel change", policy_input()),
        (
            "bulk reboot outside window",
            policy_input(
                changes=[],
                operations=[{"command": "reboot", "args": {}}],
                devices=[device("d1"), device("d2", vendor="Technicolor", model="CGA4233", firmware="x")],
                roles=["approver"],
                now=OUT_OF_WINDOW_NOW,
            ),
        ),
        (
            "firmware download",
            policy_input(
                changes=[],
                operations=[{"command": "download", "args": {"url": "https://x/fw.bin"}}],
                roles=["senior_approver"],
                target_count=5000,
            ),
        ),
        ("passphrase", policy_input(changes=[passphrase_change("correct horse battery")])),
        (
            "automation catalogue",
            policy_input(
                changes=[
                    change("Device.WiFi.Radio.2.Channel", 52),
                    change("Device.WiFi.Radio.2.AutoChannelEnable", False, "boolean"),
                ],
                action_type="wifi.channel_change",
                **job,
            ),
        ),
        (
            "automation mgmt",
            policy_input(
                changes=[
                    change("Device.ManagementServer.URL", "https://acs", "string"),
                    change("Device.WiFi.Radio.1.TransmitPower", 90, "int"),
                    change("Device.WiFi.Radio.1.OperatingChannelBandwidth", "80MHz", "string"),
                ],
                action_type="nope",
                **job,
            ),
        ),
        (
            "conflicts",
            policy_input(
                live_proposals=[
                    {
                        "id": "p2",
                        "author": "bob",
                        "targets": ["dev-1"],
                        "changes": [{"path": "Device.WiFi.Radio.2.Channel", "value": 36}],
                    }
                ],
                profiles=[
                    {
                        "id": "base",
                        "version": 3,
                        "targets": ["dev-1"],
                        "changes": [{"path": "Device.WiFi.Radio.2.Channel", "value": 40}],
                    }
                ],
            ),
        ),
        ("malformed", {"proposal": 1}),
    ]
