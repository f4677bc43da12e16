"""Policy decision latency: one-device proposal, embedded regorus vs the OPA Data API.

Why these figures: every proposal, dry run and approval re-check pays one decision, so its p50
and p99 (including marshalling: dict -> JSON -> regorus -> JSON -> validated Decision) bound how
interactive the support-agent flow can be. The OPA-API figure measures the sidecar path with the
same pack (HTTP + the opa-python-client) on the local server in this process; the ratio says what
the sidecar costs. The fleet rows compare class evaluation (policies/classes.py) with evaluating
every device alone, on the same fleet in the same process.

When the pre-rewrite pack kept for the equivalence test (tests/policies/reference_pack) is
present, it is timed in turns with the current pack on the same inputs (one proposal, and a
varied corpus, policies/corpus.py): on a loaded machine only such interleaved figures compare.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from bench.framework import BenchResult, summarize_us

NAME = "policy_decision"

REFERENCE_PACK = Path(__file__).resolve().parent.parent / "tests" / "policies" / "reference_pack"

# What the decision is made of, evaluated one at a time on the same input (a profile of the pack:
# rules shared between entries, e.g. lib.*, are paid again in each row, so the rows overlap).
PACK_PARTS = (
    "input.ok", "change.deny", "wifi.deny", "mgmt.deny", "secrets.deny", "firmware.deny", "rbac.deny",
    "precedence.deny", "wifi.approvals", "mgmt.approvals", "rbac.approvals", "risk.score", "risk.approvals",
    "rollout.stages", "lenient",
)


def _time(fn: Any, n: int) -> list[float]:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def _time_interleaved(fns: list[Any], n: int, clock: Any = time.perf_counter) -> list[list[float]]:
    """Each function timed ``n`` times, taking turns, so that load from elsewhere on a shared
    machine falls on the figure and its baselines alike."""
    out: list[list[float]] = [[] for _ in fns]
    for _ in range(n):
        for samples, fn in zip(out, fns, strict=True):
            start = clock()
            fn()
            samples.append(clock() - start)
    return out


def _raw_engine(sources: Any) -> Any:
    """A bare regorus engine with the same rules and data: no input check, no JSON in Python,
    no result validation. Its eval time is the floor the embedded engine's marshalling sits on."""
    import regorus

    raw = regorus.Engine()
    raw.set_rego_v0(False)
    for name, text in sources.rules:
        raw.add_policy(name, text)
    raw.add_data_json(sources.data_json())
    return raw


def _trivial_engine() -> Any:
    """regorus on a one-rule policy: what any decision costs before the pack's rules."""
    import regorus

    tiny = regorus.Engine()
    tiny.set_rego_v0(False)
    tiny.add_policy("tiny.rego", "package tiny\nimport rego.v1\nallow if input.actor.kind == \"human\"\n")
    return tiny


def _pack_profile(raw: Any, payload: str, n: int) -> dict[str, float]:
    from bench.framework import percentile

    raw.set_input_json(payload)
    out: dict[str, float] = {}
    for part in PACK_PARTS:
        rule = f"data.gateward.{part}"
        raw.eval_rule_as_json(rule)
        out[part] = percentile(_time(lambda r=rule: raw.eval_rule_as_json(r), n), 50) * 1e6
    return out


def _reference(engine: Any, doc: dict[str, Any], n: int) -> dict[str, float]:
    """The current and the pre-rewrite pack timed in turns: the bench proposal ``n`` times, then
    40 varied proposals ``n // 10`` times each (p50 of every sample). Empty without the copy.

    CPU time of the calling thread (``time.thread_time``): on a loaded machine wall time also
    counts the time the thread waited for a core, which swamps a difference of this size."""
    from bench.framework import percentile
    from policies import corpus
    from policies.engine import EmbeddedRegoEngine

    if not REFERENCE_PACK.is_dir():
        return {}
    old = EmbeddedRegoEngine(rules_dir=REFERENCE_PACK)
    cpu = time.thread_time
    new_one, old_one = _time_interleaved([lambda: engine.decide(doc), lambda: old.decide(doc)], n, cpu)
    new_all: list[float] = []
    old_all: list[float] = []
    same = True
    for varied in corpus.varied_inputs(40, seed=99):
        a, b = _time_interleaved([lambda v=varied: engine.decide(v), lambda v=varied: old.decide(v)],
                                 max(20, n // 10), cpu)
        new_all += a
        old_all += b
        same = same and engine.decide(varied) == old.decide(varied)
    return {
        "current_p50_us": round(percentile(new_one, 50) * 1e6, 1),
        "reference_p50_us": round(percentile(old_one, 50) * 1e6, 1),
        "corpus_current_p50_us": round(percentile(new_all, 50) * 1e6, 1),
        "corpus_reference_p50_us": round(percentile(old_all, 50) * 1e6, 1),
        "corpus_same_decisions": float(same),
    }


def _reference_rows(ref: dict[str, float]) -> list[tuple[str, str]]:
    if not ref:
        return [("pre-rewrite pack comparison", "skipped (tests/policies/reference_pack absent)")]
    return [
        ("this proposal, in turns, CPU time: current / pre-rewrite pack (p50)",
         f"{ref['current_p50_us']:,.0f} / {ref['reference_p50_us']:,.0f} µs "
         f"({ref['reference_p50_us'] / ref['current_p50_us']:.2f}x)"),
        ("40 varied proposals, in turns, CPU time: current / pre-rewrite pack (p50)",
         f"{ref['corpus_current_p50_us']:,.0f} / {ref['corpus_reference_p50_us']:,.0f} µs "
         f"({ref['corpus_reference_p50_us'] / ref['corpus_current_p50_us']:.2f}x)"),
        ("same decisions as the pre-rewrite pack (40 varied)", "yes" if ref["corpus_same_decisions"] else "NO"),
    ]


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
    import orjson

    from policies import samples
    from policies.classes import class_doc, decide_fleet
    from policies.engine import EmbeddedRegoEngine, OpaServerEngine, parse_decision
    from policies.loader import DECISION_RULE
    from testing.opa_server import OpaApiServer

    n_embedded = 1500 if quick else 20000
    n_opa = 300 if quick else 3000
    fleet_size = 300 if quick else 3000

    engine = EmbeddedRegoEngine()
    doc = samples.policy_input()
    for _ in range(50):
        engine.decide(doc)
    payload = orjson.dumps(doc).decode()
    raw = _raw_engine(engine.sources)
    raw.set_input_json(payload)
    same_raw = parse_decision(orjson.loads(raw.eval_rule_as_json(DECISION_RULE))) == engine.decide_detailed(doc)
    tiny = _trivial_engine()
    tiny.set_input_json(payload)
    embedded, raw_with_input, raw_only, trivial = _time_interleaved([
        lambda: engine.decide(doc),
        lambda: (raw.set_input_json(payload), raw.eval_rule_as_json(DECISION_RULE)),
        lambda: raw.eval_rule_as_json(DECISION_RULE),  # the input set by the call before
        lambda: tiny.eval_rule_as_json("data.tiny.allow"),
    ], n_embedded)
    profile = _pack_profile(raw, payload, max(100, n_embedded // 10))
    reference = _reference(engine, doc, max(200, n_embedded // 5))

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
    metrics.update(summarize_us(raw_only, "regorus_eval_"))
    metrics.update(summarize_us(raw_with_input, "regorus_input_eval_"))
    metrics.update(summarize_us(trivial, "regorus_trivial_"))
    metrics["marshalling_p50_us"] = round(metrics["embedded_p50_us"] - metrics["regorus_eval_p50_us"], 2)
    metrics.update(reference)
    for part, us in profile.items():
        metrics[f"pack_{part.replace('.', '_')}_p50_us"] = round(us, 1)
    metrics.update(summarize_us(via_opa, "opa_"))
    metrics["opa_to_embedded_p50_ratio"] = round(metrics["opa_p50_us"] / metrics["embedded_p50_us"], 2)
    metrics["fleet_devices"] = float(fleet_size)
    metrics["fleet_classes"] = float(fleet.evaluations)
    metrics["fleet_class_eval_ms"] = round(fleet_s * 1000, 1)
    metrics["fleet_per_device_eval_ms"] = round(per_device_s * 1000, 1)
    metrics["fleet_speedup_ratio"] = round(per_device_s / fleet_s, 1) if fleet_s else float("nan")
    rows = [
        ("embedded p50 / p99", f"{metrics['embedded_p50_us']:,.0f} / {metrics['embedded_p99_us']:,.0f} µs"),
        ("baseline: bare regorus eval of the pack, same input (p50 / p99)",
         f"{metrics['regorus_eval_p50_us']:,.0f} / {metrics['regorus_eval_p99_us']:,.0f} µs"),
        ("baseline: bare regorus set_input + eval (p50)", f"{metrics['regorus_input_eval_p50_us']:,.0f} µs"),
        ("baseline: regorus, one-rule policy (p50)", f"{metrics['regorus_trivial_p50_us']:,.1f} µs"),
        ("marshalling + checks (embedded - bare eval, p50)", f"{metrics['marshalling_p50_us']:,.0f} µs"),
        ("bare regorus decision = embedded decision", "yes" if same_raw else "NO"),
        *_reference_rows(reference),
        *[(f"  pack profile: {part} (p50)", f"{us:,.0f} µs") for part, us in profile.items()],
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
            "loadavg_1m": round(os.getloadavg()[0], 2),
        },
        rows=rows,
        notes=[
            "p50/p99 include marshalling (dict -> JSON -> regorus -> JSON -> validated Decision).",
            "Baselines run in this process on the same input; the pack profile evaluates each part alone.",
            "OPA figures use the local OPA Data API server (testing/opa_server.py) in this process.",
        ],
    )
