"""When the controller writes subscriptions into agents (``executors.usp.keeper``).

Found running the real OB-USP-Agent against Gateward: the first-contact check added three
subscriptions seconds after the agent's connect Record although nobody had accepted the agent yet,
and again into an agent an admin had rejected; a factory-fresh restart (only a connect Record, no
Boot!) of an agent already set up was never re-checked; a check in flight sent GetSupportedDM
1.7 ms after the lifecycle's ``Reboot()`` (never answered) and a Boot! arriving meanwhile was
skipped; and a short-lived CLI process answered the same Boot! with its own check. Every test runs
the controller against the simulator configured like the real agent (``HostConfig.like_obuspa``).
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from brain.remediation.ingest import Ingestor, UspSource
from core.onboarding import FIRST_CONTACT_KINDS, Onboarding
from core.store.schema import OnboardingRow
from core.users import get_actor
from executors.usp import UspExecutor, factory
from executors.usp.controller import _TYPE_NAMES
from executors.usp.executor import endpoint_for
from gateward.runtime import UspEvents, usp_fleet_endpoints
from tests.remediation.conftest import make_service
from tests.usp.support import BrokerInfo, wait_until
from tests.usp.test_agent_topics import _executor, obuspa_like
from tests.usp.test_controller import rig_grant

pytestmark = pytest.mark.mqtt

ALL_THREE = {"Event", "OperationComplete", "ValueChange"}




def _fleet_executor(broker: BrokerInfo, controller_id: str, rt: Any) -> UspExecutor:
    """The long-running controller as ``gateward run`` builds it: subscriptions kept on fleet agents only."""
    ex = _executor(broker, controller_id, None)
    ex.enable_auto_subscribe(lambda eps: usp_fleet_endpoints(rt.store, eps))
    ex.keeper.retry_first_s = 0.2  # ask again soon for a refused agent that stays connected
    return ex


def _ingest_contacts(rt: Any, src: UspSource, ep: str, n: int = 1) -> int:
    """Feed the agent's connect Records to onboarding, as ``gateward run``'s event pump does;
    returns how many of the agent's contacts were fed. At least ``n``, and possibly more: QoS 1
    delivers at least once, and a CI run once counted one contact more than the test expected."""
    got: list[Any] = []
    wait_until(lambda: bool(got.extend(src.poll(None)[0]))
               or sum(1 for s in got if s.kind == "connect" and ep in str(s.identity)) >= n,
               10, "the agent's connect Record")
    Ingestor(make_service(rt)).ingest(got, detect=False)
    return sum(1 for s in got if s.kind in FIRST_CONTACT_KINDS and ep in str(s.identity))


def _row(rt: Any, ep: str) -> OnboardingRow | None:
    with rt.store.read() as s:
        row = s.get(OnboardingRow, ep)
        if row is not None:
            s.expunge(row)
        return row


def _restart(loop: Any, host: Any, device_id: str, *, wipe: bool) -> None:
    """The agent process restarts; ``wipe``: factory-fresh (its database, subscriptions included, gone).
    Like the OB-USP-Agent it then sends only its connect Record — no Boot! (no subscription to send it)."""
    agent = host.agent(device_id)
    loop.run(host._go_offline(agent, "restart", graceful=True))
    if wipe:
        agent.sim.factory_subscriptions()
    loop.run(host._go_online(agent))


def test_a_pending_agent_gets_nothing_until_an_admin_accepts_it(tmp_path: Path, usp_broker: BrokerInfo, rt: Any,
                                                                allow: dict[str, Any]) -> None:
    controller_id = f"proto::gw-keep-{uuid.uuid4().hex[:8]}"
    with obuspa_like(tmp_path, usp_broker, controller_id) as (_twin, host, loop, twin_device):
        ep = endpoint_for(twin_device)
        ex = _fleet_executor(usp_broker, controller_id, rt)
        src = UspSource().attach(ex)
        try:
            assert ex.connect()
            loop.run(host.start())
            _ingest_contacts(rt, src, ep)
            row = _row(rt, ep)
            assert row is not None and row.status == "pending"
            # asked on its connect and again while it stays connected: refused each time, nothing sent
            wait_until(lambda: ex.keeper.unmanaged_contacts >= 3, 10, "the keeper to ask about the agent")
            sim = host.agent(twin_device.id).sim
            assert sim is not None and sim.subscriptions == {}
            assert ep not in ex.subscribed
            assert ex.controller.stats.requests_out == 0, "not even a Get or GetSupportedDM to a pending agent"
            # an admin accepts it (in any process): the agent, still connected and silent, is set up
            Onboarding(rt.store).accept(ep, get_actor(rt.store, "dave"))
            wait_until(lambda: ep in ex.subscribed, 15, "subscriptions once accepted")
            assert {s.notif_type for s in sim.subscriptions.values()} == ALL_THREE
        finally:
            ex.close()


def test_a_rejected_agent_gets_nothing_when_it_reconnects(tmp_path: Path, usp_broker: BrokerInfo, rt: Any,
                                                          allow: dict[str, Any]) -> None:
    controller_id = f"proto::gw-keep-{uuid.uuid4().hex[:8]}"
    with obuspa_like(tmp_path, usp_broker, controller_id) as (_twin, host, loop, twin_device):
        ep = endpoint_for(twin_device)
        ex = _fleet_executor(usp_broker, controller_id, rt)
        src = UspSource().attach(ex)
        try:
            assert ex.connect()
            loop.run(host.start())
            first = _ingest_contacts(rt, src, ep)
            Onboarding(rt.store).reject(ep, get_actor(rt.store, "dave"), "not our hardware")
            refused = ex.keeper.unmanaged_contacts
            _restart(loop, host, twin_device.id, wipe=False)
            again = _ingest_contacts(rt, src, ep)
            row = _row(rt, ep)
            # every contact counted (the reconnect's too), the agent still rejected
            assert row is not None and (row.status, row.attempts) == ("rejected", first + again), (first, again)
            wait_until(lambda: ex.keeper.unmanaged_contacts > refused, 10, "the reconnect to be refused")
            time.sleep(0.5)  # a sweep or two more: still nothing
            sim = host.agent(twin_device.id).sim
            assert sim is not None and sim.subscriptions == {}
            assert ep not in ex.subscribed and ex.controller.stats.requests_out == 0
        finally:
            ex.close()


def test_a_factory_fresh_restart_is_rechecked_with_one_get(tmp_path: Path, usp_broker: BrokerInfo) -> None:
    controller_id = f"proto::gw-keep-{uuid.uuid4().hex[:8]}"
    with obuspa_like(tmp_path, usp_broker, controller_id) as (_twin, host, loop, twin_device):
        ep = endpoint_for(twin_device)
        ex = _executor(usp_broker, controller_id, None, auto_subscribe=True)
        try:
            loop.run(host.start())
            wait_until(lambda: ep in ex.subscribed, 15, "first-contact subscriptions")
            sim = host.agent(twin_device.id).sim
            assert sim is not None and {s.notif_type for s in sim.subscriptions.values()} == ALL_THREE
            # a plain restart: one Get finds everything in place
            before = ex.controller.stats.requests_out
            _restart(loop, host, twin_device.id, wipe=False)
            wait_until(lambda: ex.controller.stats.requests_out > before and not ex.keeper.running(ep), 10,
                       "the reconnect to be re-checked")
            time.sleep(0.3)
            assert ex.controller.stats.requests_out - before == 1  # one Get, no GetSupportedDM, no Add
            # factory-fresh: subscriptions wiped, only a connect Record (no Boot!): they come back
            before = ex.controller.stats.requests_out
            _restart(loop, host, twin_device.id, wipe=True)
            wait_until(lambda: {s.notif_type for s in sim.subscriptions.values()} == ALL_THREE, 10,
                       "the subscriptions to be re-created")
            wait_until(lambda: not ex.keeper.running(ep), 5, "the check to end")
            assert ex.controller.stats.requests_out - before == 4  # Get + 3 Adds
        finally:
            ex.close()


def _record_requests(ex: UspExecutor, monkeypatch: pytest.MonkeyPatch) -> list[tuple[float, str]]:
    """Every request the controller sends: (wall clock, message type)."""
    sent: list[tuple[float, str]] = []
    original = ex.controller._request

    async def recording(endpoint_id: str, msg_id: str, msg_type: int, payload: bytes,
                        timeout: float | None = None, *, force: bool = False) -> Any:
        sent.append((time.time(), _TYPE_NAMES.get(msg_type, str(msg_type))))
        return await original(endpoint_id, msg_id, msg_type, payload, timeout, force=force)

    monkeypatch.setattr(ex.controller, "_request", recording)
    return sent


def _hold_table_reads(ex: UspExecutor, monkeypatch: pytest.MonkeyPatch, release: threading.Event,
                      ) -> list[float]:
    """The subscription check's table Get is answered, but its result is held until ``release``
    (the check is then "in flight" for as long as a test needs); returns when each read came."""
    reads: list[float] = []
    original = ex.controller.get

    async def held(endpoint_id: str, paths: Iterable[str], *, timeout: float | None = None) -> Any:
        paths = list(paths)
        out = await original(endpoint_id, paths, timeout=timeout)
        if any(p.endswith("LocalAgent.Subscription.") for p in paths):
            reads.append(time.time())
            while not release.is_set():
                await asyncio.sleep(0.02)
        return out

    monkeypatch.setattr(ex.controller, "get", held)
    return reads


def test_a_reconnect_during_a_check_runs_the_check_again(tmp_path: Path, usp_broker: BrokerInfo,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    controller_id = f"proto::gw-keep-{uuid.uuid4().hex[:8]}"
    with obuspa_like(tmp_path, usp_broker, controller_id) as (_twin, host, loop, twin_device):
        ep = endpoint_for(twin_device)
        ex = _executor(usp_broker, controller_id, None, auto_subscribe=True)
        release = threading.Event()
        reads = _hold_table_reads(ex, monkeypatch, release)
        try:
            loop.run(host.start())
            wait_until(lambda: len(reads) == 1, 10, "the first check's table read")
            _restart(loop, host, twin_device.id, wipe=True)  # meanwhile: a factory-fresh restart
            wait_until(lambda: ep in ex.keeper._recheck, 5, "the recheck flag")
            release.set()
            wait_until(lambda: len(reads) == 2, 10, "the check to run again")
            wait_until(lambda: not ex.keeper.running(ep) and ep in ex.subscribed, 10, "the second check to end")
            sim = host.agent(twin_device.id).sim
            assert sim is not None and {s.notif_type for s in sim.subscriptions.values()} == ALL_THREE
        finally:
            release.set()
            ex.close()


def test_no_check_runs_across_a_reboot(tmp_path: Path, usp_broker: BrokerInfo, monkeypatch: pytest.MonkeyPatch,
                                       ) -> None:
    """The real agent's log: Get (check), Reboot() Operate, then the check's GetSupportedDM 1.7 ms later,
    never answered. Now the check in flight is abandoned when the Operate goes out and runs in full
    once the agent is back."""
    controller_id = f"proto::gw-keep-{uuid.uuid4().hex[:8]}"
    # with a Boot! subscription, so the reboot completes on its Boot!
    with obuspa_like(tmp_path, usp_broker, controller_id, factory_subscriptions=True) as (_twin, host, loop, dev):
        ep = endpoint_for(dev)
        ex = _executor(usp_broker, controller_id, None, auto_subscribe=True)
        release = threading.Event()  # never set before the reboot: the first check stays in flight
        reads = _hold_table_reads(ex, monkeypatch, release)
        sent = _record_requests(ex, monkeypatch)
        try:
            loop.run(host.start())
            wait_until(lambda: len(reads) == 1, 10, "the first check's table read")
            release.set()  # from here the check would go on at once — unless it was abandoned
            with rig_grant(ex, dev, "reboot") as grant:
                result = ex.operate(dev, "reboot", {}, grant)
            assert result.status == "done" and result.output["boot_cause"] == "RemoteReboot"
            wait_until(lambda: ep in ex.subscribed and not ex.keeper.running(ep), 10, "the check after the reboot")
            st = ex.controller.agent(ep)
            assert st is not None and st.connected_since is not None
            kinds = [k for _, k in sent]
            op = kinds.index("OPERATE")
            after = sent[op + 1:]
            assert after and all(t >= st.connected_since for t, _ in after), \
                f"a request went out while the agent was rebooting: {sent}"
            # the abandoned check never learnt the agent's data model: the one after the reboot runs in full
            assert "GET_SUPPORTED_DM" in [k for _, k in after]
            sim = host.agent(dev.id).sim
            assert sim is not None and {s.notif_type for s in sim.subscriptions.values()} == ALL_THREE
        finally:
            release.set()
            ex.close()


def test_only_the_long_running_controller_keeps_subscriptions(usp_broker: BrokerInfo, rt: Any,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A CLI command builds the USP adapter with the same factory as ``gateward run``: it no longer
    creates subscriptions by itself; the event source (``gateward run``/``worker``) turns it on."""
    monkeypatch.setenv("GATEWARD_USP_AUTO_SUBSCRIBE", "1")
    settings = rt.settings.model_copy(update={"mqtt_url": usp_broker.url})
    cli = factory(settings)
    try:
        assert cli.auto_subscribe is False
        events = UspEvents.__new__(UspEvents)
        events.runtime = rt
        events._keep_subscriptions(cli)
        assert cli.auto_subscribe is True and cli.keeper.managed is not None
        monkeypatch.setenv("GATEWARD_USP_AUTO_SUBSCRIBE", "0")
        off = factory(settings)
        try:
            events._keep_subscriptions(off)
            assert off.auto_subscribe is False
        finally:
            off.close()
    finally:
        cli.close()


def test_fleet_endpoints_are_active_usp_devices_only(rt: Any, allow: dict[str, Any]) -> None:
    from sqlalchemy import select, update

    from core.store.schema import DeviceRow

    with rt.store.read() as s:
        usp = s.scalars(select(DeviceRow).where(DeviceRow.protocol == "usp", DeviceRow.status == "active")
                        .limit(1)).one()
        s.expunge(usp)
    ep = f"os::{usp.oui.lower()}-{usp.serial}"  # the OUI's case does not matter
    assert usp_fleet_endpoints(rt.store, [ep, "os::00D09E-NOBODY", "proto::not-os"]) == {ep}
    with rt.store.write() as s:
        s.execute(update(DeviceRow).where(DeviceRow.id == usp.id).values(status="retired"))
    try:
        assert usp_fleet_endpoints(rt.store, [ep]) == set()
    finally:
        with rt.store.write() as s:
            s.execute(update(DeviceRow).where(DeviceRow.id == usp.id).values(status="active"))


def test_an_agent_accepted_through_the_api_is_discovered_and_set_up_at_once(
        tmp_path: Path, usp_broker: BrokerInfo, rt: Any, allow: dict[str, Any]) -> None:
    """``POST /api/onboarding/{id}/accept`` in the serving process: the agent — connected, silent,
    configured like OB-USP-Agent (no FirmwareImage table) — is discovered right after the answer
    and subscribed on that first exchange, so a firmware download to it is refused at validate.
    (Accepted agents were never discovered: found by hand against OB-USP-Agent, where such a
    download passed validation and two approvals and failed at the agent with 7026.)"""
    from core.capabilities import for_devices
    from core.kernel.config import Settings
    from core.routing import ExecutorRouter
    from core.store import repo
    from gateward.runtime import build_runtime
    from tests.api.conftest import make_api

    controller_id = f"proto::gw-keep-{uuid.uuid4().hex[:8]}"
    with obuspa_like(tmp_path, usp_broker, controller_id) as (_twin, host, loop, twin_device):
        ep = endpoint_for(twin_device)
        ex = _fleet_executor(usp_broker, controller_id, rt)
        src = UspSource().attach(ex)
        served = build_runtime(Settings(database_url=rt.settings.database_url),
                               router=ExecutorRouter({"usp": lambda: ex}))
        api = make_api(served, "onboarding")
        try:
            assert ex.connect()
            loop.run(host.start())
            _ingest_contacts(rt, src, ep)
            got = api.post(f"/api/onboarding/{ep}/accept", {}, user="dave")
            assert got.status_code == 201, got.text
            device_id = got.json()["id"]

            def discovered() -> bool:
                with rt.store.read() as s:
                    d = repo.get_device(s, device_id)
                    caps = for_devices(s, [d]).get(d.id)
                return caps is not None and caps.commands is not None

            wait_until(discovered, 15, "the accepted agent's discovery")
            wait_until(lambda: ep in ex.subscribed, 15, "its subscriptions")
            sim = host.agent(twin_device.id).sim
            assert sim is not None and {s.notif_type for s in sim.subscriptions.values()} == ALL_THREE
            refused = api.post("/api/proposals", {"intent": "new image", "targets": [device_id], "operations": [
                {"command": "download", "args": {"url": "https://fw.example.net/px7k-2.0.bin"}}]}, user="dave")
            body = refused.json()
            assert body["proposal"]["state"] == "invalid", body
            assert "download is not supported" in body["proposal"]["error"], body["proposal"]["error"]
            assert not [r for r in sim.requests.values() if "Download" in r.command]
        finally:
            api.client.close()
            served.close()
            ex.close()
