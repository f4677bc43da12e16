"""Test plumbing for USP: which broker to use, and a rig of twin + simulated agents + executor.

Broker: ``GATEWARD_TEST_MQTT_URL`` (CI points it at the machine's Mosquitto on 1883) when set — with
``GATEWARD_REQUIRE_SERVICES=1`` an unreachable broker fails the test run instead of falling back;
otherwise a private broker from ``testing.mqtt_broker`` (Mosquitto binary, else embedded amqtt,
which speaks MQTT 3.1.1 only) is started once per test session.
"""

from __future__ import annotations

import atexit
import os
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from core.kernel.models import Device
from executors.sim.twin import Twin
from executors.sim.usp_host import AgentHost, HostConfig
from executors.usp.controller import UspController
from executors.usp.executor import UspExecutor, endpoint_for
from executors.usp.loop import LoopThread
from testing.mqtt_broker import MqttBroker, reachable

ENV_URL = os.environ.get("GATEWARD_TEST_MQTT_URL")
REQUIRE = os.environ.get("GATEWARD_REQUIRE_SERVICES") == "1"
_private: MqttBroker | None = None


@dataclass(frozen=True)
class BrokerInfo:
    url: str
    mqtt5: bool
    description: str


def broker() -> BrokerInfo:
    """The broker for this test session (see the module docstring)."""
    global _private
    if ENV_URL:
        if reachable(ENV_URL):
            return BrokerInfo(ENV_URL, True, f"GATEWARD_TEST_MQTT_URL={ENV_URL}")
        if REQUIRE:
            pytest.fail(f"GATEWARD_TEST_MQTT_URL={ENV_URL} is not reachable and GATEWARD_REQUIRE_SERVICES=1: "
                        "start Mosquitto (CI must test against the real broker)")
    if _private is None:
        _private = MqttBroker().start()
        atexit.register(_private.stop)
    return BrokerInfo(_private.url, _private.mqtt5, _private.description)


# How much longer than its own ``timeout`` a wait may take. A wait is for something to happen, never a
# bound on how fast (a passing wait returns as soon as it holds), so a loaded machine only needs more room:
# CI once waited 10 s for an agent's connect Record while three other workers ran the full tier.
WAIT_SCALE = float(os.environ.get("GATEWARD_TEST_WAIT_SCALE") or 3)


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout * WAIT_SCALE
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout * WAIT_SCALE:g}s waiting for {what}")
        time.sleep(0.01)


@dataclass
class UspRig:
    """A twin, agents for some of its devices, and a USP executor, on one broker."""

    twin: Twin
    host: AgentHost
    agents_loop: LoopThread
    executor: UspExecutor
    broker: BrokerInfo
    devices: list[Device] = field(default_factory=list)

    @property
    def controller(self) -> UspController:
        return self.executor.controller

    def run_agents(self, coro: Any, timeout: float = 30.0) -> Any:
        return self.agents_loop.run(coro, timeout=timeout)

    def ctl(self, coro: Any, timeout: float = 30.0) -> Any:
        return self.executor.runner.run(coro, timeout=timeout)

    def connected(self, device: Device) -> bool | None:
        st = self.controller.agent(endpoint_for(device))
        return None if st is None else st.connected

    def settle(self, device: Device, timeout: float = 5.0) -> None:
        """Wait until the controller's view of the agent matches the simulated agent."""
        agent = self.host.agent(device.id)
        want = agent.online
        wait_until(lambda: bool(self.connected(device)) == want, timeout,
                   f"controller to see {device.id} {'connected' if want else 'disconnected'}")

    def inject(self, device: Device, kind: str, **params: Any) -> None:
        self.twin.inject(device.id, kind, **params)
        self.run_agents(self.host.sync(device.id))
        self.settle(device)

    def clear(self, device: Device, kind: str | None = None) -> None:
        self.twin.clear(device.id, kind)
        self.run_agents(self.host.sync(device.id))
        self.settle(device)

    def close(self) -> None:
        try:
            self.run_agents(self.host.stop())
        finally:
            self.agents_loop.stop()
            self.executor.close()
            self.twin.close()


@contextmanager
def usp_rig(
    tmp_path: Path,
    make_devices: Callable[[Twin], Sequence[Device]],
    *,
    timeout_s: float = 5.0,
    probe_timeout_s: float = 0.5,
    **host_options: Any,
) -> Iterator[UspRig]:
    info = broker()
    host_options.setdefault("mqtt_version", 5 if info.mqtt5 else 3)
    twin = Twin(f"sqlite:///{tmp_path / f'twin-{uuid.uuid4().hex[:6]}.db'}")
    devices = list(make_devices(twin))
    controller_id = f"proto::gw-test-{uuid.uuid4().hex[:8]}"
    host_options.setdefault("boot_delay_s", 0.05)
    host_options.setdefault("poll_interval_s", None)
    host = AgentHost(HostConfig(url=info.url, controller_id=controller_id, **host_options), twin)
    for d in devices:
        host.add_device(d.id)
    executor = UspExecutor(url=info.url, endpoint_id=controller_id, mqtt_version=host.config.mqtt_version,
                           timeout_s=timeout_s, probe_timeout_s=probe_timeout_s, reboot_timeout_s=10,
                           operation_timeout_s=10)
    loop = LoopThread("usp-agents")
    rig = UspRig(twin, host, loop, executor, info, devices)
    try:
        rig.run_agents(host.start())
        for d in devices:
            if host.agent(d.id).online:
                rig.settle(d)
        yield rig
    finally:
        rig.close()
