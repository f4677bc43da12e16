"""The extended scenario format (issue 13, deliverable 6): setups on several devices, presence,
history over weeks, live campaigns, compat evidence, host bands, per-radio telemetry, and checks
on approvals, evidence and campaign drafts. Bad input is a load error naming the file and the
scenario; every setup is undone after its run (checked on the store and the twin)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from evals.runner import ScenarioRunner
from evals.scenario import ScenarioError, ago_seconds, load_scenarios

HEALTHY_CWMP = "A4C3F0-G240W-LMNT00000001"


def _load(tmp_path: Path, text: str) -> list[Any]:
    f = tmp_path / "s.yaml"
    f.write_text(text)
    return load_scenarios(f)


BASE = """
- id: x-scenario
  title: t
  classes: [format]
  device: {id: A4C3F0-G240W-LMNT00000001}
  message: "wifi drops"
  expect: {outcome: question}
  setup:
"""


@pytest.mark.parametrize(("step", "why"), [
    ("- presence: {online: false, last_seen: yesterday}", "not a duration"),
    ("- past_change: {changes: {}, ago: 3d}", "needs changes or operations"),
    ("- past_change: {changes: {Device.WiFi.Radio.1.Channel: 6}}", "ago"),
    ("- compat: {workflow: config, status: red, failed: 3}", "not both"),
    ("- compat: {workflow: firmware, status: red}", "workflow"),
    ("- hosts: [{name: tablet, band: 2.4GHz, mac: 'not-a-mac'}]", "mac"),
    ("- {device: {relation: pon_sibling, id: x}, event: {kind: wan_down}}", "exactly one of relation"),
    ("- {device: {relation: cousin}, event: {kind: wan_down}}", "relation"),
    ("- {presence: {online: false}, compat: {status: red}}", "exactly one of"),
    ("- event: {kind: wan_down, ago: 3d, minutes_ago: 5}", "not both"),
    ("- telemetry: {value: 3}", "metric and value"),
    ("- {device: {id: x}, campaign: {changes: {Device.WiFi.Radio.1.Channel: 6}}}", "campaign"),
    ("- presence: {online: false, since: 3h}", "since"),
    ("- roots: [Device., Device.]", "roots"),
    ("- roots: [Device.]", "roots"),
])
def test_bad_setup_is_a_load_error_naming_the_scenario(tmp_path: Path, step: str, why: str) -> None:
    with pytest.raises(ScenarioError) as err:
        _load(tmp_path, BASE + "    " + step + "\n")
    assert "x-scenario" in str(err.value) and why in str(err.value)


def test_durations() -> None:
    assert ago_seconds("90m") == 5400 and ago_seconds("36h") == 36 * 3600
    assert ago_seconds("2w") == 14 * 86400 and ago_seconds(30) == 1800
    for bad in ("3 days", "-2h", "", "h"):
        with pytest.raises(ValueError):
            ago_seconds(bad)


def test_every_new_key_is_used_by_a_shipped_scenario() -> None:
    suite = [s for s in load_scenarios() if "paraphrase" not in s.classes]
    steps = [st for s in suite for st in s.setup]
    for kind in ("presence", "past_change", "campaign", "compat", "hosts", "roots"):
        assert any(getattr(st, kind) is not None for st in steps), kind
    assert any(st.device is not None and st.device.relation == "pon_sibling" for st in steps)
    assert any(st.telemetry and "{" in str((st.telemetry.get("labels") or {}).values()) for st in steps)
    assert any(s.expect.proposal and s.expect.proposal.approvals is not None for s in suite)
    assert any(s.expect.proposal and s.expect.proposal.evidence for s in suite)
    assert any(s.expect.campaign for s in suite)


# ------------------------------------------------------------------------------ run for real

@pytest.fixture(scope="module")
def runner() -> Iterator[ScenarioRunner]:
    from gateward.cli_brain import sim_world_factory

    r = ScenarioRunner(sim_world_factory())
    yield r
    r.close()


def _state(runner: ScenarioRunner, device_id: str) -> dict[str, Any]:
    from campaigns.schema import CampaignRow
    from core.compat import CompatEvidenceRow
    from core.store import repo
    from core.store.schema import DeviceRow, ProposalDeviceRow

    world, _ = runner.world(7, 60)
    rt = world.runtime
    with rt.store.read() as s:
        dev = repo.get_device(s, device_id)
        return {
            "last_seen": s.scalar(select(DeviceRow.last_seen).where(DeviceRow.id == device_id)),
            "tags": list(dev.tags),
            "links": sorted(s.scalars(select(ProposalDeviceRow.proposal_id)
                                      .where(ProposalDeviceRow.device_id == device_id))),
            "live": [p.id for p in repo.live_proposals_touching(s, [device_id], exclude="")],
            "evidence": s.scalars(select(CompatEvidenceRow.workflow).where(
                CompatEvidenceRow.model == dev.model, CompatEvidenceRow.firmware == dev.firmware)).all(),
            "live_campaigns": s.scalars(select(CampaignRow.id).where(CampaignRow.state == "created")).all(),
            "online": rt.router.reader(dev).presence(dev).online,
            "hosts": sorted(str(v.value) for k, v in rt.router.reader(dev).read(dev, ["Device.Hosts."]).items()
                            if k.endswith(".HostName")),
        }


def test_setups_are_undone_after_the_run(runner: ScenarioRunner, tmp_path: Path) -> None:
    suite = _load(tmp_path, f"""
- id: x-everything
  title: every new setup kind on one device, then checked gone
  classes: [format]
  device: {{id: {HEALTHY_CWMP}}}
  setup:
    - past_change: {{changes: {{"Device.WiFi.Radio.{{5GHz}}.Channel": 36}}, ago: 3d}}
    - campaign: {{name: "undo me", changes: {{"Device.WiFi.Radio.{{2.4GHz}}.Channel": 6}}}}
    - compat: {{workflow: reboot, status: red}}
    - hosts: [{{name: "Kids-Tablet", band: 2.4GHz}}, {{name: NAS}}]
    - {{device: {{relation: pon_sibling, index: 0}}, presence: {{online: false, last_seen: 5h}}}}
    - presence: {{online: false, last_seen: 30h}}
  message: "no internet"
  expect: {{outcome: escalation, text_contains: ["30 h ago"]}}
""")
    world, _ = runner.world(7, 60)
    dev = runner.resolve_device(world, suite[0])
    ref = suite[0].setup[4].device
    assert ref is not None
    sibling = runner.other_device(world, dev, ref)
    before, sib_before = _state(runner, dev.id), _state(runner, sibling.id)
    r = runner.run(suite[0])
    assert r.passed, r.failures
    assert _state(runner, dev.id) == before
    assert _state(runner, sibling.id) == sib_before


def test_a_setup_that_fails_leaves_nothing_behind(runner: ScenarioRunner, tmp_path: Path) -> None:
    suite = _load(tmp_path, """
- id: x-bad-hosts
  title: a host band on a TR-098 device cannot be set up
  classes: [format]
  device: {condition: dns_lost_after_fw_bug, index: 0}
  setup:
    - compat: {workflow: config, status: red}
    - presence: {online: false, last_seen: 2h}
    - hosts: [{name: tablet, band: 2.4GHz}]
  message: "wifi drops"
  expect: {outcome: question}
- id: x-bad-roots
  title: a TR-181 device cannot be made dual-root by the simulator
  classes: [format]
  device: {id: A4C3F0-G240W-LMNT00000001}
  setup:
    - roots: ["Device.", "InternetGatewayDevice."]
  message: "wifi drops"
  expect: {outcome: question}
""")
    world, _ = runner.world(7, 60)
    dev = runner.resolve_device(world, suite[0])
    before = _state(runner, dev.id)
    r, r2 = runner.run_all(suite)
    assert not r.passed and r.failures[0].startswith("setup:") and "TR-098" in r.failures[0]
    assert _state(runner, dev.id) == before
    assert not r2.passed and "TR-181 firmware" in r2.failures[0]


def test_proposal_and_campaign_checks_can_fail(runner: ScenarioRunner, tmp_path: Path) -> None:
    suite = _load(tmp_path, """
- id: x-wrong-approvals
  title: the dfs fix needs no approval; asking for a senior approver must fail
  classes: [format]
  device: {condition: dfs_radar, index: 0}
  message: "wifi dies every evening"
  expect:
    outcome: change
    proposal: {approvals: [senior_approver], evidence: [history, no_such_evidence]}
- id: x-wrong-campaign
  title: a campaign check on the wrong model must fail
  classes: [format]
  device: {condition: healthy, index: 0}
  message: "set the periodic inform interval to 3600 s on every PX-7000 running prplOS-3.1.0"
  expect:
    outcome: answer
    campaign: {target: {model: HG8020-L}, operations: [reboot]}
- id: x-no-campaign
  title: a campaign check when nothing was drafted must fail
  classes: [format]
  device: {condition: healthy, index: 0}
  message: "ping example.com"
  expect: {outcome: answer, campaign: {devices: 3}}
""")
    by = {r.scenario: r for r in runner.run_all(suite)}
    f = by["x-wrong-approvals"].failures
    assert any("senior_approver" in x for x in f) and any("no_such_evidence" in x for x in f)
    assert not any("'history' evidence" in x for x in f)
    f = by["x-wrong-campaign"].failures
    assert any("model='PX-7000'" in x for x in f) and any("no reboot operation" in x for x in f)
    assert by["x-no-campaign"].failures == ["no reply carries a campaign draft"]
