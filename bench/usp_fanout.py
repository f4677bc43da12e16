"""USP fan-out: pipelined Sets per second across 1,000 simulated agents through one controller.

Why this figure: a campaign or a remediation job changes thousands of gateways; with USP the
limit is how many Set round trips one controller keeps in flight and completes per second on one
MQTT connection — the Sets are pipelined (up to ``window`` outstanding, matched by ``msg_id``),
spread over the agents round-robin, each an atomic ``allow_partial=false`` Set of one parameter.

Set up: a private Mosquitto (``set_tcp_nodelay true``, deep queues) started by this benchmark; the
agents in a separate process (``executors.sim.usp_host``) on shared MQTT connections, twin-backed in
``batched`` mode — a Set is acknowledged from the agent's memory and written to the twin after the
run (timed separately), because the twin's SQLite store commits ~500 writes/s and would otherwise be
what this measures. The controller is driven directly (``UspController.set``): benchmarks hold no
write grants, and the executor's ``apply_many`` adds a Get per device for idempotency on top.
The run is repeated over MQTT 3.1.1 (no MQTT 5 properties to encode and parse) for comparison, and
the controller's CPU time per Set is reported: this 2-core machine also runs the broker and the
agents, so ``sets_per_s_per_controller_core`` (1 s ÷ CPU per Set) says what one core would do.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.framework import BenchResult, percentile

NAME = "usp_fanout"
DESCRIPTION = "pipelined USP Sets/s across 1,000 simulated agents through one controller (Mosquitto)"
SSID = "Device.WiFi.SSID.1.SSID"
AGENTS = 1000
PER_CONNECTION = 250
WINDOW = 2000


async def _pipeline(controller: Any, endpoints: list[str], total: int, window: int
                    ) -> tuple[float, list[float], int, dict[str, str]]:
    sem = asyncio.Semaphore(window)
    latencies: list[float] = []
    errors = 0
    last: dict[str, str] = {}

    async def one(i: int) -> None:
        nonlocal errors
        ep = endpoints[i % len(endpoints)]
        value = f"fan-{i}"
        async with sem:
            t0 = time.perf_counter()
            try:
                await controller.set(ep, {SSID: value}, timeout=60)
            except Exception:
                errors += 1
                return
            latencies.append(time.perf_counter() - t0)
            last[ep] = value

    t0 = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(total)))
    return time.perf_counter() - t0, latencies, errors, last


def _variant(broker_url: str, twin_url: str, ids: list[str], endpoints: list[str], total: int,
             mqtt: int) -> dict[str, Any]:
    from executors.sim.twin import Twin
    from executors.sim.usp_host import HostProcess
    from executors.usp.controller import UspController
    from executors.usp.loop import LoopThread

    controller_id = f"proto::controller-fanout-{mqtt}"
    host = HostProcess(["--url", broker_url, "--twin-url", twin_url, "--count", str(len(ids)),
                        "--controller-id", controller_id, "--persist", "batched", "--flush-interval-s", "0",
                        "--per-connection", str(PER_CONNECTION), "--mqtt", str(mqtt)])
    ready = host.start()
    runner = LoopThread(f"fanout-controller-{mqtt}")
    controller = UspController(broker_url, endpoint_id=controller_id, request_timeout_s=60, mqtt_version=mqtt)
    twin = Twin(twin_url)
    try:
        runner.run(controller.start())
        runner.run(_pipeline(controller, endpoints, min(2000, total), WINDOW), timeout=600)  # warm up
        agent_cpu0 = host.command("stats")["cpu_s"]
        cpu0 = time.process_time()
        elapsed, latencies, errors, last = runner.run(_pipeline(controller, endpoints, total, WINDOW),
                                                      timeout=3600)
        cpu = time.process_time() - cpu0
        agent_cpu = host.command("stats")["cpu_s"] - agent_cpu0
        flushed = host.command("flush")
        by_ep = dict(zip(endpoints, ids, strict=True))
        sample = endpoints[:: max(1, len(endpoints) // 20)]
        twin.forget_cache()
        mismatched = sum(1 for ep in sample if ep in last and twin.params(by_ep[ep])[SSID] != last[ep])
        stats = host.command("stats")["stats"]
    finally:
        runner.run(controller.stop())
        runner.stop()
        host.stop()
        twin.close()
    done = len(latencies)
    us = [x * 1e6 for x in latencies]
    cpu_us = cpu / done * 1e6 if done else float("nan")
    return {
        "sets_per_s": round(done / elapsed, 1), "sets": done, "errors": errors,
        "p50_us": round(percentile(us, 50), 1), "p99_us": round(percentile(us, 99), 1),
        "cpu_us": round(cpu_us, 1), "per_core": round(1e6 / cpu_us, 1) if done else 0.0,
        "agent_cpu_us": round(agent_cpu / done * 1e6, 1) if done else float("nan"),
        "connections": ready["connections"], "flush_s": float(flushed.get("flush_s", 0.0)),
        "flushed": flushed.get("flushed", 0), "mismatched": mismatched, "agent_requests": stats["requests"],
    }


def run(quick: bool) -> BenchResult:
    from executors.sim.twin import Twin
    from executors.sim.usp_host import make_twin_fleet
    from executors.usp.executor import endpoint_for
    from testing.mqtt_broker import MqttBroker

    total = 10_000 if quick else 200_000
    with tempfile.TemporaryDirectory(prefix="gw-usp-fan-") as tmp, MqttBroker() as broker:
        twin_url = f"sqlite:///{Path(tmp) / 'twin.db'}"
        ids = make_twin_fleet(twin_url, AGENTS)
        twin = Twin(twin_url)
        endpoints = [endpoint_for(twin.device(i)) for i in ids]
        twin.close()
        v5 = _variant(broker.url, twin_url, ids, endpoints, total, 5)
        v3 = _variant(broker.url, twin_url, ids, endpoints, total, 3)
        desc = broker.description
    m = {
        "sets_per_s": v5["sets_per_s"],
        "p50_us": v5["p50_us"],
        "p99_us": v5["p99_us"],
        "errors": float(v5["errors"] + v3["errors"]),
        "controller_cpu_us_per_set": v5["cpu_us"],
        "sets_per_s_per_controller_core": v5["per_core"],
        "agent_sim_cpu_us_per_set": v5["agent_cpu_us"],
        "sets_per_s_mqtt311": v3["sets_per_s"],
        "controller_cpu_us_per_set_mqtt311": v3["cpu_us"],
        "sets_per_s_per_controller_core_mqtt311": v3["per_core"],
        "twin_flush_s": v5["flush_s"],
        "twin_spot_check_mismatches": float(v5["mismatched"] + v3["mismatched"]),
    }
    rows = []
    for name, v in (("MQTT 5", v5), ("MQTT 3.1.1", v3)):
        rows += [
            (f"{name}: pipelined Sets/s (goal >= 10,000)", f"{v['sets_per_s']:,.0f}  ({v['sets']:,} Sets, "
                                                           f"{v['errors']} errors)"),
            (f"{name}: latency under load p50 / p99", f"{v['p50_us'] / 1000:.1f} ms / {v['p99_us'] / 1000:.1f} ms"),
            (f"{name}: controller CPU per Set -> Sets/s per core", f"{v['cpu_us']:.0f} us -> {v['per_core']:,.0f}"),
            (f"{name}: agent simulator CPU per Set", f"{v['agent_cpu_us']:.0f} us"),
            (f"{name}: twin write-back after the run", f"{v['flushed']:,} Sets in {v['flush_s']:.1f} s; "
                                                        f"spot check mismatches {v['mismatched']}"),
        ]
    notes = [
        f"broker: private {desc}",
        f"{AGENTS} agents on {v5['connections']} shared MQTT connections ({PER_CONNECTION} per connection) in a "
        "separate process; the controller in this process (2 MQTT connections: events, replies); agents, "
        "broker and controller share this 2-core machine",
        f"window {WINDOW} Sets in flight; one USP Record each way per Set (QoS 0)",
    ]
    return BenchResult(NAME, m, {"agents": AGENTS, "sets": total, "window": WINDOW,
                                 "per_connection": PER_CONNECTION}, rows, notes)
