"""``gateward eval``: the planner evaluation suite's command, registered by the CLI as a plugin
(``gateward.cli.PLUGINS``) so that the composition root imports no harness (issue 35).

``eval`` runs the scenario suite (``evals/``) with the offline playbooks or the model path; without
``OPENAI_API_KEY`` the model path runs against the local scripted OpenAI-compatible server (a test
double, started by ``evals.replay``), so CI exercises it for real. The simulated world it runs in is
the composition root's (``gateward.cli_brain.SimWorld``: ``evals`` wires no twin itself).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

SCENARIOS = Path(__file__).resolve().parent / "scenarios"


def eval_command(
    scenarios: Annotated[Path, typer.Option("--scenarios", help="scenario file or directory")] = SCENARIOS,
    planner: Annotated[str, typer.Option(
        help="offline | llm (an OpenAI-compatible endpoint: OPENAI_BASE_URL / OPENAI_API_KEY) | replay "
             "(the scenarios' scripted model answers on a local server: tests the model path, never a model score)",
    )] = "offline",
    k: Annotated[int, typer.Option("--k", min=1, max=20, help="runs per scenario (pass^k)")] = 1,
    json_out: Annotated[Path | None, typer.Option("--json", help="write the full report here")] = None,
    only: Annotated[str | None, typer.Option(help="comma-separated scenario ids or classes")] = None,
    database_url: Annotated[str | None, typer.Option(help="run on this database (default: a temp SQLite)")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Run the planner evaluation suite; the last line is one JSON object with the metrics."""
    from rich.console import Console
    from rich.markup import escape

    from evals.scenario import ScenarioError, load_scenarios
    from gateward.cli import fail

    console = Console(stderr=quiet)
    if planner not in ("offline", "llm", "replay"):
        fail(f"--planner must be offline or llm, or replay for scripted answers (got {planner!r})")
    if planner == "llm" and not llm_endpoint_configured():
        fail("--planner llm needs a model endpoint: set OPENAI_BASE_URL (any OpenAI-compatible server) and/or "
             "OPENAI_API_KEY (and GATEWARD_MODEL). Nothing was run. To exercise the model path on the scenarios' "
             "scripted answers use --planner replay (reported as replay, not as a model score).")
    try:
        suite = load_scenarios(scenarios)
    except ScenarioError as exc:
        fail(str(exc))
    if only:
        wanted = {x.strip() for x in only.split(",") if x.strip()}
        suite = [s for s in suite if s.id in wanted or wanted & set(s.classes)]
    if not suite:
        fail(f"no scenarios to run in {scenarios}" + (f" matching {only}" if only else ""))

    def show(r: Any) -> None:
        if quiet:
            return
        mark = "[yellow]skip[/yellow]" if r.skipped else ("[green]pass[/green]" if r.passed else "[red]FAIL[/red]")
        why = r.skipped or "; ".join(r.failures[:2])
        console.print(f"{mark} {r.scenario}#{r.trial} {r.observed:<10} {r.duration_s:5.2f}s "
                      f"[dim]{escape(why)[:160]}[/dim]", soft_wrap=True, highlight=False)

    summary, results = run_suite(suite, planner=planner, k=k, database_url=database_url, on_result=show)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps({"summary": summary, "runs": [r.as_dict() for r in results]}, indent=2,
                                       default=str))
    if not quiet:
        if summary["planner"] == "replay":
            console.print("[yellow]replay: scripted model answers, not a model score[/yellow]")
        console.print(f"pass^1 {summary['pass_1']:.3f}  pass^{k} {summary['pass_k']:.3f}  "
                      f"escapes {summary['policy_escapes']}  hallucinated {summary['hallucinated_paths']}  "
                      f"over-escalation {summary['over_escalation_rate']:.3f}  tools/task "
                      f"{summary['tool_calls_per_task']}  tokens/task {summary['tokens_per_task']}  "
                      f"cost ${summary['cost_usd']}  p50 turn {summary['turn_p50_s']}s  "
                      f"{summary['wall_s']}s", highlight=False)
    print(json.dumps({k2: v for k2, v in summary.items() if k2 not in ("by_class", "failed", "failed_known_issue")}
                     | {"failed": summary["failed"], "failed_known_issue": summary["failed_known_issue"]}), flush=True)


def run_suite(suite: list[Any], *, planner: str = "offline", k: int = 1, database_url: str | None = None,
              on_result: Any = None) -> tuple[dict[str, Any], list[Any]]:
    """Run scenarios (the CLI, the bench and the tests share this).

    ``planner="llm"`` runs against the configured OpenAI-compatible endpoint and raises
    :class:`~core.kernel.errors.Invalid` when none is configured: a scripted stand-in must never be reported as
    a model's score. ``planner="replay"`` runs the model path on the scenarios' scripted answers
    (the local server) and is labelled ``replay`` in the summary."""
    import dataclasses
    import os

    from brain.llm import LLMClient, LLMConfig
    from brain.service import ChatService
    from core.kernel.errors import Invalid
    from evals.metrics import summarize
    from evals.replay import replay_server
    from evals.runner import ScenarioRunner

    server = None
    service_factory = None
    model: str | None = None
    if planner == "llm" and not llm_endpoint_configured():
        raise Invalid("--planner llm needs a model endpoint (OPENAI_BASE_URL / OPENAI_API_KEY); use replay for "
                      "scripted answers")
    if planner in ("llm", "replay"):
        cfg = LLMConfig.from_env()
        if planner == "llm" and not cfg.api_key:  # a local endpoint without auth: the client still needs a key
            cfg = dataclasses.replace(cfg, api_key="unused")
        if planner == "replay":
            server = replay_server()
            cfg = LLMConfig(api_key=server.api_key, base_url=server.base_url, model=cfg.model,
                            timeout_s=float(os.environ.get("GATEWARD_EVAL_LLM_TIMEOUT_S", "1")), max_retries=1,
                            price_in_per_mtok=cfg.price_in_per_mtok, price_out_per_mtok=cfg.price_out_per_mtok)
        client = LLMClient(cfg)
        model = cfg.model
        service_factory = lambda runtime: ChatService(runtime, planner="llm", llm=client)  # noqa: E731
    from gateward.cli_brain import sim_world_factory

    runner = ScenarioRunner(sim_world_factory(database_url), planner="offline" if planner == "offline" else "llm",
                            service_factory=service_factory, llm_server=server)
    t0 = time.perf_counter()
    try:
        results = runner.run_all(suite, k=k, on_result=on_result)
    finally:
        runner.close()
        if server is not None:
            server.stop()
    return summarize(results, k, planner=planner, wall_s=time.perf_counter() - t0, model=model), results


def llm_endpoint_configured(env: dict[str, str] | None = None) -> bool:
    """A model endpoint is configured: OPENAI_BASE_URL (any OpenAI-compatible server) or OPENAI_API_KEY."""
    import os

    e = os.environ if env is None else env
    return bool(e.get("OPENAI_BASE_URL") or e.get("OPENAI_API_KEY"))



def guard_command(
    sample: Annotated[int, typer.Option(help="run this many messages (a fixed spread over languages and actions); "
                                             "0 = all")] = 0,
    fields: Annotated[str | None, typer.Option(help="comma-separated perturbed fields (default: all)")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="write every result here")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """The model path's guard without a model: each message's correct reading and its perturbations
    replayed as the model's answer (evals/perturb); the last line is one JSON object, the catch rate
    per field among them."""
    from rich.console import Console

    from evals.perturb.cases import load
    from evals.perturb.perturb import FIELDS
    from evals.perturb.runner import GuardHarness
    from evals.perturb.runner import sample as spread
    from gateward.cli import fail
    from gateward.cli_brain import sim_world_factory

    chosen = tuple(f.strip() for f in fields.split(",")) if fields else FIELDS
    unknown = set(chosen) - set(FIELDS)
    if unknown:
        fail(f"unknown field(s) {sorted(unknown)}; fields: {', '.join(FIELDS)}")
    cases = load()
    if sample:
        cases = spread(cases, sample)
    console = Console(stderr=quiet)
    world = sim_world_factory()(7, 60)
    harness = GuardHarness(world)
    t0 = time.perf_counter()
    try:
        report = harness.run(cases, fields=chosen, on_result=None if quiet else lambda r: console.print(
            f"{'caught' if r.caught else '[red]MISSED[/red]'} {r.case} {r.field}/{r.kind}: {r.how}", highlight=False))
    finally:
        harness.close()
        world.close()
    summary = {**report.summary(), "wall_s": round(time.perf_counter() - t0, 1)}
    for name, f in summary["per_field"].items():
        console.print(f"{name:10} {f['caught']:4}/{f['n']:<4} {f['rate']:.1%}", highlight=False)
    if json_out is not None:
        json_out.write_text(json.dumps({"summary": summary, "results": [r.__dict__ for r in report.results],
                                        "controls": [c.__dict__ for c in report.controls]}, default=str, indent=1))
    print(json.dumps(summary))


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_command)
    app.command("eval-guard")(guard_command)
