"""Issue 37, item 1, end to end: ``gateward run`` is stopped, an agent connects meanwhile and sends
its connect Record (its only first contact), ``gateward run`` starts again — and the agent is
pending onboarding. Before the group's persistent session it never was.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from core.kernel.config import Settings
from core.onboarding import Onboarding
from executors.sim.twin import Twin
from executors.sim.usp_host import AgentHost, HostConfig
from executors.usp import cluster
from executors.usp.loop import LoopThread
from executors.usp.mqtt import MqttLink
from gateward.runtime import build_runtime
from gateward.seed import seed_fleet
from testing.servers import GatewardRun
from tests.usp.support import BrokerInfo, wait_until

pytestmark = [pytest.mark.mqtt, pytest.mark.xdist_group("mqtt"), pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


def test_an_agent_that_connected_while_gateward_run_was_down_is_pending_after_it_restarts(
        tmp_path: Path, usp_broker: BrokerInfo) -> None:
    if not usp_broker.mqtt5:
        pytest.skip("the group's session is MQTT 5")
    url = f"sqlite:///{tmp_path / 'gateward.db'}"
    rt = build_runtime(Settings(database_url=url))
    seed_fleet(rt, homes=2, seed=11, snapshots=False)
    controller_id = f"proto::gw-restart-{uuid.uuid4().hex[:10]}"
    env = {"GATEWARD_MQTT_URL": usp_broker.url, "GATEWARD_USP_ENDPOINT_ID": controller_id,
           "GATEWARD_USP_SESSION_EXPIRY_S": "300", "COLUMNS": "200"}

    def run(n: int) -> GatewardRun:
        return GatewardRun(home=tmp_path, database_url=url, homes=2, cwd=ROOT, log=tmp_path / f"run{n}.log", env=env)

    first = run(1).start()
    try:
        first.wait_log("holding the controller group's MQTT session", 60)
    finally:
        assert first.stop() == 0
    twin = Twin(f"sqlite:///{tmp_path / 'twin.db'}")
    device = twin.add_device("prplnet-px7000-1.3", f"PX7KR{uuid.uuid4().hex[:7].upper()}", region="DE")
    # like the OB-USP-Agent's example, with MQTT.PublishQoS 1 (at its default 0 the broker needs queue_qos0_messages)
    host = AgentHost(HostConfig.like_obuspa(usp_broker.url, controller_id=controller_id,
                                            agent_topic=f"/usp/agent-{uuid.uuid4().hex[:8]}", publish_qos=1), twin)
    agent = host.add_device(device.id)
    agents = LoopThread("restart-agents")
    second = run(2)
    try:
        agents.run(host.start(), timeout=30)  # gateward run is down: its connect Record waits at the broker
        time.sleep(0.5)
        second.start()
        second.wait_log("USP events: listening", 60)
        onboarding = Onboarding(rt.store)
        wait_until(lambda: any(r["endpoint_id"] == agent.endpoint_id for r in onboarding.requests()), 20,
                   "the agent to be pending onboarding")
    finally:
        second.stop()
        agents.run(host.stop(), timeout=30)
        agents.stop()
        twin.close()
        rt.close()
        forget = LoopThread("forget-session")  # the shared broker keeps sessions on disk: leave none behind
        try:
            link = MqttLink(usp_broker.url, client_id=cluster.inbox_client_id("gateward", controller_id),
                            version=5, clean_start=True, reconnect=False)
            forget.run(link.connect(), timeout=10)
            forget.run(link.close(), timeout=10)
        finally:
            forget.stop()
