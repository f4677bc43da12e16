"""One unit, one identity, whichever way it arrives (issue 11): by hand, from the ACS sync, from a
USP agent on the broker. Real store, real HTTP to the local GenieACS NBI, the real ingest path.

* a product class with a space (``HG8245 V5``: real CPEs report such) is accepted by hand, plain or
  in GenieACS's escaped ``_id`` form, and names the same device the ACS sync then finds;
* a USP agent naming a unit the ACS sync registered is refused and reported, never a second device
  and never silently shadowed; a flapping agent is one conflict and one audit event.
"""

from __future__ import annotations

import itertools
import time
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from brain.remediation.ingest import Ingestor, UspSource
from core.inventory import DeviceSpec, Inventory
from core.inventory_sync import InventorySync
from core.onboarding import Onboarding
from core.store.schema import DeviceRow, OnboardingRow
from executors.genieacs.ids import genieacs_device_id
from executors.genieacs.inventory import AcsInventorySource
from executors.genieacs.nbi import NbiClient
from executors.usp.controller import UspEvent
from testing.genieacs.fake_nbi import FakeNbi
from testing.genieacs.fake_store import listing_record, listing_template
from tests.inventory.conftest import actor, audit_events, serial
from tests.remediation.conftest import make_service

OUI = "00259E"
_n = itertools.count(1)



def listed(acs: FakeNbi, pc: str, sn: str) -> str:
    """The ACS lists one device (as GenieACS stores it: ``_id`` escaped); returns that ``_id``."""
    params, objects = listing_template("Device", "Huawei", "HG8245", "V5R019", "B1", 1.7e9)
    acs_id = genieacs_device_id(OUI, pc, sn)
    acs.load_devices([listing_record(acs_id, {"Manufacturer": "Huawei", "OUI": OUI, "ProductClass": pc,
                                              "SerialNumber": sn}, 1.7e9 + next(_n), params, objects)])
    return acs_id


def run_sync(rt: Any, acs: FakeNbi) -> Any:
    return InventorySync(rt.store, AcsInventorySource(NbiClient(acs.url, timeout_s=10), page_size=50)).run(
        sweep=False)


def units(rt: Any, sn: str) -> list[tuple[str, str]]:
    with rt.store.read() as s:
        return [(r.id, r.adapter) for r in s.scalars(select(DeviceRow).where(DeviceRow.serial == sn))]


def by_hand(rt: Any, device_id: str, **over: Any) -> Any:
    return Inventory(rt.store).add(DeviceSpec.checked({
        "id": device_id, "adapter": "genieacs", "root": "Device.", "vendor": "Huawei", "model": "HG8245",
        "firmware": "V5R019", **over}), actor(rt, "dave"))


@pytest.mark.parametrize("form", ["plain", "escaped"])
def test_a_product_class_with_a_space_added_by_hand_is_the_device_the_sync_finds(rt: Any, acs: FakeNbi,
                                                                                 form: str) -> None:
    sn = serial("HW")
    pc = "HG8245 V5"
    given = f"{OUI}-{pc}-{sn}" if form == "plain" else genieacs_device_id(OUI, pc, sn)
    d = by_hand(rt, given)
    assert (d.id, d.oui, d.product_class, d.serial) == (f"{OUI}-{pc}-{sn}", OUI, pc, sn)
    acs_id = listed(acs, pc, sn)
    assert "%20" in acs_id  # GenieACS escapes the space in its _id; the inventory keeps the plain parts
    report = run_sync(rt, acs)
    assert report.error is None and [r for r in report.refused if r["acs_id"] == acs_id] == []
    assert units(rt, sn) == [(d.id, "genieacs")]  # one device, not two
    with rt.store.read() as s:
        row = s.get(DeviceRow, d.id)
        assert row is not None and row.acs_seen_at is not None  # the sync recognised it as its own


def test_a_device_the_sync_registered_cannot_be_added_again_in_either_form(rt: Any, acs: FakeNbi) -> None:
    from core.kernel.errors import Conflict

    sn, pc = serial("HW"), "EchoLife HG8245 V5"
    listed(acs, pc, sn)
    assert run_sync(rt, acs).error is None
    [(synced, _)] = units(rt, sn)
    assert synced == f"{OUI}-{pc}-{sn}"
    for form in (synced, genieacs_device_id(OUI, pc, sn)):
        with pytest.raises(Conflict, match="already registered"):
            by_hand(rt, form)
    assert units(rt, sn) == [(synced, "genieacs")]


# ---------------------------------------------------------------------------- the same unit from a USP agent
@pytest.fixture
def allow_all(rt: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The agent's OUI is allow-listed, so only the duplicate rule can stop its registration."""
    monkeypatch.setitem(rt.policy.policy_data, "onboarding",
                        {"allow": {"endpoint_ids": [], "ouis": [OUI]}, "defaults": {"region": "DE"}})


def contact(rt: Any, endpoint: str, kind: str, **ident: str) -> Any:
    data = ({"oui": ident.get("oui", ""), "product_class": ident.get("product_class", ""),
             "serial_number": ident.get("serial", ""), "agent_supported_protocol_versions": "1.3"}
            if kind == "onboard" else {})
    src = UspSource()
    src.on_event(UspEvent(kind, endpoint, time.time(), data, "sub-1", f"m-{uuid.uuid4().hex[:8]}"))  # type: ignore[arg-type]
    signals, _ = src.poll(None)
    return Ingestor(make_service(rt)).ingest(signals, detect=False)


def conflict_of(rt: Any, endpoint: str) -> OnboardingRow | None:
    with rt.store.read() as s:
        row = s.get(OnboardingRow, endpoint)
        if row is not None:
            s.expunge(row)
        return row


@pytest.mark.parametrize("endpoint_kind", ["os", "proto"])
def test_a_usp_agent_naming_a_unit_the_acs_registered_is_one_device_and_a_clear_conflict(
        rt: Any, acs: FakeNbi, allow_all: None, endpoint_kind: str) -> None:
    sn, pc = serial("DUAL"), "HG8245"
    listed(acs, pc, sn)
    assert run_sync(rt, acs).error is None
    [(acs_dev, _)] = units(rt, sn)
    # os:: names the unit in the endpoint itself; a proto:: agent only says so in its OnBoardRequest.
    ep = f"os::{OUI}-{sn}" if endpoint_kind == "os" else f"proto::agent-{uuid.uuid4().hex[:8]}"
    for kind in ("connect", "onboard", "disconnect", "connect", "onboard"):  # it flaps while onboarding
        contact(rt, ep, kind, oui=OUI, product_class=pc, serial=sn)
    assert units(rt, sn) == [(acs_dev, "genieacs")]  # never a second device
    row = conflict_of(rt, ep)
    assert row is not None and row.status == "conflict" and row.device_id is None
    assert acs_dev in (row.reason or "") and "genieacs" in (row.reason or "")
    [ev] = [e for e in audit_events(rt, "onboarding.refused", acs_dev) if e.data["endpoint_id"] == ep]
    assert ev.data["registered_as"] == acs_dev  # reported once, not once per reconnect
    assert ep not in {r["endpoint_id"] for r in Onboarding(rt.store).requests()}  # not left pending either
    assert audit_events(rt, "device.registered", f"{OUI}-{pc}-{sn}") == []
