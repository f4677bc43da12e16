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


def register(app: typer.Typer) -> None:
    app.command("bench")(bench_command)
