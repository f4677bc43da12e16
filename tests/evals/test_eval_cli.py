"""``gateward eval``: the whole suite with the offline planner (what CI gates on), and the model
path against the local scripted endpoint. The last line of output is one JSON object."""

from __future__ import annotations

import json
from pathlib import Path
from typing import cast

import pytest
from typer.testing import CliRunner

from evals.scenario import load_scenarios


def _run(args: list[str]) -> tuple[dict[str, object], str]:
    from gateward.cli import app

    res = CliRunner().invoke(app, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    last = res.output.strip().splitlines()[-1]
    return json.loads(last), res.output


@pytest.mark.slow
def test_offline_planner_over_every_scenario(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    summary, _ = _run(["eval", "--scenarios", "evals/scenarios", "--planner", "offline", "--k", "1",
                       "--json", str(out), "--quiet"])
    suite = load_scenarios()
    known = {s.id for s in suite if s.known_issue}
    # Held-out phrasings are never tuned against: a miss is the figure they exist to report
    # (paraphrase_pass_1_heldout), not a failure of the suite.
    heldout = {s.id for s in suite if "heldout" in s.classes}
    assert summary["scenarios"] == len(suite) >= 60
    assert summary["policy_escapes"] == 0 and summary["hallucinated_paths"] == 0
    unexpected = set(cast(list[str], summary["failed"])) - known - heldout
    assert not unexpected, f"unexpected failures: {unexpected}"
    assert summary["pass_1"] >= 1.0 - len(known) / len(suite) - 1e-3  # type: ignore[operator]
    assert set(cast(dict[str, float], summary["paraphrase_pass_1_heldout"])) == {"en", "de", "fr", "es"}
    assert summary["over_escalation_rate"] == 0.0
    report = json.loads(out.read_text())
    assert len(report["runs"]) == len(suite) and report["summary"]["tool_calls_per_task"] > 0
    for key in ("pass_1", "pass_k", "policy_escapes", "hallucinated_paths", "over_escalation_rate",
                "tool_calls_per_task", "tokens_per_task"):
        assert key in summary


@pytest.mark.slow
def test_llm_planner_against_the_scripted_endpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    scripted = [s for s in load_scenarios() if s.llm]
    # Scripted answers are a replay of the model path, labelled so and never reported as a model score.
    summary, output = _run(["eval", "--scenarios", "evals/scenarios", "--planner", "replay", "--k", "2"])
    assert summary["planner"] == "replay" and summary["model_score"] is False and "not a model score" in output
    assert summary["turn_p50_s"] > 0  # type: ignore[operator]
    assert summary["scenarios"] == len(scripted) and summary["runs"] == 2 * len(scripted)
    assert summary["skipped"] == len(load_scenarios()) - len(scripted)
    assert summary["pass_1"] == 1.0 and summary["pass_k"] == 1.0, output
    assert summary["policy_escapes"] == 0 and summary["hallucinated_paths"] == 0
    assert summary["tokens_per_task"] > 0 and summary["cost_usd"] > 0  # type: ignore[operator]


def test_eval_refuses_bad_arguments(tmp_path: Path) -> None:
    from gateward.cli import app

    res = CliRunner().invoke(app, ["eval", "--planner", "gpt"])
    assert res.exit_code == 2 and "offline or llm" in res.output
    bad = tmp_path / "s.yaml"
    bad.write_text("id: nope\n")
    res = CliRunner().invoke(app, ["eval", "--scenarios", str(bad)])
    assert res.exit_code == 2 and "s.yaml" in res.output


def test_eval_llm_without_an_endpoint_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    """Before issue 13 this silently replayed scripts and reported them as the model's score."""
    from core.kernel.errors import Invalid
    from evals.cli import run_suite
    from gateward.cli import app

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    res = CliRunner().invoke(app, ["eval", "--planner", "llm", "--only", "dfs-flat-4b-evening"])
    assert res.exit_code == 2 and "needs a model endpoint" in res.output and "OPENAI_BASE_URL" in res.output
    assert "pass^1" not in res.output
    with pytest.raises(Invalid, match="model endpoint"):
        run_suite(load_scenarios()[:1], planner="llm")


def test_eval_llm_runs_against_any_openai_compatible_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    """``--planner llm`` with OPENAI_BASE_URL set talks to that server (here the project's local one,
    answering with a respond) and reports a model score with tokens, cost and latency."""
    from evals.cli import run_suite
    from testing.llm_server import FakeOpenAIServer

    srv = FakeOpenAIServer().start()
    try:
        srv.load([{"tool_calls": [{"name": "respond", "arguments": {"kind": "question", "text": "Which room?"}}],
                   "repeat": True}])
        monkeypatch.setenv("OPENAI_BASE_URL", srv.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", srv.api_key)
        suite = [s for s in load_scenarios() if s.id == "dfs-flat-4b-evening"] or load_scenarios()[:1]
        summary, results = run_suite(suite, planner="llm", k=1)
    finally:
        srv.stop()
    assert summary["planner"] == "llm" and summary["model_score"] is True and summary["skipped"] == 0
    assert srv.requests, "the configured endpoint was not called"
    assert summary["tokens"] > 0 and summary["turn_p50_s"] > 0 and "cost_usd" in summary
    assert results[0].planner_used == "llm"
