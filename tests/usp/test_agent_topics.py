"""Issue 11 deliverable 4: the controller talks to each USP agent where the agent says it listens.

The agents here are configured like the OB-USP-Agent's shipped MQTT example (``HostConfig.like_obuspa``:
topic ``/usp/agent``, no subscriptions, no Wi-Fi objects). At HEAD the controller only ever addressed
``usp/agent/<endpoint>`` unless it had heard the agent's connect Record in the same process, so a
fresh process (a CLI command) could not reach such an agent at all.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from core.kernel.models import Device
from core.kernel.ports.topics import KnownTopic
from core.store import Store, repo
from core.usp_topics import TopicBook
from executors.base import DeviceOffline
from executors.sim.twin import Twin
from executors.sim.usp_host import AgentHost, HostConfig
from executors.usp.controller import UspTimeout
from executors.usp.executor import UspExecutor, endpoint_for
from executors.usp.loop import LoopThread
from testing.cli import CliResult, run_cli
from tests.usp.conftest import PRPL
from tests.usp.support import BrokerInfo, wait_until

pytestmark = pytest.mark.mqtt


@contextmanager
def obuspa_like(tmp_path: Path, broker: BrokerInfo, controller_id: str, **overrides: Any
                ) -> Iterator[tuple[Twin, AgentHost, LoopThread, Device]]:
    """One twin device behind an agent configured like the OB-USP-Agent example, started."""
    twin = Twin(f"sqlite:///{tmp_path / f'twin-{uuid.uuid4().hex[:6]}.db'}")
    device = twin.add_device(PRPL, f"PX7K{uuid.uuid4().int % 10**8:08d}", region="DE")
    options: dict[str, Any] = {"mqtt_version": 5 if broker.mqtt5 else 3, "boot_delay_s": 0.05, "poll_interval_s": None,
                               "client_prefix": f"gw-obuspa-{uuid.uuid4().hex[:6]}", **overrides}
    cfg = HostConfig.like_obuspa(broker.url, controller_id=controller_id, **options)
    host = AgentHost(cfg, twin)
    host.add_device(device.id)
    loop = LoopThread("usp-agents")
    try:
        yield twin, host, loop, device
    finally:
        try:
            loop.run(host.stop(), timeout=30)
        finally:
            loop.stop()
            twin.close()


def _executor(broker: BrokerInfo, controller_id: str, store: Store | None, **kw: Any) -> UspExecutor:
    return UspExecutor(url=broker.url, endpoint_id=controller_id, mqtt_version=5 if broker.mqtt5 else 3,
                       timeout_s=3, probe_timeout_s=1, topics=TopicBook(store) if store is not None else None, **kw)


def test_topic_book_stores_updates_and_refuses_bad_topics(store: Store) -> None:
    book = TopicBook(store)
    assert book.note("os::AAAAAA-1", "/usp/agent", 5, "mqtt_connect") is True
    assert book.note("os::AAAAAA-1", "/usp/agent", 5, "response_topic") is False  # same place: no write
    for bad in ("", "usp/+/x", "usp/#", "a\x00b", "x" * 600):
        assert book.note("os::AAAAAA-2", bad, 5, "mqtt_connect") is False
    book.close()
    fresh = TopicBook(store)  # another process
    assert fresh.lookup("os::AAAAAA-1") == KnownTopic("/usp/agent", 5, "mqtt_connect")
    assert fresh.lookup("os::AAAAAA-2") is None
    fresh.note("os::AAAAAA-1", "/usp/agent/moved", 3, "reply_to")  # the agent moved: upsert
    fresh.close()
    assert TopicBook(store).all() == {"os::AAAAAA-1": KnownTopic("/usp/agent/moved", 3, "reply_to")}


def test_a_fresh_process_reaches_the_agent_on_its_stored_topic(tmp_path: Path, usp_broker: BrokerInfo,
                                                             store: Store) -> None:
    controller_id = f"proto::gw-topics-{uuid.uuid4().hex[:8]}"
    with obuspa_like(tmp_path, usp_broker, controller_id) as (_twin, host, loop, device):
        first = _executor(usp_broker, controller_id, store)
        try:
            loop.run(host.start())
            ep = endpoint_for(device)
            wait_until(lambda: (st := first.controller.agent(ep)) is not None and bool(st.connected), 10,
                       "the agent's mqtt_connect Record")
            st = first.controller.agent(ep)
            assert st is not None and (st.topic, st.topic_source) == ("/usp/agent", "mqtt_connect")
        finally:
            first.close()  # the process ends; what it learnt is in the database
        stored = TopicBook(store).lookup(ep)
        version = 5 if usp_broker.mqtt5 else 3
        assert stored is not None and (stored.topic, stored.mqtt_version) == ("/usp/agent", version)
        assert stored.source in ("mqtt_connect", "response_topic", "reply_to")
        # A new process never heard the connect Record; it must not guess usp/agent/<endpoint>.
        second = _executor(usp_broker, controller_id, store)
        try:
            values = second.read(device, ["Device.DeviceInfo.SerialNumber"])
            assert values["Device.DeviceInfo.SerialNumber"].value == device.serial
            st2 = second.controller.agent(ep)
            assert st2 is not None and st2.topic == "/usp/agent"
        finally:
            second.close()
        # Without the stored topic every conventional topic is asked at once (issue 46): OB-USP-Agent's
        # shipped /usp/agent is one of them, so it is found and learnt ...
        blind = _executor(usp_broker, controller_id, None)
        try:
            values = blind.read(device, ["Device.DeviceInfo.SerialNumber"])
            assert values["Device.DeviceInfo.SerialNumber"].value == device.serial
            st3 = blind.controller.agent(ep)
            assert st3 is not None and st3.topic == "/usp/agent"
        finally:
            blind.close()
        # ... and with only usp/agent/<endpoint> configured (GATEWARD_USP_AGENT_TOPICS) nobody answers.
        narrow = _executor(usp_broker, controller_id, None, agent_topics=("usp/agent/{endpoint}",))
        try:
            with pytest.raises(DeviceOffline):
                narrow.read(device, ["Device.DeviceInfo.SerialNumber"])
        finally:
            narrow.close()


def test_endpoint_id_mismatch_is_named(tmp_path: Path, usp_broker: BrokerInfo, store: Store) -> None:
    """The agent is configured for another controller; its records reach our topic and are dropped.
    Requests then go unanswered, and the error names both endpoint IDs instead of a bare timeout."""
    theirs, ours = "self::usp-controller", f"proto::gw-mismatch-{uuid.uuid4().hex[:8]}"
    topic = f"/usp/controller-{uuid.uuid4().hex[:6]}"
    with obuspa_like(tmp_path, usp_broker, theirs, controller_topic=topic) as (_twin, host, loop, device):
        ex = _executor(usp_broker, ours, store, controller_topic=topic)
        try:
            loop.run(host.start())
            ep = endpoint_for(device)
            wait_until(lambda: ex.controller.foreign_controller(ep) == theirs, 10, "the agent's foreign record")
            with pytest.raises(DeviceOffline) as info:
                ex.read(device, ["Device.DeviceInfo.SerialNumber"])
            assert theirs in info.value.message and ours in info.value.message
            assert "do not match" in info.value.message
            with pytest.raises(UspTimeout) as tmo:
                ex.runner.run(ex.controller.get(ep, ["Device.DeviceInfo.SerialNumber"], timeout=0.5), timeout=10)
            assert theirs in str(tmo.value) and ours in str(tmo.value)
            assert TopicBook(store).lookup(ep) is None  # a record meant for another controller teaches us nothing
        finally:
            ex.close()


@pytest.mark.slow
def test_cli_process_uses_the_stored_topic(tmp_path: Path, usp_broker: BrokerInfo, db_url: str) -> None:
    """``gateward usp get|subscriptions|topics`` in fresh processes reach an agent on ``/usp/agent``."""
    controller_id = f"proto::gw-cli-topics-{uuid.uuid4().hex[:8]}"
    store = Store(db_url)
    try:
        with obuspa_like(tmp_path, usp_broker, controller_id) as (_twin, host, loop, device):
            with store.write() as s:
                s.add(repo.device_to_row(device.model_copy(update={"adapter": "usp"})))
            ex = _executor(usp_broker, controller_id, store, auto_subscribe=True)
            try:
                loop.run(host.start())
                ep = endpoint_for(device)
                wait_until(lambda: ep in ex.subscribed, 15, "first-contact subscriptions")
            finally:
                ex.close()
            env = {"GATEWARD_HOME": str(tmp_path / "var"), "GATEWARD_DATABASE_URL": db_url,
                   "GATEWARD_MQTT_URL": usp_broker.url, "GATEWARD_USP_ENDPOINT_ID": controller_id}

            def run(*args: str) -> CliResult:
                return run_cli("usp", *args, env=env, columns=250)

            got = run("get", device.id, "Device.DeviceInfo.SerialNumber")
            assert got.returncode == 0 and device.serial in got.stdout, got.stdout + got.stderr
            subs = run("subscriptions", device.id)
            assert subs.returncode == 0, subs.stderr
            assert "Device.Boot!" in subs.stdout and "missing" not in subs.stdout
            topics = run("topics")
            assert topics.returncode == 0 and "/usp/agent" in topics.stdout and ep in topics.stdout
            added = run("subscribe", device.id, "--type", "ValueChange", "--ref", "Device.DeviceInfo.UpTime",
                        "--id", "vc-uptime")
            assert added.returncode == 0 and "Device.LocalAgent.Subscription." in added.stdout, added.stderr
            unknown = run("unsubscribe", device.id, "vc-uptime", "nope")
            assert unknown.returncode == 2 and "no subscription with ID nope" in unknown.stderr
            removed = run("unsubscribe", device.id, "vc-uptime")
            assert removed.returncode == 0 and "deleted Device.LocalAgent.Subscription." in removed.stdout
            both = run("subscribe", device.id, "--ensure", "--type", "Event")
            assert both.returncode == 2 and "either --ensure" in both.stderr
    finally:
        store.dispose()


def test_the_agent_topic_conventions_are_a_setting() -> None:
    from executors.usp import usp_options
    from executors.usp.topics import conventional_topics

    assert usp_options({})["agent_topics"] == ("usp/agent/{endpoint}", "/usp/agent")
    mine = usp_options({"GATEWARD_USP_AGENT_TOPICS": "isp/{endpoint}/in, /usp/agent"})["agent_topics"]
    assert conventional_topics("os::00D09E-A/1", mine) == ["isp/os::00D09E-A%2F1/in", "/usp/agent"]
    with pytest.raises(ValueError, match="GATEWARD_USP_AGENT_TOPICS: 'usp/#' is not a topic"):
        usp_options({"GATEWARD_USP_AGENT_TOPICS": "usp/#"})


KEY = "Device.WiFi.AccessPoint.1.Security.KeyPassphrase"


def test_a_secret_is_never_published_to_an_agent_on_a_shared_topic(tmp_path: Path, usp_broker: BrokerInfo) -> None:
    """Issue 58 item 4: every OB-USP-Agent on the shipped ``/usp/agent`` receives every Record
    published there, so a Set carrying one subscriber's Wi-Fi key reached every agent on the broker.
    A secret is refused — nothing sent — while the agent listens on a topic that is not its own; a
    change without a secret still goes."""
    from core.kernel.models import Change
    from executors.base import Fault
    from tests.usp.test_controller import apply_grant

    controller_id = f"proto::gw-secret-{uuid.uuid4().hex[:8]}"
    with obuspa_like(tmp_path, usp_broker, controller_id, wifi=True) as (twin, host, loop, device):
        ex = _executor(usp_broker, controller_id, None)
        try:
            loop.run(host.start())
            ep = endpoint_for(device)
            wait_until(lambda: (st := ex.controller.agent(ep)) is not None and bool(st.connected), 10,
                       "the agent's mqtt_connect Record")
            before = twin.params(device.id)[KEY]
            with apply_grant(ex, device, [KEY]) as g, pytest.raises(Fault, match="other agents may share") as no:
                ex.apply(device, [Change(path=KEY, value="not-for-every-agent")], "p-secret", g)
            assert no.value.nothing_sent and "usp/agent/" in str(no.value)
            assert twin.params(device.id)[KEY] == before
            ssid = "Device.WiFi.SSID.1.SSID"
            with apply_grant(ex, device, [ssid]) as g:
                ex.apply(device, [Change(path=ssid, value="not a secret")], "p-ssid", g)
            assert twin.params(device.id)[ssid] == "not a secret"
        finally:
            ex.close()
