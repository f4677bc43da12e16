"""eval_suite: wall time of the planner evaluation suite (offline playbooks).

Why: CI runs every scenario on every change, so the suite's wall time is a budget, and the
per-scenario time says whether the planner stays interactive across the whole problem space.
``--quick`` runs every other scenario.
"""

from __future__ import annotations

from bench.framework import BenchResult, percentile

NAME = "eval_suite"
DESCRIPTION = "wall time of the offline evaluation suite, per-scenario p50/p99, pass^1"


def run(quick: bool) -> BenchResult:
    from evals.scenario import load_scenarios
    from gateward.cli_brain import run_suite

    suite = load_scenarios()
    if quick:
        suite = suite[::2]
    summary, results = run_suite(suite, planner="offline", k=1)
    per = [r.duration_s for r in results if r.skipped is None]
    metrics = {
        "wall_s": summary["wall_s"],
        "scenarios": float(summary["scenarios"]),
        "scenario_p50_ms": round(percentile(per, 50) * 1000, 1),
        "scenario_p99_ms": round(percentile(per, 99) * 1000, 1),
        "pass_1": summary["pass_1"],
        "policy_escapes": float(summary["policy_escapes"]),
        "hallucinated_paths": float(summary["hallucinated_paths"]),
        "tool_calls_per_task": summary["tool_calls_per_task"],
    }
    rows = [(k, str(v)) for k, v in metrics.items()]
    rows.append(("failed (known product gaps)", ", ".join(summary["failed_known_issue"]) or "-"))
    rows.append(("failed (other)", ", ".join(sorted(set(summary["failed"]) - set(summary["failed_known_issue"])))
                 or "-"))
    return BenchResult(NAME, metrics, params={"quick": quick, "planner": "offline"}, rows=rows,
                       notes=["includes seeding one simulated fleet per (seed, homes) the scenarios name"])
