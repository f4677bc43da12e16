"""``cli_wall``: wall time of the read-only CLI commands, as an operator runs them (issue 15).

Why subprocesses: what an operator waits for is interpreter start + imports + the command, and
an in-process timing would hide the imports, which are most of it. Each command runs ``N`` times
against a seeded SQLite fleet of its own (so the first-run migration is not what is timed: the
seeding runs it once before) and the p50 is reported. ``python -c pass`` with the same
interpreter runs in the same loop as the baseline: on a loaded two-core machine it says how much
of a figure is the machine rather than the command.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.framework import BenchResult, percentile

NAME = "cli_wall"
DESCRIPTION = "p50 wall time of gateward --help / devices / device ID as subprocesses vs python -c pass"


def _gateward() -> list[str]:
    """The installed console script beside this interpreter, else ``python -m gateward.cli``."""
    script = Path(sys.executable).with_name("gateward")
    return [str(script)] if script.exists() else [sys.executable, "-m", "gateward.cli"]


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of one run. CPU time is reported too because it barely moves when
    other work shares the cores, while wall time can double."""
    cpu, start = _cpu(), time.perf_counter()
    done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120, check=False)
    elapsed, cpu_used = time.perf_counter() - start, _cpu() - cpu
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[-3:])} exited {done.returncode}: {done.stderr.decode()[-400:]}")
    return elapsed, cpu_used


def _first_device(env: dict[str, str]) -> str:
    """A seeded device id, read through the store (not through the CLI being measured)."""
    code = ("from core.store.head import open_for_reads\nfrom core.store import repo\n"
            "s = open_for_reads()\nwith s.read() as r:\n    print(repo.list_devices(r, limit=1)[0][0].id)\n")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, check=True, timeout=120)
    return out.stdout.decode().strip().splitlines()[-1]


def run(quick: bool) -> BenchResult:
    runs = 5 if quick else 15
    homes = 20 if quick else 200
    tmp = Path(tempfile.mkdtemp(prefix="gw-cli-wall-"))
    env = {**os.environ, "GATEWARD_DATABASE_URL": f"sqlite:///{tmp / 'gateward.db'}"}
    env.pop("GATEWARD_OPA_URL", None)
    try:
        subprocess.run([*_gateward(), "seed", "--homes", str(homes)], env=env, check=True, timeout=600,
                       stdout=subprocess.DEVNULL)
        device_id = _first_device(env)
        commands = {
            "python_pass": [sys.executable, "-c", "pass"],
            # what every read command paid before issue 15: the CLI plus the full runtime (policy
            # pack loaded and self-checked, lifecycle, router, Alembic upgrade)
            "full_runtime": [sys.executable, "-c", "from gateward import cli; cli.rt()"],
            "help": [*_gateward(), "--help"],
            "devices": [*_gateward(), "devices"],
            "device": [*_gateward(), "device", device_id],
        }
        samples: dict[str, list[float]] = {k: [] for k in commands}
        cpu: dict[str, list[float]] = {k: [] for k in commands}
        for _ in range(runs):  # interleaved, so that a burst of load hits every command alike
            for key, argv in commands.items():
                wall_s, cpu_s = _run(argv, env)
                samples[key].append(wall_s)
                cpu[key].append(cpu_s)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    metrics: dict[str, float] = {}
    for key, xs in samples.items():
        metrics[f"{key}_p50_s"] = round(percentile(xs, 50), 3)
        metrics[f"{key}_max_s"] = round(max(xs), 3)
        metrics[f"{key}_cpu_p50_s"] = round(percentile(cpu[key], 50), 3)
    base = metrics["python_pass_p50_s"]
    rows = [(f"{k} wall p50 / max (cpu p50)",
             f"{metrics[f'{k}_p50_s']:.3f} / {metrics[f'{k}_max_s']:.3f} s ({metrics[f'{k}_cpu_p50_s']:.3f} s)")
            for k in commands]
    rows.append(("load average (1 min) at the end", f"{os.getloadavg()[0]:.2f}"))
    reads = [k for k in commands if k not in ("python_pass", "full_runtime")]
    rows.append(("slowest read command minus python -c pass (p50)",
                 f"{max(metrics[f'{k}_p50_s'] for k in reads) - base:.3f} s"))
    return BenchResult(
        name=NAME,
        metrics=metrics,
        params={"quick": quick, "runs": runs, "homes": homes, "device": device_id, "database": "sqlite (temp)",
                "loadavg_1m": round(os.getloadavg()[0], 2)},
        rows=rows,
        notes=["Each command is a fresh process (interpreter start + imports + work). Baselines: python -c pass, "
               "and full_runtime = the CLI building the whole runtime, as every command did before issue 15.",
               "Goal (issue 15): read commands <= 0.3 s."],
    )
