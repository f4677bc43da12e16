"""seed_fleet: ``gateward seed --homes N`` as an operator runs it, timed and measured (issue 47).

The command runs in a process of its own under ``/usr/bin/time -v`` (its wall time, the CPU time of
the command and its generator processes — which the machine's other load changes little, unlike the
wall time — and the largest resident set of any one of its processes, as that tool prints them),
while this process samples the resident memory of the whole process tree (the loader and its
generator processes) every 0.2 s: the peak of that sum is what the machine must have. Each
database gets a fresh one: a SQLite file, and a PostgreSQL schema when
``GATEWARD_BENCH_DATABASE_URL`` (or ``GATEWARD_TEST_DATABASE_URL``) is set.
Goal: 100,000 homes in at most 2 minutes within 1 GB. ``--quick``: 10,000 homes.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.framework import BenchResult

NAME = "seed_fleet"
KEYS = ("sqlite_wall_s",)  # metrics every --quick run reports (tests/bench_smoke)
KEYS_POSTGRES = ("postgres_wall_s",)  # ... and these with a PostgreSQL configured
DESCRIPTION = "gateward seed --homes N: wall time and memory (goal: 100,000 homes in <= 2 min within 1 GB)"
ROOT = Path(__file__).resolve().parents[1]


def _tree_rss(pid: int) -> int:
    import psutil

    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            continue
    return total


def _seed(url: str, homes: int, home: Path) -> dict[str, float]:
    argv = [sys.executable, "-m", "gateward.cli", "seed", "--homes", str(homes), "--quiet"]
    timed = shutil.which("time") or "/usr/bin/time"
    if os.path.exists(timed):
        argv = [timed, "-v", *argv]
    env = {**os.environ, "GATEWARD_DATABASE_URL": url, "GATEWARD_HOME": str(home)}
    load_before = os.getloadavg()[0]
    peak = [0]
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def sample() -> None:
        while proc.poll() is None:
            peak[0] = max(peak[0], _tree_rss(proc.pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - t0
    sampler.join()
    if proc.returncode != 0:
        raise RuntimeError(f"gateward seed failed ({proc.returncode}): {err[-2000:]}")
    found = re.search(r"fleet: (\d+) devices", out)
    largest = re.search(r"Maximum resident set size \(kbytes\): (\d+)", err)
    cpu = [float(m.group(1)) for m in re.finditer(r"(?:User|System) time \(seconds\): ([\d.]+)", err)]
    return {"wall_s": round(wall, 1), "devices": float(found.group(1)) if found else float("nan"),
            "cpu_s": round(sum(cpu), 1) if len(cpu) == 2 else float("nan"),
            "tree_peak_rss_mb": round(peak[0] / 2**20, 0),
            "load_before": round(load_before, 1), "load_after": round(os.getloadavg()[0], 1),
            "largest_process_rss_mb": round(int(largest.group(1)) / 1024, 0) if largest else float("nan")}


def run(quick: bool) -> BenchResult:
    homes = 10_000 if quick else int(os.environ.get("GATEWARD_BENCH_SEED_HOMES", "100000"))
    metrics: dict[str, float] = {}
    rows: list[tuple[str, str]] = []
    targets: list[tuple[str, Any]] = []
    tmp = Path(tempfile.mkdtemp(prefix="gw-bench-seed-"))
    targets.append(("sqlite", f"sqlite:///{tmp / 'gateward.db'}"))
    base = os.environ.get("GATEWARD_BENCH_DATABASE_URL") or os.environ.get("GATEWARD_TEST_DATABASE_URL")
    pg = None
    if base:
        from testing.databases import pg_schema_url

        pg = pg_schema_url(base)
        targets.append(("postgres", pg[0]))
    try:
        for label, url in targets:
            got = _seed(url, homes, tmp)
            for k, v in got.items():
                metrics[f"{label}_{k}"] = v
            metrics[f"{label}_homes_per_s"] = round(homes / got["wall_s"], 0)
            rows.append((f"{label}: {homes:,} homes", f"{got['wall_s']:.1f} s ({got['cpu_s']:.0f} s of CPU), "
                                                       f"{got['devices']:,.0f} devices, "
                                                       f"peak {got['tree_peak_rss_mb']:.0f} MB (all processes), "
                                                       f"largest process {got['largest_process_rss_mb']:.0f} MB, "
                                                       f"load {got['load_before']:.1f} → {got['load_after']:.1f}"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if pg is not None:
            from sqlalchemy import text

            _, admin, schema = pg
            with admin.begin() as c:
                c.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
    load = os.getloadavg()[0]
    notes = ["the command's own process and its generator process; memory is the peak of their sum, sampled",
             f"load average when it ended: {load:.1f} on {os.cpu_count()} cores (other work on the machine slows it)"]
    return BenchResult(NAME, metrics, {"homes": homes, "quick": quick, "load_avg_1m": round(load, 1)}, rows, notes)
