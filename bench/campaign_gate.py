"""campaign_gate: validate + preview (stored snapshots) + decide for a fleet-wide proposal.

The gate a campaign passes before any device is touched, through the real lifecycle code paths:
create (selector → frozen targets), validate (once per device class), preview from each device's
latest stored snapshot (per-class diff summary), and the policy decision evaluated once per
equivalence class and fanned out. The fleet is synthetic rows in the store (the device models of
the simulator's catalogue, four regions, varied radio states), because loading a million digital
twins would measure the simulator, not the gate. Setup time is reported apart from the gate.

Each device's newest full snapshot and radio facts are in ``snapshot_heads`` (kept by triggers
as the snapshots are written, so setup pays for them, not the gate; docs/campaigns.md).

The ratio against per-device evaluation is measured on a sample of devices in the same run and
extrapolated to the whole fleet.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.framework import BenchResult, MemoryPeak
from testing.bulk_fleet import seed_bulk_fleet

NAME = "campaign_gate"
# metrics every --quick run reports (tests/bench_smoke)
KEYS = ("gate_10k_s", "classes_10k", "policy_by_class_10k_s", "preview_values_read_10k")
SIM_HOSTS = 39  # LAN hosts per snapshot: ~15 KB, a simulated device's full snapshot (testing.bulk_fleet)
DESCRIPTION = ("validate + snapshot preview + per-class decide for 10k/100k/1M devices, and 100k with "
               "simulator-sized snapshots (GATEWARD_BENCH_GATE_15KB=1000000: 1M; goal 1M ≤ 10 s)")

def _gate(url: str, n: int, hosts: int = 0) -> dict[str, Any]:
    from core.kernel.config import Settings
    from core.kernel.models import Change, ProposalDraft, Selector
    from core.users import get_actor
    from gateward.runtime import build_runtime
    from policies.classes import class_doc

    rt = build_runtime(Settings(database_url=url))
    t0 = time.perf_counter()
    seed_bulk_fleet(rt.store, n, hosts=hosts)
    os.sync()  # the setup's written pages on disk before the gate: 15 GB of them at 1M with ~15 KB snapshots
    _checkpoint(rt.store)
    setup_s = time.perf_counter() - t0
    stages: dict[str, float] = {}
    rt.lifecycle.set_stage_timer(lambda stage, secs: stages.__setitem__(stage, stages.get(stage, 0.0) + secs))
    admin = get_actor(rt.store, "dave")
    draft = ProposalDraft(intent="move every 5 GHz radio to channel 36", selector=Selector(), staged=True,
                          changes=[Change(path="Device.WiFi.Radio.2.AutoChannelEnable", value=False),
                                   Change(path="Device.WiFi.Radio.2.Channel", value=36)],
                          rationale="fleet channel plan")
    anon_before_mb, _ = MemoryPeak.now()
    t0, c0 = time.perf_counter(), time.process_time()
    with MemoryPeak() as mem:
        p = rt.lifecycle.create(draft, admin)
        rt.lifecycle.validate(p.id, admin)
        rt.lifecycle.preview(p.id, admin, source="snapshot")
        decision = rt.lifecycle.decide(p.id, admin)
    gate_s, gate_cpu_s = time.perf_counter() - t0, time.process_time() - c0
    state = rt.lifecycle.get(p.id).state
    classes_pv: list[dict[str, Any]] = (rt.lifecycle.preview_of(p.id) or {}).get("classes") or []
    sampled = [c for c in classes_pv if c.get("sampled")]
    values_read: int = sum(int(c.get("values_read", c["count"])) for c in classes_pv)
    exact_s = _exact_preview_s(rt, p.id) if sampled else None
    # The per-device comparison, outside the timed gate: evaluate class documents one device at a
    # time (every device of the fleet would cost the same) and extrapolate to the whole fleet.
    from core.store import repo

    with rt.store.read() as s:
        stored = repo.latest_decision(s, p.id).input  # type: ignore[union-attr]
    sample = stored["devices"][:300]
    t0 = time.perf_counter()
    for d in sample:
        rt.policy.decide(class_doc(stored, {k: v for k, v in d.items() if k != "class_size"}))
    per_device_s = (time.perf_counter() - t0) / len(sample) * n
    classes = int(stored.get("classes", len(stored["devices"])))
    rt.close()
    return {"setup_s": setup_s, "gate_s": gate_s, "gate_cpu_s": gate_cpu_s, "stages": stages, "classes": classes,
            "anon_before_mb": anon_before_mb, "anon_peak_mb": mem.anon_mb, "file_peak_mb": mem.file_mb,
            "per_device_s": per_device_s, "policy_s": stages.get("decide", 0.0), "state": str(state),
            "allow": decision.allow, "values_read": values_read, "exact_preview_s": exact_s}


def _checkpoint(store: Any) -> None:
    """PostgreSQL: the setup's WAL (gigabytes at 1M) checkpointed before the gate, so that the
    gate does not pay for a checkpoint the load started (with ``max_wal_size`` 1 GB they came every
    5–30 s during the setup). The gate's own writes still checkpoint when they fill the WAL. Needs
    the ``pg_checkpoint`` role or a superuser; without it the gate runs as the setup left it."""
    if store.dialect != "postgresql":
        return
    from sqlalchemy.exc import DBAPIError

    try:
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.exec_driver_sql("CHECKPOINT")
    except DBAPIError as exc:
        print(f"campaign_gate: no CHECKPOINT before the gate ({exc.orig})")


def _exact_preview_s(rt: Any, pid: str) -> float:
    """The baseline of a sampled preview, on the same database: the same summary with every
    target's document read (``core.preview_sample``), timed alone."""
    from core import fleet_facts
    from core.kernel.secrets import is_secret_path

    p = rt.lifecycle.get(pid)
    changes = [(c.path, c.value, is_secret_path(c.path)) for c in p.changes]
    t0 = time.perf_counter()
    with rt.store.fleet_read(len(p.targets)) as s:
        fleet_facts.preview_facts(s, pid, changes, len(p.targets), target_ids=p.targets, exact_up_to=len(p.targets))
    return time.perf_counter() - t0


def _drop(admin: Any, schema: str) -> None:
    from sqlalchemy import text

    with admin.begin() as c:
        c.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def run(quick: bool) -> BenchResult:
    sizes = [2000, 10000] if quick else [10000, 100000, 1000000]
    # Then one size again with snapshots the size of a simulated device's (~15 KB, not ~0.45 KB): up to
    # 50,000 targets the preview reads every target's document (above, a sample), so small ones flatter it.
    # GATEWARD_BENCH_GATE_15KB=1000000 runs it at a million (~15 GB of SQLite file, ~6 min of setup).
    runs = [(n, 0) for n in sizes] + [(int(os.environ.get("GATEWARD_BENCH_GATE_15KB", sizes[-2])), SIM_HOSTS)]
    url_base = os.environ.get("GATEWARD_BENCH_DATABASE_URL")
    metrics: dict[str, float] = {}
    rows: list[tuple[str, str]] = []
    notes = ["gate = create + validate + preview(snapshot) + decide through core.lifecycle; "
             "per-device policy time extrapolated from a 300-device sample in the same run",
             "database: " + ("PostgreSQL (GATEWARD_BENCH_DATABASE_URL); the setup ends with VACUUM (ANALYZE) of the "
                             "seeded tables, as autovacuum would, and a CHECKPOINT" if url_base else "SQLite file"),
             "memory: RssAnon/RssFile of this process sampled every 20 ms during the gate (bench.framework."
             "MemoryPeak); on SQLite each connection's page cache (cache_size, core.store.db) is anonymous"]
    for n, hosts in runs:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{Path(tmp) / 'gate.db'}"
            schema: tuple[Any, str] | None = None
            if url_base:  # a fresh schema of the bench database per size, dropped afterwards
                from testing.databases import pg_schema_url

                url, admin, name = pg_schema_url(url_base)
                schema = (admin, name)
            try:
                res = _gate(url, n, hosts)
            finally:
                if schema is not None:
                    _drop(*schema)
        key = (f"{n // 1000}k" if n < 1000000 else f"{n // 1000000}m") + ("_15kb" if hosts else "")
        label = f"{n:,} devices" + (" (~15 KB snapshots)" if hosts else "")
        metrics[f"gate_{key}_s"] = round(res["gate_s"], 2)
        metrics[f"gate_cpu_{key}_s"] = round(res["gate_cpu_s"], 2)  # this process (SQLite's work included)
        metrics[f"classes_{key}"] = res["classes"]
        metrics[f"policy_by_class_{key}_s"] = round(res["policy_s"], 3)
        metrics[f"policy_per_device_{key}_s"] = round(res["per_device_s"], 2)
        metrics[f"per_device_to_class_ratio_{key}"] = round(res["per_device_s"] / max(res["policy_s"], 1e-9), 1)
        metrics[f"setup_{key}_s"] = round(res["setup_s"], 1)
        metrics[f"anon_peak_{key}_mb"] = round(res["anon_peak_mb"], 1)
        metrics[f"anon_before_{key}_mb"] = round(res["anon_before_mb"], 1)
        metrics[f"file_peak_{key}_mb"] = round(res["file_peak_mb"], 1)
        rows.append((f"{label}: gate", f"{res['gate_s']:.2f} s, CPU {res['gate_cpu_s']:.2f} s ({res['state']})"))
        rows.append((f"{label}:   stages", ", ".join(f"{k} {v:.2f}s" for k, v in res["stages"].items())))
        rows.append((f"{label}:   classes", f"{res['classes']}"))
        rows.append((f"{label}:   decide per class vs per device",
                     f"{res['policy_s']:.2f} s vs {res['per_device_s']:.1f} s "
                     f"(×{metrics[f'per_device_to_class_ratio_{key}']})"))
        metrics[f"preview_values_read_{key}"] = res["values_read"]
        if res["exact_preview_s"] is not None:  # the preview sampled its before values: the exact reading beside it
            sampled_s = res["stages"].get("preview", 0.0)
            metrics[f"preview_every_document_{key}_s"] = round(res["exact_preview_s"], 2)
            rows.append((f"{label}:   preview, before values sampled",
                         f"{sampled_s:.2f} s ({res['values_read']:,} documents read) vs every document read "
                         f"{res['exact_preview_s']:.2f} s (the summary alone, baseline)"))
        rows.append((f"{label}:   setup (not timed)", f"{res['setup_s']:.1f} s"))
        rows.append((f"{label}:   memory during the gate",
                     f"anonymous {res['anon_before_mb']:.0f} → peak {res['anon_peak_mb']:.0f} MiB; "
                     f"file-backed peak {res['file_peak_mb']:.0f} MiB (the database through mmap)"))
    notes.append(f"~15 KB snapshots: {SIM_HOSTS} LAN hosts per snapshot (testing.bulk_fleet), the size of a "
                 "simulated device's full snapshot; the other sizes carry ~0.45 KB, which flatters a preview that "
                 "reads documents")
    notes.append("above 50,000 targets the preview's before values come from a random sample "
                 "(core.preview_sample); its baseline reads every document on the same database")
    return BenchResult(NAME, metrics, {"sizes": sizes, "quick": quick, "hosts_run": [runs[-1][0], SIM_HOSTS]}, rows,
                       notes)
