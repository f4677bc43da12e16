"""Decisions for each concern, through the embedded engine, as core.lifecycle will see them."""

from __future__ import annotations

import json

from policies import samples
from policies.engine import EmbeddedRegoEngine

S = samples


def roles(decision) -> dict[str, str]:
    return {a.role: a.reason for a in decision.approvals_required}


def test_support_agent_channel_change_is_allowed(engine: EmbeddedRegoEngine) -> None:
    d = engine.decide(S.policy_input())
    assert d.allow and d.deny == [] and d.approvals_required == [] and d.risk == 0.1


def test_change_basics(engine: EmbeddedRegoEngine) -> None:
    no_preview = S.policy_input(
        preview={"exists": False, "devices_total": 1, "devices_present": 0, "blind": True}
    )
    assert (
        "change: no preview of the exact change exists; preview it before asking policy"
        in engine.decide(no_preview).deny
    )
    devices = [S.device(f"d{i}") for i in range(3)]
    blind = S.policy_input(
        devices=devices,
        roles=["approver"],
        preview={"exists": True, "devices_total": 3, "devices_present": 0, "blind": True},
    )
    assert any(m.startswith("change: blind bulk Set refused") for m in engine.decide(blind).deny)
    too_many = S.policy_input(devices=[S.device(f"d{i}") for i in range(6)])
    assert any("may target at most 5 devices" in m for m in engine.decide(too_many).deny)


def test_change_window(engine: EmbeddedRegoEngine) -> None:
    fleet = [S.device(f"d{i}") for i in range(2)]
    inside = S.policy_input(devices=fleet, roles=["approver"])
    outside = S.policy_input(devices=fleet, roles=["approver"], now=S.OUT_OF_WINDOW_NOW)
    emergency = S.policy_input(devices=fleet, roles=["approver"], now=S.OUT_OF_WINDOW_NOW, emergency=True)
    assert engine.decide(inside).allow
    assert any(m.startswith("change: outside the change window for DE") for m in engine.decide(outside).deny)
    d = engine.decide(emergency)
    assert d.allow and "senior_approver" in roles(d)


def test_wifi_rules(engine: EmbeddedRegoEngine) -> None:
    dfs = engine.decide(S.policy_input(changes=[S.change("Device.WiFi.Radio.2.Channel", 100)]))
    assert dfs.allow and "DFS channel 100" in roles(dfs)["approver"]
    us = engine.decide(
        S.policy_input(changes=[S.change("Device.WiFi.Radio.1.Channel", 13)], devices=[S.device(region="US")])
    )
    assert us.deny == ["wifi: channel 13 is not permitted on the 2.4GHz band in US (FCC)"]
    auto = S.device(
        radios=[{"index": 2, "band": "5GHz", "channel": 36, "auto_channel": True, "bandwidth": "80MHz"}]
    )
    stays_auto = engine.decide(S.policy_input(devices=[auto]))
    assert any("AutoChannelEnable=true" in m for m in stays_auto.deny)


def test_mgmt_rules(engine: EmbeddedRegoEngine) -> None:
    acs = [S.change("Device.ManagementServer.URL", "https://acs.example", "string")]
    human = engine.decide(S.policy_input(changes=acs, roles=["approver"]))
    assert human.allow and "senior_approver" in roles(human)
    job = engine.decide(
        S.policy_input(changes=acs, roles=["automation"], kind="job", action_type="dns.server_fix")
    )
    assert (
        "mgmt: Device.ManagementServer.URL is a management-plane parameter; automation may never change it"
        in job.deny
    )


def test_secrets_rules(engine: EmbeddedRegoEngine) -> None:
    good = engine.decide(S.policy_input(changes=[S.passphrase_change("orange-kettle-harbour")]))
    assert good.allow and "approver" in roles(good)
    for weak, why in [
        ("short", "shorter than 12"),
        ("FlatFourB-2024!", "contains the network name"),
        ("Password1234", "common-password list"),
    ]:
        d = engine.decide(S.policy_input(changes=[S.passphrase_change(weak)]))
        assert any(why in m for m in d.deny), (weak, d.deny)


def test_firmware_rules(engine: EmbeddedRegoEngine) -> None:
    reset = [{"command": "factory_reset", "args": {}}]
    red = S.device(vendor="Sagemcom", model="F@st 5866T", firmware="SG5866T-4.2.1")
    assert any(
        "is red" in m
        for m in engine.decide(
            S.policy_input(changes=[], operations=reset, devices=[red], roles=["approver"])
        ).deny
    )
    yellow = engine.decide(
        S.policy_input(changes=[], operations=reset, devices=[S.device(firmware="7.29")], roles=["approver"])
    )
    assert yellow.allow and "yellow (pilot only)" in roles(yellow)["approver"]
    rebooted = engine.decide(
        S.policy_input(
            changes=[], operations=[{"command": "reboot", "args": {}}], devices=[S.device(reboots_24h=2)]
        )
    )
    assert any("rebooted 2 times in 24 h" in m for m in rebooted.deny)


def test_rbac_rules(engine: EmbeddedRegoEngine) -> None:
    auditor = engine.decide(S.policy_input(roles=["auditor"], actor_id="audrey"))
    assert "rbac: audrey (roles: auditor) may not propose changes" in auditor.deny
    job_ok = S.policy_input(
        roles=["automation"],
        kind="job",
        action_type="wifi.channel_change",
        changes=[S.change("Device.WiFi.Radio.2.Channel", 44)],
    )
    d = engine.decide(job_ok)
    assert d.allow and d.approvals_required == []
    job_off = S.policy_input(roles=["automation"], kind="job", action_type=None)
    assert "approver" in roles(engine.decide(job_off))


def test_precedence_rules(engine: EmbeddedRegoEngine) -> None:
    doc = S.policy_input(
        live_proposals=[
            {
                "id": "p9",
                "author": "bob",
                "targets": ["dev-1"],
                "changes": [{"path": "Device.WiFi.Radio.2.Channel", "value": 36}],
            }
        ]
    )
    d = engine.decide(doc)
    assert d.deny == [
        "precedence: Device.WiFi.Radio.2.Channel: proposal prop-1 sets 44 but live proposal p9 "
        "(by bob) sets 36 on overlapping devices"
    ]


def test_risk_and_rollout(engine: EmbeddedRegoEngine) -> None:
    fleet = [S.device(f"d{i}") for i in range(60)]
    d = engine.decide(S.policy_input(devices=fleet, roles=["approver"]))
    assert d.allow
    assert d.obligations[:3] == ["stage: canary 5%", "stage: ring 25%", "stage: ring 100%"]
    risky = S.device(compat="red", failed_changes_7d=5)
    r = engine.decide(S.policy_input(devices=[risky], now=S.OUT_OF_WINDOW_NOW))
    assert r.risk == 0.75 and {"approver", "senior_approver"} <= set(roles(r))


def test_approvals_deduplicated_by_role(engine: EmbeddedRegoEngine) -> None:
    doc = S.policy_input(
        changes=[S.change("Device.WiFi.Radio.2.Channel", 100)],
        devices=[S.device(compat="yellow", failed_changes_7d=3)],
    )
    d = engine.decide(doc)
    assert [a.role for a in d.approvals_required] == ["approver"]
    assert d.approvals_required[0].reason.count("; ") == 1


def _with_mode(pack_copy, rule_set: str, mode: str) -> EmbeddedRegoEngine:
    rules, data = pack_copy()
    modes = json.loads((data / "modes.json").read_text())
    modes["rule_sets"][rule_set] = mode
    (data / "modes.json").write_text(json.dumps(modes))
    return EmbeddedRegoEngine(rules, data)


def test_warn_mode(pack_copy) -> None:
    engine = _with_mode(pack_copy, "wifi", "warn")
    d, would = engine.decide_detailed(S.policy_input(changes=[S.change("Device.WiFi.Radio.2.Channel", 165)]))
    assert d.allow and would == []
    assert d.warnings == ["wifi: channel 165 is not permitted on the 5GHz band in DE (ETSI) [warn mode]"]


def test_dryrun_mode_counts_would_deny(pack_copy) -> None:
    engine = _with_mode(pack_copy, "wifi", "dryrun")
    d, would = engine.decide_detailed(S.policy_input(changes=[S.change("Device.WiFi.Radio.2.Channel", 165)]))
    assert d.allow and d.deny == [] and d.warnings == []
    assert would == ["wifi: channel 165 is not permitted on the 5GHz band in DE (ETSI)"]


def test_unknown_mode_enforces(pack_copy) -> None:
    engine = _with_mode(pack_copy, "wifi", "off")
    d = engine.decide(S.policy_input(changes=[S.change("Device.WiFi.Radio.2.Channel", 165)]))
    assert not d.allow
    assert "modes: unknown mode off for rule set wifi; enforcing" in d.warnings


def test_explain_reads_a_stored_decision(engine: EmbeddedRegoEngine) -> None:
    from types import SimpleNamespace

    from policies.explain import explain

    decision, would = engine.decide_detailed(
        S.policy_input(changes=[S.change("Device.WiFi.Radio.2.Channel", 100)])
    )
    record = SimpleNamespace(
        result=decision.model_dump(mode="json"),
        would_deny=would,
        dry_run=False,
        revision=engine.revision,
        engine=engine.name,
    )
    text = explain(SimpleNamespace(id="prop-1", intent="move to 100"), record)
    assert "ALLOWED" in text and "approver: DFS channel 100" in text and engine.revision[:12] in text
    denied = S.policy_input(changes=[S.change("Device.WiFi.Radio.2.Channel", 165)])
    text = explain(SimpleNamespace(id="p", intent="x"), SimpleNamespace(decision=engine.decide(denied)))
    assert "DENIED" in text and "channel 165" in text
