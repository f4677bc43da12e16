"""A connect wave (issue 11): many USP agents make first contact in one ingest round — a firmware
push or a head-end restart. Driven through the real path (``UspSource.on_event`` with the
controller's event type, ``Ingestor.ingest``) over the real store and policy pack: every
allow-listed agent is onboarded exactly once (none lost, none twice, flapping included), the rest
wait pending, and the allow-listed ones are registered in batches, not one transaction each."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import func, select

from brain.remediation.ingest import Ingestor, UspSource
from core.onboarding import BATCH_MIN
from core.store.schema import DeviceRow, OnboardingRow
from executors.usp.controller import UspEvent
from tests.inventory.conftest import audit_events, serial
from tests.remediation.conftest import make_service

OUI, OTHER = "C0FFEE", "BADA55"


@pytest.fixture
def allow(rt: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    doc: dict[str, Any] = {"allow": {"endpoint_ids": [], "ouis": [OUI]}, "defaults": {"region": "DE"}}
    monkeypatch.setitem(rt.policy.policy_data, "onboarding", doc)
    yield doc["allow"]


@contextmanager
def counting_writes(store: Any) -> Iterator[list[int]]:
    """Count the store's write transactions (the real store; only the count is recorded)."""
    calls = [0]
    original = store.write

    @contextmanager
    def write() -> Iterator[Any]:
        calls[0] += 1
        with original() as s:
            yield s

    store.write = write
    try:
        yield calls
    finally:
        store.write = original


def wave(endpoints: list[tuple[str, str]], *, boots: int = 0) -> list[Any]:
    """OnBoardRequests (then ``boots`` Boot! for each of the first agents: flapping) as signals."""
    src = UspSource()
    for ep, sn in endpoints:
        src.on_event(UspEvent("onboard", ep, time.time(), {"oui": ep[4:10], "product_class": "PX9",
                                                           "serial_number": sn, "agent_supported_protocol_versions":
                                                           "1.3"}, "sub-1", f"m-{uuid.uuid4().hex[:8]}"))
    for ep, _ in endpoints[:boots]:
        src.on_event(UspEvent("boot", ep, time.time(), {"Cause": "LocalReboot"}, "sub-1",
                              f"m-{uuid.uuid4().hex[:8]}"))
    signals, _ = src.poll(None)
    return signals


def test_a_connect_wave_onboards_every_allow_listed_agent_once_in_batches(rt: Any, allow: dict[str, Any]) -> None:
    listed = [(f"os::{OUI}-{sn}", sn) for sn in (serial("WAVE") for _ in range(150))]
    strangers = [(f"os::{OTHER}-{sn}", sn) for sn in (serial("STR") for _ in range(10))]
    signals = wave(listed + strangers, boots=20)  # 20 agents flap: OnBoardRequest, then Boot!
    assert len(signals) == 180

    with counting_writes(rt.store) as writes:
        rep = Ingestor(make_service(rt)).ingest(signals, detect=False)

    ids = [f"{OUI}-PX9-{sn}" for _, sn in listed]
    with rt.store.read() as s:
        assert s.scalar(select(func.count()).select_from(DeviceRow).where(DeviceRow.id.in_(ids))) == 150  # 0 lost
        accepted = dict(s.execute(select(OnboardingRow.endpoint_id, OnboardingRow.device_id)
                                  .where(OnboardingRow.endpoint_id.in_([ep for ep, _ in listed]))).all())
        pending = list(s.scalars(select(OnboardingRow.status)
                                 .where(OnboardingRow.endpoint_id.in_([ep for ep, _ in strangers]))))
    assert accepted == {ep: f"{OUI}-PX9-{sn}" for ep, sn in listed}
    assert pending == ["pending"] * 10
    registered = [e.device_id for e in audit_events(rt, "device.registered") if e.device_id in set(ids)]
    assert sorted(registered) == sorted(ids)  # one registration event per agent, flapping or not
    accepted_events = [e.device_id for e in audit_events(rt, "onboarding.accepted") if e.device_id in set(ids)]
    assert sorted(accepted_events) == sorted(ids)
    assert rep.unknown == 10  # only the strangers go on unknown
    # Batched: far fewer write transactions than agents (one each before batching; the pending
    # strangers, events and zero-touch provisioning still take their own).
    onboarding_writes = writes[0] - rep.events - 10
    assert onboarding_writes < 150 / 2, writes[0]


def test_a_batched_onboarding_records_what_one_by_one_does(rt: Any, allow: dict[str, Any]) -> None:
    one = serial("ONE")
    Ingestor(make_service(rt)).ingest(wave([(f"os::{OUI}-{one}", one)]), detect=False)
    many = [(f"os::{OUI}-{sn}", sn) for sn in (serial("MANY") for _ in range(BATCH_MIN))]
    Ingestor(make_service(rt)).ingest(wave(many), detect=False)

    def shape(device_id: str) -> tuple[Any, ...]:
        [reg] = audit_events(rt, "device.registered", device_id)
        [acc] = audit_events(rt, "onboarding.accepted", device_id)
        strip = {"endpoint_id", "serial", "oui", "product_class"}
        return (reg.actor, reg.model, reg.firmware, {k: v for k, v in reg.data.items() if k not in strip},
                acc.actor, sorted(acc.data))

    assert shape(f"{OUI}-PX9-{one}") == shape(f"{OUI}-PX9-{many[0][1]}")
    with rt.store.read() as s:
        row = s.get(OnboardingRow, many[0][0])
        assert row is not None and (row.status, row.attempts, row.decided_by) == ("accepted", 1, "onboarding")


def test_a_wave_with_an_agent_seen_before_decides_that_one_on_its_own(rt: Any, allow: dict[str, Any]) -> None:
    first = serial("SEEN")
    allow["ouis"].clear()  # not yet allow-listed: it waits pending
    Ingestor(make_service(rt)).ingest(wave([(f"os::{OUI}-{first}", first)]), detect=False)
    allow["ouis"].append(OUI)
    rest = [(f"os::{OUI}-{sn}", sn) for sn in (serial("NEXT") for _ in range(BATCH_MIN))]
    Ingestor(make_service(rt)).ingest(wave([(f"os::{OUI}-{first}", first), *rest]), detect=False)
    with rt.store.read() as s:
        row = s.get(OnboardingRow, f"os::{OUI}-{first}")
        assert row is not None and row.status == "accepted" and row.attempts == 2  # its own row, updated
        ids = [f"{OUI}-PX9-{sn}" for sn in [first] + [sn for _, sn in rest]]
        assert s.scalar(select(func.count()).select_from(DeviceRow).where(DeviceRow.id.in_(ids))) == len(ids)
