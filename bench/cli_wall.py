"""``cli_wall``: wall time of the read-only CLI commands, as an operator runs them (issue 15).

Why subprocesses: what an operator waits for is interpreter start + imports + the command, and
an in-process timing would hide the imports, which are most of it. Each command runs ``N`` times
against a seeded fleet of its own with one proposal (so the first-run migration is not what is
timed: the seeding runs it once before) and the p50 is reported. ``device`` reads the first device
live (a TR-181 gateway), ``device_tr098`` a TR-098 one, whose read also translates its tree.
``python -c pass`` with the same interpreter runs in the same loop as the baseline: on a loaded
two-core machine it says how much of a figure is the machine rather than the command. CPU time is
reported beside wall time because it barely moves when other work shares the cores.

Backends: SQLite always; PostgreSQL too when ``GATEWARD_BENCH_DATABASE_URL`` is set (a schema of
its own, dropped at the end), where the read path pays for importing psycopg.

Bytecode: when the environment says not to write bytecode (``PYTHONDONTWRITEBYTECODE``, as on the
development machines), every run compiles Gateward's own sources, which an installed package (pip
writes ``.pyc`` files) does not. The read commands are then timed a second time with the bytecode
cached in a temporary ``PYTHONPYCACHEPREFIX`` (``*_pyc`` figures), so both are on record.
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from bench.framework import BenchResult, percentile

NAME = "cli_wall"
# metrics every --quick run reports (tests/bench_smoke)
KEYS = ("python_pass_p50_s", "devices_p50_s", "device_p50_s", "show_p50_s", "status_p50_s")
DESCRIPTION = ("p50 wall time of gateward --help / devices / device ID (TR-181, TR-098) / show / status / "
               "campaign status / audit verify / remediation cases as subprocesses vs python -c pass")
INFORM = "Device.ManagementServer.PeriodicInformInterval"


def _gateward() -> list[str]:
    """The installed console script beside this interpreter, else ``python -m gateward.cli``."""
    script = Path(sys.executable).with_name("gateward")
    return [str(script)] if script.exists() else [sys.executable, "-m", "gateward.cli"]


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of one run."""
    cpu, start = _cpu(), time.perf_counter()
    done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120, check=False)
    elapsed, cpu_used = time.perf_counter() - start, _cpu() - cpu
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[-3:])} exited {done.returncode}: {done.stderr.decode()[-400:]}")
    return elapsed, cpu_used


@contextlib.contextmanager
def _pg_schema(base: str) -> Iterator[str]:
    from sqlalchemy import create_engine, text

    from core.store.db import normalise_url

    base = normalise_url(base)
    schema = f"gwbench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base)
    with admin.begin() as c:
        c.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as c:
            c.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _prepare(url: str, homes: int) -> tuple[str, str, str, str]:
    """Seed the fleet, submit one proposal and define one campaign: (a device id, a TR-098 device
    id, the proposal id, the campaign id)."""
    from core.kernel.config import Settings
    from core.kernel.models import Change, ProposalDraft
    from core.store import repo
    from core.users import get_actor
    from gateward.runtime import build_runtime
    from gateward.seed import seed_fleet

    rt = build_runtime(Settings(database_url=url))
    try:
        seed_fleet(rt, homes=homes, seed=7)
        with rt.store.read() as s:
            devices = repo.list_devices(s, limit=homes * 4)[0]
        device = devices[0]
        tr098 = next(d for d in devices if str(d.root) == "InternetGatewayDevice.")
        p = rt.lifecycle.submit(ProposalDraft(intent="bench", targets=[device.id], changes=[
            Change(path=INFORM, value=600)], rationale="cli_wall"), get_actor(rt.store, "dave"))
        region = device.region
        c = rt.campaigns.create({"name": "cli_wall", "target": {"region": region}, "emergency": True,
                                 "changes": [{"path": "Device.WiFi.AccessPoint.1.SSIDAdvertisementEnabled",
                                              "value": False}]}, get_actor(rt.store, "dave"))
        return device.id, tr098.id, p.id, c["id"]
    finally:
        rt.close()


def run(quick: bool) -> BenchResult:
    runs = 5 if quick else 15
    homes = 20 if quick else 200
    tmp = Path(tempfile.mkdtemp(prefix="gw-cli-wall-"))
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWARD_")}
    base_env["GATEWARD_HOME"] = str(tmp / "home")
    no_bytecode = bool(os.environ.get("PYTHONDONTWRITEBYTECODE")) or sys.dont_write_bytecode
    pg = os.environ.get("GATEWARD_BENCH_DATABASE_URL")
    gw = _gateward()
    commands: dict[str, tuple[list[str], dict[str, str]]] = {}
    params: dict[str, object] = {"quick": quick, "runs": runs, "homes": homes, "bytecode_written": not no_bytecode}
    with contextlib.ExitStack() as stack:
        backends = {"": f"sqlite:///{tmp / 'gateward.db'}"}
        if pg:
            backends["pg_"] = stack.enter_context(_pg_schema(pg))
        modes = {"": base_env}
        if no_bytecode:  # also as an installed package runs: Gateward's bytecode cached
            pyc = {k: v for k, v in base_env.items() if k != "PYTHONDONTWRITEBYTECODE"}
            modes["_pyc"] = {**pyc, "PYTHONPYCACHEPREFIX": str(tmp / "pyc")}
        for prefix, url in backends.items():
            # seeded with the commands' home, so the audit key the seeding wrote is the one
            # `audit verify` reads (else it reports checkpoints it cannot authenticate, exit 1)
            saved_home = os.environ.get("GATEWARD_HOME")
            os.environ["GATEWARD_HOME"] = base_env["GATEWARD_HOME"]
            try:
                device_id, tr098_id, pid, cid = _prepare(url, homes)
            finally:
                if saved_home is None:
                    os.environ.pop("GATEWARD_HOME", None)
                else:
                    os.environ["GATEWARD_HOME"] = saved_home
            params[f"{prefix}device"], params[f"{prefix}device_tr098"] = device_id, tr098_id
            params[f"{prefix}proposal"], params[f"{prefix}campaign"] = pid, cid
            for suffix, menv in modes.items():
                env = {**menv, "GATEWARD_DATABASE_URL": url}
                reads = {"devices": ["devices"], "device": ["device", device_id], "device_tr098": ["device", tr098_id],
                         "show": ["show", pid], "status": ["status"],
                         # issue 39: these three took 1.3-4.5 s (each built the full runtime); audit verify
                         # then ~1.1 s on its store's imports, 0.29 s on the DB-API path (item 7, goal <= 0.5 s)
                         "campaign_status": ["campaign", "status", cid], "audit_verify": ["audit", "verify"],
                         "remediation_cases": ["remediation", "cases"]}
                if not prefix:
                    commands[f"python_pass{suffix}"] = ([sys.executable, "-c", "pass"], env)
                    commands[f"help{suffix}"] = ([*gw, "--help"], env)
                for key, args in reads.items():
                    commands[f"{prefix}{key}{suffix}"] = ([*gw, *args], env)
            if not prefix:
                # what every read command paid before issue 15: the CLI plus the full runtime (policy
                # pack loaded and self-checked, lifecycle, router, Alembic upgrade)
                commands["full_runtime"] = ([sys.executable, "-c", "from gateward import cli; cli.rt()"],
                                            {**base_env, "GATEWARD_DATABASE_URL": url})
        for argv, env in commands.values():  # warm-up: the page cache, and the cached bytecode (*_pyc)
            _run(argv, env)
        samples: dict[str, list[float]] = {k: [] for k in commands}
        cpu: dict[str, list[float]] = {k: [] for k in commands}
        for _ in range(runs):  # interleaved, so that a burst of load hits every command alike
            for key, (argv, env) in commands.items():
                wall_s, cpu_s = _run(argv, env)
                samples[key].append(wall_s)
                cpu[key].append(cpu_s)
    shutil.rmtree(tmp, ignore_errors=True)
    metrics: dict[str, float] = {}
    for key, xs in samples.items():
        metrics[f"{key}_p50_s"] = round(percentile(xs, 50), 3)
        metrics[f"{key}_max_s"] = round(max(xs), 3)
        metrics[f"{key}_cpu_p50_s"] = round(percentile(cpu[key], 50), 3)
    rows = [(f"{k} wall p50 / max (cpu p50)",
             f"{metrics[f'{k}_p50_s']:.3f} / {metrics[f'{k}_max_s']:.3f} s ({metrics[f'{k}_cpu_p50_s']:.3f} s)")
            for k in commands]
    load = os.getloadavg()[0]
    rows.append(("load average (1 min) at the end", f"{load:.2f}"))
    for suffix in ("", "_pyc") if no_bytecode else ("",):
        timed = [k for k in commands if not k.startswith(("python_pass", "full_runtime"))
                 and k.endswith(suffix) and (suffix or not k.endswith("_pyc"))]
        slowest = max(timed, key=lambda k: metrics[f"{k}_p50_s"])
        rows.append((f"slowest read command{suffix} ({slowest}) minus python -c pass (p50)",
                     f"{metrics[f'{slowest}_p50_s'] - metrics[f'python_pass{suffix}_p50_s']:.3f} s"))
    params.update({"database": "sqlite (temp)" + (" and postgresql (schema)" if pg else ""),
                   "loadavg_1m": round(load, 2)})
    return BenchResult(
        name=NAME,
        metrics=metrics,
        params=params,
        rows=rows,
        notes=["Each command is a fresh process (interpreter start + imports + work). Baselines: python -c pass, "
               "and full_runtime = the CLI building the whole runtime, as every command did before issue 15.",
               "pg_*: the same commands on PostgreSQL (GATEWARD_BENCH_DATABASE_URL). *_pyc: Gateward's bytecode "
               "cached (as an installed package runs); without it every run compiles the sources "
               "(PYTHONDONTWRITEBYTECODE).",
               "Goal (issue 15): read commands <= 0.3 s."],
    )
