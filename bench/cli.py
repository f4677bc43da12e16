"""``gateward bench``: the benchmarks' command, registered by the CLI as a plugin
(``gateward.cli.PLUGINS``) so that the composition root imports no harness (issue 35)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

console = Console()


def bench_command(name: Annotated[str | None, typer.Argument()] = None, quick: bool = False,
                  list_: Annotated[bool, typer.Option("--list", help="list benchmarks")] = False,
                  all_: Annotated[bool, typer.Option("--all", help="run every benchmark")] = False) -> None:
    """Run a benchmark: a table, then one JSON line."""
    from bench.framework import discover, run_bench
    from gateward.cli import fail

    benches = discover()
    if list_ or (name is None and not all_):
        for n, mod in benches.items():
            console.print(f"{n:24} {getattr(mod, 'DESCRIPTION', '')}")
        return
    names = list(benches) if all_ else [name or ""]
    for n in names:
        if n not in benches:
            fail(f"unknown benchmark {n!r}; `gateward bench --list` shows them")
        run_bench(n, quick)


def soak_command(minutes: Annotated[float, typer.Option(min=0.5, help="how long the load and the chaos run")] = 10,
                 seed: Annotated[int, typer.Option(help="the chaos schedule's seed")] = 7,
                 homes: Annotated[int, typer.Option(min=20, help="simulated homes to seed")] = 60) -> None:
    """Mixed load on PostgreSQL while the API, the worker, the broker and the database connections are
    killed at random; then lost, doubled, stuck, locks, audit and p99 (bench/soak.py). Exit 1 when
    anything was lost, doubled, stuck, locked, answered 500 or not answered, or the audit chain broke."""
    from bench.framework import print_result
    from bench.soak import soak

    result = soak(minutes, seed=seed, homes=homes)
    print_result(result, console)
    m = result.metrics
    bad = [k for k in ("lost", "doubled", "stuck", "locks_held", "status_500", "unanswered") if m.get(k)]
    if bad or not m.get("audit_ok"):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("bench")(bench_command)
    app.command("soak")(soak_command)
