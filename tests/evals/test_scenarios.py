"""The scenario suite as data: it loads, it covers what the issue asks for, and every scenario
names a device that really has the condition it claims (checked against the fleet generator)."""

from __future__ import annotations

from pathlib import Path

import pytest

from evals.scenario import ScenarioError, load_scenarios

REQUIRED_CLASSES = {
    "playbook:dfs_radar", "playbook:wifi_congestion", "playbook:poor_24_coverage", "playbook:dns_lost",
    "playbook:periodic_inform", "playbook:ssid_change", "playbook:passphrase_change", "outage", "tr098",
    "compat:red", "compat:yellow", "injection:ssid", "injection:hostname", "injection:log", "injection:chat",
    "clarify", "unsupported", "trigger", "usp",
}


def test_the_suite_has_at_least_60_scenarios_covering_every_class() -> None:
    suite = load_scenarios()
    assert len(suite) >= 60
    classes = {c for s in suite for c in s.classes}
    assert classes >= REQUIRED_CLASSES, REQUIRED_CLASSES - classes
    assert sum(1 for s in suite if s.llm) >= 10  # scripted model runs for the LLM path
    for s in suite:
        if s.expect.outcome in ("escalation", "no_change", "question", "answer"):
            assert s.forbid or s.expect.text_contains, f"{s.id}: a no-change scenario needs a forbidden outcome"


def test_every_condition_reference_resolves_in_the_generated_fleet() -> None:
    from executors.sim.fleet import generate_fleet

    fleets = {}
    for s in load_scenarios():
        key = (s.fleet.seed, s.fleet.homes)
        if key not in fleets:
            f = generate_fleet(s.fleet.homes, s.fleet.seed, telemetry=False)
            fleets[key] = (f.conditions, {d.id: d for d in f.devices},
                           {v["label"]: v["device_id"] for v in f.subscribers.values()})
        conditions, devices, labels = fleets[key]
        ref = s.device
        if ref.condition:
            ids = [i for i in conditions[ref.condition]
                   if (ref.model is None or devices[i].model == ref.model)
                   and (ref.protocol is None or str(devices[i].protocol) == ref.protocol)
                   and (ref.root is None or str(devices[i].root) == ref.root)]
            assert ref.index < len(ids), f"{s.id}: not enough {ref.condition} devices"
        elif ref.subscriber_label:
            assert ref.subscriber_label in labels, s.id
        if "tr098" in s.classes and ref.condition:
            dev = devices[ids[ref.index]]
            assert str(dev.root) == "InternetGatewayDevice.", f"{s.id} claims tr098 but is {dev.root}"


def test_bad_scenario_files_fail_loudly_naming_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("- id: x1x\n  title: t\n  classes: [a]\n  device: {condition: healthy}\n"
                   "  message: hi\n  expect: {outcome: change}\n  typo_field: 1\n")
    with pytest.raises(ScenarioError, match=r"bad.yaml: scenario x1x: typo_field"):
        load_scenarios(bad)
    both = tmp_path / "both.yaml"
    both.write_text("id: y1y\ntitle: t\nclasses: [a]\ndevice: {condition: healthy}\nmessage: hi\ntrigger: dns_lost\n"
                    "expect: {outcome: change}\n")
    with pytest.raises(ScenarioError, match="exactly one of message, trigger"):
        load_scenarios(both)
    broken = tmp_path / "broken.json"
    broken.write_text("{nope")
    with pytest.raises(ScenarioError, match="not valid JSON"):
        load_scenarios(broken)
    with pytest.raises(ScenarioError, match="no such file"):
        load_scenarios(tmp_path / "missing")
    dup = tmp_path / "dup.yaml"
    dup.write_text("- {id: d1d, title: t, classes: [a], device: {id: x}, message: m, expect: {outcome: answer}}\n"
                   "- {id: d1d, title: t, classes: [a], device: {id: x}, message: m, expect: {outcome: answer}}\n")
    with pytest.raises(ScenarioError, match="already used"):
        load_scenarios(dup)
