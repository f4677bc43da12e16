"""The job end to end on the seeded fleet: the planner drafts as the automation actor, policy
auto-approves catalogue actions within limits (applied and verified), routes the rest to the
approvers' queue, denies management-plane changes (escalated; a person can adopt); a failing fix
trips the problem's breaker; offline devices wait; redelivered work never proposes twice."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from brain.plan import Plan
from core.kernel.models import ActorKind, Change, ProposalDraft, ProposalState
from core.store import repo
from core.store.schema import DeviceRow, PolicyDecisionRow
from core.users import get_actor
from gateward.seed import twin_for
from tests.remediation.conftest import Clock, case_of, conditions, make_service

S = ProposalState


def _decision(rt: Any, pid: str) -> dict[str, Any]:
    with rt.store.read() as s:
        rec = repo.latest_decision(s, pid)
        assert rec is not None
        return dict(rec.result)


def _value(rt: Any, device_id: str, path: str) -> Any:
    with rt.store.read() as s:
        d = repo.get_device(s, device_id)
    return rt.router.reader(d).read(d, [path])[path].value


def test_catalogue_fixes_apply_unattended_and_mgmt_is_escalated(rt: Any, svc: Any, clock: Clock) -> None:
    cond = conditions()
    svc.detect()
    rep = svc.drain(timeout_s=60)
    assert rep.drained
    for condition, problem in (("dfs_radar", "dfs_radar"), ("wifi_congestion", "wifi_congestion"),
                               ("dns_lost_after_fw_bug", "dns_lost"), ("poor_24_coverage", "poor_coverage")):
        dev = cond[condition][0]
        c = case_of(svc, dev, problem)
        assert c["status"] == "applied", (problem, c["resolution"])
        p = rt.lifecycle.get(c["proposal_ids"][0])
        assert p.state is S.DONE and p.author == "remediator" and p.author_kind is ActorKind.JOB
        assert p.action_type and p.source == "remediation"
        d = _decision(rt, p.id)
        assert d["allow"] and d["approvals_required"] == [], d
        assert any(e.kind == "detector" for e in p.evidence)
    dns_dev = cond["dns_lost_after_fw_bug"][0]
    assert _value(rt, dns_dev, "Device.DNS.Client.Server.1.DNSServer") == "192.0.2.53"
    # the inform interval is management plane: automation may never change it → escalated, not applied
    inform = case_of(svc, cond["periodic_inform_misconfigured"][0], "inform_interval_drift")
    assert inform["status"] == "escalated" and "management-plane" in inform["resolution"]
    assert rt.lifecycle.get(inform["proposal_ids"][0]).state is S.DENIED
    # applied cases close once the confirm window passes without the problem coming back
    clock.advance(hours=2)
    assert svc.tick().confirmed == 4
    assert case_of(svc, dns_dev, "dns_lost")["status"] == "closed"


def test_escalated_mgmt_case_adopted_by_a_person_goes_to_a_senior_approver(rt: Any, svc: Any) -> None:
    dev = conditions()["periodic_inform_misconfigured"][0]
    svc.detect(problems=["inform_interval_drift"])
    svc.drain(timeout_s=30)
    c = case_of(svc, dev, "inform_interval_drift")
    assert c["status"] == "escalated"
    adopted = svc.adopt(c["id"], get_actor(rt.store, "dave"))
    assert adopted["status"] == "proposed"
    pid = adopted["proposal_ids"][0]
    p = rt.lifecycle.get(pid)
    assert p.author == "dave" and p.state is S.AWAITING_APPROVAL
    assert {a["role"] for a in _decision(rt, pid)["approvals_required"]} >= {"senior_approver"}
    rt.lifecycle.approve(pid, get_actor(rt.store, "carol"))
    while rt.lifecycle.get(pid).state is S.AWAITING_APPROVAL:
        rt.lifecycle.approve(pid, get_actor(rt.store, "bob"))
    rep = svc.drain(timeout_s=30)  # the tick sees the approval and the job applies it
    assert rep.units == 1
    assert rt.lifecycle.get(pid).state is S.DONE
    assert case_of(svc, dev, "inform_interval_drift")["status"] == "applied"
    assert int(_value(rt, dev, "Device.ManagementServer.PeriodicInformInterval")) == 3600


def _planner_with(draft_for: Any) -> Any:
    def planner(rt: Any, device: Any, trigger: str, actor: Any) -> Plan:
        d = draft_for(device)
        return Plan(outcome="change", text=d.intent, finding=trigger, draft=d)
    return planner


def test_outside_catalogue_limits_waits_for_an_approver_then_applies(rt: Any, clock: Clock) -> None:
    """A parameter outside the catalogue action it names: automation may propose it, an approver decides."""
    dev = conditions()["poor_24_coverage"][0]
    svc = make_service(rt, clock)
    svc.planner = _planner_with(lambda d: ProposalDraft(
        intent="set 2.4 GHz power", targets=[d.id], action_type="wifi.channel_change", source="remediation",
        changes=[Change(path="Device.WiFi.Radio.1.TransmitPower", value=25)]))
    svc.detect(problems=["poor_coverage"])
    svc.drain(timeout_s=30)
    c = case_of(svc, dev, "poor_coverage")
    pid = c["proposal_ids"][0]
    assert c["status"] == "proposed", c["resolution"]
    assert rt.lifecycle.get(pid).state is S.AWAITING_APPROVAL
    d = _decision(rt, pid)
    assert any("catalogue" in a["reason"] for a in d["approvals_required"]), d
    rt.lifecycle.approve(pid, get_actor(rt.store, "bob"))
    svc.drain(timeout_s=30)
    assert case_of(svc, dev, "poor_coverage")["status"] == "applied"
    assert int(_value(rt, dev, "Device.WiFi.Radio.1.TransmitPower")) == 25


def test_rejected_proposal_escalates_the_case(rt: Any, clock: Clock) -> None:
    dev = conditions()["poor_24_coverage"][0]
    svc = make_service(rt, clock)
    svc.planner = _planner_with(lambda d: ProposalDraft(
        intent="lower power", targets=[d.id], action_type="wifi.channel_change", source="remediation",
        changes=[Change(path="Device.WiFi.Radio.1.TransmitPower", value=25)]))
    svc.detect(problems=["poor_coverage"])
    svc.drain(timeout_s=30)
    pid = case_of(svc, dev, "poor_coverage")["proposal_ids"][0]
    rt.lifecycle.reject(pid, get_actor(rt.store, "bob"), "not in winter")
    svc.tick()
    c = case_of(svc, dev, "poor_coverage")
    assert c["status"] == "escalated" and "not in winter" in c["resolution"]


def test_failing_fix_trips_the_breaker_and_other_problems_continue(rt: Any, clock: Clock) -> None:
    """Every channel change faults: the problem halts after its first proposals, its remaining cases
    stay open (nothing lost), DNS fixes still run; resume starts the count over."""
    svc = make_service(rt, clock, breaker={"failure_threshold": 0.2, "min_executed": 1},
                       ramp={"initial_batch": 1, "max_batch": 25, "factor": 2.0})
    cond = conditions()
    twin = twin_for(rt)
    radar, congested = cond["dfs_radar"][0], cond["wifi_congestion"][0]
    for dev in (radar, congested):
        twin.inject(dev, "fault_on_set", code=9002)
    svc.detect()
    svc.drain(timeout_s=60)
    st = {p["problem"]: p for p in svc.status()["problems"]}
    halted = [p for p, v in st.items() if v["state"] == "halted"]
    assert halted and set(halted) <= {"dfs_radar", "wifi_congestion"}
    assert case_of(svc, cond["dns_lost_after_fw_bug"][0], "dns_lost")["status"] == "applied"
    failed = [case_of(svc, d, p) for d, p in ((radar, "dfs_radar"), (congested, "wifi_congestion"))]
    assert any(c["status"] == "escalated" and ("rolled_back" in (c["resolution"] or "") or
                                               "failed" in (c["resolution"] or "")) for c in failed)
    from core.store.schema import AuditEventRow

    with rt.store.read() as s:
        assert s.scalar(select(AuditEventRow.seq).where(AuditEventRow.action == "alarm.remediation_halted"))
    problem = halted[0]
    resumed = svc.set_problem(problem, "running", get_actor(rt.store, "bob"))
    assert resumed["state"] == "running" and resumed["executed"] == 0


def test_offline_device_waits_and_escalates_after_the_last_attempt(rt: Any, clock: Clock) -> None:
    svc = make_service(rt, clock, retry={"offline_delay_s": 60, "max_attempts": 2})
    dev = conditions()["dns_lost_after_fw_bug"][0]
    twin_for(rt).inject(dev, "offline")
    svc.detect(problems=["dns_lost"])
    svc.drain(timeout_s=30)
    c = case_of(svc, dev, "dns_lost")
    assert c["status"] == "open" and c["attempts"] == 1 and c["not_before"] and not c["proposal_ids"]
    assert svc.ready_count() == 0  # not due yet: drain stops instead of spinning
    clock.advance(seconds=61)
    svc.drain(timeout_s=30)
    c = case_of(svc, dev, "dns_lost")
    assert c["status"] == "escalated" and "gave up after 2 attempts" in c["resolution"]


def test_redelivered_unit_follows_its_proposal_and_never_proposes_twice(rt: Any, svc: Any) -> None:
    dev = conditions()["dns_lost_after_fw_bug"][0]
    svc.detect(problems=["dns_lost"])
    tick = svc.tick()
    ((uid, _cases),) = tick.units
    # a worker created and decided the proposal, then died before applying it
    real_settle = svc.runner._settle
    svc.runner._settle = lambda cases, proposals, rep: None
    svc.run_unit(uid)
    svc.runner._settle = real_settle
    c = case_of(svc, dev, "dns_lost")
    assert c["status"] == "dispatched" and len(c["proposal_ids"]) == 1
    pid = c["proposal_ids"][0]
    assert rt.lifecycle.get(pid).state is S.APPROVED
    svc.run_unit(uid)  # redelivery
    c = case_of(svc, dev, "dns_lost")
    assert c["proposal_ids"] == [pid] and c["status"] == "applied"
    assert rt.lifecycle.get(pid).state is S.DONE
    with rt.store.read() as s:
        n = len(list(s.scalars(select(PolicyDecisionRow).where(PolicyDecisionRow.proposal_id == pid))))
    assert n == 1


def test_device_removed_from_inventory_closes_its_case(rt: Any, svc: Any) -> None:
    dev = conditions()["dns_lost_after_fw_bug"][0]
    svc.detect(problems=["dns_lost"])
    with rt.store.write() as s:
        s.query(DeviceRow).filter(DeviceRow.id == dev).delete()
    svc.drain(timeout_s=30)
    c = case_of(svc, dev, "dns_lost")
    assert c["status"] == "closed" and "no longer in the inventory" in c["resolution"]


def test_an_idle_tick_is_one_read_and_a_case_makes_the_next_one_act(rt: Any, svc: Any) -> None:
    """With no case in a status a round acts on (applied, dispatched, proposed, open) the
    watchdog's round reads the status index once and writes nothing; once detection opens cases,
    the next round dispatches them as before."""
    from sqlalchemy import event

    seen: list[str] = []

    def record(_conn: Any, _cur: Any, statement: str, *_: Any) -> None:
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK", "SET", "SAVEPOINT", "RELEASE")):
            seen.append(statement)

    event.listen(rt.store.engine, "before_cursor_execute", record)
    try:
        idle = svc.tick(depth=False)
    finally:
        event.remove(rt.store.engine, "before_cursor_execute", record)
    assert (idle.units, idle.confirmed, idle.recovered, idle.requeued, idle.depth) == ([], 0, 0, 0, {})
    assert len(seen) == 1 and seen[0].lstrip().upper().startswith("SELECT"), seen
    assert svc.tick().depth == {}  # the report still counts the queue when asked (nothing yet)
    svc.detect()
    busy = svc.tick(depth=False)
    assert busy.units and busy.dispatched > 0
