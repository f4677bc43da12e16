"""``api_latency``: p50/p99 latency and throughput of ``GET /api/proposals`` and
``POST /api/proposals`` (one device, the full validate → live preview → policy path) against a
real ``gateward run`` server on loopback, on SQLite and on PostgreSQL.

Load generator: raw asyncio sockets, one HTTP/1.1 keep-alive connection per concurrent client,
in this process (:class:`RawClient`). Why not httpx: its per-request cost on this machine was
about as large as the server's own for the light routes, on the same two cores, so the figure
measured the client. ``httpx`` is still run for ``/api/health`` as a same-run comparison. The
server is a separate process; besides the default (httptools + uvloop, one process) the same run
measures the old floor (``--http h11 --loop asyncio``) and ``--workers 2``. Request loops are
bounded by count; PostgreSQL is used when reachable (``GATEWARD_BENCH_DATABASE_URL``, else
``GATEWARD_TEST_DATABASE_URL``, else the local default) in a schema of its own that is dropped
afterwards, and reported as skipped otherwise. ``GATEWARD_BENCH_PYSPY=/tmp/prof`` runs the server
under ``py-spy record`` (raw collapsed stacks), for profiling what the figures measure.
"""

from __future__ import annotations

import asyncio
import itertools
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
import orjson

from bench.framework import BenchResult, percentile

NAME = "api_latency"
# metrics every --quick run reports (tests/bench_smoke)
KEYS = ("sqlite_get_proposals_req_per_s", "sqlite_post_proposals_req_per_s", "sqlite_workers2_post_proposals_req_per_s")
# ... and these with a PostgreSQL configured
KEYS_POSTGRES = ("postgres_post_proposals_req_per_s", "postgres_workers2_post_proposals_req_per_s")
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
    from core.kernel.config import Settings
    from core.kernel.models import Change, ProposalDraft
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
def _server(url: str, home: Path, homes: int, extra: tuple[str, ...] = ()) -> Iterator[tuple[str, int]]:
    port = _free_port()
    env = {**os.environ, "GATEWARD_DATABASE_URL": url, "GATEWARD_HOME": str(home)}
    # One token stands for every simulated client: lift the per-client share so it is the server's
    # capacity that is measured (sheds, if any, are counted as non-2xx in the notes).
    env.setdefault("GATEWARD_API_MAX_PER_CLIENT", "1000")
    env.pop("OPENAI_API_KEY", None)
    log = open(home / "server.log", "wb")  # noqa: SIM115 - closed in finally
    # The database is seeded by _prepare: a production start (no --demo) serves it as it is (issue 34).
    cmd = [sys.executable, "-m", "gateward.cli", "run", "--host", "127.0.0.1", "--port", str(port), *extra]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    spy: subprocess.Popen[bytes] | None = None
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        retries = 3
        while True:
            if proc.poll() is not None:
                said = (home / "server.log").read_text()[-2000:]
                if "cannot listen" not in said or not retries:
                    raise RuntimeError(f"server exited: {said}")
                # The free port was taken between asking for it and binding it (a shared machine): another.
                retries -= 1
                port = _free_port()
                cmd[cmd.index("--port") + 1] = str(port)
                base = f"http://127.0.0.1:{port}"
                proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
                continue
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
        yield base, proc.pid
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


def _idle_cpu_per_s(pid: int, seconds: float = 0.5) -> float:
    """What the server burns per second with no request in flight (its background parts)."""
    c0, t0 = _cpu_s(pid), time.perf_counter()
    time.sleep(seconds)
    return (_cpu_s(pid) - c0) / (time.perf_counter() - t0)


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system, every thread) of ``pid`` and its child processes (``--workers``),
    from ``/proc``: the server's own cost per request, whatever else runs on the machine."""
    tick = os.sysconf("SC_CLK_TCK")
    total, todo, seen = 0, [pid], set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError, IndexError):
            continue
    return total / tick


class RawClient:
    """One HTTP/1.1 keep-alive connection on raw asyncio streams: a request is one write and two
    reads (head, then ``Content-Length`` bytes or chunks). Just enough HTTP for this server."""

    def __init__(self, host: str, port: int, token: str) -> None:
        self.host, self.port = host, port
        self.auth = f"Authorization: Bearer {token}\r\n".encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: Any = None) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        payload = b"" if body is None else orjson.dumps(body)
        head = (f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Length: {len(payload)}\r\n").encode()
        if payload:
            head += b"Content-Type: application/json\r\n"
        self.writer.write(head + self.auth + b"\r\n" + payload)
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
        if "content-length" in headers:
            await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding") == "chunked":
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                await self.reader.readexactly(size + 2)
                if size == 0:
                    break
        if headers.get("connection") == "close":
            await self.close()
        return status

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


async def _load(base: str, token: str, make: Callable[[int], tuple[str, str, Any]], total: int,
                concurrency: int, client: str = "raw") -> tuple[list[float], float, dict[int, int]]:
    """``total`` requests from ``concurrency`` workers (one connection each); returns latencies
    (s), wall time, statuses. ``client``: ``raw`` (:class:`RawClient`) or ``httpx``."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    counter = iter(range(total))
    host, port = base.rsplit("//", 1)[1].rsplit(":", 1)
    if client == "raw":
        conns = [RawClient(host, int(port), token) for _ in range(concurrency)]

        async def worker(conn: RawClient) -> None:
            for i in counter:
                method, path, body = make(i)
                t0 = time.perf_counter()
                status = await conn.request(method, path, body)
                latencies.append(time.perf_counter() - t0)
                statuses[status] = statuses.get(status, 0) + 1

        t0 = time.perf_counter()
        try:
            await asyncio.gather(*(worker(c) for c in conns))
        finally:
            for c in conns:
                await c.close()
        return latencies, time.perf_counter() - t0, statuses
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=120,
                                 limits=limits) as hx:
        async def hx_worker() -> None:
            for i in counter:
                method, path, body = make(i)
                t0 = time.perf_counter()
                r = await hx.request(method, path, json=body)
                latencies.append(time.perf_counter() - t0)
                statuses[r.status_code] = statuses.get(r.status_code, 0) + 1

        t0 = time.perf_counter()
        await asyncio.gather(*(hx_worker() for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    return latencies, wall, statuses


# (label, server options, phases): the default server, the old floor and two API processes, same run.
ROUNDS = 3
SERVERS: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("", (), ("baseline_health", "baseline_health_httpx", "baseline_me", "get_proposals", "get_proposals_uncached",
              "post_proposals")),
    ("h11_asyncio", ("--http", "h11", "--loop", "asyncio"), ("baseline_health", "baseline_me", "get_proposals")),
    ("workers2", ("--workers", "2"), ("baseline_health", "get_proposals", "get_proposals_uncached",
                                     "post_proposals")),
)


def _measure(backend: str, homes: int, n_get: int, n_post: int, concurrency: int, seeded: int,
             rows: list[tuple[str, str]], notes: list[str]) -> dict[str, float]:
    metrics: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix=f"gw-bench-{backend}-") as tmpdir:
        tmp = Path(tmpdir)
        with _database(backend, tmp) as url:
            token, targets, auditor = _prepare(url, homes, seeded)

            def get(_: int) -> tuple[str, str, Any]:
                return "GET", "/api/proposals?limit=50", None

            distinct = itertools.count()

            def get_uncached(_: int) -> tuple[str, str, Any]:
                # Never the same query twice in a run: every request misses the page cache and reads
                # the page (the rows' rendered JSON, cached per row version, is warm).
                n = next(distinct)
                state = ("", "&state=awaiting_approval", "&state=approved")[(n // 1640) % 3]
                return "GET", f"/api/proposals?limit={10 + (n // 40) % 41}&offset={n % 40}{state}", None

            def post(i: int) -> tuple[str, str, Any]:
                dev = targets[i % len(targets)]
                return "POST", "/api/proposals", {
                    "intent": f"bench {i}", "targets": [dev],
                    "changes": [{"path": "Device.WiFi.Radio.1.Channel", "value": 1 + (i % 3) * 5}]}

            def health(_: int) -> tuple[str, str, Any]:
                return "GET", "/api/health", None

            def me(_: int) -> tuple[str, str, Any]:
                return "GET", "/api/me", None

            phases: dict[str, tuple[Callable[[int], tuple[str, str, Any]], int, str]] = {
                "baseline_health": (health, n_get, "raw"), "baseline_health_httpx": (health, n_get, "httpx"),
                "baseline_me": (me, n_get, "raw"), "get_proposals": (get, n_get, "raw"),
                "get_proposals_uncached": (get_uncached, n_get, "raw"),
                "post_proposals": (post, n_post, "raw")}
            for server_label, extra, wanted in SERVERS:
                with _server(url, tmp, homes, extra) as (base, pid):
                    # Warm up connections, caches and the server's start-up work (its background threads'
                    # first rounds), which otherwise land on whichever row runs first.
                    asyncio.run(_load(base, token, get, 40, concurrency))
                    asyncio.run(_load(base, token, health, n_get, concurrency))
                    # Baselines first, same server, same run: the framework floor (no auth, no database)
                    # and an authenticated no-op (token check only). The proposal rows are read against them.
                    # Interleaved rounds, so that a burst of load from elsewhere on the machine hits every
                    # row alike rather than whichever ran at that moment.
                    runs: dict[str, tuple[list[float], list[float], dict[int, int]]] = {
                        label: ([], [], {}) for label in wanted}
                    cpu: dict[str, float] = dict.fromkeys(wanted, 0.0)
                    idle: list[float] = []
                    for _ in range(ROUNDS):
                        idle.append(_idle_cpu_per_s(pid))
                        for label in wanted:
                            make, total, client = phases[label]
                            c0 = _cpu_s(pid)
                            lat, wall, statuses = asyncio.run(
                                _load(base, token, make, total // ROUNDS, concurrency, client))
                            cpu[label] += _cpu_s(pid) - c0
                            runs[label][0].extend(lat)
                            runs[label][1].append(wall)
                            for code, n in statuses.items():
                                runs[label][2][code] = runs[label][2].get(code, 0) + n
                    load = os.getloadavg()[0]
                    # The least of the samples: the background parts' steady burn (a start-up burst —
                    # the first detector run, recovery — would otherwise be charged to the requests).
                    idle_per_s = min(idle)
                    for label in wanted:
                        lat, walls, statuses = runs[label]
                        total, wall = len(lat), sum(walls)
                        ok = sum(n for s, n in statuses.items() if s < 300)
                        bad = {s: n for s, n in statuses.items() if s >= 300}
                        key = "_".join(x for x in (backend, server_label, label) if x)
                        us = [x * 1e6 for x in lat]
                        metrics[f"{key}_p50_us"] = round(percentile(us, 50), 1)
                        metrics[f"{key}_p99_us"] = round(percentile(us, 99), 1)
                        metrics[f"{key}_req_per_s"] = round(total / wall, 1)
                        # The server's CPU per request (all its processes and threads, less what it burns
                        # idle): what a quiet machine's throughput follows, whatever the load here.
                        busy = max(cpu[label] - idle_per_s * wall, 0.0)
                        metrics[f"{key}_server_cpu_us_per_req"] = round(busy / max(total, 1) * 1e6, 1)
                        p50_ms, p99_ms = metrics[f"{key}_p50_us"] / 1000, metrics[f"{key}_p99_us"] / 1000
                        rows.append((key.replace("_", " "),
                                     f"p50 {p50_ms:.1f} ms · p99 {p99_ms:.1f} ms · "
                                     f"{metrics[f'{key}_req_per_s']:.0f} req/s · {ok}/{total} 2xx · server CPU "
                                     f"{metrics[f'{key}_server_cpu_us_per_req'] / 1000:.2f} ms/req"))
                        if bad:
                            notes.append(f"{key}: non-2xx answers {bad}")
                    label = "_".join(x for x in (backend, server_label) if x)
                    metrics[f"{label}_loadavg_1m"] = round(load, 2)
                    metrics[f"{label}_server_idle_cpu_pct"] = round(idle_per_s * 100, 1)
                    rows.append((f"{label.replace('_', ' ')}: load average (1 min) · server CPU idle",
                                 f"{load:.2f} · {idle_per_s * 100:.1f} % of a core"))
                    if server_label:
                        continue
                    split = _post_split(base, auditor)
                    for part, ms in split.items():
                        metrics[f"{backend}_post_{part}_ms"] = ms
                    if split:
                        rows.append((f"{backend} post: where a request's server time goes (mean per call)",
                                     _describe_split(split)))
    return metrics


Labels = frozenset[tuple[str, str]]


def _scrape(base: str, token: str) -> dict[tuple[str, Labels], float]:
    """``/metrics`` as {(metric name, its labels): value} (auditor token)."""
    r = httpx.get(f"{base}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    if r.status_code != 200:
        return {}
    out: dict[tuple[str, Labels], float] = {}
    for line in r.text.splitlines():
        if line.startswith("#") or "{" not in line:
            continue
        name, rest = line.split("{", 1)
        labels, _, value = rest.rpartition("} ")
        pairs = frozenset((k, v.strip('"')) for k, _, v in (x.partition("=") for x in labels.split('",') if x))
        out[(name, pairs)] = float(value)
    return out


def _mean_ms(m: dict[tuple[str, Labels], float], metric: str, **labels: str) -> float | None:
    key = frozenset(labels.items())
    n = m.get((f"{metric}_count", key))
    return round(m[(f"{metric}_sum", key)] / n * 1000, 2) if n else None


def _post_split(base: str, auditor_token: str) -> dict[str, float]:
    """Where a POST's server time goes, from the server's own histograms on ``/metrics``, mean ms
    per call: ``request`` (the whole request inside the app, ``gateward_http_request_duration_seconds``),
    ``lifecycle`` (the ``Lifecycle.submit`` call) and ``answer`` (reading the proposal back for the
    reply; ``gateward_api_handler_seconds``), ``route`` = request - lifecycle - answer (body parsing,
    token check, waiting for a slot or a worker thread), and the lifecycle's stages
    (``gateward_lifecycle_stage_seconds``: ``stage_create`` …)."""
    m = _scrape(base, auditor_token)
    out: dict[str, float] = {}
    request = _mean_ms(m, "gateward_http_request_duration_seconds", method="POST", route="/api/proposals")
    life = _mean_ms(m, "gateward_api_handler_seconds", route="POST /api/proposals", part="lifecycle")
    answer = _mean_ms(m, "gateward_api_handler_seconds", route="POST /api/proposals", part="answer")
    if request is not None and life is not None and answer is not None:
        out.update(request=request, lifecycle=life, answer=answer, route=round(request - life - answer, 2))
    stages = {v for (name, labels) in m if name == "gateward_lifecycle_stage_seconds_count"
              for k, v in labels if k == "stage"}
    order = ["create", "validate", "preview", "decide"]
    for st in order + sorted(stages - set(order)):
        ms = _mean_ms(m, "gateward_lifecycle_stage_seconds", stage=st)
        if ms is not None:
            out[f"stage_{st}"] = ms
    return out


def _describe_split(split: dict[str, float]) -> str:
    head = ""
    if "request" in split:
        head = (f"request {split['request']:.1f} ms = lifecycle {split['lifecycle']:.1f} "
                f"({split['lifecycle'] / split['request'] * 100:.0f} %) + answer {split['answer']:.1f} "
                f"+ route {split['route']:.1f}; ")
    stages = " · ".join(f"{k[6:]} {v:.1f}" for k, v in split.items() if k.startswith("stage_"))
    return head + (f"stages (ms): {stages}" if stages else "")


def run(quick: bool) -> BenchResult:
    homes = 20 if quick else 200
    n_get, n_post = (300, 240) if quick else (3000, 1200)
    concurrency = 8 if quick else 16
    seeded = 50 if quick else 500
    rows: list[tuple[str, str]] = []
    notes = [f"load generator: raw asyncio HTTP/1.1 keep-alive, {concurrency} connections in the benchmark "
             "process (httpx.AsyncClient for the `health httpx` row); server: `gateward run` in its own process "
             "(httptools + uvloop, 1 process unless the row says h11 asyncio / workers2), same 2-core machine",
             "`get proposals` asks the same page again and again (served from the page cache while nothing "
             "changes); `get proposals uncached` never asks the same query twice (every request reads the page); "
             "server CPU per request is the server's own processes (all threads, less their idle burn), from /proc",
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
        "preexisting_proposals": seeded, "get_page_size": 50, "client": "raw-asyncio-keepalive",
        "loadavg_1m": round(os.getloadavg()[0], 2)})
