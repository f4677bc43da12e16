"""The shared shape of every benchmark: a table for people, one JSON line for machines.

Why a registry of modules rather than pytest-benchmark: these are figures an operator reads
and an issue reports, sized by ``--quick``, not timed tests that pass or fail.
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from rich.console import Console
from rich.table import Table


@dataclass
class BenchResult:
    """What a benchmark measured: ``metrics`` are numbers whose key names carry units."""

    name: str
    metrics: dict[str, float]
    params: dict[str, Any] = field(default_factory=dict)
    rows: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def json_line(self) -> str:
        return json.dumps({"bench": self.name, "metrics": self.metrics, "params": self.params},
                          sort_keys=False, default=str)


def percentile(samples: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile; ``samples`` need not be sorted."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    k = max(0, min(len(ordered) - 1, round(pct / 100.0 * (len(ordered) - 1))))
    return float(ordered[k])


def summarize_us(samples_s: Sequence[float], prefix: str = "") -> dict[str, float]:
    """p50/p99/mean in microseconds from samples in seconds."""
    us = [s * 1e6 for s in samples_s]
    return {
        f"{prefix}p50_us": round(percentile(us, 50), 2),
        f"{prefix}p99_us": round(percentile(us, 99), 2),
        f"{prefix}mean_us": round(statistics.fmean(us), 2) if us else float("nan"),
    }


def discover() -> dict[str, ModuleType]:
    """Every module in ``bench`` with a ``NAME`` and a ``run`` callable."""
    import bench

    found: dict[str, ModuleType] = {}
    for info in pkgutil.iter_modules(bench.__path__):
        if info.name.startswith("_") or info.name == "framework":
            continue
        mod = importlib.import_module(f"bench.{info.name}")
        name = getattr(mod, "NAME", None)
        if isinstance(name, str) and callable(getattr(mod, "run", None)):
            found[name] = mod
    return dict(sorted(found.items()))


def print_result(result: BenchResult, console: Console | None = None) -> None:
    console = console or Console()
    table = Table(title=f"bench {result.name}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key, value in result.rows or [(k, f"{v:,}") for k, v in result.metrics.items()]:
        table.add_row(key, value)
    console.print(table)
    for note in result.notes:
        console.print(f"[dim]{note}[/dim]")
    # The last line is the machine-readable one: print it raw, never through rich markup.
    print(result.json_line(), flush=True)


def reference_loop_ms(rounds: int = 3) -> float:
    """CPU milliseconds a fixed pure-Python loop takes here (the best of ``rounds``).

    Why: this VM's speed moves by a quarter within an hour and by half between days (the same code's
    lifecycle figures halved between two stops of one day), so a figure from one run cannot be set
    beside another's without knowing how fast the machine was. Every benchmark reports this sample,
    taken before and after it ran. It is a sample, not a divisor: it moved by 1.8x between runs
    whose figures moved by 10 %; two runs whose samples differ much are not to be compared."""
    best = float("inf")
    for _ in range(rounds):
        t0 = time.process_time()
        acc = 0
        for i in range(300_000):
            acc += i * i
        best = min(best, time.process_time() - t0)
    return round(best * 1e3, 2)


def run_bench(name: str, quick: bool, printer: Callable[[BenchResult], None] = print_result) -> BenchResult:
    benches = discover()
    if name not in benches:
        raise KeyError(name)
    before = reference_loop_ms()
    result: BenchResult = benches[name].run(quick)
    after = reference_loop_ms()
    result.params["reference_loop_ms"] = [before, after]
    if not result.rows:  # the table shows the metrics themselves when a bench names no rows
        result.rows = [(k, f"{v:,}") for k, v in result.metrics.items()]
    result.rows.append(("machine speed: reference loop (before / after)",
                        f"{before:.1f} / {after:.1f} ms of CPU (runs with unlike samples do not compare)"))
    printer(result)
    return result


class MemoryPeak:
    """The largest anonymous and file-backed resident memory of this process (``RssAnon`` and
    ``RssFile`` of ``/proc/self/status``, MiB) while the ``with`` block ran, sampled every 20 ms
    by a daemon thread. Why both: a SQLite database read through ``mmap`` counts as resident file
    pages (the kernel's page cache, given back under pressure), which ``ru_maxrss`` adds to what the
    process itself allocated; "memory stays bounded" is about the anonymous part. Zeros off Linux."""

    def __init__(self, every_s: float = 0.02) -> None:
        self.every_s = every_s
        self.anon_mb = 0.0
        self.file_mb = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @staticmethod
    def now() -> tuple[float, float]:
        """(RssAnon, RssFile) in MiB right now."""
        try:
            lines = Path("/proc/self/status").read_text().splitlines()
        except OSError:
            return 0.0, 0.0
        kb = {ln.split(":")[0]: int(ln.split()[1]) for ln in lines if ln.startswith(("RssAnon:", "RssFile:"))}
        return kb.get("RssAnon", 0) / 1024, kb.get("RssFile", 0) / 1024

    def _sample(self) -> None:
        anon, file = self.now()
        self.anon_mb, self.file_mb = max(self.anon_mb, anon), max(self.file_mb, file)

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self._sample()

    def __enter__(self) -> MemoryPeak:
        self._sample()
        self._thread = threading.Thread(target=self._run, name="memory-peak", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._sample()


class MachineCpu:
    """Busy CPU seconds of the whole machine (every process: the bench, its workers, PostgreSQL,
    its WAL writer) while the ``with`` block ran, from ``/proc/stat``; ``None`` off Linux.

    Why: on a machine whose cores are all busy, what a figure can reach is the cores divided by the
    CPU one unit of work costs *everywhere* — a process's own CPU leaves out the database's, which
    on PostgreSQL is a third of a proposal's. ``ceiling_per_s(n)`` is that bound for ``n`` units:
    what this machine could do at 100 % of every core with this code, whatever the parallelism."""

    def __init__(self) -> None:
        self.busy_s: float | None = None
        self._start: float | None = None

    @staticmethod
    def now() -> float | None:
        """Busy seconds since boot: user, nice, system, irq, softirq. Not idle or iowait, and not
        steal (a virtual machine's time taken by its host: nobody's work here)."""
        try:
            first = Path("/proc/stat").read_text().splitlines()[0].split()
            ticks = [int(x) for x in first[1:]]
        except (OSError, IndexError, ValueError):
            return None
        busy = sum(ticks[:3]) + sum(ticks[5:7])  # user nice system [idle iowait] irq softirq [steal]
        return busy / os.sysconf("SC_CLK_TCK")

    def __enter__(self) -> MachineCpu:
        self._start = self.now()
        return self

    def __exit__(self, *exc: object) -> None:
        end = self.now()
        self.busy_s = None if end is None or self._start is None else end - self._start

    def per_unit_ms(self, units: int) -> float | None:
        return None if self.busy_s is None or not units else self.busy_s / units * 1e3

    def ceiling_per_s(self, units: int) -> float | None:
        per = self.per_unit_ms(units)
        return None if not per else (os.cpu_count() or 1) * 1e3 / per
