"""eval_suite: wall time of the planner evaluation suite (offline playbooks).

Why: CI runs every scenario on every change, so the suite's wall time is a budget, and the
per-scenario time says whether the planner stays interactive across the whole problem space.
``--quick`` runs every other scenario. pass_1 is over the main scenarios; the paraphrase runs
(``evals/scenarios/paraphrases``) are reported per language beside it, tuning and held-out apart.
"""

from __future__ import annotations

from bench.framework import BenchResult, percentile

NAME = "eval_suite"
KEYS = ("wall_s", "scenarios", "pass_1")  # metrics every --quick run reports (tests/bench_smoke)
DESCRIPTION = "wall time of the offline evaluation suite, per-scenario and first-turn p50/p99, pass^1"


def run(quick: bool) -> BenchResult:
    from evals.cli import run_suite
    from evals.scenario import load_scenarios

    suite = load_scenarios()
    if quick:
        suite = suite[::2]
    summary, results = run_suite(suite, planner="offline", k=1)
    per = [r.duration_s for r in results if r.skipped is None]
    turns = [r.turn_s for r in results if r.skipped is None and r.turn_s > 0]
    main = [r.duration_s for r in results if r.skipped is None and "paraphrase" not in r.classes]
    metrics = {
        "wall_s": summary["wall_s"],
        "scenarios": float(summary["scenarios"]),
        "scenario_p50_ms": round(percentile(per, 50) * 1000, 1),
        "scenario_p99_ms": round(percentile(per, 99) * 1000, 1),
        "main_scenario_p50_ms": round(percentile(main, 50) * 1000, 1) if main else 0.0,
        "turn_p50_ms": round(percentile(turns, 50) * 1000, 1) if turns else 0.0,
        "turn_p99_ms": round(percentile(turns, 99) * 1000, 1) if turns else 0.0,
        "pass_1": summary["pass_1"],
        "policy_escapes": float(summary["policy_escapes"]),
        "hallucinated_paths": float(summary["hallucinated_paths"]),
        "tool_calls_per_task": summary["tool_calls_per_task"],
        "paraphrase_runs": float(summary.get("paraphrase_runs", 0)),
    }
    for key in ("paraphrase_pass_1", "paraphrase_pass_1_heldout"):
        for lang, v in (summary.get(key) or {}).items():
            metrics[f"{key}_{lang}"] = v
    rows = [(k, str(v)) for k, v in metrics.items()]
    rows.append(("failed (known product gaps)", ", ".join(summary["failed_known_issue"]) or "-"))
    rows.append(("failed (other)", ", ".join(sorted(set(summary["failed"]) - set(summary["failed_known_issue"])))
                 or "-"))
    return BenchResult(NAME, metrics, params={"quick": quick, "planner": "offline"}, rows=rows,
                       notes=["includes seeding one simulated fleet per (seed, homes) the scenarios name"])
