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

Over TLS (issue 36): in the same run, a second Mosquitto with a TLS listener that requires a client
certificate and a password (``testing.mqtt_tls_broker``), its own agent process, and the executor,
the controller and the bare paho loop over ``mqtts://`` with mutual TLS — interleaved round by round
with the plaintext loops, so the ``tls_*`` figures sit beside the plaintext ones under the same load.

Over WebSocket (issue 37 item 5): in the same run, two more controllers serve the WebSocket MTP on
127.0.0.1 — plain ``ws://`` and ``wss://`` (the TLS broker's server certificate) — each with its
own agent process connecting as a WebSocket client (``executors.sim.usp_ws``), so the ``ws_*`` and
``wss_*`` figures compare the MTPs under the same load: one hop (agent ↔ controller) where MQTT has
two (agent ↔ broker ↔ controller).
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
# metrics every --quick run reports (tests/bench_smoke)
KEYS = ("executor_req_per_s", "ratio_executor_vs_bare", "tls_ratio_executor_vs_bare")
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


def _bare_loop(url: str, agent_ep: str, controller_id: str, n: int, *, nodelay: bool = True,
               tls: Any = None) -> list[float]:
    """Sequential Gets with nothing but paho (network thread) and the generated protobuf classes
    (``tls``: an ``MqttSecurity`` for an ``mqtts://`` URL — paho's own TLS, the same context)."""
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
    if tls is not None:
        client.tls_set_context(tls.context())
        client.username_pw_set(tls.username, tls.password)
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
    from core.kernel.models import Device
    from executors.sim.usp_host import HostProcess, make_twin_fleet
    from executors.usp.executor import UspExecutor, endpoint_for
    from executors.usp.mqtt_tls import MqttSecurity
    from executors.usp.topics import topic_level
    from executors.usp.websocket import WsSettings
    from testing.mqtt_broker import MqttBroker
    from testing.mqtt_tls_broker import MqttTlsBroker

    n = 400 if quick else 5000
    load_before = os.getloadavg()[0]
    n_nagle = 40 if quick else 200
    controller_id = "proto::controller-bench"
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="gw-usp-rt-") as tmp, MqttBroker() as broker, \
            MqttTlsBroker() as tls_broker:
        tls_url = tls_broker.url("mtls", host="localhost")  # verified by name, as a deployment would
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
        with tls_broker.client_environment():  # the agent process and the TLS executor read these settings
            tls = MqttSecurity.from_settings()
            tls_host = HostProcess(["--url", tls_url, "--twin-url", twin_url, "--count", "1",
                                    "--controller-id", controller_id])
            tls_host.start()
            tls_ex = UspExecutor(url=tls_url, endpoint_id=controller_id, timeout_s=10)
        files = tls_broker.tls
        ws_ex = UspExecutor(url=broker.url, endpoint_id=controller_id + "-ws", timeout_s=10)
        wss_ex = UspExecutor(url=broker.url, endpoint_id=controller_id + "-wss", timeout_s=10)
        ws_server = ws_ex.runner.run(ws_ex.controller.serve_websocket(WsSettings("127.0.0.1", 0)), timeout=10)
        wss_server = wss_ex.runner.run(wss_ex.controller.serve_websocket(WsSettings(
            "127.0.0.1", 0, cert_file=str(files.server_cert), key_file=str(files.server_key))), timeout=10)
        ws_host = HostProcess(["--twin-url", twin_url, "--count", "1", "--controller-id", controller_id + "-ws",
                               "--ws-url", ws_server.url])
        wss_host = HostProcess(["--twin-url", twin_url, "--count", "1", "--controller-id", controller_id + "-wss",
                                "--ws-url", wss_server.url, "--ws-ca", str(files.ca)])
        ws_host.start()
        wss_host.start()
        try:
            ep = endpoint_for(device)
            for wex in (ws_ex, wss_ex):
                deadline = time.monotonic() + 10
                while not getattr(wex.controller.agent(ep), "connected", False):
                    if time.monotonic() > deadline:
                        raise TimeoutError("the WebSocket agent did not connect")
                    time.sleep(0.01)
            for _ in range(50):  # warm up: identity, supported DM, caches, TCP windows
                ex.read(device, [PATH])
                tls_ex.read(device, [PATH])
                ws_ex.read(device, [PATH])
                wss_ex.read(device, [PATH])
            _bare_loop(broker.url, topic_level(ep), controller_id, 50)
            _bare_loop(tls_url, topic_level(ep), controller_id, 50, tls=tls)

            async def in_loop(executor: UspExecutor, count: int) -> list[float]:
                out = []
                for _ in range(count):
                    t0 = time.perf_counter()
                    await executor.controller.get(ep, [PATH])
                    out.append(time.perf_counter() - t0)
                return out

            def reads(executor: UspExecutor, count: int) -> list[float]:
                out = []
                for _ in range(count):
                    t0 = time.perf_counter()
                    executor.read(device, [PATH])
                    out.append(time.perf_counter() - t0)
                return out

            # Interleaved rounds, so a noisy neighbour on this machine hits all six alike.
            executor_samples: list[float] = []
            controller_samples: list[float] = []
            bare_samples: list[float] = []
            tls_executor_samples: list[float] = []
            tls_controller_samples: list[float] = []
            tls_bare_samples: list[float] = []
            ws_executor_samples: list[float] = []
            ws_controller_samples: list[float] = []
            wss_executor_samples: list[float] = []
            wss_controller_samples: list[float] = []
            per_round = max(1, n // ROUNDS)
            for _ in range(ROUNDS):
                executor_samples += reads(ex, per_round)
                tls_executor_samples += reads(tls_ex, per_round)
                controller_samples += ex.runner.run(in_loop(ex, per_round), timeout=600)
                tls_controller_samples += tls_ex.runner.run(in_loop(tls_ex, per_round), timeout=600)
                bare_samples += _bare_loop(broker.url, topic_level(ep), controller_id, per_round)
                tls_bare_samples += _bare_loop(tls_url, topic_level(ep), controller_id, per_round, tls=tls)
                ws_executor_samples += reads(ws_ex, per_round)
                wss_executor_samples += reads(wss_ex, per_round)
                ws_controller_samples += ws_ex.runner.run(in_loop(ws_ex, per_round), timeout=600)
                wss_controller_samples += wss_ex.runner.run(in_loop(wss_ex, per_round), timeout=600)
            tls_version = tls_ex.controller.link.tls_version()
        finally:
            ex.close()
            tls_ex.close()
            host.stop()
            tls_host.stop()
            ws_host.stop()
            wss_host.stop()
            ws_ex.close()
            wss_ex.close()
        with MqttBroker(nodelay=False) as slow_broker:
            host = HostProcess(["--url", slow_broker.url, "--twin-url", twin_url, "--count", "1",
                                "--controller-id", controller_id])
            host.start()
            try:
                nagle_samples = _bare_loop(slow_broker.url, topic_level(ep), controller_id, n_nagle, nodelay=False)
            finally:
                host.stop()
        desc = broker.description
        tls_desc = tls_broker.description
    m: dict[str, float] = {}
    m.update(_stats(executor_samples, "executor_"))
    m.update(_stats(controller_samples, "controller_"))
    m.update(_stats(bare_samples, "bare_"))
    m.update(_stats(nagle_samples, "no_nodelay_bare_"))
    m["ratio_executor_vs_bare"] = round(m["executor_req_per_s"] / m["bare_req_per_s"], 3)
    m["ratio_controller_vs_bare"] = round(m["controller_req_per_s"] / m["bare_req_per_s"], 3)
    # the medians say the same without the scheduling tail a loaded machine adds to every loop
    m["ratio_p50_executor_vs_bare"] = round(m["bare_p50_us"] / m["executor_p50_us"], 3)
    m.update(_stats(tls_executor_samples, "tls_executor_"))
    m.update(_stats(tls_controller_samples, "tls_controller_"))
    m.update(_stats(tls_bare_samples, "tls_bare_"))
    m["tls_ratio_executor_vs_bare"] = round(m["tls_executor_req_per_s"] / m["tls_bare_req_per_s"], 3)
    m["tls_vs_plain_executor"] = round(m["tls_executor_req_per_s"] / m["executor_req_per_s"], 3)
    m["tls_vs_plain_controller"] = round(m["tls_controller_req_per_s"] / m["controller_req_per_s"], 3)
    m.update(_stats(ws_executor_samples, "ws_executor_"))
    m.update(_stats(ws_controller_samples, "ws_controller_"))
    m.update(_stats(wss_executor_samples, "wss_executor_"))
    m.update(_stats(wss_controller_samples, "wss_controller_"))
    m["ws_vs_mqtt_executor"] = round(m["ws_executor_req_per_s"] / m["executor_req_per_s"], 3)
    m["ws_vs_mqtt_controller"] = round(m["ws_controller_req_per_s"] / m["controller_req_per_s"], 3)
    m["wss_vs_mqtts_executor"] = round(m["wss_executor_req_per_s"] / m["tls_executor_req_per_s"], 3)
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
        ("TLS: executor read() (mutual TLS + password)", f"p50 {m['tls_executor_p50_us']:.0f} us  p99 "
                                                         f"{m['tls_executor_p99_us']:.0f} us  "
                                                         f"{m['tls_executor_req_per_s']:,.0f} req/s"),
        ("TLS: controller.get() (in its loop)", f"p50 {m['tls_controller_p50_us']:.0f} us  p99 "
                                                f"{m['tls_controller_p99_us']:.0f} us  "
                                                f"{m['tls_controller_req_per_s']:,.0f} req/s"),
        ("TLS: bare paho + protobuf loop", f"p50 {m['tls_bare_p50_us']:.0f} us  p99 {m['tls_bare_p99_us']:.0f} us"
                                           f"  {m['tls_bare_req_per_s']:,.0f} req/s"),
        ("TLS / plaintext: executor, controller", f"{m['tls_vs_plain_executor']:.2f}, "
                                                  f"{m['tls_vs_plain_controller']:.2f}"),
        ("WebSocket: executor read()", f"p50 {m['ws_executor_p50_us']:.0f} us  p99 {m['ws_executor_p99_us']:.0f} us"
                                       f"  {m['ws_executor_req_per_s']:,.0f} req/s"),
        ("WebSocket: controller.get() (in its loop)", f"p50 {m['ws_controller_p50_us']:.0f} us  p99 "
                                                      f"{m['ws_controller_p99_us']:.0f} us  "
                                                      f"{m['ws_controller_req_per_s']:,.0f} req/s"),
        ("WSS: executor read()", f"p50 {m['wss_executor_p50_us']:.0f} us  p99 {m['wss_executor_p99_us']:.0f} us"
                                 f"  {m['wss_executor_req_per_s']:,.0f} req/s"),
        ("WSS: controller.get() (in its loop)", f"p50 {m['wss_controller_p50_us']:.0f} us  p99 "
                                                f"{m['wss_controller_p99_us']:.0f} us  "
                                                f"{m['wss_controller_req_per_s']:,.0f} req/s"),
        ("WebSocket / MQTT: executor, controller; WSS / MQTT TLS", f"{m['ws_vs_mqtt_executor']:.2f}, "
                                                                   f"{m['ws_vs_mqtt_controller']:.2f}; "
                                                                   f"{m['wss_vs_mqtts_executor']:.2f}"),
        ("executor / bare (goal >= 0.9)", f"{m['ratio_executor_vs_bare']:.2f}  (TLS: "
                                          f"{m['tls_ratio_executor_vs_bare']:.2f})"),
        ("executor / bare by p50", f"{m['ratio_p50_executor_vs_bare']:.2f}"),
        ("load average (1 min) before / after", f"{m['load_avg_1m_before']:.2f} / {m['load_avg_1m_after']:.2f}"),
    ]
    notes.append(f"broker: private {desc}; one twin-backed agent in a separate process")
    notes.append("bare loop: paho loop_start() + threading.Event, same Record bytes, TCP_NODELAY on its socket; "
                 f"the three loops run interleaved in {ROUNDS} rounds")
    notes.append("no_nodelay row: broker with set_tcp_nodelay false and no TCP_NODELAY on the client")
    notes.append(f"TLS rows: {tls_desc}; {tls_version}, client certificate + password, hostname verified; "
                 "their own agent process; interleaved with the plaintext loops round by round")
    notes.append("WebSocket rows: controllers of their own serving ws:// and wss:// (TLS broker's server certificate) "
                 "on 127.0.0.1, one agent process each (a WebSocket client per agent), interleaved round by round")
    return BenchResult(NAME, m, {"requests": n, "nagle_requests": n_nagle, "path": PATH, "mqtt": 5,
                                 "tls": tls_version}, rows, notes)
