"""Paraphrase runs (issue 13, deliverable 7): loaded from their own files, expanded per phrasing,
and reported per language beside the main score, tuning and held-out apart."""

from __future__ import annotations

from pathlib import Path

import pytest

from evals.metrics import summarize
from evals.runner import RunResult
from evals.scenario import ScenarioError, load_scenarios

BASE = """
- id: base-one
  title: base
  classes: [playbook:dfs_radar]
  device: {condition: dfs_radar}
  message: "wifi dies every evening"
  expect: {outcome: change}
"""


def test_paraphrase_sets_expand_into_tagged_runs(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text(BASE)
    (tmp_path / "para.yaml").write_text("""
- paraphrase_of: base-one
  lang: de
  messages: ["WLAN bricht abends ab", "Verbindung fliegt raus"]
  heldout: ["Videokonferenz friert ein"]
""")
    suite = load_scenarios(tmp_path)
    assert [s.id for s in suite] == ["base-one", "base-one.de-t1", "base-one.de-t2", "base-one.de-h1"]
    h1 = suite[-1]
    assert h1.message == "Videokonferenz friert ein" and h1.device == suite[0].device
    assert {"paraphrase", "lang:de", "heldout", "playbook:dfs_radar"} <= set(h1.classes)


@pytest.mark.parametrize(("body", "error"), [
    ("- {paraphrase_of: nope-missing, lang: en, messages: [hi]}", "unknown scenario"),
    ("- {paraphrase_of: base-one, lang: it, messages: [ciao]}", "lang"),
    ("- {paraphrase_of: base-one, lang: en}", "messages or heldout"),
])
def test_bad_paraphrase_files_fail_loudly(tmp_path: Path, body: str, error: str) -> None:
    (tmp_path / "base.yaml").write_text(BASE)
    (tmp_path / "para.yaml").write_text(body)
    with pytest.raises(ScenarioError, match=error):
        load_scenarios(tmp_path)


def test_the_suite_has_six_phrasings_per_class_and_language() -> None:
    suite = [s for s in load_scenarios() if "paraphrase" in s.classes]
    per: dict[tuple[str, str], int] = {}
    for s in suite:
        lang = next(c for c in s.classes if c.startswith("lang:"))
        per[(s.id.split(".")[0], lang)] = per.get((s.id.split(".")[0], lang), 0) + 1
    assert len({k[0] for k in per}) >= 6 and {k[1] for k in per} == {"lang:en", "lang:de", "lang:fr", "lang:es"}
    assert all(n >= 6 for n in per.values())


def test_paraphrase_pass_rates_are_reported_per_language_beside_the_main_score() -> None:
    def r(sid: str, passed: bool, *classes: str) -> RunResult:
        return RunResult(sid, 0, passed, "change", "change", ["c", *classes])

    results = [
        r("a", True), r("b", False),
        r("a.de-t1", True, "paraphrase", "lang:de", "tuning"), r("a.de-t2", False, "paraphrase", "lang:de", "tuning"),
        r("a.de-h1", True, "paraphrase", "lang:de", "heldout"), r("a.fr-t1", True, "paraphrase", "lang:fr", "tuning"),
    ]
    s = summarize(results, 1, planner="offline", wall_s=1.0)
    assert s["pass_1"] == 0.5  # the main score ignores paraphrase runs
    assert s["paraphrase_pass_1"] == {"de": 0.5, "fr": 1.0}
    assert s["paraphrase_pass_1_heldout"] == {"de": 1.0}
    assert s["paraphrase_runs"] == 4


def test_either_or_outcomes_proposal_checks_and_must_not_say_load(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text("""
- id: either-or
  title: either-or
  classes: [format]
  device: {condition: dfs_radar}
  message: "wifi dies every evening"
  expect:
    outcome: [change, escalation]
    must_not_say: ["factory reset"]
    proposal: {paths: ["Device.WiFi.Radio.{5GHz}.Channel"], targets: 1}
""")
    [sc] = load_scenarios(tmp_path)
    assert sc.expect.outcomes == ["change", "escalation"]
    assert sc.expect.proposal is not None and sc.expect.proposal.targets == 1
