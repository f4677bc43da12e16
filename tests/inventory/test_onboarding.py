"""Broker onboarding (issue 11, deliverable 2): USP first contacts from agents the fleet does not
know. Driven through the real ingest path — ``UspSource.on_event`` with the controller's own event
type, then ``Ingestor.ingest`` — over the real store, policy pack and remediation service."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text

from brain.remediation.ingest import Ingestor, UspSource
from core.kernel.errors import Conflict, Forbidden, Invalid, NotFound
from core.kernel.models import utcnow
from core.onboarding import AllowList, Onboarding
from core.store import repo
from core.store.schema import DeviceEventRow, OnboardingRow
from executors.usp.controller import UspEvent
from tests.inventory.conftest import actor, audit_events, serial
from tests.remediation.conftest import make_service

OUI = "C0FFEE"


@pytest.fixture
def allow(rt: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """The runtime's loaded policy data, with an onboarding allow list the test fills in."""
    doc: dict[str, Any] = {"allow": {"endpoint_ids": [], "ouis": []}, "defaults": {"region": "DE"}}
    monkeypatch.setitem(rt.policy.policy_data, "onboarding", doc)
    yield doc["allow"]


def contact(rt: Any, endpoint: str, *, kind: str = "onboard", oui: str = "", product_class: str = "PX9",
            serial_number: str = "") -> Any:
    """One agent contact as the controller reports it, ingested; returns the ingest report."""
    data = ({"oui": oui, "product_class": product_class, "serial_number": serial_number,
             "agent_supported_protocol_versions": "1.3"} if kind == "onboard" else {"Cause": "LocalReboot"})
    src = UspSource()
    src.on_event(UspEvent(kind, endpoint, time.time(), data, "sub-1", f"m-{uuid.uuid4().hex[:8]}"))  # type: ignore[arg-type]
    signals, _ = src.poll(None)
    return Ingestor(make_service(rt)).ingest(signals, detect=False)


def request_of(rt: Any, endpoint: str) -> OnboardingRow | None:
    with rt.store.read() as s:
        row = s.get(OnboardingRow, endpoint)
        if row is not None:
            s.expunge(row)
        return row


def events_of(rt: Any, device_id: str) -> int:
    with rt.store.read() as s:
        return int(s.scalar(select(func.count()).select_from(DeviceEventRow)
                            .where(DeviceEventRow.device_id == device_id)) or 0)


def test_an_unknown_agent_waits_pending_and_a_flapping_one_is_one_request(rt: Any, allow: dict[str, Any]) -> None:
    sn = serial("PEND")
    ep = f"os::{OUI}-{sn}"
    for _ in range(3):  # reconnects: OnBoardRequest, then Boot! twice
        contact(rt, ep, oui=OUI, serial_number=sn)
    contact(rt, ep, kind="boot")
    row = request_of(rt, ep)
    assert row is not None and row.status == "pending" and row.attempts == 4
    assert (row.oui, row.product_class, row.serial) == (OUI, "PX9", sn)
    assert [e.data["endpoint_id"] for e in audit_events(rt, "onboarding.pending")].count(ep) == 1
    with rt.store.read() as s, pytest.raises(NotFound):
        repo.get_device(s, f"{OUI}-PX9-{sn}")
    assert ep in {r["endpoint_id"] for r in Onboarding(rt.store).requests()}


def test_an_agent_flapping_while_pending_is_one_request_and_can_be_accepted_offline(
        rt: Any, allow: dict[str, Any]) -> None:
    sn = serial("FLAP")
    ep = f"os::{OUI}-{sn}"
    for kind in ("connect", "disconnect", "connect", "onboard", "disconnect"):  # it ends offline
        contact(rt, ep, kind=kind, oui=OUI, serial_number=sn)
    pending = [r for r in Onboarding(rt.store).requests() if r["endpoint_id"] == ep]
    assert len(pending) == 1 and pending[0]["product_class"] == "PX9"  # the OnBoardRequest filled it in
    assert [e.data["endpoint_id"] for e in audit_events(rt, "onboarding.pending")].count(ep) == 1
    d = Onboarding(rt.store).accept(ep, actor(rt, "dave"), vendor="Acme", firmware="2.0")
    assert (d.id, d.adapter, d.status) == (f"{OUI}-PX9-{sn}", "usp", "active")  # no agent needed to accept
    rep = contact(rt, ep, kind="connect")  # it comes back: a known device now, not a new request
    assert rep.unknown == 0 and ep not in {r["endpoint_id"] for r in Onboarding(rt.store).requests()}


def test_an_allow_listed_agent_is_onboarded_at_once_and_provisioned(rt: Any, allow: dict[str, Any]) -> None:
    allow["ouis"].append(OUI.lower())
    sn = serial("ALLOW")
    rep = contact(rt, f"os::{OUI}-{sn}", oui=OUI, serial_number=sn)
    dev_id = f"{OUI}-PX9-{sn}"
    with rt.store.read() as s:
        d = repo.get_device(s, dev_id)
    assert (d.adapter, str(d.protocol), d.region, d.status) == ("usp", "usp", "DE", "active")
    assert rep.unknown == 0 and rep.events == 1 and events_of(rt, dev_id) == 1
    assert rep.ztp_opened == 1  # the zero-touch path took it from here, as a known device
    [ev] = audit_events(rt, "onboarding.accepted", dev_id)
    assert ev.actor == "onboarding" and ev.data["automatic"] is True and "OUI C0FFEE" in ev.data["reason"]
    assert audit_events(rt, "device.registered", dev_id)[0].data["source"] == "onboarding"
    row = request_of(rt, f"os::{OUI}-{sn}")
    assert row is not None and row.status == "accepted" and row.device_id == dev_id
    by_endpoint = serial("EP")
    allow["endpoint_ids"].append(f"os::ABC123-{by_endpoint}")
    contact(rt, f"os::ABC123-{by_endpoint}", kind="boot")
    with rt.store.read() as s:
        assert repo.get_device(s, f"os::ABC123-{by_endpoint}").adapter == "usp"


def test_an_admin_accepts_or_rejects_a_pending_agent(rt: Any, allow: dict[str, Any]) -> None:
    ok, no = serial("ACC"), serial("REJ")
    contact(rt, f"os::{OUI}-{ok}", oui=OUI, serial_number=ok)
    contact(rt, f"os::{OUI}-{no}", oui=OUI, serial_number=no)
    ob = Onboarding(rt.store)
    with pytest.raises(Forbidden):
        ob.accept(f"os::{OUI}-{ok}", actor(rt, "bob"))
    d = ob.accept(f"os::{OUI}-{ok}", actor(rt, "dave"), vendor="Acme", model="PX-9", firmware="2.0", region="FR")
    assert (d.id, d.vendor, d.firmware, d.region) == (f"{OUI}-PX9-{ok}", "Acme", "2.0", "FR")
    with pytest.raises(Conflict, match="accepted, not pending"):
        ob.accept(f"os::{OUI}-{ok}", actor(rt, "dave"))
    contact(rt, f"os::{OUI}-{ok}", kind="boot")
    assert events_of(rt, d.id) == 1  # its next contact is a known device's event

    with pytest.raises(Invalid, match="needs a reason"):
        ob.reject(f"os::{OUI}-{no}", actor(rt, "dave"), " ")
    assert ob.reject(f"os::{OUI}-{no}", actor(rt, "dave"), "not our hardware")["status"] == "rejected"
    rep = contact(rt, f"os::{OUI}-{no}", oui=OUI, serial_number=no)
    assert rep.events == 0 and rep.unknown == 0 and rep.ztp_opened == 0  # dropped, only counted
    row = request_of(rt, f"os::{OUI}-{no}")
    assert row is not None and row.status == "rejected" and row.attempts == 2
    assert audit_events(rt, "onboarding.rejected")[-1].data["reason"] == "not our hardware"
    with pytest.raises(NotFound):
        ob.reject("os::000000-NOBODY", actor(rt, "dave"), "x")


def test_an_agent_claiming_a_bound_endpoint_is_refused_and_reported(rt: Any, allow: dict[str, Any]) -> None:
    from core.inventory import DeviceSpec, Inventory

    allow["ouis"].append(OUI)  # the allow list does not override a conflict
    sn = serial("BOUND")
    owner = Inventory(rt.store).add(DeviceSpec.checked({
        "endpoint_id": f"os::{OUI}-{sn}", "product_class": "PX9", "adapter": "usp", "root": "Device.",
        "vendor": "Acme", "model": "PX-9", "firmware": "2.0"}), actor(rt, "dave"))
    before = events_of(rt, owner.id)
    for _ in range(2):
        rep = contact(rt, f"os::{OUI}-{sn}", oui=OUI, serial_number="IMPOSTOR1")
        assert rep.events == 0 and rep.ztp_opened == 0
    assert events_of(rt, owner.id) == before  # nothing stored against the bound device
    [ev] = audit_events(rt, "onboarding.refused", owner.id)  # reported once, not per reconnect
    assert ev.data["bound_device"] == owner.id and "serial IMPOSTOR1" in ev.data["claimed_differently"][0]
    row = request_of(rt, f"os::{OUI}-{sn}")
    assert row is not None and row.status == "conflict" and row.attempts == 2
    honest = contact(rt, f"os::{OUI}-{sn}", oui=OUI, serial_number=sn)
    assert honest.events == 1 and events_of(rt, owner.id) == before + 1


def test_a_malformed_allow_list_allows_nothing() -> None:
    assert AllowList.from_policy_data({"onboarding": {"allow": {"ouis": "C0FFEE"}}}) == AllowList()
    assert AllowList.from_policy_data({}).why("os::C0FFEE-1", "C0FFEE") is None


def test_api_and_cli_list_accept_and_reject(rt: Any, allow: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from rich.console import Console
    from typer.testing import CliRunner

    from gateward import cli as cli_module
    from tests.api.conftest import make_api

    a, b, c = serial("API"), serial("CLIA"), serial("CLIR")
    for sn in (a, b, c):
        contact(rt, f"os::{OUI}-{sn}", oui=OUI, serial_number=sn)
    api = make_api(rt, "onboarding")
    try:
        listed = api.get("/api/onboarding").json()
        assert {f"os::{OUI}-{sn}" for sn in (a, b, c)} <= {r["endpoint_id"] for r in listed}
        assert all(r["status"] == "pending" for r in listed)
        ep = f"os::{OUI}-{a}"
        assert api.post(f"/api/onboarding/{ep}/accept", {}, user="bob").status_code == 403
        r = api.post(f"/api/onboarding/{ep}/accept", {"vendor": "Acme", "firmware": "2.0"}, user="dave")
        assert r.status_code == 201 and r.json()["id"] == f"{OUI}-PX9-{a}" and r.json()["adapter"] == "usp"
        assert api.post(f"/api/onboarding/{ep}/reject", {"reason": "late"}, user="dave").status_code == 409
        accepted = api.get("/api/onboarding", params={"status": "accepted"}).json()
        assert ep in {x["endpoint_id"] for x in accepted}
    finally:
        api.client.close()

    monkeypatch.setattr(cli_module, "_runtime", rt)
    monkeypatch.setattr(cli_module, "console", Console(width=300, color_system=None))
    monkeypatch.setattr(cli_module, "err", Console(width=300, color_system=None, stderr=True))
    run = lambda *args: CliRunner().invoke(cli_module.app, list(args))  # noqa: E731
    shown = run("devices", "pending")
    assert shown.exit_code == 0 and f"os::{OUI}-{b}" in shown.output and f"os::{OUI}-{a}" not in shown.output
    ok = run("devices", "accept", f"os::{OUI}-{b}", "--as", "dave", "--model", "PX-9", "--region", "GB",
             "--timeout", "0.5")
    assert ok.exit_code == 1 and f"registered {OUI}-PX9-{b}" in ok.output, ok.output
    # asked at once, as `devices add` does; an agent that does not answer is registered all the same,
    # and the command says so by its exit status and names the next step (issue 46)
    assert "not contacted" in ok.output and "next: " in ok.output and "gateward run` keeps retrying" in ok.output
    no = run("devices", "reject", f"os::{OUI}-{c}", "--as", "dave", "--reason", "unknown vendor")
    assert no.exit_code == 0 and "rejected" in no.output
    again = run("devices", "reject", f"os::{OUI}-{c}", "--as", "dave", "--reason", "x")
    assert again.exit_code == 2 and "rejected, not pending" in again.output
    assert f"os::{OUI}-{c}" in run("devices", "pending", "--all").output


@pytest.mark.mqtt
def test_a_real_agent_reset_is_pending_then_accepted(rt: Any, allow: dict[str, Any], tmp_path: Any) -> None:
    """The USP agent simulator behind a real broker and controller: an agent Gateward has never
    registered presses its reset button (Boot! LocalFactoryReset + OnBoardRequest)."""
    from executors.usp.executor import endpoint_for
    from tests.usp.support import usp_rig, wait_until

    sn = f"PXNEW{uuid.uuid4().hex[:6].upper()}"
    with usp_rig(tmp_path, lambda twin: [twin.add_device("prplnet-px7000-1.3", sn, region="DE")]) as rig:
        d = rig.devices[0]
        ep = endpoint_for(d)
        src = UspSource().attach(rig.executor)
        rig.run_agents(rig.host.local_reset(d.id), timeout=15)
        got: list[Any] = []

        def onboarded() -> bool:
            got.extend(src.poll(None)[0])
            return any(s.kind == "onboard" for s in got)

        wait_until(onboarded, 15, "the OnBoardRequest")
        Ingestor(make_service(rt)).ingest(got, detect=False)
    row = request_of(rt, ep)
    assert row is not None and row.status == "pending"
    assert (row.oui, row.product_class, row.serial) == (d.oui, d.product_class, d.serial)  # what the agent said
    accepted = Onboarding(rt.store).accept(ep, actor(rt, "dave"), vendor=d.vendor, model=d.model, firmware=d.firmware)
    assert accepted.id == d.id and endpoint_for(accepted) == ep


def test_the_connect_wave_looks_devices_up_by_serial_through_an_index(rt: Any) -> None:
    """The batched onboarding path asks ``serial IN (...)`` (no OUI); the plan must search an
    index, not scan the fleet once per batch."""
    from core.onboarding import units_by_serial

    if rt.store.engine.dialect.name != "sqlite":
        pytest.skip("EXPLAIN QUERY PLAN is SQLite's")
    stmt = units_by_serial([serial("IX") for _ in range(50)])
    with rt.store.read() as s:
        compiled = stmt.compile(dialect=s.get_bind().dialect, compile_kwargs={"literal_binds": True})
        plan = " | ".join(str(r[-1]) for r in s.execute(text(f"EXPLAIN QUERY PLAN {compiled}")))
    assert "SCAN devices" not in plan and "ix_devices_serial" in plan, plan


def test_pending_agents_are_bounded_and_expire(rt: Any, allow: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 46 item 4: a pending row is written for any endpoint whose Record reaches the controller,
    so a peer cycling endpoint IDs grew the table without end. At most GATEWARD_ONBOARDING_PENDING_MAX
    are kept; one not heard from for GATEWARD_ONBOARDING_PENDING_TTL_S is forgotten (not listed, and
    gone at the next pending contact, making room)."""
    from sqlalchemy import delete, update

    with rt.store.write() as s:
        s.execute(delete(OnboardingRow).where(OnboardingRow.status == "pending"))
    monkeypatch.setenv("GATEWARD_ONBOARDING_PENDING_MAX", "2")
    eps = [f"os::{OUI}-BOUND{i}{uuid.uuid4().hex[:4].upper()}" for i in range(3)]
    for ep in eps:
        contact(rt, ep, oui=OUI, serial_number=ep.rsplit("-", 1)[1])
    listed = {r["endpoint_id"] for r in Onboarding(rt.store).requests()}
    assert listed == set(eps[:2]), listed  # the third found the list full
    contact(rt, eps[0], oui=OUI, serial_number=eps[0].rsplit("-", 1)[1])  # a known one still counts its attempts
    assert {r["endpoint_id"]: r["attempts"] for r in Onboarding(rt.store).requests()}[eps[0]] == 2
    monkeypatch.setenv("GATEWARD_ONBOARDING_PENDING_TTL_S", "3600")
    with rt.store.write() as s:  # the first was last heard two hours ago
        s.execute(update(OnboardingRow).where(OnboardingRow.endpoint_id == eps[1])
                  .values(last_seen=utcnow() - timedelta(hours=2)))
    assert eps[1] not in {r["endpoint_id"] for r in Onboarding(rt.store).requests()}
    contact(rt, eps[2], oui=OUI, serial_number=eps[2].rsplit("-", 1)[1])
    with rt.store.read() as s:
        left = set(s.scalars(select(OnboardingRow.endpoint_id).where(OnboardingRow.status == "pending")))
    assert left == {eps[0], eps[2]}, left
