"""Scenario format additions (issue 13, deliverable 6), run for real on the simulated fleet:
either-or outcomes, checks on the proposal itself, and must-not-say on the planner's own replies.
At HEAD these keys were rejected as unknown."""

from __future__ import annotations

from pathlib import Path

from evals.scenario import load_scenarios

SCENARIOS = """
- id: fmt-either-or-dfs
  title: either-or, proposal checks, must-not-say
  classes: [format]
  device: {condition: dfs_radar, index: 0}
  message: "wifi dies every evening"
  expect:
    outcome: [change, escalation]
    must_not_say: ["factory reset", "not sure what the problem is"]
    proposal: {paths: ["Device.WiFi.Radio.{5GHz}.Channel"], targets: 1}
- id: fmt-proposal-value-wrong
  title: a proposal value check that must fail
  classes: [format]
  device: {condition: dfs_radar, index: 0}
  message: "wifi dies every evening"
  expect:
    outcome: change
    proposal: {values: {"Device.WiFi.Radio.{5GHz}.Channel": 165}}
- id: fmt-must-not-say-fails
  title: must-not-say that must fail
  classes: [format]
  device: {condition: healthy, index: 3}
  message: "ping example.com"
  expect: {outcome: answer, must_not_say: ["example.com"]}
"""


def test_new_expectations_are_scored(tmp_path: Path) -> None:
    from evals.cli import run_suite

    (tmp_path / "s.yaml").write_text(SCENARIOS)
    summary, results = run_suite(load_scenarios(tmp_path))
    by = {r.scenario: r for r in results}
    assert by["fmt-either-or-dfs"].passed, by["fmt-either-or-dfs"].failures
    assert by["fmt-either-or-dfs"].expected == "change|escalation"
    assert any("expected 165" in f for f in by["fmt-proposal-value-wrong"].failures)
    assert by["fmt-must-not-say-fails"].failures == ["the planner said 'example.com'"]
    assert summary["pass_1"] == round(1 / 3, 4)
