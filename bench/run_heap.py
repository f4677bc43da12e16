"""What a full garbage collection costs the serving process, with its start-up heap frozen or not.

Why it matters: a full collection walks every tracked object, and the request being served waits
for it. ``gateward run`` freezes what it built before serving (``gateward.heap``); this measures the
pause's CPU time over a served demo fleet's heap (the runtime, the app, the twin), unfrozen and
then frozen, in the same process and run. CPython runs a full collection by itself when the
long-lived objects have grown by a quarter since the last one: rare, but then it is this pause.
"""

from __future__ import annotations

import gc
import tempfile
import time
from pathlib import Path

from bench.framework import BenchResult, summarize_us

NAME = "run_heap"
KEYS = ("unfrozen_p50_us", "frozen_p50_us")  # metrics every --quick run reports (tests/bench_smoke)
DESCRIPTION = "gateward run: a full GC pause over the served start-up heap, unfrozen vs frozen (gateward.heap)"


def _pauses(n: int) -> list[float]:
    """CPU seconds of ``n`` full collections (CPU, not wall: a loaded machine stretches the wall
    time of the same work many times over)."""
    out = []
    for _ in range(n):
        t0 = time.process_time()
        gc.collect()
        out.append(time.process_time() - t0)
    return out


def run(quick: bool) -> BenchResult:
    from api.app import create_app
    from core.kernel.config import Settings
    from gateward.heap import freeze_start_up_heap
    from gateward.runtime import build_runtime
    from gateward.seed import start_demo

    homes = 200 if quick else 1_000
    rounds = 10 if quick else 30
    with tempfile.TemporaryDirectory(prefix="gateward-bench-heap-") as tmp:
        rt = build_runtime(Settings(database_url=f"sqlite:///{Path(tmp) / 'gw.db'}", home=Path(tmp)))
        try:
            start_demo(rt, homes=homes)
            app = create_app(rt, demo=True)
            gc.collect()
            tracked = len(gc.get_objects())
            unfrozen = _pauses(rounds)
            frozen_n = freeze_start_up_heap()
            frozen = _pauses(rounds)
            gc.unfreeze()
            del app
        finally:
            rt.close()
    a, b = summarize_us(unfrozen, "unfrozen_"), summarize_us(frozen, "frozen_")
    ratio = b["frozen_p50_us"] / a["unfrozen_p50_us"]
    return BenchResult(
        name=NAME,
        metrics={**a, **b, "tracked_objects": float(tracked), "frozen_objects": float(frozen_n),
                 "frozen_over_unfrozen_p50": round(ratio, 3)},
        params={"homes": homes, "rounds": rounds, "database": "sqlite"},
        rows=[("objects the collector tracks after start-up", f"{tracked:,}"),
              ("full collection, unfrozen, CPU (p50 / p99)", f"{a['unfrozen_p50_us'] / 1000:.1f} / "
                                                         f"{a['unfrozen_p99_us'] / 1000:.1f} ms"),
              ("full collection, frozen, CPU (p50 / p99)", f"{b['frozen_p50_us'] / 1000:.2f} / "
                                                       f"{b['frozen_p99_us'] / 1000:.2f} ms"),
              ("frozen ÷ unfrozen, p50", f"{ratio:.3f}")],
    )
