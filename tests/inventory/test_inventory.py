"""Devices by hand (issue 11, deliverable 3): add, import, retire — rules, atomicity per row, audit,
roles, and that a retired device can no longer be targeted. Real store (SQLite and PostgreSQL),
real lifecycle and policy engine, simulated fleet."""

from __future__ import annotations

from typing import Any

import pytest

from core.inventory import DeviceSpec, Inventory, live_proposal_ids, number_items, parse_csv
from core.kernel.errors import Conflict, Forbidden, Invalid, NotFound
from core.kernel.models import Change, ProposalDraft, ProposalState, Selector
from core.store import repo
from tests.inventory.conftest import actor, audit_events, serial


def spec(**over: Any) -> DeviceSpec:
    fields = {"id": f"00D09E-CGW3400-{serial()}", "adapter": "genieacs", "root": "Device.", "vendor": "Vantec",
              "model": "CGW-3400", "firmware": "7.4", "region": "DE"}
    fields.update(over)
    return DeviceSpec.checked({k: v for k, v in fields.items() if v is not None})


def test_add_registers_the_device_with_an_audit_event(rt: Any) -> None:
    inv = Inventory(rt.store)
    s = spec(tags=["pilot"], subscriber="sub-manual-1")
    d = inv.add(s, actor(rt, "dave"))
    assert (d.oui, d.product_class, d.serial) == ("00D09E", "CGW3400", s.serial)
    assert (d.adapter, str(d.protocol), d.status) == ("genieacs", "cwmp", "active")
    with rt.store.read() as sess:
        assert repo.get_device(sess, d.id).tags == ["pilot"]
    [ev] = audit_events(rt, "device.registered", d.id)
    assert ev.actor == "dave" and ev.data["source"] == "manual" and ev.data["adapter"] == "genieacs"


def test_only_an_admin_may_add_and_a_refusal_stores_nothing(rt: Any) -> None:
    s = spec()
    for name in ("alice", "bob", "carol", "erin", "remediator"):
        with pytest.raises(Forbidden, match="only an admin"):
            Inventory(rt.store).add(s, actor(rt, name))
    with rt.store.read() as sess, pytest.raises(NotFound):
        repo.get_device(sess, s.id or "")
    assert audit_events(rt, "device.registered", s.id) == []


def test_usp_endpoint_identity_is_derived_and_addressable(rt: Any) -> None:
    from executors.usp.executor import endpoint_for

    sn = serial("PX")
    d = Inventory(rt.store).add(spec(id=None, endpoint_id=f"os::3c9a77-{sn}", adapter="usp", vendor="Prplnet",
                                     model="PX-7000", firmware="1.3"), actor(rt, "dave"))
    assert d.id == f"os::3C9A77-{sn}" and (d.oui, d.serial, str(d.protocol)) == ("3C9A77", sn, "usp")
    assert endpoint_for(d) == d.id  # the USP adapter reaches the agent that was registered
    with_pc = spec(id=None, endpoint_id=f"os::3C9A77-{serial('PX')}", adapter="usp", product_class="PX7000")
    assert with_pc.id == f"3C9A77-PX7000-{with_pc.serial}"


def test_the_same_unit_is_not_registered_twice_even_under_another_adapter(rt: Any) -> None:
    inv, dave = Inventory(rt.store), actor(rt, "dave")
    first = inv.add(spec(), dave)
    with pytest.raises(Conflict, match="already registered"):
        inv.add(spec(id=first.id, adapter="sim"), dave)
    with pytest.raises(Conflict, match=f"same unit .*{first.id}.*genieacs"):
        inv.add(spec(id=None, endpoint_id=f"os::{first.oui}-{first.serial}", adapter="usp"), dave)
    with rt.store.read() as sess:
        assert repo.get_device(sess, first.id).adapter == "genieacs"


@pytest.mark.parametrize(("over", "message"), [
    ({"id": "00D09-CGW3400-SN1"}, "OUI '00D09' is not six hexadecimal digits"),
    ({"id": "00D09E-CGW3400"}, "is not OUI-ProductClass-Serial"),
    ({"id": "00D09E-CGW3400-SN 1"}, "without spaces"),
    ({"id": "00D09E-CGW\t3400-SN1"}, "must be printable"),
    ({"id": None}, "give id"),
    ({"id": "os::00D09E-SN1"}, "looks like a USP endpoint ID"),
    ({"id": None, "endpoint_id": "os::00D09E-SN1"}, "endpoint_id is a USP identity"),
    ({"id": None, "endpoint_id": "proto::agent-1", "adapter": "usp"}, "is not os::OUI-Serial"),
    ({"adapter": "usp", "root": "InternetGatewayDevice."}, "root must be Device."),
    ({"adapter": "acs"}, "adapter: Input should be 'sim', 'usp' or 'genieacs'"),
    ({"root": "Device"}, "root: Input should be 'Device.' or 'InternetGatewayDevice.'"),
    ({"adapter": "genieacs", "protocol": "usp"}, "adapter 'genieacs' speaks cwmp, not usp"),
    ({"id": "00D09E-CGW3400-SN1", "serial": "SN2"}, "serial 'SN2' does not match the identity"),
    ({"vendor": "Van\x1btec"}, "vendor: must not contain control characters"),
    ({"colour": "red"}, "colour: Extra inputs are not permitted"),
])
def test_bad_device_fields_are_refused_with_the_reason(over: dict[str, Any], message: str) -> None:
    with pytest.raises(Invalid) as exc:
        spec(**over)  # a None drops the field (id=None: no identity given)
    assert message in exc.value.message


CSV_HEADER = "id,adapter,root,vendor,model,firmware,region,tags\n"


def test_csv_import_registers_the_good_rows_and_names_each_bad_one(rt: Any) -> None:
    good1, good2, bad_oui = serial(), serial(), serial()
    text = (CSV_HEADER
            + f"00D09E-CGW3400-{good1},genieacs,Device.,Vantec,CGW-3400,7.4,DE,pilot;north\n"
            + f"00D0-CGW3400-{bad_oui},genieacs,Device.,Vantec,CGW-3400,7.4,DE,\n"
            + f"00D09E-CGW3400-{good1},usp,Device.,Vantec,CGW-3400,7.4,DE,\n"
            + f"00D09E-CGW3400-{good2},sim,InternetGatewayDevice.,Vantec,CGW-3400,7.4,FR,\n"
            + f"00D09E-CGW3400-{serial()},genieacs,Device.,Vantec,CGW-3400,7.4,DE,,extra-cell\n")
    report = Inventory(rt.store).import_rows(parse_csv(text), actor(rt, "dave"))
    assert report.registered == [f"00D09E-CGW3400-{good1}", f"00D09E-CGW3400-{good2}"]
    errors = {n: r.error for n, r in report.refused.items()}
    assert set(errors) == {3, 4, 6}  # CSV line numbers (the header is line 1)
    assert "OUI '00D0'" in (errors[3] or "")
    assert "already registered" in (errors[4] or "")
    assert "more cells than the header" in (errors[6] or "")
    with rt.store.read() as sess:
        assert repo.get_device(sess, f"00D09E-CGW3400-{good1}").tags == ["pilot", "north"]
        assert str(repo.get_device(sess, f"00D09E-CGW3400-{good2}").root) == "InternetGatewayDevice."
        with pytest.raises(NotFound):
            repo.get_device(sess, f"00D0-CGW3400-{bad_oui}")
    summary = audit_events(rt, "devices.imported")[-1]
    assert summary.data["registered"] == 2 and summary.data["refused"] == 3
    assert [e["row"] for e in summary.data["errors"]] == [3, 4, 6]


def test_importing_the_same_csv_again_changes_nothing_and_names_the_same_bad_lines(rt: Any) -> None:
    a, b, c = serial("RE"), serial("RE"), serial("RE")
    text = (CSV_HEADER
            + f"00D09E-CGW3400-{a},genieacs,Device.,Vantec,CGW-3400,7.4,DE,pilot\n"
            + f"00D09E-CGW3400-{b},genieacs,Device.,Vantec,CGW-3400,,DE,\n"  # no firmware
            + f"00D09E-CGW3400-{c},sim,Device.,Vantec,CGW-3400,7.4,FR,\n"
            + f"00D09E-OTHER-{a},usp,Device.,Vantec,CGW-3400,7.4,DE,\n")  # the same unit as line 2
    inv, dave = Inventory(rt.store), actor(rt, "dave")
    first = inv.import_rows(parse_csv(text), dave)
    assert first.registered == [f"00D09E-CGW3400-{a}", f"00D09E-CGW3400-{c}"] and first.unchanged == []
    refused = {n: r.error or "" for n, r in first.refused.items()}
    assert set(refused) == {3, 5} and "firmware" in refused[3] and "same unit" in refused[5]
    before = len(audit_events(rt, "device.registered"))
    again = inv.import_rows(parse_csv(text), dave)
    assert again.registered == [] and again.unchanged == [f"00D09E-CGW3400-{a}", f"00D09E-CGW3400-{c}"]
    assert set(again.refused) == {3, 5}  # the same lines, the same reasons
    assert len(audit_events(rt, "device.registered")) == before  # nothing registered twice
    assert again.as_dict()["unchanged"] == 2 and audit_events(rt, "devices.imported")[-1].data["unchanged"] == 2
    with rt.store.read() as sess:
        for missing in (f"00D09E-CGW3400-{b}", f"00D09E-OTHER-{a}"):  # refused rows left nothing behind
            with pytest.raises(NotFound):
                repo.get_device(sess, missing)
    # A row that differs from what is registered is no re-import: it stays a refusal, and changes nothing.
    changed = inv.import_rows(parse_csv(CSV_HEADER + f"00D09E-CGW3400-{a},genieacs,Device.,Vantec,CGW-3400,"
                                                      "7.5,DE,pilot\n"), dave)
    [refusal] = changed.refused.values()
    assert changed.unchanged == [] and "already registered" in (refusal.error or "")
    with rt.store.read() as sess:
        assert repo.get_device(sess, f"00D09E-CGW3400-{a}").firmware == "7.4"


def test_a_csv_with_an_unknown_column_registers_nothing(rt: Any) -> None:
    sn = serial()
    text = "id,adapter,root,vendor,model,firmware,colour\n" + f"00D09E-CGW3400-{sn},sim,Device.,V,M,1,red\n"
    with pytest.raises(Invalid, match=r"unknown CSV column.*'colour'"):
        Inventory(rt.store).import_rows(parse_csv(text), actor(rt, "dave"))
    with rt.store.read() as sess, pytest.raises(NotFound):
        repo.get_device(sess, f"00D09E-CGW3400-{sn}")


def test_json_import_numbers_items_and_refuses_non_objects(rt: Any) -> None:
    ok = spec().model_dump(mode="json", exclude_none=True)
    report = Inventory(rt.store).import_rows(number_items([ok, "not a device", {"adapter": "sim"}]),
                                             actor(rt, "dave"))
    assert report.registered == [ok["id"]]
    errors = {n: r.error or "" for n, r in report.refused.items()}
    assert "expected an object" in errors[2] and "root: Field required" in errors[3]


def _seeded(rt: Any) -> list[Any]:
    """Seeded TR-181 CWMP devices (they have subscribers) that no live proposal targets."""
    with rt.store.read() as sess:
        items, _ = repo.list_devices(sess, status="active", limit=1000)
        free = [d for d in items if d.subscriber and not d.subscriber.startswith("sub-manual")
                and str(d.root) == "Device." and str(d.protocol) == "cwmp"
                and not live_proposal_ids(sess, d.id)]
    assert len(free) >= 3, "the test fleet has too few untouched devices"
    return free


def test_retire_keeps_the_row_and_nothing_can_target_it_any_more(rt: Any) -> None:
    victim = _seeded(rt)[0]
    dave = actor(rt, "dave")
    d = Inventory(rt.store).retire(victim.id, dave, "returned by the subscriber")
    assert d.status == "retired" and d.retired_at is not None
    [ev] = audit_events(rt, "device.retired", victim.id)
    assert ev.data == {"reason": "returned by the subscriber"} and ev.actor == "dave"
    with rt.store.read() as sess:
        assert repo.get_device(sess, victim.id).status == "retired"  # kept, with its history
        assert victim.id not in repo.select_devices(sess, Selector(model=victim.model))  # campaign selectors
        retired, _ = repo.list_devices(sess, status="retired", limit=1000)
        assert victim.id in {x.id for x in retired}
    draft = ProposalDraft(intent="shorten the inform interval", targets=[victim.id],
                          changes=[Change(path="Device.ManagementServer.PeriodicInformInterval", value=600)],
                          rationale="test")
    with pytest.raises(Invalid, match=f"device '{victim.id}' is retired"):
        rt.lifecycle.create(draft, actor(rt, "alice"))
    by_selector = rt.lifecycle.create(draft.model_copy(update={"targets": [], "selector": Selector(
        model=victim.model)}), actor(rt, "alice"))
    assert victim.id not in by_selector.targets and by_selector.targets
    rt.lifecycle.cancel(by_selector.id, actor(rt, "alice"), "test done")
    with pytest.raises(Conflict, match="already retired"):
        Inventory(rt.store).retire(victim.id, dave, "again")


def test_retire_is_refused_while_a_live_proposal_targets_the_device(rt: Any) -> None:
    target = _seeded(rt)[-1]
    draft = ProposalDraft(intent="shorten the inform interval", targets=[target.id],
                          changes=[Change(path="Device.ManagementServer.PeriodicInformInterval", value=900)],
                          rationale="test")
    p = rt.lifecycle.create(draft, actor(rt, "alice"))
    assert p.state == ProposalState.DRAFT
    with pytest.raises(Conflict, match=f"live proposal.*{p.id}"):
        Inventory(rt.store).retire(target.id, actor(rt, "dave"), "swap")
    rt.lifecycle.cancel(p.id, actor(rt, "alice"), "not needed")
    assert Inventory(rt.store).retire(target.id, actor(rt, "dave"), "swap").status == "retired"


def test_retire_needs_an_admin_a_reason_and_a_known_device(rt: Any) -> None:
    victim = _seeded(rt)[1]
    with pytest.raises(Forbidden):
        Inventory(rt.store).retire(victim.id, actor(rt, "carol"), "why not")
    with pytest.raises(Invalid, match="needs a reason"):
        Inventory(rt.store).retire(victim.id, actor(rt, "dave"), "  ")
    with pytest.raises(NotFound):
        Inventory(rt.store).retire("00D09E-NOPE-1", actor(rt, "dave"), "gone")
    with rt.store.read() as sess:
        assert repo.get_device(sess, victim.id).status == "active"
