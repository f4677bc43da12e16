"""Reconnect storm: 10k → 200k USP agents drop and come back at once, each announcing itself.

Why: after a regional power cut every gateway on the affected OLTs boots within seconds of the
others. Each agent publishes an ``mqtt_connect`` Record and a ``Device.Boot!`` Notify with
``send_resp`` that the controller must answer (NotifyResp); an agent keeps retrying until it is
answered. The controller must ingest the burst without losing a notification and without
stalling — a request to an unrelated agent during the storm must still be answered promptly.

Set up: a private Mosquitto (``set_tcp_nodelay true``, ``max_queued_messages 1000000``,
``max_inflight_messages 0``) started by this benchmark; the controller (one MQTT 5 connection) in
this process; the storming agents in a child process (``executors.sim.usp_host --lite``) sharing
MQTT connections — this machine allows 20,000 file descriptors and the broker needs one per
client too, so N agents use at most 400 connections (the table says how many agents each); one
bystander agent on its own connection in this process is probed during the storm. Storm agents are
identity-only (endpoint ID, OUI, serial): building 200k twin devices would measure the twin.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from typing import Any

from bench.framework import BenchResult, percentile

NAME = "reconnect_storm"
KEYS = ("events_per_s", "events_lost")  # metrics every --quick run reports (tests/bench_smoke)
DESCRIPTION = "10k-200k USP agents reconnect at once (mqtt_connect + Boot!): ingest events/s, events lost"
MAX_CONNECTIONS = 400


def _one(broker: Any, n: int, controller_id: str) -> dict[str, Any]:
    from executors.sim.usp_host import AgentHost, HostConfig, HostProcess
    from executors.usp.controller import UspController, UspEvent
    from executors.usp.loop import LoopThread

    broker_url = broker.url
    per = max(25, math.ceil(n / MAX_CONNECTIONS))
    runner = LoopThread("storm-controller")
    controller = UspController(broker_url, endpoint_id=controller_id, request_timeout_s=30)
    window: dict[str, Any] = {"open": False, "boots": set(), "connects": 0, "first": None, "last": None}

    def listen(e: UspEvent) -> None:
        if not window["open"] or e.kind not in ("boot", "connect"):
            return
        now = time.perf_counter()
        window["first"] = window["first"] or now
        window["last"] = now
        if e.kind == "boot":
            window["boots"].add(e.endpoint_id)
        else:
            window["connects"] += 1

    bystander_loop = LoopThread("storm-bystander")
    bystander = AgentHost(HostConfig(url=broker_url, controller_id=controller_id, poll_interval_s=None,
                                     client_prefix="gw-bystander"))
    bystander.add_lite("0AF0E1", "QUIET", "BYSTANDER01")
    host = HostProcess(["--url", broker_url, "--lite", str(n), "--per-connection", str(per),
                        "--controller-id", controller_id, "--retry-min-s", "30"])
    try:
        runner.run(controller.start())
        runner.loop.call_soon_threadsafe(controller.add_listener, listen)
        bystander_loop.run(bystander.start())
        t0 = time.perf_counter()
        ready = host.start(timeout=1200)
        deadline = time.monotonic() + 600
        while controller.connected_count() < n + 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        initial_s = time.perf_counter() - t0
        probe_ep = bystander.agents[0].endpoint_id
        probes: list[float] = []
        stop = asyncio.Event()

        async def probe() -> None:
            while not stop.is_set():
                t = time.perf_counter()
                await controller.get_supported_protocol(probe_ep, timeout=30)
                probes.append(time.perf_counter() - t)
                await asyncio.sleep(0.05)

        agent_cpu0 = float(host.command("stats")["cpu_s"])
        broker_cpu0 = broker.cpu_seconds() or 0.0
        start = time.perf_counter()
        cpu0 = time.process_time()
        window["open"] = True
        prober = runner.submit(probe())
        storm = host.command("storm", timeout=1200)
        deadline = time.monotonic() + 900
        while len(window["boots"]) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        ingest_end = window["last"] or time.perf_counter()
        cpu = time.process_time() - cpu0
        broker_cpu = (broker.cpu_seconds() or 0.0) - broker_cpu0
        pending = host.command("pending")
        agent_cpu = float(pending["cpu_s"]) - agent_cpu0
        wait_acks = time.monotonic() + 120
        while pending["pending"] and time.monotonic() < wait_acks:
            time.sleep(0.5)
            pending = host.command("pending")
        runner.loop.call_soon_threadsafe(stop.set)
        prober.result(60)
        window["open"] = False
        elapsed = max(1e-9, ingest_end - start)
        events = len(window["boots"]) + window["connects"]
        stats = pending["stats"]
        return {
            "agents": n,
            "per_connection": per,
            "connections": ready["connections"],
            "initial_connect_s": round(initial_s, 1),
            "announce_s": storm.get("announce_s", 0.0),
            "storm_s": round(elapsed, 2),
            "events": events,
            "events_per_s": round(events / elapsed, 1),
            "cpu_us_per_event": round(cpu / events * 1e6, 1) if events else float("nan"),
            "agent_cpu_us_per_event": round(agent_cpu / events * 1e6, 1) if events else float("nan"),
            "broker_cpu_us_per_event": round(broker_cpu / events * 1e6, 1) if events else float("nan"),
            "boots_received": len(window["boots"]),
            "lost": n - len(window["boots"]),
            "unacked_after": pending["pending"],
            "retries": stats.get("notify_retries", 0),
            "probe_p50_ms": round(percentile([p * 1000 for p in probes], 50), 2) if probes else float("nan"),
            "probe_max_ms": round(max(probes) * 1000, 2) if probes else float("nan"),
            "duplicates": controller.stats.duplicate_notifies,
            "malformed": controller.stats.malformed,
        }
    finally:
        host.stop(timeout=120)
        bystander_loop.run(bystander.stop())
        bystander_loop.stop()
        runner.run(controller.stop())
        runner.stop()


def run(quick: bool) -> BenchResult:
    from testing.mqtt_broker import MqttBroker

    sizes = [10_000] if quick else [10_000, 50_000, 100_000, 200_000]
    results = []
    load_before = os.getloadavg()[0]
    with MqttBroker() as broker:
        for n in sizes:
            results.append(_one(broker, n, f"proto::controller-storm-{n}"))
        desc = broker.description
    load_after = os.getloadavg()[0]
    biggest = results[-1]
    metrics: dict[str, float] = {
        "agents_max": float(biggest["agents"]),
        "events_per_s": float(biggest["events_per_s"]),
        "events_lost": float(sum(r["lost"] for r in results)),
        "unacked_notifications": float(sum(r["unacked_after"] for r in results)),
        "probe_max_ms_during_storm": float(max(r["probe_max_ms"] for r in results)),
        "storm_s": float(biggest["storm_s"]),
        "controller_cpu_us_per_event": float(biggest["cpu_us_per_event"]),
        "events_per_s_per_controller_core": round(1e6 / biggest["cpu_us_per_event"], 1),
        "agent_sim_cpu_us_per_event": float(biggest["agent_cpu_us_per_event"]),
        "broker_cpu_us_per_event": float(biggest["broker_cpu_us_per_event"]),
        "load_avg_1m_before": round(load_before, 2),
        "load_avg_1m_after": round(load_after, 2),
    }
    for r in results:
        k = f"{r['agents'] // 1000}k"
        metrics[f"events_per_s_{k}"] = float(r["events_per_s"])
        metrics[f"lost_{k}"] = float(r["lost"])
    rows = []
    for r in results:
        rows.append((f"{r['agents']:,} agents on {r['connections']} connections ({r['per_connection']}/conn)",
                     f"{r['events_per_s']:,.0f} events/s, storm {r['storm_s']} s, lost {r['lost']}, "
                     f"unacked {r['unacked_after']}, retries {r['retries']}"))
        rows.append((f"  controller CPU per event ({r['agents']:,})",
                     f"{r['cpu_us_per_event']} us -> {1e6 / r['cpu_us_per_event']:,.0f} events/s per core"))
        total = r["cpu_us_per_event"] + r["agent_cpu_us_per_event"] + r["broker_cpu_us_per_event"]
        rows.append((f"  CPU per event: controller + agents + broker ({r['agents']:,})",
                     f"{r['cpu_us_per_event']} + {r['agent_cpu_us_per_event']} + {r['broker_cpu_us_per_event']} = "
                     f"{total:.1f} us -> <= {2e6 / total:,.0f} events/s on 2 cores"))
        rows.append((f"  controller probe during the storm ({r['agents']:,})",
                     f"p50 {r['probe_p50_ms']} ms, max {r['probe_max_ms']} ms; "
                     f"initial connect {r['initial_connect_s']} s"))
    notes = [
        f"broker: private {desc}; agents, broker and controller share this 2-core machine",
        "controller CPU includes answering every Boot! with a NotifyResp (QoS 1); the probe asks an agent "
        "outside the storm, answered on the controller's reply connection",
        "events = mqtt_connect Records + Boot! Notifies ingested by the controller; lost = agents whose Boot! "
        "never arrived; unacked = Boot! notifications still without a NotifyResp at the end",
        "storm agents are identity-only; each agent's Boot! uses send_resp=true with retries (30 s minimum wait)",
        f"load average (1 min) before / after: {load_before:.2f} / {load_after:.2f}",
    ]
    params = {"sizes": sizes, "max_connections": MAX_CONNECTIONS, "mqtt": 5}
    return BenchResult(NAME, metrics, params, rows, notes)
