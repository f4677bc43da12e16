"""Policy decision latency: one-device proposal, embedded regorus vs the OPA Data API.

Why these figures: every proposal, dry run and approval re-check pays one decision, so its p50
and p99 (including marshalling: dict -> JSON -> regorus -> JSON -> validated Decision) bound how
interactive the support-agent flow can be. The OPA-API figure measures the sidecar path with the
same pack (HTTP + the opa-python-client) on the local server in this process; the ratio says what
the sidecar costs. The fleet rows compare class evaluation (policies/classes.py) with evaluating
every device alone, on the same fleet in the same process.
"""

from __future__ import annotations

import time
from typing import Any

from bench.framework import BenchResult, summarize_us

NAME = "policy_decision"


def _time(fn: Any, n: int) -> list[float]:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def _fleet(n: int) -> list[dict[str, Any]]:
    from policies import samples

    vendors = [
        ("AVM", "FRITZ!Box 7590", ["7.57", "7.29"]),
        ("Zyxel", "VMG8825-T50", ["V5.50(ABPY.1)C0"]),
        ("Nokia", "G-240W-F", ["3FE46606AFIB89"]),
    ]
    regions = ["DE", "FR", "NL"]
    out = []
    for i in range(n):
        vendor, model, firmwares = vendors[i % len(vendors)]
        out.append(
            samples.device(
                f"dev-{i}",
                vendor=vendor,
                model=model,
                firmware=firmwares[i % len(firmwares)],
                region=regions[(i // 3) % len(regions)],
                reboots_24h=i % 3,
                failed_changes_7d=(i // 7) % 4,
                present=i % 11 != 0,
            )
        )
    return out


def run(quick: bool) -> BenchResult:
    from policies import samples
    from policies.classes import class_doc, decide_fleet
    from policies.engine import EmbeddedRegoEngine, OpaServerEngine
    from policies.opa_server import OpaApiServer

    n_embedded = 1500 if quick else 20000
    n_opa = 300 if quick else 3000
    fleet_size = 300 if quick else 3000

    engine = EmbeddedRegoEngine()
    doc = samples.policy_input()
    for _ in range(50):
        engine.decide(doc)
    embedded = _time(lambda: engine.decide(doc), n_embedded)

    with OpaApiServer(engine) as server:
        opa = OpaServerEngine(server.url, timeout_ms=5000)
        for _ in range(20):
            opa.decide(doc)
        via_opa = _time(lambda: opa.decide(doc), n_opa)
        same = opa.decide_detailed(doc) == engine.decide_detailed(doc)
        opa.close()

    devices = _fleet(fleet_size)
    fleet_doc = samples.policy_input(
        devices=devices, roles=["senior_approver"], changes=[], operations=[{"command": "reboot", "args": {}}]
    )
    start = time.perf_counter()
    fleet = decide_fleet(engine, fleet_doc)
    fleet_s = time.perf_counter() - start
    start = time.perf_counter()
    per_device = [engine.decide(class_doc(fleet_doc, d)) for d in devices]
    per_device_s = time.perf_counter() - start
    agree = all(fleet.for_device(d["id"]) == dec for d, dec in zip(devices, per_device, strict=True))

    metrics: dict[str, float] = {}
    metrics.update(summarize_us(embedded, "embedded_"))
    metrics.update(summarize_us(via_opa, "opa_"))
    metrics["opa_to_embedded_p50_ratio"] = round(metrics["opa_p50_us"] / metrics["embedded_p50_us"], 2)
    metrics["fleet_devices"] = float(fleet_size)
    metrics["fleet_classes"] = float(fleet.evaluations)
    metrics["fleet_class_eval_ms"] = round(fleet_s * 1000, 1)
    metrics["fleet_per_device_eval_ms"] = round(per_device_s * 1000, 1)
    metrics["fleet_speedup_ratio"] = round(per_device_s / fleet_s, 1) if fleet_s else float("nan")
    rows = [
        ("embedded p50 / p99", f"{metrics['embedded_p50_us']:,.0f} / {metrics['embedded_p99_us']:,.0f} µs"),
        ("OPA Data API p50 / p99", f"{metrics['opa_p50_us']:,.0f} / {metrics['opa_p99_us']:,.0f} µs"),
        ("OPA / embedded (p50)", f"{metrics['opa_to_embedded_p50_ratio']:.2f}x"),
        ("same decision both ways", "yes" if same else "NO"),
        (f"fleet of {fleet_size}: classes", f"{fleet.evaluations}"),
        (
            "fleet: by class / per device",
            f"{metrics['fleet_class_eval_ms']:,.1f} / "
            f"{metrics['fleet_per_device_eval_ms']:,.1f} ms "
            f"({metrics['fleet_speedup_ratio']}x)",
        ),
        ("fleet: class results = per-device", "yes" if agree else "NO"),
    ]
    return BenchResult(
        name=NAME,
        metrics=metrics,
        params={
            "quick": quick,
            "embedded_samples": n_embedded,
            "opa_samples": n_opa,
            "fleet_devices": fleet_size,
            "proposal": "support agent, one device, Device.WiFi.Radio.2.Channel=44",
            "revision": engine.revision[:12],
        },
        rows=rows,
        notes=[
            "p50/p99 include marshalling (dict -> JSON -> regorus -> JSON -> validated Decision).",
            "OPA figures use the local OPA Data API server (policies/opa_server.py) in this process.",
        ],
    )
