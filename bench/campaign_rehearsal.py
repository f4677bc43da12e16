"""campaign_rehearsal: a campaign's rehearsal on twin copies of a large slice, against its preview.

The slice is synthetic store rows with one stored snapshot each (``testing.bulk_fleet``, the gate
benchmark's fleet); the campaign moves every 5 GHz radio to channel 36. Timed: the rehearsal
(every target's stored tree replayed, presence asked of each target's adapter, windows, upstreams,
drift, timing), and as the baseline in the same run the fleet preview from stored snapshots the
campaign's creation already paid for (``core.fleet_facts.preview_facts``: per-class diffs).
The synthetic devices are not in the simulator's twin, so each presence answer is the adapter's
"unknown device" — the same lookup a real twin's presence makes.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from bench.framework import BenchResult
from testing.bulk_fleet import seed_bulk_fleet

NAME = "campaign_rehearsal"
KEYS = ("rehearse_2k_s", "preview_2k_s")  # metrics every --quick run reports (tests/bench_smoke)
DESCRIPTION = "rehearse a 10k (quick 2k) / 50k-device campaign on its stored trees; baseline: its snapshot preview"


def _preview_s(rt: Any, pid: str) -> float:
    """The snapshot preview's summary of the same campaign (``core.fleet_facts``), timed alone."""
    from core import fleet_facts
    from core.kernel.secrets import is_secret_path

    p = rt.lifecycle.get(pid)
    changes = [(c.path, c.value, is_secret_path(c.path)) for c in p.changes]
    t0 = time.perf_counter()
    with rt.store.fleet_read(len(p.targets)) as s:
        fleet_facts.preview_facts(s, pid, changes, len(p.targets), target_ids=p.targets)
    return time.perf_counter() - t0


def _one(n: int) -> dict[str, Any]:
    from campaigns.service import Campaigns
    from core.kernel.config import Settings
    from core.users import get_actor
    from gateward.runtime import build_runtime

    with tempfile.TemporaryDirectory() as tmp:
        rt = build_runtime(Settings(database_url=f"sqlite:///{Path(tmp) / 'r.db'}"))
        seed_bulk_fleet(rt.store, n)
        svc = Campaigns(rt)
        admin = get_actor(rt.store, "dave")
        st = svc.create({"name": "channel 36", "target": {"all_fleet": True}, "emergency": True,
                         "changes": [{"path": "Device.WiFi.Radio.2.AutoChannelEnable", "value": False},
                                     {"path": "Device.WiFi.Radio.2.Channel", "value": 36}]}, admin)
        t0 = time.perf_counter()
        report = svc.rehearse(st["id"], admin)
        rehearse_s = time.perf_counter() - t0
        preview_s = _preview_s(rt, st["proposal"]["id"])
        rt.close()
    return {"rehearse_s": rehearse_s, "preview_s": preview_s, "counts": report["counts"],
            "classes": len(report["classes"])}


def run(quick: bool) -> BenchResult:
    sizes = [2000] if quick else [10000, 50000]
    metrics: dict[str, float] = {}
    rows: list[tuple[str, str]] = []
    for n in sizes:
        r = _one(n)
        k = f"{n // 1000}k"
        metrics[f"rehearse_{k}_s"] = round(r["rehearse_s"], 3)
        metrics[f"rehearse_{k}_per_device_us"] = round(1e6 * r["rehearse_s"] / n, 1)
        metrics[f"preview_{k}_s"] = round(r["preview_s"], 3)
        metrics[f"rehearse_over_preview_{k}"] = round(r["rehearse_s"] / r["preview_s"], 2) if r["preview_s"] else 0.0
        rows.append((f"{n:,} devices: rehearsal ({r['classes']} classes; {r['counts']})",
                     f"{r['rehearse_s']:.2f} s ({1e6 * r['rehearse_s'] / n:.0f} µs a device)"))
        rows.append((f"{n:,} devices: snapshot preview of the same campaign (baseline)", f"{r['preview_s']:.2f} s"))
    return BenchResult(name=NAME, metrics=metrics, params={"sizes": sizes, "database": "SQLite file"}, rows=rows)
