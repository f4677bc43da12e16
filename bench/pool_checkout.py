"""What dropping dead pooled connections costs a transaction on PostgreSQL.

Why it matters: after a database outage the pool still held connections the server (or a proxy)
had ended, and requests that drew one failed for up to 5 s after the database was back (issue 45).
``core.store.db._ping_when_idle`` now also pings a connection the server sent anything to while it
sat in the pool (a zero-timeout ``poll`` of its socket); ``pool_pre_ping`` would ping on every
checkout. This measures one short read transaction — checkout, ``SELECT 1``, checkin — three ways
in the same process against the same server: no check at all (baseline), the store's engine
(idle ping + poll), and ``pool_pre_ping=True``. The poll is on every checkout of the hot path, so
its cost is the figure; the goal is ≤ 5 µs over the baseline (pre-ping costs a round trip).

PostgreSQL from ``GATEWARD_BENCH_DATABASE_URL``, ``GATEWARD_TEST_DATABASE_URL`` or the local default.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from sqlalchemy import Engine, create_engine, text

from bench.framework import BenchResult, summarize_us

NAME = "pool_checkout"
KEYS = ()  # metrics every --quick run reports (tests/bench_smoke)
# ... and these with a PostgreSQL configured
KEYS_POSTGRES = ("store_over_baseline_p50_us", "pre_ping_over_baseline_p50_us")
DESCRIPTION = ("one short transaction on PostgreSQL: the store's dead-connection check (idle ping + socket "
               "poll) vs no check (baseline) vs pool_pre_ping (goal: ≤ 5 µs over the baseline)")
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
GOAL_OVER_BASELINE_US = 5.0


def _time(engine: Engine, n: int) -> list[float]:
    one = text("SELECT 1")
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        with engine.connect() as conn:
            conn.execute(one).scalar()
            conn.rollback()
        samples.append(time.perf_counter() - t0)
    return samples


def run(quick: bool) -> BenchResult:
    from core.store.db import make_engine, normalise_url

    url = normalise_url(os.environ.get("GATEWARD_BENCH_DATABASE_URL")
                        or os.environ.get("GATEWARD_TEST_DATABASE_URL") or PG_DEFAULT)
    n = 3_000 if quick else 20_000
    makers: dict[str, Callable[[], Engine]] = {
        "baseline": lambda: create_engine(url, pool_size=2),
        "store": lambda: make_engine(url),
        "pre_ping": lambda: create_engine(url, pool_size=2, pool_pre_ping=True),
    }
    engines = {k: make() for k, make in makers.items()}
    try:
        for e in engines.values():
            _time(e, 200)  # connected, prepared, warm
        samples: dict[str, list[float]] = {k: [] for k in engines}
        for _ in range(5):  # interleaved rounds: a load change on the machine hits all three alike
            for k, e in engines.items():
                samples[k] += _time(e, n // 5)
    finally:
        for e in engines.values():
            e.dispose()
    metrics: dict[str, float] = {}
    for k, s in samples.items():
        metrics.update(summarize_us(s, f"{k}_"))
    over = round(metrics["store_p50_us"] - metrics["baseline_p50_us"], 2)
    metrics["store_over_baseline_p50_us"] = over
    metrics["pre_ping_over_baseline_p50_us"] = round(metrics["pre_ping_p50_us"] - metrics["baseline_p50_us"], 2)
    rows = [(f"{k}: p50 / p99 / mean", f"{metrics[k + '_p50_us']} / {metrics[k + '_p99_us']} / "
             f"{metrics[k + '_mean_us']} µs") for k in samples]
    met = "met" if over <= GOAL_OVER_BASELINE_US else "NOT met"
    rows.append(("store check over baseline, p50", f"{over} µs (goal ≤ {GOAL_OVER_BASELINE_US:g} µs: {met})"))
    rows.append(("pool_pre_ping over baseline, p50", f"{metrics['pre_ping_over_baseline_p50_us']} µs"))
    return BenchResult(name=NAME, metrics=metrics, params={"transactions_each": n, "database": "postgresql"},
                       rows=rows)
