"""lifecycle_throughput: single-device proposals end to end on the simulator.

Each proposal is created, validated, previewed (live read), decided by the embedded Rego
engine, then applied: gates re-checked, lock, backup, write, read-back verify, done. Reports
proposals/s and the share of wall time per stage (from the lifecycle's own stage timer), on a
fresh SQLite file (and PostgreSQL when ``GATEWARD_BENCH_DATABASE_URL`` is set).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.framework import BenchResult, percentile

NAME = "lifecycle_throughput"
DESCRIPTION = "1,000 single-device proposals end to end on the simulator: proposals/s, time share per stage"


def _targets(rt: Any) -> list[tuple[Any, int]]:
    from core.models import Root
    from core.store import repo

    with rt.store.read() as s:
        devs, _ = repo.list_devices(s, limit=100000)
    out = []
    for d in devs:
        if d.root is not Root.DEVICE:
            continue
        reader = rt.router.reader(d)
        pres = reader.presence(d)
        if not (pres.online and pres.reachable):
            continue
        values = rt.router.reader(d).read(d, ["Device.WiFi.Radio."])
        for path, v in values.items():
            if path.endswith(".OperatingFrequencyBand") and v.value == "5GHz":
                out.append((d, int(path.split(".")[3])))
                break
    return out


def _run(url: str, n: int, homes: int) -> dict[str, Any]:
    from core.config import Settings
    from core.models import Change, ProposalDraft, ProposalState
    from core.users import get_actor
    from gateward.runtime import build_runtime
    from gateward.seed import seed_fleet

    stages: dict[str, float] = defaultdict(float)

    def timer(stage: str, seconds: float) -> None:
        stages[stage] += seconds

    rt = build_runtime(Settings(database_url=url))
    seed_fleet(rt, homes=homes, seed=3, snapshots=False)
    rt.lifecycle.set_stage_timer(timer)
    alice = get_actor(rt.store, "alice")
    targets = _targets(rt)
    channels = (36, 40, 44, 48)
    latencies: list[float] = []
    done = 0
    t_start = time.perf_counter()
    for i in range(n):
        d, r = targets[i % len(targets)]
        ch = channels[(i // len(targets)) % len(channels)]
        t0 = time.perf_counter()
        p = rt.lifecycle.submit(ProposalDraft(
            intent="bench channel change", targets=[d.id],
            changes=[Change(path=f"Device.WiFi.Radio.{r}.AutoChannelEnable", value=False),
                     Change(path=f"Device.WiFi.Radio.{r}.Channel", value=ch)]), alice)
        if p.state is ProposalState.APPROVED:
            out = rt.lifecycle.apply(p.id, alice)
            done += out.proposal.state is ProposalState.DONE
        latencies.append(time.perf_counter() - t0)
    wall = time.perf_counter() - t_start
    rt.close()
    timed = sum(stages.values())
    return {"wall": wall, "done": done, "latencies": latencies, "stages": dict(stages), "timed": timed,
            "devices": len(targets)}


def run(quick: bool) -> BenchResult:
    n = 100 if quick else 1000
    homes = 60 if quick else 200
    backends: dict[str, str | None] = {"sqlite": None}
    pg = os.environ.get("GATEWARD_BENCH_DATABASE_URL")
    if pg:
        backends["postgres"] = pg
    metrics: dict[str, float] = {}
    rows: list[tuple[str, str]] = []
    notes: list[str] = []
    for name, url in backends.items():
        with tempfile.TemporaryDirectory() as tmp:
            db = url or f"sqlite:///{Path(tmp) / 'bench.db'}"
            res = _run(db, n, homes)
        rate = n / res["wall"]
        metrics[f"{name}_proposals_per_s"] = round(rate, 1)
        metrics[f"{name}_p50_ms"] = round(percentile(res["latencies"], 50) * 1e3, 2)
        metrics[f"{name}_p99_ms"] = round(percentile(res["latencies"], 99) * 1e3, 2)
        metrics[f"{name}_done"] = res["done"]
        rows.append((f"{name}: proposals/s", f"{rate:,.1f}"))
        p50, p99 = metrics[f"{name}_p50_ms"], metrics[f"{name}_p99_ms"]
        rows.append((f"{name}: p50 / p99 per proposal", f"{p50} / {p99} ms"))
        rows.append((f"{name}: done", f"{res['done']} of {n}"))
        for stage, secs in sorted(res["stages"].items(), key=lambda kv: -kv[1]):
            share = 100.0 * secs / res["wall"]
            metrics[f"{name}_share_{stage}_pct"] = round(share, 1)
            rows.append((f"{name}:   {stage}", f"{share:.1f}% ({secs / n * 1e3:.2f} ms each)"))
        other = 100.0 * (res["wall"] - res["timed"]) / res["wall"]
        metrics[f"{name}_share_other_pct"] = round(other, 1)
        rows.append((f"{name}:   other (bench loop, get)", f"{other:.1f}%"))
        notes.append(f"{name}: {res['devices']} TR-181 devices cycled; each proposal = AutoChannelEnable + Channel")
    return BenchResult(NAME, metrics, {"proposals": n, "homes": homes, "backends": list(backends)}, rows, notes)
