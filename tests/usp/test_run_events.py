"""USP notifications recorded by the composition root (issue 10, defect 13).

``gateward run`` and ``gateward worker`` listen on the USP controller they use for requests:
``Boot!``, OnBoardRequest and ValueChange become ``device_events`` rows — once each, decided by a
unique key in the database so replicas and retransmissions cannot double them — and a factory
reset or first contact opens zero-touch provisioning. End to end: a real ``gateward run`` process,
the USP agent simulator, a subscriber's reset button.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select, text, update

from brain.remediation.ingest import Ingestor, IngestPump, UspSource
from core.kernel.config import Settings
from core.kernel.secrets import MASK
from core.store.schema import DeviceEventRow, DeviceRow
from executors.sim.usp_agent import Subscription
from executors.sim.usp_host import AgentHost, HostConfig
from executors.usp.controller import UspEvent
from executors.usp.loop import LoopThread
from gateward.runtime import UspEvents, build_runtime, start_event_sources, usp_events_wanted
from gateward.seed import seed_fleet
from testing.mqtt_broker import MqttBroker, free_port
from testing.servers import GatewardRun
from tests.conftest import build_test_runtime
from tests.remediation.conftest import case_of, make_service
from tests.usp.support import broker, wait_until

ROOT = Path(__file__).resolve().parents[2]
SECRET = "Device.WiFi.AccessPoint.1.Security.KeyPassphrase"


def _usp_device(rt: Any) -> DeviceRow:
    with rt.store.read() as s:
        d = s.scalars(select(DeviceRow).where(DeviceRow.protocol == "usp").order_by(DeviceRow.id).limit(1)).one()
        s.expunge(d)
    return d


def _events(rt: Any, device_id: str) -> list[DeviceEventRow]:
    with rt.store.read() as s:
        rows = list(s.scalars(select(DeviceEventRow).where(DeviceEventRow.device_id == device_id,
                                                           DeviceEventRow.event_key.is_not(None))))
        for r in rows:
            s.expunge(r)
    return rows


def _notifications(endpoint_id: str, tag: str) -> list[UspEvent]:
    """What a controller hands its listeners after a factory reset and a Wi-Fi passphrase change."""
    now = time.time()
    return [
        UspEvent("boot", endpoint_id, now, {"Cause": "LocalFactoryReset", "CommandKey": ""}, "gw-boot", f"boot-{tag}"),
        UspEvent("onboard", endpoint_id, now, {"oui": "", "product_class": "", "serial_number": ""}, "", f"ob-{tag}"),
        UspEvent("value_change", endpoint_id, now, {"path": SECRET, "value": "hunter2-hunter2"}, "vc", f"vc-{tag}"),
    ]


# ------------------------------------------------------------------ idempotent ingest (no broker)
def test_a_notification_heard_by_two_replicas_is_one_row_and_one_trigger(db_url: str) -> None:
    """Two controller processes (``gateward run`` + ``gateward worker``) both hear every Notify; an
    agent retransmits one it saw no answer to. At HEAD each copy was another row."""
    rt = build_test_runtime(db_url, homes=12)
    try:
        d = _usp_device(rt)
        ep = f"os::{d.oui}-{d.serial}"  # endpoint_for(): the TR-369 "os" authority
        replicas = [(UspSource(), Ingestor(make_service(rt))) for _ in range(2)]
        reports = []
        for source, ing in replicas:
            for ev in _notifications(ep, "1"):
                source.on_event(ev)
            reports.append(ing.poll(source, detect=False))
        assert [r.events for r in reports] == [3, 0]
        assert [r.duplicates for r in reports] == [0, 3]
        assert [r.ztp_opened for r in reports] == [1, 0]
        rows = _events(rt, d.id)
        assert sorted(r.kind for r in rows) == ["bootstrap", "onboard", "value_change"]
        vc = next(r for r in rows if r.kind == "value_change")
        assert vc.data["value"] == MASK and "hunter2" not in str([r.data for r in rows])  # secrets stay secret
        assert vc.data["source"] == "usp" and vc.data["msg_id"] == "vc-1"
        c = case_of(make_service(rt), d.id, "provision")
        assert c["evidence"]["source"] == "usp" and c["evidence"]["trigger"] in ("factory_reset", "onboard")
        # a retransmission later (same msg_id) changes nothing; a new notification is a new row
        source, ing = replicas[0]
        source.on_event(_notifications(ep, "1")[2])
        source.on_event(_notifications(ep, "2")[2])
        rep = ing.poll(source, detect=False)
        assert (rep.events, rep.duplicates) == (1, 1)
        assert len(_events(rt, d.id)) == 4
    finally:
        rt.close()


def test_a_round_that_fails_after_storing_rows_still_fires_its_trigger(sqlite_url: str) -> None:
    """The rows committed, then the trigger failed (database restarting): the pump keeps the
    signals, and the retry fires the trigger although its rows now exist — nothing is lost."""
    rt = build_test_runtime(sqlite_url, homes=12)
    try:
        d = _usp_device(rt)
        svc = make_service(rt)
        real = svc.trigger_ztp
        calls = {"n": 0}

        def flaky(*a: Any, **kw: Any) -> Any:
            calls["n"] += 1
            if calls["n"] == 1:
                raise RuntimeError("server closed the connection unexpectedly")
            return real(*a, **kw)

        svc.trigger_ztp = flaky
        source = UspSource()
        pump = IngestPump(Ingestor(svc), source, detect=False)
        for ev in _notifications(f"os::{d.oui}-{d.serial}", "r")[:1]:
            source.on_event(ev)
        first = pump.step()
        assert (first.events, pump.failures, len(pump._held)) == (0, 1, 1)
        assert len(_events(rt, d.id)) == 1  # the row is in, the trigger is not
        second = pump.step()
        assert (second.duplicates, second.ztp_opened, len(pump._held)) == (1, 1, 0)
        assert case_of(svc, d.id, "provision")["evidence"]["trigger"] == "factory_reset"
        assert len(_events(rt, d.id)) == 1
    finally:
        rt.close()


def test_the_simulated_fleet_does_not_dial_a_broker(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GATEWARD_MQTT_URL", raising=False)
    rt = build_test_runtime(sqlite_url, homes=12)
    try:
        assert usp_events_wanted(rt) == (False, "no device uses the usp adapter and GATEWARD_MQTT_URL is not set")
        events, said = start_event_sources(rt)
        assert events is None and "USP events: off" in said
        with rt.store.write() as s:
            s.execute(update(DeviceRow).where(DeviceRow.id == _usp_device(rt).id).values(adapter="usp"))
        assert usp_events_wanted(rt) == (True, "devices use the usp adapter")
    finally:
        rt.close()


# ------------------------------------------------------------------ a broker that is not there yet
@pytest.mark.mqtt
@pytest.mark.slow
def test_run_starts_without_a_broker_and_connects_when_it_comes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()
    late = MqttBroker(port=port)
    monkeypatch.setenv("GATEWARD_USP_MQTT_VERSION", "5" if late.mqtt5 else "3")
    monkeypatch.setenv("GATEWARD_USP_ENDPOINT_ID", f"proto::gw-late-{uuid.uuid4().hex[:8]}")
    rt = build_runtime(Settings(database_url=f"sqlite:///{tmp_path / 'gw.db'}", mqtt_url=late.url))
    events: UspEvents | None = None
    try:
        caplog.set_level(logging.WARNING, "gateward.runtime")
        events, said = start_event_sources(rt)
        assert events is not None and said.startswith("USP events: on (GATEWARD_MQTT_URL is set)")
        assert not events.connected
        wait_until(lambda: "no MQTT broker answers at " + late.url in caplog.text, 15, "the warning")
        # starting never waits for the broker: the attempt that found none ran on a thread of its own
        tried = [r for r in caplog.records if "no MQTT broker answers at" in r.getMessage()]
        assert tried and all(r.thread != threading.get_ident() for r in tried)
        assert not events.connected
        late.start()
        try:
            wait_until(lambda: events is not None and events.connected, 20, "the retry to connect")
        finally:
            events.stop()
            late.stop()
    finally:
        if events is not None:
            events.stop()
        rt.close()


# ------------------------------------------------------------------ end to end: `gateward run` + agent simulator
@pytest.fixture
def run_home(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A seeded fleet in its own GATEWARD_HOME with one USP device on the ``usp`` adapter."""
    url = f"sqlite:///{tmp_path / 'gateward.db'}"
    rt = build_runtime(Settings(database_url=url))
    seed_fleet(rt, homes=12, seed=11, snapshots=False)
    d = _usp_device(rt)
    with rt.store.write() as s:
        s.execute(update(DeviceRow).where(DeviceRow.id == d.id).values(adapter="usp", service="business"))
    rt.close()
    yield url, d.id


# How long the whole-process test waits for each step (a liveness bound, not a timing): 15-20 s was
# passed in a loaded CI-equivalent full tier (2 cores, four workers), where the run starts its own server.
LIVENESS_S = 60


@pytest.mark.mqtt
@pytest.mark.slow
def test_gateward_run_records_usp_events_and_provisions_after_a_local_factory_reset(
        tmp_path: Path, run_home: tuple[str, str]) -> None:
    url, device_id = run_home
    info = broker()
    version = 5 if info.mqtt5 else 3
    controller_id = f"proto::gw-run-{uuid.uuid4().hex[:10]}"  # unique: the CI broker is shared
    run = GatewardRun(home=tmp_path, database_url=url, homes=12, cwd=ROOT, log=tmp_path / "run.log",
                      env={"GATEWARD_MQTT_URL": info.url, "GATEWARD_USP_ENDPOINT_ID": controller_id,
                           "GATEWARD_USP_MQTT_VERSION": str(version), "COLUMNS": "200"})
    run.start()
    loop: LoopThread | None = None
    host: AgentHost | None = None
    from executors.sim.twin import Twin

    twin = Twin(url)
    engine = create_engine(url)
    try:
        run.wait_log(f"USP events: listening on {info.url} as {controller_id}", LIVENESS_S)
        run.wait_ready(LIVENESS_S)  # a probe may be slow on a loaded CI runner: 5 s timed out once (CI, stop 65)
        host = AgentHost(HostConfig(url=info.url, controller_id=controller_id, mqtt_version=version,
                                    boot_delay_s=0.05, poll_interval_s=0.1, notify_retry_min_s=0.5,
                                    client_prefix=f"gw-run-agents-{uuid.uuid4().hex[:6]}"), twin)
        host.add_device(device_id)
        loop = LoopThread("usp-agents")
        loop.run(host.start())
        loop.run(host.local_reset(device_id), timeout=LIVENESS_S)  # the reset button: Boot! LocalFactoryReset + onboard

        async def subscribe_value_change() -> None:  # as a controller's ValueChange subscription would
            sim = host.agent(device_id).sim if host is not None else None
            assert sim is not None
            sim.subscriptions[len(sim.subscriptions) + 1] = Subscription(
                id="vc-radio1", notif_type="ValueChange", reference_list="Device.WiFi.Radio.1.Channel",
                notif_retry=True)

        loop.run(subscribe_value_change())
        twin.device_change(device_id, {"Device.WiFi.Radio.1.Channel": 11})  # a change on the device's own GUI

        def usp_rows() -> dict[str, int]:
            with engine.connect() as c:
                return {k: n for k, n in c.execute(
                    select(DeviceEventRow.kind, func.count()).where(
                        DeviceEventRow.device_id == device_id, DeviceEventRow.event_key.is_not(None))
                    .group_by(DeviceEventRow.kind))}

        wait_until(lambda: {"bootstrap", "onboard", "value_change"} <= set(usp_rows()), LIVENESS_S, "USP device events")

        def ztp_proposal() -> str | None:
            with engine.connect() as c:
                row = c.execute(text("SELECT kind, evidence, proposal_ids FROM remediation_cases "
                                     "WHERE device_id = :d AND problem = 'provision'"), {"d": device_id}).first()
            if row is None:
                return None
            assert row.kind == "ztp"
            ids = row.proposal_ids if isinstance(row.proposal_ids, list) else json.loads(row.proposal_ids)
            return str(ids[0]) if ids else None

        wait_until(lambda: ztp_proposal() is not None, LIVENESS_S, "the zero-touch provisioning proposal")
        with engine.connect() as c:
            author = c.execute(text("SELECT author FROM proposals WHERE id = :p"), {"p": ztp_proposal()}).scalar()
        assert author == "remediator"
        rows = usp_rows()
        assert rows.get("bootstrap") == 1 and rows.get("onboard") == 1, rows  # once each, retries or not
        with engine.connect() as c:
            boot = c.execute(select(DeviceEventRow.data).where(DeviceEventRow.device_id == device_id,
                                                               DeviceEventRow.kind == "bootstrap")).scalar_one()
        boot = boot if isinstance(boot, dict) else json.loads(boot)
        assert boot["Cause"] == "LocalFactoryReset" and boot["source"] == "usp"
    finally:
        if host is not None and loop is not None:
            loop.run(host.stop())
        if loop is not None:
            loop.stop()
        try:
            code = run.stop(signal.SIGINT)
        finally:
            twin.close()
            engine.dispose()
    assert code == 0, run.log_tail()
    assert "Traceback" not in run.log.read_text(errors="replace"), run.log_tail()
