"""Parity with the real OB-USP-Agent (issue 11, "Real peers").

Run by hand against the Broadband Forum's OB-USP-Agent (v11.0.4) over Mosquitto, a factory-fresh
agent sent its MQTT connect Record and nothing else: it sends an OnBoardRequest only when
``Device.LocalAgent.Controller.{i}.SendOnBoardRequest()`` is invoked, and a ``Boot!`` only to a
controller subscribed to it (it ships with no subscription). Gateward's onboarding screened only
OnBoardRequest and Boot!, so the real agent never appeared, not even as pending. These tests pin
the fix: the connect Record is a first contact too. They drive the real ingest path (the
controller's own event type → ``UspSource`` → ``Ingestor``) and the simulator configured like
the real agent (``HostConfig.like_obuspa``), whose connect is likewise its only first contact.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from brain.remediation.ingest import Ingestor, UspSource
from core.kernel.models import Device
from core.onboarding import AllowList, Claim, Onboarding, _device_for
from core.store import Store
from core.store.schema import DeviceEventRow, OnboardingRow
from core.users import get_actor
from executors.base import UnknownDevice
from executors.usp.controller import UspEvent
from executors.usp.executor import endpoint_for
from tests.remediation.conftest import make_service
from tests.usp.support import BrokerInfo, wait_until
from tests.usp.test_agent_topics import _executor, obuspa_like


def _endpoint() -> str:
    """An endpoint ID shaped like the OB-USP-Agent's default, ``os::<OUI>-<serial>`` (no product class)."""
    return f"os::00D09E-W3B{uuid.uuid4().hex[:8].upper()}"


def _connect(rt: Any, endpoint: str) -> Any:
    """The agent's MQTT connect Record as the controller reports it (``UspEvent("connect")``, no
    msg_id: a connect Record carries no USP Message), ingested."""
    src = UspSource()
    src.on_event(UspEvent("connect", endpoint, time.time(), {"topic": "/usp/agent", "mqtt_version": 5}))
    signals, _ = src.poll(None)
    return Ingestor(make_service(rt)).ingest(signals, detect=False)


def _request(rt: Any, endpoint: str) -> OnboardingRow | None:
    with rt.store.read() as s:
        row = s.get(OnboardingRow, endpoint)
        if row is not None:
            s.expunge(row)
        return row


def test_a_connect_record_alone_makes_an_unknown_agent_pending(rt: Any, allow: dict[str, Any]) -> None:
    ep = _endpoint()
    _connect(rt, ep)
    row = _request(rt, ep)
    assert row is not None and row.status == "pending", "the real agent's only first contact was ignored"
    assert (row.oui, row.serial) == ("00D09E", ep.split("-", 1)[1])
    _connect(rt, ep)  # it reconnects: still one request, counted
    row = _request(rt, ep)
    assert row is not None and row.status == "pending" and row.attempts == 2


def test_an_allow_listed_agent_is_onboarded_on_connect_and_gets_zero_touch_once(rt: Any,
                                                                               allow: dict[str, Any]) -> None:
    ep = _endpoint()
    allow["endpoint_ids"].append(ep)
    _connect(rt, ep)
    row = _request(rt, ep)
    assert row is not None and row.status == "accepted" and row.device_id
    svc = make_service(rt)
    items, _ = svc.list(device_id=row.device_id, limit=10)
    assert [i["kind"] for i in items] == ["ztp"], items  # baseline through zero-touch, as for an OnBoardRequest
    _connect(rt, ep)  # a reconnect of the registered device opens nothing new and stores no event row
    items, _ = svc.list(device_id=row.device_id, limit=10)
    assert len(items) == 1
    with rt.store.read() as s:
        kinds = list(s.scalars(select(DeviceEventRow.kind).where(DeviceEventRow.device_id == row.device_id)))
    assert "connect" not in kinds


def test_the_real_agents_onboard_request_after_its_connect_is_recorded_and_accepted(rt: Any,
                                                                                     allow: dict[str, Any]) -> None:
    """The real agent's sequence: connect Record, then (``SendOnBoardRequest()``) an OnBoardRequest
    naming ProductClass ``USP Agent``. The pending row takes the product class the connect lacked,
    and accepting it works although a device id cannot hold a space: the product class becomes the
    model and the device is known by its endpoint ID."""
    ep = _endpoint()
    serial = ep.split("-", 1)[1]
    _connect(rt, ep)
    src = UspSource()
    src.on_event(UspEvent("onboard", ep, time.time(), {"oui": "00D09E", "product_class": "USP Agent",
                                                        "serial_number": serial}, "", "OnBoardRequest-1"))
    signals, _ = src.poll(None)
    Ingestor(make_service(rt)).ingest(signals, detect=False)
    row = _request(rt, ep)
    assert row is not None and (row.status, row.product_class, row.attempts) == ("pending", "USP Agent", 2)
    device = Onboarding(rt.store).accept(ep, get_actor(rt.store, "dave"))
    assert (device.id, device.model, device.oui, device.serial) == (ep, "USP Agent", "00D09E", serial)


@pytest.mark.mqtt
def test_an_agent_accepted_from_its_endpoint_id_alone_is_readable(tmp_path: Path, usp_broker: BrokerInfo,
                                                                   store: Store) -> None:
    """Accepting a pending agent whose contacts named no product class (the real agent's Boot! and
    connect Record carry none) registers the device as its endpoint ID, with OUI and serial. At HEAD
    every request then failed: the agent's DeviceInfo says ``OUI-ProductClass-Serial`` ("00D09E-USP
    Agent-W3B0001" for the real one), which is not that id, so ``gateward usp get`` refused the device
    it had just accepted. The agent is now checked by OUI and serial (and product class when known)."""
    controller_id = f"proto::gw-parity-{uuid.uuid4().hex[:8]}"
    with obuspa_like(tmp_path, usp_broker, controller_id) as (_twin, host, loop, twin_device):
        ep = endpoint_for(twin_device)
        accepted = _device_for(Claim(ep, twin_device.oui, "", twin_device.serial), AllowList(), {})
        assert isinstance(accepted, Device) and accepted.id != twin_device.id
        ex = _executor(usp_broker, controller_id, store)
        try:
            loop.run(host.start())
            wait_until(lambda: (st := ex.controller.agent(ep)) is not None and bool(st.connected), 10,
                       "the agent's mqtt_connect Record")
            values = ex.read(accepted, ["Device.DeviceInfo.SerialNumber", "Device.DeviceInfo.ProductClass"])
            assert values["Device.DeviceInfo.SerialNumber"].value == twin_device.serial
            # Still refused when the inventory knows a product class the agent does not report.
            with pytest.raises(UnknownDevice):
                ex.read(accepted.model_copy(update={"product_class": "NOT-THIS-ONE"}),
                        ["Device.DeviceInfo.SerialNumber"])
        finally:
            ex.close()


@pytest.mark.mqtt
def test_a_simulated_agent_like_obuspa_becomes_pending_from_its_connect_alone(
        tmp_path: Path, usp_broker: BrokerInfo, rt: Any, allow: dict[str, Any]) -> None:
    """End to end with the simulator configured like the real agent: it sends its connect Record
    and nothing else (no OnBoardRequest, no Boot! without a subscription), and still shows up pending."""
    controller_id = f"proto::gw-parity-{uuid.uuid4().hex[:8]}"
    with obuspa_like(tmp_path, usp_broker, controller_id) as (_twin, host, loop, twin_device):
        ep = endpoint_for(twin_device)
        ex = _executor(usp_broker, controller_id, None, auto_subscribe=False)
        src = UspSource().attach(ex)
        try:
            assert ex.connect()
            loop.run(host.start())
            got: list[Any] = []
            wait_until(lambda: bool(got.extend(src.poll(None)[0])) or any(s.kind == "connect" for s in got), 10,
                       "the agent's connect Record")
            assert {s.kind for s in got} == {"connect"}, "the real agent sends nothing else on first contact"
            Ingestor(make_service(rt)).ingest(got, detect=False)
        finally:
            ex.close()
    row = _request(rt, ep)
    assert row is not None and row.status == "pending" and row.serial == twin_device.serial
