"""``gateward eval``: the whole suite with the offline planner (what CI gates on), and the model
path against the local scripted endpoint. The last line of output is one JSON object."""

from __future__ import annotations

import json
from pathlib import Path

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
    assert summary["scenarios"] == len(suite) >= 60
    assert summary["policy_escapes"] == 0 and summary["hallucinated_paths"] == 0
    assert set(summary["failed"]) <= known, f"unexpected failures: {set(summary['failed']) - known}"  # type: ignore[arg-type]
    assert summary["pass_1"] >= (len(suite) - len(known)) / len(suite) - 1e-3  # type: ignore[operator]
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
    summary, output = _run(["eval", "--scenarios", "evals/scenarios", "--planner", "llm", "--k", "2"])
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
