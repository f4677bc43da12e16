"""campaign_gate: validate + preview (stored snapshots) + decide for a fleet-wide proposal.

The gate a campaign passes before any device is touched, through the real lifecycle code paths:
create (selector → frozen targets), validate (once per device class), preview from each device's
latest stored snapshot (per-class diff summary), and the policy decision evaluated once per
equivalence class and fanned out. The fleet is synthetic rows in the store (the device models of
the simulator's catalogue, four regions, varied radio states), because loading a million digital
twins would measure the simulator, not the gate. Setup time is reported apart from the gate.

The ratio against per-device evaluation is measured on a sample of devices in the same run and
extrapolated to the whole fleet.
"""

from __future__ import annotations

import os
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.framework import BenchResult

NAME = "campaign_gate"
DESCRIPTION = "validate + snapshot preview + per-class decide for 10k/100k/1M devices (goal 1M ≤ 30 s)"

MODELS = (  # vendor, model, product class, oui, firmware, root, protocol
    ("Vantec", "CGW-3400", "CGW3400", "00D0F1", "7.2.1", "Device.", "cwmp"),
    ("Vantec", "CGW-3400", "CGW3400", "00D0F1", "7.4.0-beta", "Device.", "cwmp"),
    ("Lumenet", "G-240W", "G240W", "A4C3F0", "3.2.5", "Device.", "cwmp"),
    ("Prplnet", "PX-7000", "PX7000", "F8A2D6", "1.3.0", "Device.", "usp"),
)
REGIONS = ("DE", "GB", "FR", "US")


def _seed(store: Any, n: int, seed: int = 5) -> None:
    from sqlalchemy import insert

    from core.models import utcnow
    from core.store.schema import DeviceRow, ParameterSnapshotRow
    from core.users import ensure_users

    ensure_users(store)
    rng = random.Random(seed)
    now = utcnow()
    chunk = 20000
    for start in range(0, n, chunk):
        devices: list[dict[str, Any]] = []
        snaps: list[dict[str, Any]] = []
        for i in range(start, min(n, start + chunk)):
            vendor, model, pc, oui, fw, root, proto = MODELS[i % len(MODELS)]
            did = f"{oui}-{pc}-GB{i:08d}"
            region = REGIONS[(i // 7) % len(REGIONS)]
            devices.append({"id": did, "vendor": vendor, "model": model, "product_class": pc, "oui": oui,
                            "serial": f"GB{i:08d}", "firmware": fw, "root": root, "protocol": proto, "adapter": "sim",
                            "subscriber": f"sub-{i:08d}", "region": region, "service": "standard", "tags": [],
                            "upstream_id": None, "last_seen": now, "created_at": now})
            auto = rng.random() < 0.5
            snaps.append({"device_id": did, "taken_at": now, "source": "bench", "params": {
                "Device.WiFi.Radio.1.OperatingFrequencyBand": {"value": "2.4GHz", "type": "string"},
                "Device.WiFi.Radio.1.Channel": {"value": rng.choice((1, 6, 11)), "type": "unsignedInt"},
                "Device.WiFi.Radio.1.AutoChannelEnable": {"value": True, "type": "boolean"},
                "Device.WiFi.Radio.2.OperatingFrequencyBand": {"value": "5GHz", "type": "string"},
                "Device.WiFi.Radio.2.Channel": {"value": rng.choice((36, 44, 52, 100)), "type": "unsignedInt"},
                "Device.WiFi.Radio.2.AutoChannelEnable": {"value": auto, "type": "boolean"},
                "Device.WiFi.Radio.2.OperatingChannelBandwidth": {"value": "80MHz", "type": "string"},
                "Device.WiFi.SSID.1.SSID": {"value": f"home-{i % 9973}", "type": "string"},
            }})
        with store.write() as s:
            s.execute(insert(DeviceRow), devices)
            s.execute(insert(ParameterSnapshotRow), snaps)


def _gate(url: str, n: int) -> dict[str, Any]:
    from core.config import Settings
    from core.models import Change, ProposalDraft, Selector
    from core.users import get_actor
    from gateward.runtime import build_runtime
    from policies.classes import class_doc

    rt = build_runtime(Settings(database_url=url))
    t0 = time.perf_counter()
    _seed(rt.store, n)
    setup_s = time.perf_counter() - t0
    stages: dict[str, float] = {}
    rt.lifecycle.set_stage_timer(lambda stage, secs: stages.__setitem__(stage, stages.get(stage, 0.0) + secs))
    admin = get_actor(rt.store, "dave")
    draft = ProposalDraft(intent="move every 5 GHz radio to channel 36", selector=Selector(), staged=True,
                          changes=[Change(path="Device.WiFi.Radio.2.AutoChannelEnable", value=False),
                                   Change(path="Device.WiFi.Radio.2.Channel", value=36)],
                          rationale="fleet channel plan")
    t0 = time.perf_counter()
    p = rt.lifecycle.create(draft, admin)
    rt.lifecycle.validate(p.id, admin)
    rt.lifecycle.preview(p.id, admin, source="snapshot")
    decision = rt.lifecycle.decide(p.id, admin)
    gate_s = time.perf_counter() - t0
    state = rt.lifecycle.get(p.id).state
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
    return {"setup_s": setup_s, "gate_s": gate_s, "stages": stages, "classes": classes,
            "per_device_s": per_device_s, "policy_s": stages.get("decide", 0.0), "state": str(state),
            "allow": decision.allow}


def run(quick: bool) -> BenchResult:
    sizes = [2000, 10000] if quick else [10000, 100000, 1000000]
    url_base = os.environ.get("GATEWARD_BENCH_DATABASE_URL")
    metrics: dict[str, float] = {}
    rows: list[tuple[str, str]] = []
    notes = ["gate = create + validate + preview(snapshot) + decide through core.lifecycle; "
             "per-device policy time extrapolated from a 300-device sample in the same run",
             "database: " + ("PostgreSQL (GATEWARD_BENCH_DATABASE_URL)" if url_base else "SQLite file")]
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{Path(tmp) / 'gate.db'}"
            if url_base:
                from tests.conftest import make_db_url  # a fresh schema per size

                url, cleanup = make_db_url("postgres", Path(tmp))
            res = _gate(url, n)
            if url_base:
                cleanup()
        key = f"{n // 1000}k" if n < 1000000 else f"{n // 1000000}m"
        metrics[f"gate_{key}_s"] = round(res["gate_s"], 2)
        metrics[f"classes_{key}"] = res["classes"]
        metrics[f"policy_by_class_{key}_s"] = round(res["policy_s"], 3)
        metrics[f"policy_per_device_{key}_s"] = round(res["per_device_s"], 2)
        metrics[f"per_device_to_class_ratio_{key}"] = round(res["per_device_s"] / max(res["policy_s"], 1e-9), 1)
        metrics[f"setup_{key}_s"] = round(res["setup_s"], 1)
        rows.append((f"{n:,} devices: gate", f"{res['gate_s']:.2f} s ({res['state']})"))
        rows.append((f"{n:,} devices:   stages", ", ".join(f"{k} {v:.2f}s" for k, v in res["stages"].items())))
        rows.append((f"{n:,} devices:   classes", f"{res['classes']}"))
        rows.append((f"{n:,} devices:   decide per class vs per device",
                     f"{res['policy_s']:.2f} s vs {res['per_device_s']:.1f} s "
                     f"(×{metrics[f'per_device_to_class_ratio_{key}']})"))
        rows.append((f"{n:,} devices:   setup (not timed)", f"{res['setup_s']:.1f} s"))
    return BenchResult(NAME, metrics, {"sizes": sizes, "quick": quick}, rows, notes)
