"""chat_to_change: a support agent's message → a verified change on the simulator.

Why: the product promise on a support call is "tell me the problem, confirm, and it is fixed and
checked" while the customer is still on the line. This measures exactly that path with the
offline planner: ``ChatService.send(message)`` (understand → read-only tools → diagnose → draft →
self-check → lifecycle submit: validate, preview, policy) and ``send("apply")`` (backup, apply,
verify), on devices with radar, congestion and coverage problems, each restored between
iterations. Goal: p50 ≤ 500 ms.

It also measures the planner's own overhead per turn on the model path, excluding model time:
the same turn driven by the real ``openai`` client against the local scripted endpoint, minus the
time spent inside the model calls.
"""

from __future__ import annotations

import time
from typing import Any

from bench.framework import BenchResult, percentile

NAME = "chat_to_change"
KEYS = ("p50_ms", "verified_share")  # metrics every --quick run reports (tests/bench_smoke)
DESCRIPTION = "support-agent message → verified change (offline planner), p50/p99; planner overhead per turn"

MESSAGES = {
    "dfs_radar": "Customer says the Wi-Fi dies every evening",
    "wifi_congestion": "Wi-Fi is slow and buffers in the evenings",
    "poor_24_coverage": "weak signal upstairs in the bedroom",
}
LLM_SCRIPT = [
    {"tool_calls": [{"name": "history", "arguments": {"hours": 24, "event_kinds": ["dfs_radar"]}},
                    {"name": "wifi_neighbors", "arguments": {"band": "5GHz"}}]},
    {"tool_calls": [{"name": "propose_change", "arguments": {
        "intent": "Move the 5 GHz radio off its DFS channel", "rationale": "radar events",
        "changes": [{"path": "Device.WiFi.Radio.2.Channel", "value": 36}]}}]},
]


def _ms(x: float) -> float:
    return round(x * 1000, 2)


def run(quick: bool) -> BenchResult:
    from brain.llm import LLMClient, LLMConfig
    from brain.service import ChatService
    from core.users import get_actor
    from gateward.cli_brain import SimWorld
    from testing.llm_server import FakeOpenAIServer

    homes = 60 if quick else 200
    iterations = 30 if quick else 150
    world = SimWorld(7, homes)
    rt = world.runtime
    svc = ChatService(rt, planner="offline")
    alice = get_actor(rt.store, "alice")
    targets: list[tuple[str, str]] = []
    for cond, msg in MESSAGES.items():
        targets += [(d, msg) for d in world.conditions.get(cond, [])[:3]]
    snaps = {d: world.snapshot(d) for d, _ in targets}

    def one(device: str, message: str) -> tuple[float, float, float, str]:
        world.restore(device, snaps[device])
        tid = svc.start(device, alice)
        t0 = time.perf_counter()
        list(svc.send(tid, message, alice))
        t1 = time.perf_counter()
        list(svc.send(tid, "apply", alice))
        t2 = time.perf_counter()
        state = str(svc.state(tid).get("proposal_state"))
        return t2 - t0, t1 - t0, t2 - t1, state

    one(*targets[0])  # warm caches (policy engine per thread, registry, twin)
    totals, firsts, applies = [], [], []
    done = 0
    other: dict[str, int] = {}
    for i in range(iterations):
        total, first, second, state = one(*targets[i % len(targets)])
        totals.append(total)
        firsts.append(first)
        applies.append(second)
        done += state == "done"
        if state != "done":
            other[state] = other.get(state, 0) + 1
    for d in snaps:
        world.restore(d, snaps[d])

    # Model path: planner overhead per turn excluding the time inside model calls.
    overhead, model_time = [], []
    server = FakeOpenAIServer().start()
    try:
        client = LLMClient(LLMConfig(api_key=server.api_key, base_url=server.base_url, model="gpt-4o-mini",
                                     timeout_s=5, max_retries=0))
        spent: list[float] = []
        inner = client.complete

        def timed(*a: Any, **kw: Any) -> Any:
            t = time.perf_counter()
            try:
                return inner(*a, **kw)
            finally:
                spent.append(time.perf_counter() - t)

        client.complete = timed  # type: ignore[method-assign]
        llm_svc = ChatService(rt, planner="llm", llm=client)
        dfs = world.conditions["dfs_radar"][1]
        snap = world.snapshot(dfs)
        for _ in range(10 if quick else 40):
            world.restore(dfs, snap)
            server.load(LLM_SCRIPT)
            spent.clear()
            tid = llm_svc.start(dfs, alice)
            t0 = time.perf_counter()
            list(llm_svc.send(tid, MESSAGES["dfs_radar"], alice))
            turn = time.perf_counter() - t0
            model_time.append(sum(spent))
            overhead.append(turn - sum(spent))
        world.restore(dfs, snap)
        llm_svc.close()
    finally:
        server.stop()
        svc.close()
        world.close()

    metrics = {
        "p50_ms": _ms(percentile(totals, 50)),
        "p99_ms": _ms(percentile(totals, 99)),
        "message_turn_p50_ms": _ms(percentile(firsts, 50)),
        "apply_turn_p50_ms": _ms(percentile(applies, 50)),
        "verified_share": round(done / iterations, 3),
        "llm_turn_overhead_p50_ms": _ms(percentile(overhead, 50)),
        "llm_turn_overhead_p99_ms": _ms(percentile(overhead, 99)),
        "llm_model_time_p50_ms": _ms(percentile(model_time, 50)),
    }
    rows = [
        ("message → verified change p50", f"{metrics['p50_ms']} ms (goal ≤ 500)"),
        ("message → verified change p99", f"{metrics['p99_ms']} ms"),
        ("  message turn (tools, self-check, submit) p50", f"{metrics['message_turn_p50_ms']} ms"),
        ("  apply turn (backup, apply, verify) p50", f"{metrics['apply_turn_p50_ms']} ms"),
        ("verified changes", f"{done}/{iterations}"),
        ("model path: planner overhead per turn p50", f"{metrics['llm_turn_overhead_p50_ms']} ms"),
        ("model path: planner overhead per turn p99", f"{metrics['llm_turn_overhead_p99_ms']} ms"),
        ("model path: time in model calls p50 (local endpoint)", f"{metrics['llm_model_time_p50_ms']} ms"),
    ]
    return BenchResult(NAME, metrics, params={"homes": homes, "iterations": iterations, "planner": "offline",
                                              "store": "sqlite", "devices": len(targets)},
                       rows=rows, notes=["each iteration restores the device's twin state first",
                                         "model overhead: same graph, real openai client, local scripted endpoint",
                                         *([f"not verified: {other}"] if other else [])])
