"""Policy decision latency: one-device proposal, embedded regorus vs the OPA Data API.

Why these figures: every proposal, dry run and approval re-check pays one decision, so its p50
and p99 (including marshalling: dict -> check -> JSON -> regorus -> JSON -> Decision) bound how
interactive the support-agent flow can be. The OPA-API figure measures the sidecar path with the
same pack (HTTP + the opa-python-client) on the local server in this process; the ratio says what
the sidecar costs. The fleet rows compare class evaluation (policies/classes.py) with evaluating
every device alone, on the same fleet in the same process.

What the headline measures: a real evaluation of a proposal never decided before. Every sample
decides its own document (its own device id, channel and clock; no two alike) and nothing in the
engine caches decisions, so no sample can be answered from an earlier one.

The embedded engine decides on regorus's bytecode VM (policies/engine.py), at
``data.gateward.checked_decision`` (the input check runs in Python first); the same engine with
the interpreter is timed in turns with it, and so are the baselines: the bare VM / interpreter
evaluation of the pack (no Python check, JSON or Decision), a one-rule policy on each, and the
pre-rewrite pack kept for the equivalence test (tests/policies/reference_pack), interpreted as it
was. Figures are wall time (what a caller waits) and CPU time of the deciding thread (what survives
a loaded machine); on a shared machine only the interleaved ratios compare.
"""

from __future__ import annotations

import copy
import os
import time
from pathlib import Path
from typing import Any

from bench.framework import BenchResult, percentile, summarize_us

NAME = "policy_decision"
KEYS = ("decision_p50_us", "fleet_speedup_ratio")  # metrics every --quick run reports (tests/bench_smoke)

REFERENCE_PACK = Path(__file__).resolve().parent.parent / "tests" / "policies" / "reference_pack"

# What the decision evaluates for the bench proposal, each evaluated alone on the VM on the same
# input (a profile of the pack: rules shared between entries, e.g. lib.*, are paid again in each
# row, so rows overlap). Gated rule sets appear as their gate (X.touched), which is all the
# decision reads of them for this proposal.
PACK_PARTS = (
    "every_rule_set_enforces", "change.deny", "wifi.touched", "mgmt.deny", "secrets.touched",
    "firmware.touched", "rbac.deny", "precedence.touched", "wifi.approvals", "mgmt.approvals",
    "rbac.approvals", "risk.score", "risk.approvals", "rollout.stages", "obligations",
)
# Channels permitted without DFS on the sample's 5 GHz radio in DE: every sample is allowed.
_CHANNELS = (36, 40, 44, 48)


def _time(fn: Any, n: int) -> list[float]:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def _time_interleaved(fns: list[Any], n: int, clock: Any = time.perf_counter) -> list[list[float]]:
    """Each function timed ``n`` times, taking turns, so that load from elsewhere on a shared
    machine falls on the figure and its baselines alike. A function takes the sample index."""
    out: list[list[float]] = [[] for _ in fns]
    for i in range(n):
        for samples, fn in zip(out, fns, strict=True):
            start = clock()
            fn(i)
            samples.append(clock() - start)
    return out


def unseen_inputs(n: int) -> list[dict[str, Any]]:
    """``n`` one-device proposals, no two alike: device id, channel and the clock vary (all inside
    the change window and allowed), so each decision is a real evaluation of a new input."""
    from policies import samples

    base = samples.policy_input()
    out = []
    for i in range(n):
        doc = copy.deepcopy(base)
        device_id = f"cpe-{i:06d}"
        doc["devices"][0]["id"] = device_id
        doc["proposal"]["targets"] = [device_id]
        doc["proposal"]["id"] = f"prop-{i:06d}"
        doc["proposal"]["changes"][0]["value"] = _CHANNELS[i % len(_CHANNELS)]
        doc["context"]["now_ns"] += i * 1_000_000_000  # one second apart, inside the window
        out.append(doc)
    return out


def _vm(sources: Any, entry_points: list[str]) -> Any:
    """A bare regorus VM with the pack compiled for ``entry_points``: no input check, no JSON in
    Python, no result validation."""
    from regorus import regorus as native

    program = native.Program.compile_from_modules(sources.data_json(), list(sources.rules), entry_points)
    vm = native.Rvm()
    vm.load_program(program)
    vm.set_data_json(sources.data_json())
    return vm


def _interpreter(sources: Any) -> Any:
    import regorus

    raw = regorus.Engine()
    raw.set_rego_v0(False)
    for name, text in sources.rules:
        raw.add_policy(name, text)
    raw.add_data_json(sources.data_json())
    return raw


# A measuring stick, not a policy: the conditions the pack evaluates for the bench proposal (a
# person changes one radio's channel on one device: every deny, approval, warning and obligation
# condition that could apply, the risk score, the rollout plan) fused into five rules and hard-wired
# to one change and one device. What the VM costs for that work with no per-concern structure: the
# floor under any restructuring of the pack (rules are cut at five by the VM's 255 registers a rule).
FLOOR_REGO = """package fused

import rego.v1

decision := {
	"allow": true, "deny": [], "approvals_required": [], "risk": risk_score,
	"obligations": [], "warnings": [], "would_deny": [],
} if {
	ok_a
	ok_b
	ok_c
}

ok_a if {
	is_object(input.proposal)
	is_object(input.actor)
	is_object(input.context)
	is_array(input.devices)
	p := input.proposal
	is_array(p.targets)
	is_array(p.changes)
	is_array(p.operations)
	is_object(p.preview)
	is_number(p.target_count)
	data.gateward.data.modes.default_mode == "enforce"
	p.preview.exists == true
	p.preview.blind == false
	object.get(p.preview, "failed", 0) == 0
	object.get(p.preview, "offline", 0) == 0
	object.get(p.preview, "age_s", 0) <= data.gateward.data.limits.preview_max_age_s
	count(p.changes) > 0
	p.target_count > 0
	p.target_count <= max([data.gateward.data.roles.roles[r].max_targets | some r in roles])
	p.target_count < data.gateward.data.windows.applies_when.min_targets
	count(p.operations) == 0
	p.emergency == false
	count([c | some c in p.changes; c.secret]) == 0
	count(object.get(p.preview, "not_restorable", [])) == 0
	p.preview.devices_present == p.preview.devices_total
	input.actor.kind == "human"
	p.author_kind == "human"
	not "automation" in input.actor.roles
}

roles := [r | some r in input.actor.roles; data.gateward.data.roles.roles[r]]

ok_b if {
	p := input.proposal
	specs := [data.gateward.data.roles.roles[r] | some r in roles]
	count([s | some s in specs; s.may_propose == false]) == 0
	count([s | some s in specs; s.may_propose]) > 0
	cls in {cl | some s in specs; some cl in s.param_classes}
	cls != "mgmt"
	c := p.changes[0]
	not c.pattern in data.gateward.data.secrets.passphrase_patterns
	count(input.context.live_proposals) == 0
	count(input.context.profiles) == 0
	count(p.changes) == 1
	p.target_count < min([pl.min_targets | some pl in data.gateward.data.rollout.plans])
}

ok_c if {
	c := input.proposal.changes[0]
	startswith(c.pattern, "Device.WiFi.Radio.{i}.")
	parts := split(c.path, ".")
	ri := to_number(parts[3])
	d := input.devices[0]
	some r in d.radios
	r.index == ri
	region := data.gateward.data.regulatory.regions[d.region]
	table := data.gateward.data.regulatory.domains[region.domain][r.band]
	c.pattern == "Device.WiFi.Radio.{i}.Channel"
	is_number(c.value)
	c.value in table.channels
	not c.value in table.dfs
	r.auto_channel == false
}

risk_score := score if {
	p := input.proposal
	d := input.devices[0]
	steps := data.gateward.data.risk.target_steps
	targets := max(array.concat([0], [s.score | some s in steps; p.target_count >= s.min]))
	matrix := data.gateward.data.compat.matrix
	from_matrix := object.get(matrix, [d.vendor, d.model, d.firmware, "config"], "yellow")
	status := object.get({"green": "green", "yellow": "yellow", "red": "red"}, d.compat, from_matrix)
	compat := data.gateward.data.risk.compat_scores[status]
	failing := data.gateward.data.risk.failed_changes_steps
	failed := max(array.concat([0], [s.score | some s in failing; d.failed_changes_7d >= s.min]))
	w := object.get(data.gateward.data.windows.regions, d.region, data.gateward.data.windows.fallback)
	h := (((floor(input.context.now_ns / 3600000000000) % 24) + w.utc_offset_hours) + 24) % 24
	inside := (((h - w.start_hour) + 24) % 24) < (((w.end_hour - w.start_hour) + 24) % 24)
	window := object.get({false: data.gateward.data.risk.outside_window_score}, inside, 0)
	class_risk := data.gateward.data.param_classes.classes[cls].risk
	score := min([1, round(((targets + class_risk) + ((compat + failed) + window)) * 100) / 100])
	score <= data.gateward.data.risk.thresholds.approver
}

cls := class if {
	parts := split(input.proposal.changes[0].path, ".")
	index := data.gateward.data.param_classes.prefix_index
	dflt := data.gateward.data.param_classes.default_class
	by_two := object.get(index, concat(".", array.slice(parts, 0, 2)), dflt)
	by_three := object.get(index, concat(".", array.slice(parts, 0, 3)), by_two)
	class := object.get(index, concat(".", array.slice(parts, 0, 4)), by_three)
}
"""

_TINY = "package tiny\nimport rego.v1\nallow if input.actor.kind == \"human\"\n"


def _trivial() -> tuple[Any, Any]:
    """A one-rule policy on the interpreter and on the VM: what any decision costs before the pack."""
    import regorus
    from regorus import regorus as native

    tiny = regorus.Engine()
    tiny.set_rego_v0(False)
    tiny.add_policy("tiny.rego", _TINY)
    vm = native.Rvm()
    vm.load_program(native.Program.compile_from_modules("{}", [("tiny.rego", _TINY)], ["data.tiny.allow"]))
    return tiny, vm


def _floor_vm(sources: Any) -> Any:
    from regorus import regorus as native

    program = native.Program.compile_from_modules(sources.data_json(), [("floor.rego", FLOOR_REGO)],
                                                  ["data.fused.decision"])
    vm = native.Rvm()
    vm.load_program(program)
    vm.set_data_json(sources.data_json())
    return vm


def _pack_profile(vm: Any, payload: str, n: int) -> dict[str, float]:
    vm.set_input_json(payload)
    out: dict[str, float] = {}
    for part in PACK_PARTS:
        entry = f"data.gateward.{part}"
        vm.execute_entry_point(entry)
        out[part] = percentile(_time(lambda e=entry: vm.execute_entry_point(e), n), 50) * 1e6
    return out


def _reference(engine: Any, docs: list[dict[str, Any]], n: int) -> dict[str, float]:
    """The current pack (on the VM, as the engine decides, and interpreted) and the pre-rewrite
    pack (interpreted, as it ran) in turns: the unseen proposals, then 40 varied proposals
    ``n // 10`` times each (p50 of every sample; CPU time of the calling thread). Empty without
    the copy."""
    from policies import corpus
    from policies.engine import EmbeddedRegoEngine

    if not REFERENCE_PACK.is_dir():
        return {}
    old = EmbeddedRegoEngine(rules_dir=REFERENCE_PACK, evaluator="interpreter")
    interp = EmbeddedRegoEngine(evaluator="interpreter")
    cpu = time.thread_time
    k = len(docs)
    vm_one, interp_one, old_one = _time_interleaved(
        [lambda i: engine.decide(docs[i % k]), lambda i: interp.decide(docs[i % k]),
         lambda i: old.decide(docs[i % k])], n, cpu)
    vm_all: list[float] = []
    old_all: list[float] = []
    same = True
    for varied in corpus.varied_inputs(40, seed=99):
        a, b = _time_interleaved([lambda _i, v=varied: engine.decide(v), lambda _i, v=varied: old.decide(v)],
                                 max(20, n // 10), cpu)
        vm_all += a
        old_all += b
        same = same and engine.decide(varied) == old.decide(varied) == interp.decide(varied)
    return {
        "current_p50_us": round(percentile(vm_one, 50) * 1e6, 1),
        "current_interpreter_p50_us": round(percentile(interp_one, 50) * 1e6, 1),
        "reference_p50_us": round(percentile(old_one, 50) * 1e6, 1),
        "corpus_current_p50_us": round(percentile(vm_all, 50) * 1e6, 1),
        "corpus_reference_p50_us": round(percentile(old_all, 50) * 1e6, 1),
        "corpus_same_decisions": float(same),
    }


def _reference_rows(ref: dict[str, float]) -> list[tuple[str, str]]:
    if not ref:
        return [("pre-rewrite pack comparison", "skipped (tests/policies/reference_pack absent)")]
    return [
        ("unseen proposals, in turns, CPU: VM / interpreter / pre-rewrite pack (p50)",
         f"{ref['current_p50_us']:,.0f} / {ref['current_interpreter_p50_us']:,.0f} / "
         f"{ref['reference_p50_us']:,.0f} µs ({ref['reference_p50_us'] / ref['current_p50_us']:.2f}x)"),
        ("40 varied proposals, in turns, CPU: VM / pre-rewrite pack (p50)",
         f"{ref['corpus_current_p50_us']:,.0f} / {ref['corpus_reference_p50_us']:,.0f} µs "
         f"({ref['corpus_reference_p50_us'] / ref['corpus_current_p50_us']:.2f}x)"),
        ("same decisions: VM, interpreter, pre-rewrite pack (40 varied)",
         "yes" if ref["corpus_same_decisions"] else "NO"),
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
    interpreted = EmbeddedRegoEngine(evaluator="interpreter")
    docs = unseen_inputs(n_embedded + 50)
    warmup, docs = docs[:50], docs[50:]
    payloads = [orjson.dumps(d).decode() for d in docs]
    for doc in warmup:
        engine.decide(doc)
        interpreted.decide(doc)
    # The headline: each document decided for the first time, the engine alone (as a service
    # decides: one engine, warm), wall and CPU time.
    alone_wall = _time_interleaved([lambda i: engine.decide(docs[i])], n_embedded // 2)[0]
    alone_cpu = _time_interleaved([lambda i: engine.decide(docs[n_embedded // 2 + i])],
                                  n_embedded - n_embedded // 2, time.thread_time)[0]
    vm = _vm(engine.sources, [engine.vm_entry_point])
    raw = _interpreter(engine.sources)
    vm.set_input_json(payloads[0])
    same_raw = parse_decision(orjson.loads(vm.execute())) == engine.decide_detailed(docs[0])
    tiny, tiny_vm = _trivial()
    tiny.set_input_json(payloads[0])
    tiny_vm.set_input_json(payloads[0])
    vm_in = vm.set_input_json
    raw_in = raw.set_input_json
    columns = [
        lambda i: engine.decide(docs[i]),
        lambda i: interpreted.decide(docs[i]),
        lambda i: (vm_in(payloads[i]), vm.execute()),
        lambda i: (raw_in(payloads[i]), raw.eval_rule_as_json(DECISION_RULE)),
        lambda _i: vm.execute(),  # the input set by the call before
        lambda _i: tiny_vm.execute(),
        lambda _i: tiny.eval_rule_as_json("data.tiny.allow"),
    ]
    wall = _time_interleaved(columns, n_embedded)
    cpu = _time_interleaved(columns, n_embedded, time.thread_time)
    names = ("embedded", "embedded_interpreter", "vm_input_eval", "interpreter_input_eval", "vm_eval",
             "vm_trivial", "interpreter_trivial")
    # The floor: the same conditions fused (FLOOR_REGO), and the input parse alone.
    floor_vm = _floor_vm(engine.sources)
    floor_vm.set_input_json(payloads[0])
    vm_in(payloads[0])
    same_floor = orjson.loads(floor_vm.execute()) == orjson.loads(vm.execute())
    floor_wall = _time(floor_vm.execute, n_embedded)
    floor_cpu = _time_interleaved([lambda _i: floor_vm.execute()], n_embedded, time.thread_time)[0]
    parse_cpu = _time_interleaved([lambda i: vm_in(payloads[i])], n_embedded, time.thread_time)[0]
    # The Python side of a decision, part by part (CPU): check, JSON out, JSON back + Decision.
    from policies.validate import check_input

    raw_result = vm.execute()
    py_check, py_dumps, py_parse = _time_interleaved([
        lambda i: check_input(docs[i]),
        lambda i: orjson.dumps(docs[i]),
        lambda _i: parse_decision(orjson.loads(raw_result)),
    ], n_embedded, time.thread_time)
    profile_vm = _vm(engine.sources, [f"data.gateward.{p}" for p in PACK_PARTS])
    profile = _pack_profile(profile_vm, payloads[0], max(100, n_embedded // 10))
    reference = _reference(engine, docs, max(200, n_embedded // 5))

    with OpaApiServer(engine) as server:
        opa = OpaServerEngine(server.url, timeout_ms=5000)
        for i in range(20):
            opa.decide(docs[i])
        via_opa = _time_interleaved([lambda i: opa.decide(docs[i % len(docs)])], n_opa)[0]
        same = opa.decide_detailed(docs[0]) == engine.decide_detailed(docs[0])
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
    metrics.update(summarize_us(alone_wall, "decision_"))
    metrics["decision_cpu_p50_us"] = round(percentile(alone_cpu, 50) * 1e6, 2)
    for name, w, c in zip(names, wall, cpu, strict=True):
        metrics.update(summarize_us(w, f"{name}_"))
        metrics[f"{name}_cpu_p50_us"] = round(percentile(c, 50) * 1e6, 2)
    m = metrics
    m.update(summarize_us(floor_wall, "vm_floor_"))
    m["vm_floor_cpu_p50_us"] = round(percentile(floor_cpu, 50) * 1e6, 2)
    m["vm_set_input_cpu_p50_us"] = round(percentile(parse_cpu, 50) * 1e6, 2)
    for step, step_samples in (("check", py_check), ("dumps", py_dumps), ("parse", py_parse)):
        m[f"python_{step}_cpu_p50_us"] = round(percentile(step_samples, 50) * 1e6, 2)
    m["marshalling_p50_us"] = round(m["embedded_p50_us"] - m["vm_input_eval_p50_us"], 2)
    m["marshalling_cpu_p50_us"] = round(m["embedded_cpu_p50_us"] - m["vm_input_eval_cpu_p50_us"], 2)
    m["interpreter_to_vm_p50_ratio"] = round(m["embedded_interpreter_p50_us"] / m["embedded_p50_us"], 2)
    m["embedded_to_interpreter_trivial_p50_ratio"] = round(
        m["embedded_p50_us"] / m["interpreter_trivial_p50_us"], 1)
    m.update(reference)
    for part, us in profile.items():
        m[f"pack_vm_{part.replace('.', '_')}_p50_us"] = round(us, 1)
    m.update(summarize_us(via_opa, "opa_"))
    m["opa_to_embedded_p50_ratio"] = round(m["opa_p50_us"] / m["embedded_p50_us"], 2)
    m["fleet_devices"] = float(fleet_size)
    m["fleet_classes"] = float(fleet.evaluations)
    m["fleet_class_eval_ms"] = round(fleet_s * 1000, 1)
    m["fleet_per_device_eval_ms"] = round(per_device_s * 1000, 1)
    m["fleet_speedup_ratio"] = round(per_device_s / fleet_s, 1) if fleet_s else float("nan")

    def pair(name: str) -> str:
        return f"{m[name + '_p50_us']:,.1f} / {m[name + '_cpu_p50_us']:,.1f} µs"

    rows = [
        ("embedded (VM), unseen proposals, engine alone: p50 / p99 wall",
         f"{m['decision_p50_us']:,.0f} / {m['decision_p99_us']:,.0f} µs"),
        ("embedded (VM), engine alone: p50 wall / CPU", pair("decision")),
        ("embedded (VM), in turns with the baselines below: p50 wall / CPU", pair("embedded")),
        ("embedded, interpreter evaluator: p50 wall / CPU", pair("embedded_interpreter")),
        ("interpreter / VM (p50)", f"{m['interpreter_to_vm_p50_ratio']:.2f}x"),
        ("baseline: bare VM set_input + eval of the pack (p50 wall / CPU)", pair("vm_input_eval")),
        ("baseline: bare VM eval of the pack, input already set (p50 wall / CPU)", pair("vm_eval")),
        ("baseline: bare interpreter set_input + eval (p50 wall / CPU)", pair("interpreter_input_eval")),
        ("baseline: one-rule policy, VM (p50 wall / CPU)", pair("vm_trivial")),
        ("baseline: one-rule policy, interpreter (p50 wall / CPU)", pair("interpreter_trivial")),
        ("embedded / one-rule interpreter policy (p50)", f"{m['embedded_to_interpreter_trivial_p50_ratio']:.1f}x"),
        ("marshalling + checks (embedded - bare VM set_input + eval, in turns, p50 wall / CPU)",
         f"{m['marshalling_p50_us']:,.1f} / {m['marshalling_cpu_p50_us']:,.1f} µs"),
        ("Python side alone: input check / JSON out / JSON back + Decision (p50 CPU)",
         f"{m['python_check_cpu_p50_us']:,.1f} / {m['python_dumps_cpu_p50_us']:,.1f} / "
         f"{m['python_parse_cpu_p50_us']:,.1f} µs"),
        ("bare VM decision = embedded decision", "yes" if same_raw else "NO"),
        ("floor: the proposal's conditions fused into 5 rules, VM eval (p50 wall / CPU)", pair("vm_floor")),
        ("floor: VM set_input_json of the input alone (p50 CPU)", f"{m['vm_set_input_cpu_p50_us']:,.1f} µs"),
        ("floor decision = pack decision", "yes" if same_floor else "NO"),
        *_reference_rows(reference),
        *[(f"  pack profile on the VM: {part} (p50)", f"{us:,.1f} µs") for part, us in profile.items()],
        ("OPA Data API p50 / p99", f"{m['opa_p50_us']:,.0f} / {m['opa_p99_us']:,.0f} µs"),
        ("OPA / embedded (p50)", f"{m['opa_to_embedded_p50_ratio']:.2f}x"),
        ("same decision both ways", "yes" if same else "NO"),
        (f"fleet of {fleet_size}: classes", f"{fleet.evaluations}"),
        (
            "fleet: by class / per device",
            f"{m['fleet_class_eval_ms']:,.1f} / "
            f"{m['fleet_per_device_eval_ms']:,.1f} ms "
            f"({m['fleet_speedup_ratio']}x)",
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
            "proposal": "support agent, one device, Device.WiFi.Radio.2.Channel in 36/40/44/48; "
                        "every sample a new device id, channel and clock (no decision cache exists)",
            "evaluator": engine.evaluator,
            "revision": engine.revision[:12],
            "loadavg_1m": round(os.getloadavg()[0], 2),
        },
        rows=rows,
        notes=[
            "Headline (decision_*): a real evaluation of an input never seen before (each sample its own "
            "document), the engine timed alone; the embedded_* rows repeat it in turns with the baselines "
            "(every column's caches then cool between samples, so all of them read higher).",
            "p50/p99 include marshalling (dict -> check -> JSON -> regorus VM -> JSON -> Decision).",
            "Baselines run in this process, in turns with the figure, on the same inputs.",
            "OPA figures use the local OPA Data API server (testing/opa_server.py) in this process.",
        ],
    )
