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

Over TLS (issue 36): in the same run, MQTT 5 again through a second Mosquitto whose listener requires
TLS, a client certificate and a password (``testing.mqtt_tls_broker``) — the agents' connections,
the controller's and the bare fan-out's all over ``mqtts://`` — so the ``tls_*`` figures sit beside
the plaintext ones measured minutes apart on the same machine.

The figure that compares across runs is the ratio to the bare fan-out of the same variant, measured
in alternating rounds (``ratio_vs_bare``, ``ratio_vs_bare_mqtt311``, ``tls_ratio_vs_bare``; goal
>= 0.8), beside the controller's CPU per Set and the load average when that variant ran: agents,
broker and controller share two cores, so the rate follows the sum of their CPU per Set, and other
work on the machine moves both sides of a round alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.framework import BenchResult, percentile

NAME = "usp_fanout"
# metrics every --quick run reports (tests/bench_smoke)
KEYS = ("sets_per_s", "ratio_vs_bare", "ratio_vs_bare_mqtt311", "tls_ratio_vs_bare", "errors")
DESCRIPTION = "pipelined USP Sets/s across 1,000 simulated agents through one controller (Mosquitto)"
SSID = "Device.WiFi.SSID.1.SSID"
AGENTS = 1000
PER_CONNECTION = 250
WINDOW = 2000
ROUNDS = 2


async def _pipeline(controller: Any, endpoints: list[str], total: int, window: int
                    ) -> tuple[float, list[float], int, dict[str, str]]:
    """``total`` Sets, ``window`` in flight: ``window`` workers each send its next Set when the last
    one is answered (a closed loop; Set ``i`` goes to agent ``i mod 1000``)."""
    latencies: list[float] = []
    errors = 0
    last: dict[str, str] = {}
    counter = iter(range(total))
    perf = time.perf_counter

    async def worker() -> None:
        nonlocal errors
        for i in counter:
            ep = endpoints[i % len(endpoints)]
            value = f"fan-{i}"
            t0 = perf()
            try:
                await controller.set(ep, {SSID: value}, timeout=60)
            except Exception:
                errors += 1
                continue
            latencies.append(perf() - t0)
            last[ep] = value

    t0 = perf()
    await asyncio.gather(*(worker() for _ in range(min(window, total))))
    return perf() - t0, latencies, errors, last


def _bare_fanout(broker_url: str, controller_id: str, endpoints: list[str], total: int, window: int,
                 mqtt: int, tls: Any = None) -> tuple[float, float, int]:
    """The ceiling of broker + agents on this machine: the same Set Records to the same agents,
    pipelined the same way, from a raw socket that does nothing else — every packet built before
    the clock starts, answers only counted (not parsed). Returns (seconds, CPU seconds, answers).
    ``tls``: an ``MqttSecurity`` — the socket is wrapped in its context and CONNECT carries its
    user name and password."""
    import select
    import socket
    import ssl
    import uuid

    from executors.usp import mqtt_wire as wire
    from executors.usp import records
    from executors.usp.mqtt import BrokerAddress
    from executors.usp.topics import agent_topic, with_reply_to

    v5 = mqtt == 5
    reply = f"usp/controller-reply/bare-{uuid.uuid4().hex[:8]}"
    addr = BrokerAddress.parse(broker_url)
    sock = socket.create_connection((addr.host, addr.port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if tls is not None:
        sock = tls.context().wrap_socket(sock, server_hostname=addr.host)
    would_block = (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError)
    buf = bytearray()

    def packet_of_type(kind: int) -> None:  # read until a packet of that type has arrived
        while True:
            frame = wire.frame_length(buf, 0) if buf else None
            if frame is not None:
                first, end = buf[0], frame[1]
                del buf[:end]
                if first & 0xF0 == kind:
                    return
                continue
            data = sock.recv(65536)
            if not data:
                raise ConnectionError("the broker closed the bare fan-out connection")
            buf.extend(data)

    client_id = f"bare-fanout-{uuid.uuid4().hex[:8]}".encode()
    flags, creds = 0x02, b""
    if tls is not None and tls.username is not None:
        flags |= 0x80
        creds += len(tls.username.encode()).to_bytes(2, "big") + tls.username.encode()
        if tls.password is not None:
            flags |= 0x40
            creds += len(tls.password.encode()).to_bytes(2, "big") + tls.password.encode()
    head = b"\x00\x04MQTT" + bytes((5 if v5 else 4, flags)) + (60).to_bytes(2, "big") + (b"\x00" if v5 else b"")
    body = head + len(client_id).to_bytes(2, "big") + client_id + creds
    sock.sendall(b"\x10" + wire.varint(len(body)) + body)
    packet_of_type(0x20)  # CONNACK
    filt = (reply + "/#").encode()
    body = (1).to_bytes(2, "big") + (b"\x00" if v5 else b"") + len(filt).to_bytes(2, "big") + filt + b"\x00"
    sock.sendall(b"\x82" + wire.varint(len(body)) + body)
    packet_of_type(0x90)  # SUBACK
    prefixes: dict[str, wire.PublishPrefix] = {}
    packets: list[bytes] = []
    for i in range(total):
        ep = endpoints[i % len(endpoints)]
        prefix = prefixes.get(ep)
        if prefix is None:
            topic = agent_topic(ep) if v5 else with_reply_to(agent_topic(ep), reply)
            prefix = prefixes[ep] = wire.PublishPrefix.build(
                topic, qos=0, v5=v5, response_topic=reply if v5 else None, content_type="usp.msg" if v5 else None)
        # the controller's msg_id form and value: the same bytes on the wire, for the agents and the broker
        msg = records.set_(records.new_msg_id(), {SSID: f"fan-{i}"})
        packets.append(prefix.packet(records.wrap(msg, to_id=ep, from_id=controller_id)))
    sock.setblocking(False)
    out = bytearray(b"".join(packets[:window]))
    sent, got = min(window, total), 0
    cpu0, t0 = time.process_time(), time.perf_counter()
    deadline = t0 + 600
    pending = getattr(sock, "pending", lambda: 0)  # TLS: bytes decrypted but not yet read (select cannot see them)
    readable: list[Any]
    writable: list[Any]
    while got < total and time.perf_counter() < deadline:
        if pending():
            readable, writable = [sock], []
        else:
            readable, writable, _ = select.select([sock], [sock] if out else [], [], 1.0)
        if writable and out:
            with contextlib.suppress(*would_block):
                del out[: sock.send(out)]
        if readable:
            try:
                data = sock.recv(262144)
            except would_block:
                continue
            if not data:
                break
            buf.extend(data)
            pos = 0
            while (frame := wire.frame_length(buf, pos)) is not None:
                if buf[pos] & 0xF0 == wire.PUBLISH:
                    got += 1
                    if sent < total:
                        out += packets[sent]
                        sent += 1
                pos = frame[1]
            del buf[:pos]
            if out:
                with contextlib.suppress(*would_block):
                    del out[: sock.send(out)]
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    with contextlib.suppress(OSError):
        sock.setblocking(True)
        sock.sendall(b"\xe0\x00")  # DISCONNECT
    sock.close()
    return elapsed, cpu, got


def _variant(broker: Any, twin_url: str, ids: list[str], endpoints: list[str], total: int,
             mqtt: int, tls_broker: Any = None) -> dict[str, Any]:
    """One MQTT version: the controller and the bare fan-out alternate (bare, controller, bare,
    controller: a noisy neighbour hits both alike), against the same agents and broker.
    ``tls_broker``: all of it over TLS with a client certificate and a password (issue 36)."""
    from executors.sim.twin import Twin
    from executors.sim.usp_host import HostProcess
    from executors.usp.controller import UspController
    from executors.usp.loop import LoopThread
    from executors.usp.mqtt_tls import MqttSecurity

    url = broker.url if tls_broker is None else tls_broker.url("mtls", host="localhost")
    tag = f"{mqtt}{'-tls' if tls_broker is not None else ''}"
    controller_id = f"proto::controller-fanout-{tag}"
    tls = None
    with contextlib.ExitStack() as env:
        if tls_broker is not None:  # the agent process and the controller read the TLS settings from it
            env.enter_context(tls_broker.client_environment())
            tls = MqttSecurity.from_settings()
            broker = tls_broker
        host = HostProcess(["--url", url, "--twin-url", twin_url, "--count", str(len(ids)),
                            "--controller-id", controller_id, "--persist", "batched", "--flush-interval-s", "0",
                            "--per-connection", str(PER_CONNECTION), "--mqtt", str(mqtt)])
        ready = host.start()
        controller = UspController(url, endpoint_id=controller_id, request_timeout_s=60, mqtt_version=mqtt)
    runner = LoopThread(f"fanout-controller-{tag}")
    twin = Twin(twin_url)
    share = max(1, total // ROUNDS)
    acc = {k: 0.0 for k in ("elapsed", "cpu", "agent", "broker", "bare_elapsed", "bare_cpu", "bare_agent",
                            "bare_broker", "bare_done")}
    latencies: list[float] = []
    errors = 0
    last: dict[str, str] = {}

    def cpus() -> tuple[float, float]:
        return float(host.command("stats")["cpu_s"]), broker.cpu_seconds() or 0.0

    load = os.getloadavg()[0]
    try:
        runner.run(controller.start())
        runner.run(_pipeline(controller, endpoints, min(2000, total), WINDOW), timeout=600)  # warm up
        for _ in range(ROUNDS):
            a0, b0 = cpus()
            el, cpu, got = _bare_fanout(url, controller_id, endpoints, share, WINDOW, mqtt, tls)
            a1, b1 = cpus()
            acc["bare_elapsed"] += el
            acc["bare_cpu"] += cpu
            acc["bare_done"] += got
            acc["bare_agent"] += a1 - a0
            acc["bare_broker"] += b1 - b0
            cpu0 = time.process_time()
            el, lat, err, last = runner.run(_pipeline(controller, endpoints, share, WINDOW), timeout=3600)
            cpu = time.process_time() - cpu0
            a2, b2 = cpus()
            acc["elapsed"] += el
            acc["cpu"] += cpu
            acc["agent"] += a2 - a1
            acc["broker"] += b2 - b1
            latencies += lat
            errors += err
        flushed = host.command("flush")
        by_ep = dict(zip(endpoints, ids, strict=True))
        sample = endpoints[:: max(1, len(endpoints) // 20)]
        twin.forget_cache()
        mismatched = sum(1 for ep in sample if ep in last and twin.params(by_ep[ep])[SSID] != last[ep])
        stats = host.command("stats")["stats"]
        tls_version = controller.link.tls_version()
    finally:
        runner.run(controller.stop())
        runner.stop()
        host.stop()
        twin.close()
    done = len(latencies)
    bare_done = acc["bare_done"]
    us = [x * 1e6 for x in latencies]

    def per(x: float, n: float) -> float:
        return round(x / n * 1e6, 1) if n else float("nan")

    cpu_us = per(acc["cpu"], done)
    rate, bare_rate = done / acc["elapsed"], bare_done / acc["bare_elapsed"] if acc["bare_elapsed"] else 0.0
    return {
        "sets_per_s": round(rate, 1), "sets": done, "errors": errors,
        "ratio": round(rate / bare_rate, 3) if bare_rate else 0.0,
        "load": (round(load, 2), round(os.getloadavg()[0], 2)),
        "p50_us": round(percentile(us, 50), 1), "p99_us": round(percentile(us, 99), 1),
        "cpu_us": cpu_us, "per_core": round(1e6 / cpu_us, 1) if done else 0.0,
        "agent_cpu_us": per(acc["agent"], done), "broker_cpu_us": per(acc["broker"], done),
        "bare_sets_per_s": round(bare_done / acc["bare_elapsed"], 1) if acc["bare_elapsed"] else 0.0,
        "bare_sets": int(bare_done), "bare_cpu_us": per(acc["bare_cpu"], bare_done),
        "bare_agent_cpu_us": per(acc["bare_agent"], bare_done),
        "bare_broker_cpu_us": per(acc["bare_broker"], bare_done),
        "connections": ready["connections"], "flush_s": float(flushed.get("flush_s", 0.0)),
        "flushed": flushed.get("flushed", 0), "mismatched": mismatched, "agent_requests": stats["requests"],
        "tls": tls_version,
    }


def run(quick: bool) -> BenchResult:
    from executors.sim.twin import Twin
    from executors.sim.usp_host import make_twin_fleet
    from executors.usp.executor import endpoint_for
    from testing.mqtt_broker import MqttBroker
    from testing.mqtt_tls_broker import MqttTlsBroker

    total = 10_000 if quick else 200_000
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="gw-usp-fan-") as tmp, MqttBroker() as broker, \
            MqttTlsBroker() as tls_broker:
        twin_url = f"sqlite:///{Path(tmp) / 'twin.db'}"
        ids = make_twin_fleet(twin_url, AGENTS)
        twin = Twin(twin_url)
        endpoints = [endpoint_for(twin.device(i)) for i in ids]
        twin.close()
        # The bench's own set-up (a twin of 1,000 devices and its imports, built in this process) is
        # not the controller's: frozen, so the cyclic collector the controller's Sets trigger does not
        # rescan it. Without this the variant run first paid ~5 µs of CPU a Set more than those after
        # it, whichever it was (MQTT 3.1.1 first: 0.78-0.83; MQTT 5 last: 0.87-0.90).
        gc.collect()
        gc.freeze()
        v5 = _variant(broker, twin_url, ids, endpoints, total, 5)
        tls = _variant(broker, twin_url, ids, endpoints, total, 5, tls_broker)
        v3 = _variant(broker, twin_url, ids, endpoints, total, 3)
        desc = broker.description
        tls_desc = tls_broker.description
    load_after = os.getloadavg()[0]
    m = {
        "sets_per_s": v5["sets_per_s"],
        "bare_sets_per_s": v5["bare_sets_per_s"],
        "ratio_vs_bare": v5["ratio"],
        "ratio_vs_bare_mqtt311": v3["ratio"],
        "tls_ratio_vs_bare": tls["ratio"],
        "p50_us": v5["p50_us"],
        "p99_us": v5["p99_us"],
        "errors": float(v5["errors"] + v3["errors"] + tls["errors"]),
        "controller_cpu_us_per_set": v5["cpu_us"],
        "sets_per_s_per_controller_core": v5["per_core"],
        "agent_sim_cpu_us_per_set": v5["agent_cpu_us"],
        "broker_cpu_us_per_set": v5["broker_cpu_us"],
        "bare_controller_cpu_us_per_set": v5["bare_cpu_us"],
        "bare_agent_sim_cpu_us_per_set": v5["bare_agent_cpu_us"],
        "bare_broker_cpu_us_per_set": v5["bare_broker_cpu_us"],
        "sets_per_s_mqtt311": v3["sets_per_s"],
        "bare_sets_per_s_mqtt311": v3["bare_sets_per_s"],
        "controller_cpu_us_per_set_mqtt311": v3["cpu_us"],
        "agent_sim_cpu_us_per_set_mqtt311": v3["agent_cpu_us"],
        "sets_per_s_per_controller_core_mqtt311": v3["per_core"],
        "tls_sets_per_s": tls["sets_per_s"],
        "tls_bare_sets_per_s": tls["bare_sets_per_s"],
        "tls_vs_plain": round(tls["sets_per_s"] / v5["sets_per_s"], 3) if v5["sets_per_s"] else 0.0,
        "tls_p50_us": tls["p50_us"],
        "tls_p99_us": tls["p99_us"],
        "tls_controller_cpu_us_per_set": tls["cpu_us"],
        "tls_agent_sim_cpu_us_per_set": tls["agent_cpu_us"],
        "tls_broker_cpu_us_per_set": tls["broker_cpu_us"],
        "tls_sets_per_s_per_controller_core": tls["per_core"],
        "twin_flush_s": v5["flush_s"],
        "twin_spot_check_mismatches": float(v5["mismatched"] + v3["mismatched"] + tls["mismatched"]),
        "load_avg_1m_before": round(load_before, 2),
        "load_avg_1m_after": round(load_after, 2),
        "load_avg_1m_mqtt5": v5["load"][0],
        "load_avg_1m_tls": tls["load"][0],
        "load_avg_1m_mqtt311": v3["load"][0],
    }
    rows = [(f"{name}: controller / bare, same run; controller CPU per Set; load",
             f"{v['ratio']:.2f} (goal >= 0.80); {v['cpu_us']:.1f} us (bare {v['bare_cpu_us']:.1f}); "
             f"{v['load'][0]:.2f} -> {v['load'][1]:.2f}")
            for name, v in (("MQTT 5", v5), ("MQTT 5 over TLS", tls), ("MQTT 3.1.1", v3))]
    for name, v in (("MQTT 5", v5), ("MQTT 5 over TLS", tls), ("MQTT 3.1.1", v3)):
        total_cpu = v["cpu_us"] + v["agent_cpu_us"] + v["broker_cpu_us"]
        bare_cpu = v["bare_cpu_us"] + v["bare_agent_cpu_us"] + v["bare_broker_cpu_us"]
        rows += [
            (f"{name}: pipelined Sets/s (goal >= 10,000)", f"{v['sets_per_s']:,.0f}  ({v['sets']:,} Sets, "
                                                           f"{v['errors']} errors)"),
            (f"{name}: bare fan-out, same Records and agents",
             f"{v['bare_sets_per_s']:,.0f} Sets/s  (controller / bare "
             f"{v['sets_per_s'] / max(1.0, v['bare_sets_per_s']):.2f})"),
            (f"{name}: latency under load p50 / p99", f"{v['p50_us'] / 1000:.1f} ms / {v['p99_us'] / 1000:.1f} ms"),
            (f"{name}: CPU per Set: controller + agents + broker",
             f"{v['cpu_us']:.0f} + {v['agent_cpu_us']:.0f} + {v['broker_cpu_us']:.0f} = {total_cpu:.0f} us"
             f" -> <= {2e6 / total_cpu:,.0f} Sets/s on 2 cores"),
            (f"{name}: CPU per Set, bare: sender + agents + broker",
             f"{v['bare_cpu_us']:.0f} + {v['bare_agent_cpu_us']:.0f} + {v['bare_broker_cpu_us']:.0f} = "
             f"{bare_cpu:.0f} us -> <= {2e6 / bare_cpu:,.0f} Sets/s on 2 cores"),
            (f"{name}: controller CPU per Set -> Sets/s per core", f"{v['cpu_us']:.0f} us -> {v['per_core']:,.0f}"),
            (f"{name}: twin write-back after the run", f"{v['flushed']:,} Sets in {v['flush_s']:.1f} s; "
                                                        f"spot check mismatches {v['mismatched']}"),
        ]
    rows.append(("load average (1 min) before / after", f"{load_before:.2f} / {load_after:.2f}"))
    notes = [
        f"broker: private {desc}",
        f"{AGENTS} agents on {v5['connections']} shared MQTT connections ({PER_CONNECTION} per connection) in a "
        "separate process; the controller in this process (2 MQTT connections: events, replies); agents, "
        "broker and controller share this 2-core machine, so the sum of their CPU per Set bounds the rate",
        f"window {WINDOW} Sets in flight ({WINDOW} workers, each sending its next Set when one is answered); "
        "one USP Record each way per Set (QoS 0)",
        "bare fan-out: one raw socket sends the same Set Records (the controller's msg_id form and values; built "
        f"before the clock starts) to the same agents with the same window and only counts the answers: the "
        f"ceiling of broker + agents here; controller and bare runs alternate, {ROUNDS} rounds each",
        "controller CPU per Set: this process's CPU (user + system) while the controller's Sets run, over the Sets "
        "answered — its event loop, the MQTT connection and the callers' coroutines; load: the 1-minute load "
        "average when each MQTT variant started and ended (a 2-core machine: above ~2, other work competes)",
        f"MQTT 5 over TLS: {tls_desc}; {tls['tls']}, client certificate + password, hostname verified; "
        "agents, controller and the bare fan-out all over TLS; run between the plaintext MQTT 5 and 3.1.1 ones",
    ]
    return BenchResult(NAME, m, {"agents": AGENTS, "sets": total, "window": WINDOW, "rounds": ROUNDS,
                                 "per_connection": PER_CONNECTION}, rows, notes)
