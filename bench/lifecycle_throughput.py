"""lifecycle_throughput: single-device proposals end to end on the simulator.

Each proposal is created, validated, previewed (live read), decided by the embedded Rego
engine, then applied: gates re-checked, lock, backup, write, read-back verify, done. Reports
proposals/s and the share of wall time per stage (from the lifecycle's own stage timer), on a
fresh SQLite file (and a fresh schema of the PostgreSQL that ``GATEWARD_BENCH_DATABASE_URL``
names).

Two shapes per database, on the same fresh fleet:

* *one process*, proposals one after another: the cost of one proposal's life (CPU per proposal
  and the stage shares come from this run);
* *N processes* (as many as the machine has cores, and ``WORKERS``), each submitting and applying
  proposals on its own devices at the same time, as API replicas and workers do: what the database
  and the cores sustain together. Each phase also reports the whole machine's CPU a proposal and
  the ceiling it sets (cores ÷ that); more processes than cores cost CPU a proposal.
  On SQLite the writers take turns on the database's one write lock; on PostgreSQL they run
  side by side, and each commit's WAL flush overlaps the others' work.

The simulator (the "devices") runs in the same processes and its state lives in the same
database, so its reads and writes are part of the end-to-end figure (as a device's latency would
be). Each phase also reports the **control plane** on its own, as ``campaign_run`` does: the time
and CPU spent inside the simulator's device calls (``bench.accounting.DeviceClock``) and the CPU of
the PostgreSQL backends serving the twin's connections (named apart, ``bench.accounting``) are the
devices' work — a real CPE does it on its own CPU — and are taken out of the wall time and of the
machine's CPU a proposal; the lifecycle's grants, gates, store and audit work all stay in.

``GATEWARD_BENCH_LIFECYCLE_FLEET=N`` adds N bare device rows (``testing.bulk_fleet``, never
targeted) after the simulated fleet is seeded: a proposal's life must not cost more on a large
fleet than on a small one (the policy input counted the whole fleet per decision, ~30 ms at 1M).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.accounting import CP_APP, SIM_APP, BackendCpu, DeviceClock, named
from bench.framework import BenchResult, MachineCpu, percentile

NAME = "lifecycle_throughput"
# metrics every --quick run reports (tests/bench_smoke)
KEYS = ("sqlite_proposals_per_s", "sqlite_control_plane_proposals_per_s")
# ... and these with a PostgreSQL configured
KEYS_POSTGRES = ("postgres_proposals_per_s", "postgres_2proc_proposals_per_s")
DESCRIPTION = ("single-device proposals end to end on the simulator: proposals/s in one process and in "
               "as many processes as cores and in 4 at once, machine CPU a proposal and the ceiling it sets, "
               "time share per stage, SQLite and PostgreSQL")
WORKERS = 4
CHANNELS = (36, 40, 44, 48)


def _targets(rt: Any) -> list[tuple[Any, int]]:
    """(device, 5 GHz radio index) of every online TR-181 device, in id order."""
    from testing.fleet_picks import online_5ghz_radios

    return online_5ghz_radios(rt)


def _loop(rt: Any, targets: list[tuple[Any, int]], n: int, offset: int = 0) -> tuple[list[float], int]:
    """``n`` proposals over ``targets`` in turn; (latencies, how many ended done)."""
    from core.kernel.models import Change, ProposalDraft, ProposalState
    from core.users import get_actor

    alice = get_actor(rt.store, "alice")
    latencies: list[float] = []
    done = 0
    for i in range(offset, offset + n):
        d, r = targets[i % len(targets)]
        ch = CHANNELS[(i // len(targets)) % len(CHANNELS)]
        t0 = time.perf_counter()
        p = rt.lifecycle.submit(ProposalDraft(
            intent="bench channel change", targets=[d.id],
            changes=[Change(path=f"Device.WiFi.Radio.{r}.AutoChannelEnable", value=False),
                     Change(path=f"Device.WiFi.Radio.{r}.Channel", value=ch)]), alice)
        if p.state is ProposalState.APPROVED:
            out = rt.lifecycle.apply(p.id, alice)
            done += out.proposal.state is ProposalState.DONE
        latencies.append(time.perf_counter() - t0)
    return latencies, done


_CLOCK: DeviceClock | None = None


def _device_clock() -> DeviceClock:
    """This process's clock of the simulator's device calls, installed once."""
    global _CLOCK
    if _CLOCK is None:
        _CLOCK = DeviceClock().install()
    return _CLOCK


def _runtime(url: str) -> Any:
    """A runtime on ``url``; on PostgreSQL the control plane's and the twin's connections are named
    apart (``bench.accounting``), so the database's CPU can be split between them."""
    from core.kernel.config import Settings
    from gateward.runtime import build_runtime

    if url.startswith("sqlite"):
        return build_runtime(Settings(database_url=url))
    return build_runtime(Settings(database_url=named(url, CP_APP), sim_database_url=named(url, SIM_APP)))


def _backends(url: str) -> tuple[Any, BackendCpu] | None:
    """(engine, meter of the named backends' CPU from now) on PostgreSQL; None on SQLite."""
    if url.startswith("sqlite"):
        return None
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    from core.store.db import normalise_url

    engine = create_engine(normalise_url(url), poolclass=NullPool)
    return engine, BackendCpu(engine)


def _backend_seconds(meter: tuple[Any, BackendCpu] | None) -> dict[str, float | None]:
    if meter is None:
        return {CP_APP: None, SIM_APP: None}
    engine, cpu = meter
    try:
        return cpu.stop()
    finally:
        engine.dispose()


def _sequential(url: str, n: int, homes: int, extra: int = 0) -> dict[str, Any]:
    from gateward.seed import seed_fleet

    stages: dict[str, float] = defaultdict(float)

    def timer(stage: str, seconds: float) -> None:
        stages[stage] += seconds

    rt = _runtime(url)
    seed_fleet(rt, homes=homes, seed=3, snapshots=False)
    targets = _targets(rt)
    if extra:
        from testing.bulk_fleet import seed_bulk_fleet

        seed_bulk_fleet(rt.store, extra)
    _loop(rt, targets, min(20, n))  # warm: first statements compile, caches fill
    rt.lifecycle.set_stage_timer(timer)
    clock = _device_clock()
    dev0 = clock.reading()
    backends = _backends(url)
    t_start, cpu = time.perf_counter(), time.process_time()
    with MachineCpu() as machine:
        latencies, done = _loop(rt, targets, n, offset=100)
    wall, cpu = time.perf_counter() - t_start, time.process_time() - cpu
    dev1 = clock.reading()
    db = _backend_seconds(backends)
    rt.close()
    return {"wall": wall, "cpu": cpu, "machine": machine, "done": done, "latencies": latencies,
            "stages": dict(stages), "device_wall": dev1[0] - dev0[0], "device_cpu": dev1[1] - dev0[1],
            "busy_wall": wall, "db": db,
            "timed": sum(stages.values()), "devices": len(targets), "targets": [(d.id, r) for d, r in targets]}


def _worker(url: str, ids: list[tuple[str, int]], n: int, start_at: float, conn: Any, offset: int = 0) -> None:
    """One process: its own runtime on the shared database, ``n`` proposals on its own devices."""
    rt = _runtime(url)
    from core.store import repo

    with rt.store.read() as s:
        found = repo.get_devices(s, [i for i, _ in ids])
    targets = [(found[i], r) for i, r in ids]
    clock = _device_clock()
    _loop(rt, targets, min(10, n), offset=offset + 1000)  # warm, as the sequential run
    time.sleep(max(0.0, start_at - time.time()))
    dev0 = clock.reading()
    t0, cpu = time.perf_counter(), time.process_time()
    latencies, done = _loop(rt, targets, n, offset=offset + 2000)
    dev1 = clock.reading()
    conn.send({"wall": time.perf_counter() - t0, "cpu": time.process_time() - cpu, "done": done,
               "latencies": latencies, "ended": time.time(),
               "device_wall": dev1[0] - dev0[0], "device_cpu": dev1[1] - dev0[1]})
    conn.recv()  # the parent has read its database backends' CPU: their connections may go now
    rt.close()


def _concurrent(url: str, n: int, workers: int, targets: list[tuple[str, int]], offset: int = 0) -> dict[str, Any]:
    """``workers`` processes at once on the fleet ``_sequential`` left (its devices split);
    ``offset`` moves where their channel sequence starts (each phase proposes values of its own)."""
    per = [targets[w::workers] for w in range(workers)]
    ctx = mp.get_context("spawn")
    start_at = time.time() + 8.0 + 2.0 * workers  # every worker built and warm before the gun
    pipes, procs = [], []
    for w in range(workers):
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_worker, args=(url, per[w], n // workers, start_at, child, offset), daemon=True)
        proc.start()
        pipes.append(parent)
        procs.append(proc)
    time.sleep(max(0.0, start_at - time.time()))
    backends = _backends(url)
    with MachineCpu() as machine:  # from the gun to the last worker's answer
        results = [p.recv() for p in pipes]
    db = _backend_seconds(backends)
    for p in pipes:
        p.send("close")
    for proc in procs:
        proc.join(timeout=30)
    wall = max(r["ended"] for r in results) - start_at
    return {"wall": wall, "cpu": sum(r["cpu"] for r in results), "machine": machine,
            "done": sum(r["done"] for r in results), "db": db,
            "device_wall": sum(r["device_wall"] for r in results), "device_cpu": sum(r["device_cpu"] for r in results),
            "busy_wall": sum(r["wall"] for r in results),
            "latencies": [x for r in results for x in r["latencies"]], "n": sum(len(r["latencies"]) for r in results)}


def _process_counts() -> list[int]:
    """The concurrent phases: as many processes as the machine has cores (each submitting process
    shares them with its database backend), and ``WORKERS`` — more processes than cores cost CPU a
    proposal (context switches, the chain lock's waits), which the two rows side by side show."""
    return sorted({max(1, os.cpu_count() or 1), WORKERS})


def _databases(tmp: Path) -> dict[str, tuple[str, Any]]:
    """name → (url, cleanup): a fresh SQLite file, and a fresh schema of the bench PostgreSQL."""
    out: dict[str, tuple[str, Any]] = {"sqlite": (f"sqlite:///{tmp / 'bench.db'}", lambda: None)}
    base = os.environ.get("GATEWARD_BENCH_DATABASE_URL")
    if base:
        from sqlalchemy import text

        from testing.databases import pg_schema_url

        url, admin, schema = pg_schema_url(base)

        def drop() -> None:
            with admin.begin() as c:
                c.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()

        out["postgres"] = (url, drop)
    return out


def _control_plane(run_: dict[str, Any], count: int) -> dict[str, float | None]:
    """A phase's figures with the simulated devices' work taken out (see the module docstring): the
    wall time in device calls leaves the wall (as a share of the processes' busy time, as
    ``campaign_run`` does), and their CPU and the twin's backends' CPU leave the machine's."""
    share = run_["device_wall"] / run_["busy_wall"] if run_["busy_wall"] else 0.0
    cp_wall = run_["wall"] * (1.0 - share)
    sim_db, cp_db = run_["db"][SIM_APP], run_["db"][CP_APP]
    whole = run_["machine"].per_unit_ms(count)
    devices_ms = (run_["device_cpu"] + (sim_db or 0.0)) / count * 1e3
    cp_ms = None if whole is None else max(0.0, whole - devices_ms)
    return {"rate": count / cp_wall if cp_wall > 0 else 0.0, "device_share": share,
            "device_cpu_ms": run_["device_cpu"] / count * 1e3,
            "sim_db_ms": None if sim_db is None else sim_db / count * 1e3,
            "cp_db_ms": None if cp_db is None else cp_db / count * 1e3,
            "machine_ms": cp_ms,
            "ceiling": (os.cpu_count() or 1) * 1e3 / cp_ms if cp_ms else None}


def _control_plane_rows(name: str, label: str, key: str, cp: dict[str, float | None],
                        metrics: dict[str, float], rows: list[tuple[str, str]]) -> None:
    rate, share = cp["rate"] or 0.0, cp["device_share"] or 0.0
    metrics[f"{name}{key}_control_plane_proposals_per_s"] = round(rate, 1)
    metrics[f"{name}{key}_device_time_share"] = round(share, 3)
    metrics[f"{name}{key}_device_cpu_ms_per_proposal"] = round(cp["device_cpu_ms"] or 0.0, 2)
    db = ""
    if cp["sim_db_ms"] is not None and cp["cp_db_ms"] is not None:
        metrics[f"{name}{key}_db_sim_cpu_ms_per_proposal"] = round(cp["sim_db_ms"], 2)
        metrics[f"{name}{key}_db_control_plane_cpu_ms_per_proposal"] = round(cp["cp_db_ms"], 2)
        db = f"; PostgreSQL: control plane {cp['cp_db_ms']:.2f} ms, twin {cp['sim_db_ms']:.2f} ms"
    rows.append((f"{name}: {label}, control plane proposals/s",
                 f"{rate:,.1f} ({share:.0%} of the time in device calls, {cp['device_cpu_ms']:.2f} ms of "
                 f"their CPU a proposal{db})"))
    if cp["machine_ms"] is not None and cp["ceiling"] is not None:
        metrics[f"{name}{key}_control_plane_machine_cpu_ms_per_proposal"] = round(cp["machine_ms"], 2)
        metrics[f"{name}{key}_control_plane_ceiling_per_s"] = round(cp["ceiling"], 1)
        rows.append((f"{name}: {label}, control plane machine CPU a proposal",
                     f"{cp['machine_ms']:.2f} ms (the devices' own work taken out; ceiling at 100 % of "
                     f"{os.cpu_count()} cores: {cp['ceiling']:,.0f}/s)"))


def run(quick: bool) -> BenchResult:
    n = 100 if quick else 1000
    homes = 60 if quick else 200
    extra = int(os.environ.get("GATEWARD_BENCH_LIFECYCLE_FLEET", "0"))
    os.environ.setdefault("GATEWARD_HOME", tempfile.mkdtemp(prefix="gw-bench-home-"))
    metrics: dict[str, float] = {}
    rows: list[tuple[str, str]] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        dbs = _databases(Path(tmp))
        for name, (url, drop) in dbs.items():
            try:
                load = os.getloadavg()[0]
                res = _sequential(url, n, homes, extra)
                par = {k: _concurrent(url, n, k, res["targets"], offset=10_000 * i)
                       for i, k in enumerate(_process_counts())}
            finally:
                drop()
            rate = n / res["wall"]
            metrics[f"{name}_proposals_per_s"] = round(rate, 1)
            metrics[f"{name}_cpu_ms_per_proposal"] = round(res["cpu"] / n * 1e3, 2)
            metrics[f"{name}_p50_ms"] = round(percentile(res["latencies"], 50) * 1e3, 2)
            metrics[f"{name}_p99_ms"] = round(percentile(res["latencies"], 99) * 1e3, 2)
            metrics[f"{name}_done"] = res["done"]
            metrics[f"{name}_load_avg"] = round(load, 2)
            rows.append((f"{name}: one process, proposals/s", f"{rate:,.1f} (CPU {res['cpu'] / n * 1e3:.2f} ms a "
                                                              f"proposal, load {load:.1f})"))
            p50, p99 = metrics[f"{name}_p50_ms"], metrics[f"{name}_p99_ms"]
            rows.append((f"{name}: p50 / p99 per proposal", f"{p50} / {p99} ms"))
            rows.append((f"{name}: done", f"{res['done']} of {n}"))
            for stage, secs in sorted(res["stages"].items(), key=lambda kv: -kv[1]):
                share = 100.0 * secs / res["wall"]
                metrics[f"{name}_share_{stage}_pct"] = round(share, 1)
                rows.append((f"{name}:   {stage}", f"{share:.1f}% ({secs / n * 1e3:.2f} ms each)"))
            other = 100.0 * (res["wall"] - res["timed"]) / res["wall"]
            metrics[f"{name}_share_other_pct"] = round(other, 1)
            rows.append((f"{name}:   other (bench loop)", f"{other:.1f}%"))
            phases: list[tuple[str, str, dict[str, Any], int]] = [("one process", "", res, n)]
            for k, run_ in par.items():
                key, prate = f"_{k}proc", run_["n"] / run_["wall"]
                metrics[f"{name}{key}_proposals_per_s"] = round(prate, 1)
                metrics[f"{name}{key}_p50_ms"] = round(percentile(run_["latencies"], 50) * 1e3, 2)
                metrics[f"{name}{key}_cpu_ms_per_proposal"] = round(run_["cpu"] / run_["n"] * 1e3, 2)
                metrics[f"{name}{key}_done"] = run_["done"]
                rows.append((f"{name}: {k} processes at once, proposals/s",
                             f"{prate:,.1f} ({run_['done']} of {run_['n']} done; p50 "
                             f"{metrics[f'{name}{key}_p50_ms']} ms; CPU "
                             f"{metrics[f'{name}{key}_cpu_ms_per_proposal']} ms a proposal)"))
                phases.append((f"{k} processes", key, run_, run_["n"]))
            for label, key, run_, count in phases:
                whole, ceiling = run_["machine"].per_unit_ms(count), run_["machine"].ceiling_per_s(count)
                if whole is None or ceiling is None:
                    continue
                metrics[f"{name}{key}_machine_cpu_ms_per_proposal"] = round(whole, 2)
                metrics[f"{name}{key}_ceiling_per_s"] = round(ceiling, 1)
                rows.append((f"{name}: {label}, machine CPU a proposal",
                             f"{whole:.2f} ms (every process: bench, database; ceiling at 100 % of "
                             f"{os.cpu_count()} cores: {ceiling:,.0f}/s)"))
            for label, key, run_, count in phases:
                _control_plane_rows(name, label, key, _control_plane(run_, count), metrics, rows)
            notes.append(f"{name}: {res['devices']} TR-181 devices cycled; each proposal = AutoChannelEnable + "
                         "Channel, submitted and applied by one person's token (alice, support agent)")
    notes.append("CPU a proposal is the submitting process's own (the simulator included); PostgreSQL's server "
                 "CPU is not in it. Machine CPU a proposal is every process's (/proc/stat, steal left out), "
                 "whatever else runs included (load above): the ceiling is the cores divided by it — what "
                 "this code could reach on this machine with every core busy, however it is parallelised")
    notes.append("Control plane: the simulated devices' work taken out — the wall time inside the simulator's "
                 "device calls (as a share of the processes' busy time, as campaign_run does), their CPU and, "
                 "on PostgreSQL, the CPU of the backends serving the twin's connections; the lifecycle's gates, "
                 "grants, store, audit and policy work all stay in. A real CPE does the rest on its own CPU")
    if extra:
        notes.append(f"{extra:,} bare device rows added to the fleet (GATEWARD_BENCH_LIFECYCLE_FLEET), never targeted")
    return BenchResult(NAME, metrics, {"proposals": n, "homes": homes, "workers": _process_counts(),
                                       "extra_devices": extra,
                                       "backends": list(dbs)}, rows, notes)
