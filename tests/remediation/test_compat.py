"""The compatibility matrix from evidence: every execution outcome is counted per (vendor, model,
firmware, workflow) in the transaction that records it; the thresholds in policy data turn counts
into green / yellow / red; policy reads that status (a red reboot is refused, evidence can make a
yellow default green), identically on the per-device and the fleet (per-class SQL) paths."""

from __future__ import annotations

from typing import Any

import pytest

from core import compat
from core.kernel.models import Change, Operation, ProposalDraft, ProposalState
from core.store import repo
from core.users import get_actor
from gateward.seed import twin_for
from tests.remediation.conftest import conditions

S = ProposalState
SSID_HIDE = "Device.WiFi.AccessPoint.1.SSIDAdvertisementEnabled"


def _device(rt: Any, device_id: str) -> Any:
    with rt.store.read() as s:
        return repo.get_device(s, device_id)


def _counts(rt: Any, d: Any, workflow: str) -> tuple[int, int, int]:
    with rt.store.read() as s:
        row = compat.evidence_for(s, [(d.vendor, d.model, d.firmware)], [workflow]).get(
            (d.vendor, d.model, d.firmware, workflow))
    return (row.succeeded, row.failed, row.rollback_failed) if row is not None else (0, 0, 0)


def _change(rt: Any, device_id: str, value: bool, who: str = "dave") -> Any:
    actor = get_actor(rt.store, who)
    p = rt.lifecycle.submit(ProposalDraft(intent="hide ssid", targets=[device_id], emergency=False,
                                          changes=[Change(path=SSID_HIDE, value=value)]), actor)
    for name in ("carol", "bob"):
        if rt.lifecycle.get(p.id).state is S.AWAITING_APPROVAL:
            rt.lifecycle.approve(p.id, get_actor(rt.store, name))
    assert rt.lifecycle.get(p.id).state is S.APPROVED, rt.lifecycle.get(p.id).error
    return rt.lifecycle.apply(p.id, actor)


def test_outcomes_are_counted_per_class_and_workflow(rt: Any) -> None:
    ids = conditions()["healthy"]
    twin = twin_for(rt)
    d = _device(rt, ids[0])
    assert _counts(rt, d, "config") == (0, 0, 0)
    assert _change(rt, d.id, False).proposal.state is S.DONE
    assert _counts(rt, d, "config") == (1, 0, 0)
    twin.inject(d.id, "fault_on_set", code=9002)  # the Set faults: nothing changed, a failure
    assert _change(rt, d.id, True).proposal.state in (S.FAILED, S.ROLLED_BACK)
    assert _counts(rt, d, "config") == (1, 1, 0)
    twin.clear(d.id)
    twin.inject(d.id, "not_sticky", path=SSID_HIDE)  # reports success, reverts: verify fails, restored
    twin.inject(d.id, "fail_after_n_sets", n=1)  # …and the restore itself faults: rollback failure
    out = _change(rt, d.id, True)
    assert out.proposal.state is S.FAILED and out.alarms
    assert _counts(rt, d, "config") == (1, 2, 1)
    with rt.store.read() as s:
        rows = [r for r in compat.matrix(s, compat.policy_data(rt.policy)) if r["model"] == d.model
                and r["firmware"] == d.firmware and r["workflow"] == "config"]
    assert rows[0]["executions"] == 3 and rows[0]["evidence_status"] is None  # below min_executions
    assert rows[0]["last_error"]


def test_collateral_and_manual_rollbacks_are_not_failures(rt: Any) -> None:
    healthy = conditions()["healthy"]
    a, b = _device(rt, healthy[0]), _device(rt, healthy[1])
    same = a.model == b.model and a.firmware == b.firmware
    twin_for(rt).inject(b.id, "fault_on_set", code=9002)
    actor = get_actor(rt.store, "dave")
    p = rt.lifecycle.submit(ProposalDraft(intent="hide", targets=[a.id, b.id],
                                          changes=[Change(path=SSID_HIDE, value=False)]), actor)
    for name in ("carol", "bob"):
        if rt.lifecycle.get(p.id).state is S.AWAITING_APPROVAL:
            rt.lifecycle.approve(p.id, get_actor(rt.store, name))
    out = rt.lifecycle.apply(p.id, actor)
    assert out.proposal.state is S.ROLLED_BACK and a.id in out.rolled_back
    assert _counts(rt, b, "config")[1] == 1
    if not same:
        assert _counts(rt, a, "config") == (0, 0, 0)  # a was restored because b failed: not a's failure
    twin_for(rt).clear(b.id)
    c = _device(rt, healthy[2])
    assert _change(rt, c.id, False).proposal.state is S.DONE
    before = _counts(rt, c, "config")
    rt.lifecycle.rollback(_last_done(rt, c.id), get_actor(rt.store, "bob"), "customer asked")
    assert _counts(rt, c, "config") == before  # a person's rollback of a verified change is no failure


def _last_done(rt: Any, device_id: str) -> str:
    with rt.store.read() as s:
        ps = repo.list_proposals(s, states=["done"], limit=50)
    items = ps[0] if isinstance(ps, tuple) else ps
    return next(p.id for p in items if device_id in p.targets)


def test_status_transitions_follow_the_thresholds() -> None:
    t = compat.Thresholds(min_executions=20, yellow_failure_rate=0.02, red_failure_rate=0.10, red_rollback_failures=1)
    assert compat.status_of(19, 0, 0, t) is None  # not enough evidence: the static matrix decides
    assert compat.status_of(20, 0, 0, t) == "green"
    assert compat.status_of(49, 1, 0, t) == "yellow"  # 2 %
    assert compat.status_of(90, 10, 0, t) == "red"  # 10 %
    assert compat.status_of(500, 0, 1, t) == "red"  # a device that could not be restored
    data = compat.policy_data(None)
    assert compat.Thresholds.from_data(data) == t  # the shipped policy data


def test_evidence_walks_green_yellow_red_in_the_store(rt: Any) -> None:
    d = _device(rt, conditions()["healthy"][0])
    key = (d.vendor, d.model, d.firmware, "reboot")
    data = compat.policy_data(rt.policy)

    def status() -> str | None:
        with rt.store.read() as s:
            return compat.statuses_for(s, [d], ["reboot"], data)[d.id]

    assert status() is None
    with rt.store.write() as s:
        compat.record_many(s, [(key, (25, 0, 0), None)])
    assert status() == "green"
    with rt.store.write() as s:
        compat.record_many(s, [(key, (0, 1, 0), "9002")])
    assert status() == "yellow"
    with rt.store.write() as s:
        compat.record_many(s, [(key, (0, 3, 0), "9002")])
    assert status() == "red"


def _reboot(rt: Any, targets: list[str]) -> Any:
    actor = get_actor(rt.store, "remediator")
    return rt.lifecycle.submit(ProposalDraft(intent="reboot wedged gateways", targets=targets,
                                             operations=[Operation(command="reboot")], action_type="device.reboot",
                                             source="remediation"), actor)


def _set(rt: Any, d: Any, workflow: str, ok: int, bad: int) -> None:
    with rt.store.write() as s:
        compat.record_many(s, [((d.vendor, d.model, d.firmware, workflow), (ok, bad, 0), None)])


def test_policy_reads_the_evidence(rt: Any) -> None:
    ids = conditions()["healthy"]
    d = _device(rt, ids[0])
    # no evidence: the sim's vendors are not in the static matrix → default yellow → an approver
    p = _reboot(rt, [d.id])
    assert p.state is S.AWAITING_APPROVAL
    with rt.store.read() as s:
        rec = repo.latest_decision(s, p.id)
        assert rec is not None and rec.input["devices"][0]["compat"] is None
    rt.lifecycle.cancel(p.id, get_actor(rt.store, "remediator"))
    # enough clean reboots on this firmware: green → the catalogue reboot runs unattended
    _set(rt, d, "reboot", 30, 0)
    p = _reboot(rt, [d.id])
    assert p.state is S.APPROVED, p.error
    with rt.store.read() as s:
        rec = repo.latest_decision(s, p.id)
        assert rec is not None and rec.input["devices"][0]["compat"] == "green"
    rt.lifecycle.cancel(p.id, get_actor(rt.store, "remediator"))
    # reboots that fail: red → refused, whoever asks
    _set(rt, d, "reboot", 0, 10)
    p = _reboot(rt, [d.id])
    assert p.state is S.DENIED and "reboot is red" in (p.error or "")


@pytest.mark.parametrize("evidence", ["red", "green"])
def test_fleet_path_agrees_with_the_device_path(rt: Any, evidence: str) -> None:
    """``core.fleet_facts`` (per-class SQL, used above 1,000 targets) gives the same decision as the
    per-device input for the same proposal."""
    from core import fleet_facts
    from policies.classes import decide_fleet

    ids = conditions()["healthy"]
    devs = [_device(rt, i) for i in ids]
    for d in devs:
        _set(rt, d, "reboot", 30, 10 if evidence == "red" else 0)
    p = _reboot(rt, [d.id for d in devs])
    doc = rt.lifecycle.policy_input(p.id)
    assert {f["compat"] for f in doc["devices"]} == {evidence}
    by_device = decide_fleet(rt.policy, doc).decision
    with rt.store.read() as s:
        row = repo.get_proposal_row(s, p.id)
        # no live sample: every device goes through the SQL classes, as a fleet (snapshot) preview
        # that covered every target would send them
        fleet_preview = {**(row.preview or {}), "devices": [], "source": "snapshot", "uncovered": 0,
                         "classes": [{"count": len(devs)}]}
        out = fleet_facts.decide_by_class(s, repo.proposal_from_row(row), rt.policy,
                                          get_actor(rt.store, "remediator"), fleet_preview, now=rt.lifecycle.clock())
    assert out.decision.allow == by_device.allow
    assert sorted(out.decision.deny) == sorted(by_device.deny)
    assert {f["compat"] for f in out.stored_input["devices"]} == {evidence}


def test_staged_batches_count_too(rt: Any) -> None:
    """Campaign batches (``Lifecycle.apply_batch``) record evidence in their own transaction."""
    ids = conditions()["healthy"][:4]
    actor = get_actor(rt.store, "dave")
    p = rt.lifecycle.create(ProposalDraft(intent="hide ssid", targets=ids, staged=True, emergency=True,
                                          changes=[Change(path=SSID_HIDE, value=False)]), actor)
    rt.lifecycle.validate(p.id, actor)
    rt.lifecycle.preview(p.id, actor)
    rt.lifecycle.decide(p.id, actor)
    for name in ("carol", "bob"):
        if rt.lifecycle.get(p.id).state is S.AWAITING_APPROVAL:
            rt.lifecycle.approve(p.id, get_actor(rt.store, name))
    twin_for(rt).inject(ids[1], "fault_on_set", code=9002)
    devs = [_device(rt, i) for i in ids]
    before = {(d.vendor, d.model, d.firmware): 0 for d in devs}
    out = rt.lifecycle.apply_batch(p.id, ids, get_actor(rt.store, "remediator"))
    assert len(out.verified) == 3 and ids[1] in out.failed
    totals: dict[tuple[str, str, str], int] = dict(before)
    for d in devs:
        ok, bad, _ = _counts(rt, d, "config")
        totals[(d.vendor, d.model, d.firmware)] = ok + bad
    assert sum(totals.values()) == 4
