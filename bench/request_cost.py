"""What one bad request costs the server: a body of 70,000 unknown JSON keys against a real
``gateward run`` on loopback, and what it does to another person's ``GET /api/me`` meanwhile.

Why it matters: validation reports an error per unknown key, and turning 70,000 of them into an
answer held the event loop for 0.7-2.2 s while every other request waited. ``api.limits.BodyGuard``
refuses such a body at one parse before validation; the behaviour (422 ``too_many_keys``, a short
answer, other requests answered) is tested in ``tests/api/test_request_cost.py``, the time here.
Goals (the bounds those tests used to assert): a refusal within 250 ms, the whole request over
loopback, upload included (best of a few); ``GET /api/me`` never held past 0.75 s while three
clients send such bodies at once. The same-run baseline is ``GET /api/me`` with nobody attacking.
"""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path

import httpx
import orjson

from bench.framework import BenchResult, percentile

NAME = "request_cost"
KEYS = ("refusal_best_ms", "me_attacked_max_ms")  # metrics every --quick run reports (tests/bench_smoke)
DESCRIPTION = ("70,000 unknown JSON keys refused by a real server (goal ≤ 250 ms) and GET /api/me meanwhile "
               "(goal max ≤ 0.75 s), GET /api/me unloaded as baseline")

UNKNOWN_KEYS = 70_000
GOAL_REFUSAL_S = 0.25
GOAL_HELD_S = 0.75
ROOT = Path(__file__).resolve().parents[1]


def heavy_body(keys: int = UNKNOWN_KEYS) -> bytes:
    """A proposal with ``keys`` unknown keys: about 0.8 MB, under the 1 MiB body limit."""
    body: dict[str, object] = {"intent": "x", "targets": ["a"], "changes": [{"path": "Device.X", "value": 1}]}
    body.update({f"k{i:05d}": 1 for i in range(keys)})
    return orjson.dumps(body)


def _post(base: str, hdr: dict[str, str], raw: bytes) -> float:
    with httpx.Client(timeout=60) as c:
        t0 = time.perf_counter()
        r = c.post(f"{base}/api/proposals", content=raw, headers={**hdr, "Content-Type": "application/json"})
        took = time.perf_counter() - t0
    if r.status_code != 422:
        raise RuntimeError(f"the heavy body was answered {r.status_code}, not 422: {r.text[:200]}")
    return took


def _poll_me(base: str, hdr: dict[str, str], stop: threading.Event, out: list[float]) -> None:
    with httpx.Client(timeout=60) as c:
        while not stop.is_set():
            t0 = time.perf_counter()
            c.get(f"{base}/api/me", headers=hdr).raise_for_status()
            out.append(time.perf_counter() - t0)
            time.sleep(0.02)


def _me_while(base: str, hdr: dict[str, str], attackers: int, raw: bytes, rounds: int) -> list[float]:
    latencies: list[float] = []
    stop = threading.Event()
    poller = threading.Thread(target=_poll_me, args=(base, hdr, stop, latencies))
    poller.start()
    try:
        time.sleep(0.3)
        for _ in range(rounds):
            threads = [threading.Thread(target=_post, args=(base, hdr, raw)) for _ in range(attackers)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
        time.sleep(0.3 if attackers else 1.0)
    finally:
        stop.set()
        poller.join(60)
    return latencies


def run(quick: bool) -> BenchResult:
    from core.kernel.config import Settings
    from core.users import issue_token
    from gateward.runtime import build_runtime
    from gateward.seed import seed_fleet
    from testing.servers import GatewardRun

    rounds = 1 if quick else 3
    raw = heavy_body()
    with tempfile.TemporaryDirectory(prefix="gateward-bench-request-cost-") as tmp:
        home = Path(tmp)
        url = f"sqlite:///{home / 'g.db'}"
        rt = build_runtime(Settings(database_url=url))
        try:
            seed_fleet(rt, homes=3, seed=11)
            token = issue_token(rt.store, "alice")
        finally:
            rt.close()
        hdr = {"Authorization": f"Bearer {token}"}
        with GatewardRun(home=home, database_url=url, homes=3, cwd=ROOT, args=["--no-worker"]) as server:
            refusals = [_post(server.base, hdr, raw) for _ in range(3 * rounds)]
            quiet = _me_while(server.base, hdr, 0, raw, 0)
            held = _me_while(server.base, hdr, 3, raw, rounds)
    best, worst_me, quiet_max = min(refusals), max(held), max(quiet)
    metrics = {"refusal_best_ms": round(best * 1e3, 1), "refusal_p50_ms": round(percentile(refusals, 50) * 1e3, 1),
               "me_attacked_max_ms": round(worst_me * 1e3, 1),
               "me_attacked_p50_ms": round(percentile(held, 50) * 1e3, 1),
               "me_quiet_max_ms": round(quiet_max * 1e3, 1),
               "me_quiet_p50_ms": round(percentile(quiet, 50) * 1e3, 1)}

    def status(value: float, goal: float) -> str:
        return "met" if value <= goal else "NOT met"

    rows = [
        (f"refusal of {UNKNOWN_KEYS:,} unknown keys, best of {len(refusals)}",
         f"{best * 1e3:.1f} ms (p50 {metrics['refusal_p50_ms']} ms; goal ≤ {GOAL_REFUSAL_S * 1e3:.0f} ms: "
         f"{status(best, GOAL_REFUSAL_S)})"),
        ("GET /api/me while 3 clients send such bodies, max",
         f"{worst_me * 1e3:.1f} ms over {len(held)} requests (p50 {metrics['me_attacked_p50_ms']} ms; "
         f"goal ≤ {GOAL_HELD_S * 1e3:.0f} ms: {status(worst_me, GOAL_HELD_S)})"),
        ("GET /api/me with nobody attacking, max (baseline)",
         f"{quiet_max * 1e3:.1f} ms over {len(quiet)} requests (p50 {metrics['me_quiet_p50_ms']} ms)"),
    ]
    return BenchResult(name=NAME, metrics=metrics,
                       params={"unknown_keys": UNKNOWN_KEYS, "body_bytes": len(raw), "attackers": 3,
                               "rounds": rounds, "database": "sqlite"},
                       rows=rows)
