"""The private broker helper: Mosquitto with the configuration benchmarks need, or embedded amqtt."""

from __future__ import annotations

from pathlib import Path

import pytest

from executors.sim.twin import Twin
from executors.sim.usp_host import AgentHost, HostConfig
from executors.usp.executor import UspExecutor
from executors.usp.loop import LoopThread
from testing.mqtt_broker import MqttBroker, find_mosquitto, mosquitto_config, reachable

pytestmark = pytest.mark.mqtt


def test_mosquitto_config_has_nodelay_and_deep_queues() -> None:
    conf = mosquitto_config(18830)
    assert "listener 18830 127.0.0.1" in conf and "set_tcp_nodelay true" in conf
    assert "max_queued_messages 1000000" in conf and "allow_anonymous true" in conf


@pytest.mark.skipif(find_mosquitto() is None, reason="no mosquitto binary on this machine")
def test_private_mosquitto_starts_and_stops() -> None:
    with MqttBroker(kind="mosquitto") as b:
        assert b.mqtt5 and reachable(b.url) and "set_tcp_nodelay true" in b.description
    assert not reachable(b.url, 0.2)


def test_embedded_amqtt_carries_usp_over_mqtt_311(tmp_path: Path) -> None:
    twin = Twin(f"sqlite:///{tmp_path / 'twin.db'}")
    d = twin.add_device("prplnet-px7000-1.3", "PX7K60000001", region="DE")
    with MqttBroker(kind="amqtt") as b:
        assert not b.mqtt5
        loop = LoopThread("agents")
        host = AgentHost(HostConfig(url=b.url, mqtt_version=3, poll_interval_s=None), twin)
        host.add_device(d.id)
        ex = UspExecutor(url=b.url, mqtt_version=3, timeout_s=5, probe_timeout_s=2)
        try:
            loop.run(host.start())
            assert ex.read(d, ["Device.DeviceInfo.SerialNumber"])["Device.DeviceInfo.SerialNumber"].value == d.serial
            assert ex.presence(d).reachable
        finally:
            loop.run(host.stop())
            loop.stop()
            ex.close()
    twin.close()
