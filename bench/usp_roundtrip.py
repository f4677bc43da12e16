"""USP request round trip: sequential Gets through ``UspExecutor.read`` vs a bare paho+protobuf loop.

Why these figures: every preview, backup and verification of a USP device is a handful of Gets, so
the per-request cost of the adapter (``msg_id`` matching, typing values with the agent's
GetSupportedDM; a known agent's Get is written from the caller's thread, so only the answer crosses
to it from the controller's event loop) is what an operator feels. The bare loop
is the floor for Python on this machine: a paho client on its own network thread publishing one
protobuf-encoded Get Record and waiting for the response Record, nothing else. Both run in this
process, one after the other, against the same simulated agent (its own process, so it does not
compete for this one's CPU) through the same private Mosquitto started with ``set_tcp_nodelay true``
— without it each request waits out Nagle/delayed-ACK (the ``no_nodelay`` row shows what that
costs here). The ratio is executor req/s ÷ bare req/s (goal ≥ 0.9).
"""

from __future__ import annotations

import os
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.framework import BenchResult, percentile

NAME = "usp_roundtrip"
DESCRIPTION = "sequential USP Gets via the executor vs a bare paho+protobuf loop, through Mosquitto"
PATH = "Device.DeviceInfo.SoftwareVersion"
ROUNDS = 8


def _stats(samples: list[float], prefix: str) -> dict[str, float]:
    us = [s * 1e6 for s in samples]
    total = sum(samples)
    return {
        f"{prefix}p50_us": round(percentile(us, 50), 1),
        f"{prefix}p99_us": round(percentile(us, 99), 1),
        f"{prefix}mean_us": round(statistics.fmean(us), 1),
        f"{prefix}req_per_s": round(len(samples) / total, 1) if total else 0.0,
    }


def _bare_loop(url: str, agent_ep: str, controller_id: str, n: int, *, nodelay: bool = True) -> list[float]:
    """Sequential Gets with nothing but paho (network thread) and the generated protobuf classes."""
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    from executors.usp.mqtt import BrokerAddress
    from executors.usp.proto import msg_pb, record_pb

    addr = BrokerAddress.parse(url)
    my_topic = f"usp/controller/bare-{controller_id}"
    agent_topic = f"usp/agent/{agent_ep}"
    got = threading.Event()
    box: dict[str, Any] = {}

    def on_message(client: Any, ud: Any, message: Any) -> None:
        rec = record_pb.Record.FromString(message.payload)
        msg = msg_pb.Msg.FromString(rec.no_session_context.payload)
        if msg.header.msg_id == box.get("id"):
            box["msg"] = msg
            got.set()

    def on_socket_open(client: Any, ud: Any, sock: Any) -> None:
        if nodelay:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bare-{time.monotonic_ns()}", protocol=paho.MQTTv5)
    client.on_message = on_message
    client.on_socket_open = on_socket_open
    client.connect(addr.host, addr.port, keepalive=30)
    client.loop_start()
    client.subscribe(my_topic, qos=1)
    time.sleep(0.2)
    props = Properties(PacketTypes.PUBLISH)
    props.ResponseTopic = my_topic
    props.ContentType = "usp.msg"
    samples: list[float] = []
    try:
        for i in range(n):
            msg = msg_pb.Msg()
            msg.header.msg_id = box["id"] = f"bare-{i}"
            msg.header.msg_type = msg_pb.Header.GET
            msg.body.request.get.param_paths.append(PATH)
            rec = record_pb.Record(version="1.3", to_id=agent_ep, from_id=controller_id)
            rec.no_session_context.payload = msg.SerializeToString()
            got.clear()
            t0 = time.perf_counter()
            client.publish(agent_topic, rec.SerializeToString(), qos=0, properties=props)
            if not got.wait(10):
                raise TimeoutError("the agent did not answer the bare loop")
            samples.append(time.perf_counter() - t0)
    finally:
        client.loop_stop()
        client.disconnect()
    return samples


def run(quick: bool) -> BenchResult:
    from core.models import Device
    from executors.sim.usp_host import HostProcess, make_twin_fleet
    from executors.usp.executor import UspExecutor, endpoint_for
    from executors.usp.topics import topic_level
    from testing.mqtt_broker import MqttBroker

    n = 400 if quick else 5000
    load_before = os.getloadavg()[0]
    n_nagle = 40 if quick else 200
    controller_id = "proto::controller-bench"
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="gw-usp-rt-") as tmp, MqttBroker() as broker:
        twin_url = f"sqlite:///{Path(tmp) / 'twin.db'}"
        (device_id,) = make_twin_fleet(twin_url, 1)
        from executors.sim.twin import Twin

        twin = Twin(twin_url)
        device: Device = twin.device(device_id)
        twin.close()
        host = HostProcess(["--url", broker.url, "--twin-url", twin_url, "--count", "1",
                            "--controller-id", controller_id])
        host.start()
        ex = UspExecutor(url=broker.url, endpoint_id=controller_id, timeout_s=10)
        try:
            ep = endpoint_for(device)
            for _ in range(50):  # warm up: identity, supported DM, caches, TCP windows
                ex.read(device, [PATH])
            _bare_loop(broker.url, topic_level(ep), controller_id, 50)

            async def in_loop(count: int) -> list[float]:
                out = []
                for _ in range(count):
                    t0 = time.perf_counter()
                    await ex.controller.get(ep, [PATH])
                    out.append(time.perf_counter() - t0)
                return out

            # Interleaved rounds, so a noisy neighbour on this machine hits all three alike.
            executor_samples: list[float] = []
            controller_samples: list[float] = []
            bare_samples: list[float] = []
            per_round = max(1, n // ROUNDS)
            for _ in range(ROUNDS):
                for _ in range(per_round):
                    t0 = time.perf_counter()
                    ex.read(device, [PATH])
                    executor_samples.append(time.perf_counter() - t0)
                controller_samples += ex.runner.run(in_loop(per_round), timeout=600)
                bare_samples += _bare_loop(broker.url, topic_level(ep), controller_id, per_round)
        finally:
            ex.close()
            host.stop()
        with MqttBroker(nodelay=False) as slow_broker:
            host = HostProcess(["--url", slow_broker.url, "--twin-url", twin_url, "--count", "1",
                                "--controller-id", controller_id])
            host.start()
            try:
                nagle_samples = _bare_loop(slow_broker.url, topic_level(ep), controller_id, n_nagle, nodelay=False)
            finally:
                host.stop()
        desc = broker.description
    m: dict[str, float] = {}
    m.update(_stats(executor_samples, "executor_"))
    m.update(_stats(controller_samples, "controller_"))
    m.update(_stats(bare_samples, "bare_"))
    m.update(_stats(nagle_samples, "no_nodelay_bare_"))
    m["ratio_executor_vs_bare"] = round(m["executor_req_per_s"] / m["bare_req_per_s"], 3)
    m["ratio_controller_vs_bare"] = round(m["controller_req_per_s"] / m["bare_req_per_s"], 3)
    # the medians say the same without the scheduling tail a loaded machine adds to every loop
    m["ratio_p50_executor_vs_bare"] = round(m["bare_p50_us"] / m["executor_p50_us"], 3)
    m["load_avg_1m_before"] = round(load_before, 2)
    m["load_avg_1m_after"] = round(os.getloadavg()[0], 2)
    rows = [
        ("executor read() (synchronous)", f"p50 {m['executor_p50_us']:.0f} us  p99 {m['executor_p99_us']:.0f} us"
                                          f"  {m['executor_req_per_s']:,.0f} req/s"),
        ("controller.get() (in its loop)", f"p50 {m['controller_p50_us']:.0f} us  p99 {m['controller_p99_us']:.0f} us"
                                           f"  {m['controller_req_per_s']:,.0f} req/s"),
        ("bare paho + protobuf loop", f"p50 {m['bare_p50_us']:.0f} us  p99 {m['bare_p99_us']:.0f} us"
                                      f"  {m['bare_req_per_s']:,.0f} req/s"),
        ("bare loop, no TCP_NODELAY anywhere", f"p50 {m['no_nodelay_bare_p50_us']:.0f} us  "
                                               f"{m['no_nodelay_bare_req_per_s']:,.0f} req/s"),
        ("executor / bare (goal >= 0.9)", f"{m['ratio_executor_vs_bare']:.2f}"),
        ("executor / bare by p50", f"{m['ratio_p50_executor_vs_bare']:.2f}"),
        ("load average (1 min) before / after", f"{m['load_avg_1m_before']:.2f} / {m['load_avg_1m_after']:.2f}"),
    ]
    notes.append(f"broker: private {desc}; one twin-backed agent in a separate process")
    notes.append("bare loop: paho loop_start() + threading.Event, same Record bytes, TCP_NODELAY on its socket; "
                 f"the three loops run interleaved in {ROUNDS} rounds")
    notes.append("no_nodelay row: broker with set_tcp_nodelay false and no TCP_NODELAY on the client")
    return BenchResult(NAME, m, {"requests": n, "nagle_requests": n_nagle, "path": PATH, "mqtt": 5}, rows, notes)
