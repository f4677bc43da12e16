"""fleet_overview: ``GET /api/fleet`` at 100,000 devices on PostgreSQL (issue 47), against the old
overview in the same run.

The fleet is made the way an operator makes one (``gateward.fleet_load``, what ``gateward seed``
runs: devices in the store and in the simulator's twin, so presence is asked of real simulated
devices), plus a few hundred open remediation cases. Then, through the real HTTP API in process
(``TestClient``, a bearer token):

* ``first``: the first request of a new process (a fresh Python process builds the runtime and
  the app and starts it as a server does — its lifespan builds the routes and begins the first
  presence sample in the background — then asks at once), in ``FIRST_ROUNDS`` processes; beside
  it, in the same run, the first request as before (``first_baseline``: no start-up work, the
  presence sample asked one device at a time);
* ``cold``: the first request in this process (the one that loaded the fleet);
* ``warm``: ``ROUNDS`` requests after it (the sample kept, ``GATEWARD_FLEET_PRESENCE_S``);
* ``baseline``: the overview as it was before (every active device read into Python, the presence
  of 2,000 devices asked on every request, each active campaign's whole status), called in the same
  process on the same data, ``BASELINE_ROUNDS`` times.

Needs ``GATEWARD_BENCH_DATABASE_URL`` (or ``GATEWARD_TEST_DATABASE_URL``): a fresh schema is made and
dropped. ``--quick``: 10,000 homes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter, defaultdict
from typing import Any

from bench.framework import BenchResult, percentile

NAME = "fleet_overview"
KEYS = ()  # metrics every --quick run reports (tests/bench_smoke)
KEYS_POSTGRES = ("warm_p50_ms", "first_p50_ms", "baseline_p50_ms")  # ... and these with a PostgreSQL configured
DESCRIPTION = "GET /api/fleet at 100k devices on PostgreSQL, with the old overview as baseline (goal <= 300 ms)"
ROUNDS = 15
BASELINE_ROUNDS = 3
FIRST_ROUNDS = 3

CASES_SQL = """
INSERT INTO remediation_cases (id, device_id, problem, kind, status, class_key, proposal_ids, attempts, hits,
                               evidence, opened_at, updated_at)
SELECT 'case-bench-' || rn, id, (ARRAY['wifi_interference','dns_lost','weak_signal'])[rn % 3 + 1], 'detector',
       (ARRAY['open','dispatched','proposed','applied','escalated'])[rn % 5 + 1], '', '[]'::json, 0, 1, '{}'::json,
       now(), now()
FROM (SELECT id, row_number() OVER (ORDER BY id) AS rn FROM devices) AS d WHERE rn % 300 = 0
"""


def _old_overview(rt: Any, svc: Any) -> dict[str, Any]:
    """The overview before issue 47, kept here only to be measured against."""
    from sqlalchemy import func, select

    from api import fleet_trends
    from campaigns.orchestrator import TERMINAL
    from core.store import repo
    from core.store.schema import DeviceRow, OnboardingRow

    with rt.store.read() as s:
        by_status = {str(k): int(n) for k, n in s.execute(
            select(DeviceRow.status, func.count()).group_by(DeviceRow.status)).all()}
        rows = [(str(r[0]), str(r[1]), str(r[2]), f"{r[2]} {r[3]}") for r in s.execute(
            select(DeviceRow.id, DeviceRow.region, DeviceRow.model, DeviceRow.firmware)
            .where(DeviceRow.status == "active").order_by(DeviceRow.id)).all()]
        pending = int(s.scalar(select(func.count()).select_from(OnboardingRow).where(
            OnboardingRow.status == "pending")) or 0)
        active = fleet_trends.active_campaigns(s)
    ids = [r[0] for r in rows]
    if len(ids) > 2000:
        step = len(ids) / 2000
        ids = [ids[int(i * step)] for i in range(2000)]
    presence: dict[str, str] = {}
    for start in range(0, len(ids), 500):
        with rt.store.read() as s:
            devices = repo.get_devices(s, ids[start:start + 500])
        for d in devices.values():
            try:
                p = rt.router.reader(d).presence(d)
                presence[d.id] = "offline" if not p.online else "online" if p.reachable else "unreachable"
            except Exception:
                presence[d.id] = "offline"
    groups: dict[int, Any] = {}
    for idx in (1, 2, 3):
        total: Counter[str] = Counter()
        seen: dict[str, Counter[str]] = defaultdict(Counter)
        for row in rows:
            total[row[idx]] += 1
            if row[0] in presence:
                seen[row[idx]][presence[row[0]]] += 1
        groups[idx] = [(k, n, seen[k]) for k, n in total.most_common()]
    with rt.store.read() as s:
        cases = fleet_trends.open_cases_by_problem(s)
    campaigns = [svc.status(c["id"]) for c in svc.list(limit=50) if c["state"] not in TERMINAL]
    return {"devices": len(rows), "by_status": by_status, "groups": groups, "pending": pending, "active": active,
            "cases": cases, "campaigns": len(campaigns), "presence": Counter(presence.values())}


def _ask_one_by_one(rt: Any, devices: list[Any]) -> dict[str, str]:
    """The presence sample as it was asked before: one device at a time, each device's whole state
    read by its executor, the devices read again by id (kept here only to be measured against)."""
    from core.store import repo

    ids = [d.id for d in devices]
    out: dict[str, str] = {}
    for start in range(0, len(ids), 500):
        with rt.store.read() as s:
            found = repo.get_devices(s, ids[start:start + 500])
        for d in found.values():
            try:
                p = rt.router.reader(d).presence(d)
                out[d.id] = "offline" if not p.online else "online" if p.reachable else "unreachable"
            except Exception:
                out[d.id] = "offline"
    return out


def first_request(url: str, token: str, old: bool) -> dict[str, Any]:
    """In a new process: build the runtime and the app, start it as a server does (its lifespan:
    the routes built, the first presence sample begun), then time its first two ``GET /api/fleet``
    at once. ``old``: as before — no start-up work (the first request built the routes it was
    matched against) and the presence sample asked one device at a time."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.fleet_overview import PresenceCache
    from core.kernel.config import Settings
    from gateward.runtime import build_runtime

    t0 = time.perf_counter()
    rt = build_runtime(Settings(database_url=url))
    app = create_app(rt)
    if old:
        app.state.fleet_presence = PresenceCache(ask=_ask_one_by_one)
    client = TestClient(app)
    if not old:
        client.__enter__()  # the lifespan, as uvicorn runs it before it takes a request
    ready = time.perf_counter() - t0
    headers = {"Authorization": f"Bearer {token}"}
    times = []
    for _ in range(2):
        t = time.perf_counter()
        r = client.get("/api/fleet", headers=headers)
        times.append((time.perf_counter() - t) * 1e3)
        if r.status_code != 200:
            raise RuntimeError(f"GET /api/fleet: {r.status_code} {r.text[:300]}")
    body = r.json()
    if old:
        client.close()
    else:
        client.__exit__(None, None, None)
    rt.close()
    return {"ready_ms": round(ready * 1e3, 1), "first_ms": round(times[0], 1), "second_ms": round(times[1], 1),
            "asked": body["presence_checked"], "online": body["online"], "offline": body["offline"],
            "unreachable": body["unreachable"]}


def _in_new_process(url: str, token: str, old: bool) -> dict[str, Any]:
    code = ("import json, sys; from bench.fleet_overview import first_request; "
            "print(json.dumps(first_request(sys.argv[1], sys.argv[2], sys.argv[3] == 'old')))")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run([sys.executable, "-c", code, url, token, "old" if old else "new"], cwd=root,
                          capture_output=True, text=True, check=False, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"first request in a new process failed: {done.stderr[-2000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def run(quick: bool) -> BenchResult:
    from fastapi.testclient import TestClient
    from sqlalchemy import text

    from api.app import create_app
    from core.kernel.config import Settings
    from core.users import ensure_users, issue_token
    from gateward.fleet_load import load_fleet
    from gateward.runtime import build_runtime
    from testing.databases import pg_schema_url

    homes = 10_000 if quick else int(os.environ.get("GATEWARD_BENCH_FLEET_HOMES", "100000"))
    base = os.environ.get("GATEWARD_BENCH_DATABASE_URL") or os.environ.get("GATEWARD_TEST_DATABASE_URL")
    if not base:
        raise SystemExit("fleet_overview needs PostgreSQL: set GATEWARD_BENCH_DATABASE_URL")
    url, admin, schema = pg_schema_url(base)
    metrics: dict[str, float] = {}
    rows: list[tuple[str, str]] = []
    try:
        rt = build_runtime(Settings(database_url=url))
        t0 = time.perf_counter()
        loaded = load_fleet(rt, homes=homes, seed=7, snapshots=False, telemetry_homes=0)
        ensure_users(rt.store)
        with rt.store.write() as s:
            s.execute(text(CASES_SQL))
        with rt.store.write() as s:
            s.execute(text("ANALYZE"))
        setup_s = time.perf_counter() - t0
        headers = {"Authorization": f"Bearer {issue_token(rt.store, 'alice')}"}
        client = TestClient(create_app(rt))
        t = time.perf_counter()
        first = client.get("/api/fleet", headers=headers)
        cold = time.perf_counter() - t
        if first.status_code != 200:
            raise RuntimeError(f"GET /api/fleet: {first.status_code} {first.text[:300]}")
        body = first.json()
        warm = []
        for _ in range(ROUNDS):
            t = time.perf_counter()
            r = client.get("/api/fleet", headers=headers)
            warm.append((time.perf_counter() - t) * 1e3)
            assert r.status_code == 200
        token = headers["Authorization"].split(" ", 1)[1]
        firsts: list[dict[str, Any]] = []
        olds: list[dict[str, Any]] = []
        for _ in range(FIRST_ROUNDS):  # alternately: the machine's load falls on both alike
            firsts.append(_in_new_process(url, token, old=False))
            olds.append(_in_new_process(url, token, old=True))
        for a, b in zip(firsts, olds, strict=True):  # the same sample, asked two ways: the same counts
            assert (a["asked"], a["online"], a["offline"], a["unreachable"]) == (
                b["asked"], b["online"], b["offline"], b["unreachable"]), (a, b)
        from campaigns.service import Campaigns

        svc = Campaigns(rt)
        old = []
        for _ in range(BASELINE_ROUNDS):
            t = time.perf_counter()
            was = _old_overview(rt, svc)
            old.append((time.perf_counter() - t) * 1e3)
        assert was["devices"] == body["devices"], (was["devices"], body["devices"])
        metrics = {"warm_p50_ms": round(percentile(warm, 50), 1), "warm_p99_ms": round(percentile(warm, 99), 1),
                   "cold_ms": round(cold * 1e3, 1), "baseline_p50_ms": round(percentile(old, 50), 1),
                   "baseline_over_warm": round(percentile(old, 50) / max(percentile(warm, 50), 1e-6), 1),
                   "setup_s": round(setup_s, 1),
                   "first_p50_ms": round(percentile([f["first_ms"] for f in firsts], 50), 1),
                   "first_max_ms": round(max(f["first_ms"] for f in firsts), 1),
                   "first_baseline_p50_ms": round(percentile([f["first_ms"] for f in olds], 50), 1),
                   "process_ready_p50_ms": round(percentile([f["ready_ms"] for f in firsts], 50), 1)}
        rows = [("GET /api/fleet, first request of a new process",
                 f"p50 {metrics['first_p50_ms']} ms, max {metrics['first_max_ms']} ms ({FIRST_ROUNDS} processes; "
                 f"runtime and app built and started in {metrics['process_ready_p50_ms']} ms before it)"),
                ("baseline: the first request as before (same run)",
                 f"p50 {metrics['first_baseline_p50_ms']} ms"),
                ("GET /api/fleet, presence sample kept",
                 f"p50 {metrics['warm_p50_ms']} ms, p99 {metrics['warm_p99_ms']} ms"),
                ("GET /api/fleet, first request in the process that loaded the fleet", f"{metrics['cold_ms']} ms"),
                ("baseline: the old overview, same data, same run", f"p50 {metrics['baseline_p50_ms']} ms "
                                                                    f"({metrics['baseline_over_warm']}x)"),
                ("fleet", f"{body['devices']:,} devices, presence asked of {body['presence_checked']:,}, "
                          f"{sum(body['cases_by_problem'].values())} open cases"),
                ("setup (not timed)", f"{setup_s:.1f} s ({loaded.devices:,} devices loaded)")]
        client.close()
        rt.close()
    finally:
        with admin.begin() as c:
            c.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
    notes = [f"{ROUNDS} requests after the first, through the HTTP API in process (TestClient); the baseline is "
             f"called {BASELINE_ROUNDS} times directly (no HTTP), so its figure is a little kind to it",
             f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"]
    return BenchResult(NAME, metrics, {"homes": homes, "rounds": ROUNDS, "quick": quick}, rows, notes)
