"""effect_estimate: a KPI effect (difference in differences, SciPy's interval) over a large cohort.

A synthetic cohort — changed devices and a control — with a 15-minute KPI series the day before and
the six hours after their change (48 samples a device, a known effect of -12 on the changed ones),
read from the store by ``campaigns.effects.device_changes`` and estimated. Baseline in the same run:
what the gate computed before (the treated and the control cohort's means since the ring started,
one SQL aggregate each), over the same rows.
"""

from __future__ import annotations

import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.framework import BenchResult

NAME = "effect_estimate"
# metrics every --quick run reports (tests/bench_smoke)
KEYS = ("did_total_s", "baseline_means_s", "effect", "count_read_s", "count_baseline_s")
DESCRIPTION = "DiD with interval over 20k (quick 2k) devices × 48 samples; baseline: the old means-since-start"
METRIC = "wifi.channel_utilization_pct"
COUNT = "dns.failures"


def _one(n: int) -> dict[str, float]:
    from sqlalchemy import func, insert, select

    from campaigns.effects import KPIS, device_changes
    from campaigns.estimator import estimate
    from core.kernel.config import Settings
    from core.store.schema import TelemetryRow
    from gateward.runtime import build_runtime
    from testing.bulk_fleet import seed_bulk_fleet

    with tempfile.TemporaryDirectory() as tmp:
        rt = build_runtime(Settings(database_url=f"sqlite:///{Path(tmp) / 'e.db'}"))
        seed_bulk_fleet(rt.store, n)
        from core.store.schema import DeviceRow

        with rt.store.read() as s:
            ids = sorted(s.scalars(select(DeviceRow.id)))
        t0 = datetime(2026, 1, 5, 12, tzinfo=UTC)
        rng = random.Random(3)
        treated = ids[: int(n * 0.7)]
        changed = set(treated)
        rows = []
        for d in ids:
            level = rng.uniform(10, 60)
            shift = -12.0 if d in changed else 0.0
            for k in range(24):
                rows.append({"device_id": d, "ts": t0 - timedelta(hours=24) + timedelta(minutes=15 * k),
                             "metric": METRIC, "value": level + rng.gauss(0, 3), "labels": {}})
                rows.append({"device_id": d, "ts": t0 + timedelta(minutes=15 * k), "metric": METRIC,
                             "value": level + shift + rng.gauss(0, 3), "labels": {}})
                if k % 4 == 0 and rng.random() < 0.5:  # a count, written only when non-zero
                    rows.append({"device_id": d, "ts": t0 + timedelta(minutes=15 * k), "metric": COUNT,
                                 "value": float(rng.randint(1, 9)), "labels": {}})
        with rt.store.write() as s:
            for i in range(0, len(rows), 20000):
                s.execute(insert(TelemetryRow), rows[i:i + 20000])
        control = ids[len(treated):]
        import scipy.stats  # noqa: F401 - imported once per process: not the estimate's cost
        now = t0 + timedelta(hours=7)
        t = time.perf_counter()
        with rt.store.read() as s:
            dt = device_changes(s, KPIS[METRIC], dict.fromkeys(treated, t0), window_h=6, now=now)
            dc = device_changes(s, KPIS[METRIC], dict.fromkeys(control, t0), window_h=6, now=now)
        read_s = time.perf_counter() - t
        t = time.perf_counter()
        eff = estimate(KPIS[METRIC], dt, dc)
        estimate_s = time.perf_counter() - t
        t = time.perf_counter()
        with rt.store.read() as s:
            for group in (treated, control):
                for i in range(0, len(group), 500):
                    s.execute(select(func.avg(TelemetryRow.value), func.count()).where(
                        TelemetryRow.metric == METRIC, TelemetryRow.ts >= t0,
                        TelemetryRow.device_id.in_(group[i:i + 500]))).one()
        means_s = time.perf_counter() - t
        count_s, count_baseline_s = _count_reads(rt, treated, control, t0, now)
        rt.close()
    return {"read_s": read_s, "estimate_s": estimate_s, "means_s": means_s, "effect": eff.estimate or 0.0,
            "low": eff.low or 0.0, "high": eff.high or 0.0, "count_s": count_s, "count_baseline_s": count_baseline_s}


def _count_reads(rt: Any, treated: list[str], control: list[str], t0: datetime, now: datetime) -> tuple[float, float]:
    """A count KPI's read (its sums, and each device's reporting hours on each side: issue 59) against
    the read it replaced in the same run — its sums and one row count per device and side, which took
    an hour with no report as an hour without failures."""
    from sqlalchemy import and_, case, func, select

    from campaigns.effects import KPIS, _windowed, device_changes
    from core.store.schema import TelemetryRow

    t = time.perf_counter()
    with rt.store.read() as s:
        for group in (treated, control):
            device_changes(s, KPIS[COUNT], dict.fromkeys(group, t0), window_h=6, now=now)
    count_s = time.perf_counter() - t
    pre, post = (t0 - timedelta(hours=24), t0 - timedelta(hours=18)), (t0, t0 + timedelta(hours=6))
    ts = TelemetryRow.ts
    t = time.perf_counter()
    with rt.store.read() as s:
        for group in (treated, control):
            for i in range(0, len(group), 500):
                part = group[i:i + 500]
                s.execute(_windowed(s, KPIS[COUNT], part, pre, post, {})).all()
                s.execute(select(TelemetryRow.device_id,
                                 func.count(case((and_(ts >= pre[0], ts < pre[1]), 1), else_=None)),
                                 func.count(case((and_(ts >= post[0], ts < post[1]), 1), else_=None)))
                          .where(TelemetryRow.device_id.in_(part), ts >= pre[0], ts < post[1])
                          .group_by(TelemetryRow.device_id)).all()
    return count_s, time.perf_counter() - t


def run(quick: bool) -> BenchResult:
    n = 2000 if quick else 20000
    r = _one(n)
    total = r["read_s"] + r["estimate_s"]
    metrics = {"devices": float(n), "did_total_s": round(total, 3), "did_read_s": round(r["read_s"], 3),
               "did_estimate_ms": round(1e3 * r["estimate_s"], 2), "per_device_us": round(1e6 * total / n, 1),
               "baseline_means_s": round(r["means_s"], 3),
               "did_over_baseline": round(total / r["means_s"], 2) if r["means_s"] else 0.0,
               "effect": round(r["effect"], 3), "ci_low": round(r["low"], 3), "ci_high": round(r["high"], 3),
               "count_read_s": round(r["count_s"], 3), "count_baseline_s": round(r["count_baseline_s"], 3)}
    rows = [(f"{n:,} devices × 48 samples: DiD read + estimate", f"{total:.2f} s ({1e6 * total / n:.0f} µs a device; "
             f"estimate {1e3 * r['estimate_s']:.1f} ms)"),
            ("baseline: treated and control means since the change (the old gate)", f"{r['means_s']:.2f} s"),
            ("a count KPI's read, over the hours each device reported (issue 59)", f"{r['count_s']:.2f} s"),
            ("baseline: the same sums and one row count a device and side (the old read)",
             f"{r['count_baseline_s']:.2f} s"),
            ("effect found (true -12)", f"{r['effect']:+.2f} (95 % CI {r['low']:+.2f} to {r['high']:+.2f})")]
    return BenchResult(name=NAME, metrics=metrics, params={"devices": n, "samples_per_device": 48,
                                                            "treated_share": 0.7, "database": "SQLite file"},
                       rows=rows)
