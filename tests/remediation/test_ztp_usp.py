"""Zero-touch provisioning over real USP: a simulated agent on the MQTT broker is factory-reset;
the controller's event stream (``Boot!`` with Cause ``RemoteFactoryReset``, then OnBoardRequest)
opens one provisioning case, and the baseline is applied over USP through the lifecycle."""

from __future__ import annotations

import gc
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import update

from brain.remediation.ingest import Ingestor, UspSource
from core.kernel.config import Settings
from core.kernel.models import ProposalState
from core.routing import ExecutorRouter
from core.store import repo
from core.store.schema import DeviceRow
from executors.sim.executor import SimExecutor
from executors.sim.usp_host import AgentHost, HostConfig
from executors.usp.executor import UspExecutor, endpoint_for
from executors.usp.loop import LoopThread
from gateward.runtime import build_runtime
from gateward.seed import seed_fleet, twin_for
from testing.grants import grant
from tests.remediation.conftest import case_of, make_service
from tests.usp.support import broker, wait_until

pytestmark = [pytest.mark.mqtt, pytest.mark.slow]


@pytest.fixture
def usp_env(db_url: str) -> Iterator[tuple[Any, Any, UspExecutor, AgentHost, LoopThread]]:
    info = broker()
    # Its own controller each time: a fixed id shares one broker session across tests, and the last
    # test's agents' goodbyes (queued QoS 1 for that id) told this one its agent had just left.
    controller_id = f"proto::gw-ztp-test-{uuid.uuid4().hex[:8]}"
    version = 5 if info.mqtt5 else 3
    executor = UspExecutor(url=info.url, endpoint_id=controller_id, mqtt_version=version, timeout_s=5,
                           probe_timeout_s=1, reboot_timeout_s=15, operation_timeout_s=15)
    router = ExecutorRouter({"sim": lambda: SimExecutor(database_url=db_url), "usp": lambda: executor})
    rt = build_runtime(Settings(database_url=db_url), router=router)
    seed_fleet(rt, homes=12, seed=11, snapshots=False)
    with rt.store.read() as s:
        devices, _ = repo.list_devices(s, limit=1000)
    d = next(x for x in devices if str(x.protocol) == "usp")
    with rt.store.write() as s:
        s.execute(update(DeviceRow).where(DeviceRow.id == d.id).values(adapter="usp", service="business"))
    with rt.store.read() as s:
        d = repo.get_device(s, d.id)
    twin = twin_for(rt)
    host = AgentHost(HostConfig(url=info.url, controller_id=controller_id, mqtt_version=version,
                                boot_delay_s=0.05, poll_interval_s=None), twin)
    host.add_device(d.id)
    loop = LoopThread("usp-agents")
    loop.run(host.start())
    wait_until(lambda: bool((st := executor.controller.agent(endpoint_for(d))) and st.connected),
               what="the agent to connect")
    try:
        yield rt, d, executor, host, loop
    finally:
        loop.run(host.stop())
        loop.stop()
        rt.close()
        twin.close()
        del rt
        gc.collect()


def test_usp_factory_reset_is_reprovisioned(usp_env: Any) -> None:
    rt, d, executor, _host, _loop = usp_env
    svc = make_service(rt)
    source = UspSource().attach(executor)
    ing = Ingestor(svc)
    outside = executor.with_timeout(None)  # the same controller, not bound to the runtime's lifecycle
    with grant(outside, d, commands=["factory_reset"], proposal_id="p-test-reset", proposal_hash="") as g:
        outside.operate(d, "factory_reset", {}, g)
    seen: dict[str, int] = {"signals": 0, "opened": 0}
    deadline = time.monotonic() + 60  # ends as soon as both are seen; a loaded machine may take long
    while time.monotonic() < deadline and not (seen["opened"] and seen["signals"] >= 2):
        rep = ing.poll(source, detect=False)
        seen["signals"] += rep.signals
        seen["opened"] += rep.ztp_opened
        time.sleep(0.05)
    assert seen["opened"] == 1, seen  # Boot! (factory reset) and OnBoardRequest: one case
    c = case_of(svc, d.id, "provision")
    assert c["evidence"]["source"] == "usp" and c["evidence"]["trigger"] in ("factory_reset", "onboard")
    svc.drain(timeout_s=60)
    c = case_of(svc, d.id, "provision")
    assert c["status"] == "applied", c["resolution"]
    p = rt.lifecycle.get(c["proposal_ids"][0])
    assert p.state is ProposalState.DONE and p.action_type == "wifi.channel_change"
    assert executor.read(d, ["Device.WiFi.Radio.2.Channel"])["Device.WiFi.Radio.2.Channel"].value == 44
