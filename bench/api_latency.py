"""``api_latency``: p50/p99 latency and throughput of ``GET /api/proposals`` and
``POST /api/proposals`` (one device, the full validate → live preview → policy path) against a
real ``gateward run`` server on loopback, on SQLite and on PostgreSQL.

Load generator: ``httpx.AsyncClient`` with a fixed number of concurrent workers, in this
process; the server is a separate process (one uvicorn worker). Both share the machine's two
cores, so the figures are a floor for a dedicated server, and comparable run to run. Request
loops are bounded by count; PostgreSQL is used when reachable (``GATEWARD_BENCH_DATABASE_URL``,
else ``GATEWARD_TEST_DATABASE_URL``, else the local default) in a schema of its own that is
dropped afterwards, and reported as skipped otherwise. ``GATEWARD_BENCH_PYSPY=/tmp/prof`` runs the
server under ``py-spy record`` (raw collapsed stacks), for profiling what the figures measure.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from bench.framework import BenchResult, percentile

NAME = "api_latency"
DESCRIPTION = ("p50/p99 and req/s for GET and POST /api/proposals over loopback, SQLite and PostgreSQL, "
               "with GET /api/health and /api/me as same-run baselines")
ROOT = Path(__file__).resolve().parents[1]
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _database(backend: str, tmp: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp / 'bench.db'}"
        return
    from sqlalchemy import create_engine, text

    from core.store.db import normalise_url

    base = normalise_url(os.environ.get("GATEWARD_BENCH_DATABASE_URL")
                         or os.environ.get("GATEWARD_TEST_DATABASE_URL") or PG_DEFAULT)
    schema = f"gwbench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base)
    with admin.begin() as c:
        c.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as c:
            c.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _pg_reachable() -> str | None:
    from sqlalchemy import create_engine, text

    from core.store.db import normalise_url

    url = normalise_url(os.environ.get("GATEWARD_BENCH_DATABASE_URL")
                        or os.environ.get("GATEWARD_TEST_DATABASE_URL") or PG_DEFAULT)
    try:
        eng = create_engine(url, connect_args={"connect_timeout": 3})
        with eng.connect() as c:
            c.execute(text("SELECT 1"))
        eng.dispose()
    except Exception as exc:
        return f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"
    return None


def _prepare(url: str, homes: int, proposals: int) -> tuple[str, list[str], str]:
    """Seed the fleet, issue tokens (a proposer's; an auditor's for ``/metrics``), and pre-create
    ``proposals`` so the list has content."""
    from core.config import Settings
    from core.models import Change, ProposalDraft
    from core.users import get_actor, issue_token
    from gateward.runtime import build_runtime
    from gateward.seed import seed_fleet

    rt = build_runtime(Settings(database_url=url))
    try:
        seed_fleet(rt, homes=homes, seed=7)
        from core.store import repo

        with rt.store.read() as s:
            devices, _ = repo.list_devices(s, limit=100_000)
        targets = [d.id for d in devices if str(d.root) == "Device."]
        alice = get_actor(rt.store, "alice")
        for i in range(proposals):
            rt.lifecycle.create(ProposalDraft(intent=f"bench seed {i}", targets=[targets[i % len(targets)]],
                                              changes=[Change(path="Device.WiFi.Radio.1.Channel", value=6)]), alice)
        return issue_token(rt.store, "alice"), targets, issue_token(rt.store, "erin")
    finally:
        rt.close()


@contextmanager
def _server(url: str, home: Path, homes: int) -> Iterator[str]:
    port = _free_port()
    env = {**os.environ, "GATEWARD_DATABASE_URL": url, "GATEWARD_HOME": str(home)}
    # One token stands for every simulated client: lift the per-client share so it is the server's
    # capacity that is measured (sheds, if any, are counted as non-2xx in the notes).
    env.setdefault("GATEWARD_API_MAX_PER_CLIENT", "1000")
    env.pop("OPENAI_API_KEY", None)
    log = open(home / "server.log", "wb")  # noqa: SIM115 - closed in finally
    cmd = [sys.executable, "-m", "gateward.cli", "run", "--host", "127.0.0.1", "--port", str(port),
           "--homes", str(homes)]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    spy: subprocess.Popen[bytes] | None = None
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited: {(home / 'server.log').read_text()[-2000:]}")
            try:
                if httpx.get(f"{base}/api/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not become ready in 120 s")
            time.sleep(0.2)
        profile = os.environ.get("GATEWARD_BENCH_PYSPY")  # a path prefix for py-spy collapsed stacks of the server
        if profile:
            spy = subprocess.Popen([str(Path(sys.executable).with_name("py-spy")), "record", "-r", "100", "-f", "raw",
                                    "-o", f"{profile}.{port}.txt", "--pid", str(proc.pid)], stdout=log,
                                   stderr=subprocess.STDOUT)
        yield base
    finally:
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(timeout=30)
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


async def _load(base: str, token: str, make: Callable[[int], tuple[str, str, Any]], total: int,
                concurrency: int) -> tuple[list[float], float, dict[int, int]]:
    """``total`` requests from ``concurrency`` workers; returns latencies (s), wall time, statuses."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    counter = iter(range(total))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=120,
                                 limits=limits) as client:
        async def worker() -> None:
            for i in counter:
                method, path, body = make(i)
                t0 = time.perf_counter()
                r = await client.request(method, path, json=body)
                latencies.append(time.perf_counter() - t0)
                statuses[r.status_code] = statuses.get(r.status_code, 0) + 1

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    return latencies, wall, statuses


def _measure(backend: str, homes: int, n_get: int, n_post: int, concurrency: int, seeded: int,
             rows: list[tuple[str, str]], notes: list[str]) -> dict[str, float]:
    metrics: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix=f"gw-bench-{backend}-") as tmpdir:
        tmp = Path(tmpdir)
        with _database(backend, tmp) as url:
            token, targets, auditor = _prepare(url, homes, seeded)
            with _server(url, tmp, homes) as base:
                def get(_: int) -> tuple[str, str, Any]:
                    return "GET", "/api/proposals?limit=50", None

                def post(i: int) -> tuple[str, str, Any]:
                    dev = targets[i % len(targets)]
                    return "POST", "/api/proposals", {
                        "intent": f"bench {i}", "targets": [dev],
                        "changes": [{"path": "Device.WiFi.Radio.1.Channel", "value": 1 + (i % 3) * 5}]}

                def health(_: int) -> tuple[str, str, Any]:
                    return "GET", "/api/health", None

                def me(_: int) -> tuple[str, str, Any]:
                    return "GET", "/api/me", None

                asyncio.run(_load(base, token, get, 20, 2))  # warm up connections and caches
                # Baselines first, same server, same run: the framework floor (no auth, no database) and
                # an authenticated no-op (token check only). The proposal rows are read against them.
                for label, make, total in (("baseline_health", health, n_get), ("baseline_me", me, n_get),
                                           ("get_proposals", get, n_get), ("post_proposals", post, n_post)):
                    lat, wall, statuses = asyncio.run(_load(base, token, make, total, concurrency))
                    ok = sum(n for s, n in statuses.items() if s < 300)
                    bad = {s: n for s, n in statuses.items() if s >= 300}
                    key = f"{backend}_{label}"
                    us = [x * 1e6 for x in lat]
                    metrics[f"{key}_p50_us"] = round(percentile(us, 50), 1)
                    metrics[f"{key}_p99_us"] = round(percentile(us, 99), 1)
                    metrics[f"{key}_req_per_s"] = round(total / wall, 1)
                    p50_ms, p99_ms = metrics[f"{key}_p50_us"] / 1000, metrics[f"{key}_p99_us"] / 1000
                    rows.append((f"{backend} {label.replace('_', ' ')}",
                                 f"p50 {p50_ms:.1f} ms · p99 {p99_ms:.1f} ms · "
                                 f"{metrics[f'{key}_req_per_s']:.0f} req/s · {ok}/{total} 2xx"))
                    if bad:
                        notes.append(f"{backend} {label}: non-2xx answers {bad}")
                split = _stage_split(base, auditor)
                for stage, ms in split.items():
                    metrics[f"{backend}_post_stage_{stage}_ms"] = ms
                if split:
                    rows.append((f"{backend} post: lifecycle stages (mean per call)",
                                 " · ".join(f"{k} {v:.1f} ms" for k, v in split.items())))
    return metrics


def _stage_split(base: str, auditor_token: str) -> dict[str, float]:
    """Where a POST's time goes, from the server's own stage histograms on ``/metrics``
    (``gateward_lifecycle_stage_seconds``): mean ms per call of create, validate, preview, decide."""
    r = httpx.get(f"{base}/metrics", headers={"Authorization": f"Bearer {auditor_token}"}, timeout=30)
    if r.status_code != 200:
        return {}
    sums: dict[str, float] = {}
    counts: dict[str, float] = {}
    for line in r.text.splitlines():
        for suffix, into in (("_sum{", sums), ("_count{", counts)):
            if line.startswith("gateward_lifecycle_stage_seconds" + suffix):
                stage = line.split('stage="', 1)[1].split('"', 1)[0]
                into[stage] = float(line.rsplit(" ", 1)[1])
    order = ["create", "validate", "preview", "decide"]
    return {st: round(sums[st] / counts[st] * 1000, 2) for st in order + sorted(set(sums) - set(order))
            if counts.get(st)}


def run(quick: bool) -> BenchResult:
    homes = 20 if quick else 200
    n_get, n_post = (300, 60) if quick else (3000, 600)
    concurrency = 8 if quick else 16
    seeded = 50 if quick else 500
    rows: list[tuple[str, str]] = []
    notes = [f"load generator: httpx.AsyncClient, {concurrency} concurrent workers in the benchmark process; "
             "server: `gateward run` (uvicorn, 1 worker) in its own process, same 2-core machine",
             "POST /api/proposals runs validate → live preview (digital twin) → policy (embedded Rego) per request"]
    metrics: dict[str, float] = {}
    metrics.update(_measure("sqlite", homes, n_get, n_post, concurrency, seeded, rows, notes))
    why = "GATEWARD_BENCH_SQLITE_ONLY is set" if os.environ.get("GATEWARD_BENCH_SQLITE_ONLY") else _pg_reachable()
    if why is None:
        metrics.update(_measure("postgres", homes, n_get, n_post, concurrency, seeded, rows, notes))
    else:
        notes.append(f"PostgreSQL skipped: not reachable ({why})")
    return BenchResult(name=NAME, metrics=metrics, rows=rows, notes=notes, params={
        "homes": homes, "get_requests": n_get, "post_requests": n_post, "concurrency": concurrency,
        "preexisting_proposals": seeded, "get_page_size": 50, "client": "httpx-async", "server_workers": 1})
