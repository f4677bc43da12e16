"""A small reconnect storm in-process: every agent reconnects at once and announces itself; the
controller must answer every Boot! and lose none, and keep answering other requests meanwhile."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from executors.sim.usp_host import AgentHost, HostConfig
from executors.usp.controller import UspController, UspEvent
from executors.usp.loop import LoopThread
from tests.usp.support import BrokerInfo, wait_until

pytestmark = pytest.mark.mqtt


def test_reconnect_storm_loses_nothing(usp_broker: BrokerInfo) -> None:
    n, per = 600, 150
    controller_id = f"proto::gw-storm-{uuid.uuid4().hex[:6]}"
    version = 5 if usp_broker.mqtt5 else 3
    ctl_loop, agents_loop = LoopThread("ctl"), LoopThread("agents")
    controller = UspController(usp_broker.url, endpoint_id=controller_id, mqtt_version=version)
    host = AgentHost(HostConfig(url=usp_broker.url, controller_id=controller_id, mqtt_version=version,
                                agents_per_connection=per, notify_retry_min_s=2.0, poll_interval_s=None))
    tag = uuid.uuid4().hex[:4]
    for i in range(n):
        host.add_lite("0AF0E1", "STORMX", f"T{tag}{i:06d}")
    bystander = AgentHost(HostConfig(url=usp_broker.url, controller_id=controller_id, mqtt_version=version,
                                     poll_interval_s=None, client_prefix="gw-bystander"))
    bystander.add_lite("0AF0E1", "QUIET", f"Q{tag}")
    boots: set[tuple[str, str]] = set()

    def count(e: UspEvent) -> None:
        if e.kind == "boot":
            boots.add((e.endpoint_id, e.msg_id))

    try:
        ctl_loop.run(controller.start())
        ctl_loop.loop.call_soon_threadsafe(controller.add_listener, count)
        agents_loop.run(host.start())
        agents_loop.run(bystander.start())
        assert host.connections == n // per
        wait_until(lambda: controller.connected_count() >= n + 1, 20, "every agent to connect")
        probe_ep = bystander.agents[0].endpoint_id  # not part of the storm: is the controller responsive?
        latencies: list[float] = []

        async def probe_during(stop: asyncio.Event) -> None:
            while not stop.is_set():
                t0 = time.perf_counter()
                await controller.get_supported_protocol(probe_ep, timeout=10)
                latencies.append(time.perf_counter() - t0)
                await asyncio.sleep(0.01)

        stop = asyncio.Event()
        prober = ctl_loop.submit(probe_during(stop))
        agents_loop.run(host.reconnect_storm())
        wait_until(lambda: len(boots) >= n, 30, "every Boot! to arrive")
        wait_until(lambda: host.pending_notifications() == 0, 30, "every NotifyResp to reach its agent")
        ctl_loop.loop.call_soon_threadsafe(stop.set)
        prober.result(10)
        assert len(boots) == n and len({ep for ep, _ in boots}) == n
        assert host.stats.notify_acked >= n and host.stats.notify_given_up == 0
        assert controller.stats.malformed == 0
        assert latencies and max(latencies) < 5.0  # the controller kept answering during the storm
    finally:
        agents_loop.run(bystander.stop())
        agents_loop.run(host.stop())
        ctl_loop.run(controller.stop())
        agents_loop.stop()
        ctl_loop.stop()
