"""Pure parts of campaigns: definition checks, ring planning, the gate, the rate limit, policy plans."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from campaigns import obligations
from campaigns import rate as ratelimit
from campaigns.analysis import RingStats, evaluate
from campaigns.planner import plan_rings, stratum_of
from campaigns.spec import Gate, KpiGate, Rate, parse_spec
from core.kernel.errors import Invalid
from core.kernel.models import Device

CHANGE = [{"path": "Device.WiFi.AccessPoint.1.SSIDAdvertisementEnabled", "value": False}]


def spec(**kw: object) -> dict[str, object]:
    return {"name": "t", "changes": CHANGE, **kw}


@pytest.mark.parametrize(("kw", "needle"), [
    ({"rings": [50, 10, 100]}, "rings must grow"),
    ({"rings": [10, 50, 90]}, "must reach 100%"),
    ({"canary_pct": 20, "rings": [10, 100]}, "rings must grow"),
    ({"rings": []}, "at least one cumulative percentage"),
    ({"rings": [10, 120]}, "within (0, 100]"),
    ({"gate": {"failure_threshold": 5}}, "0.02 means 2 %"),
    ({"gate": {"max_unreached": -0.1}}, "gate.max_unreached"),
    ({"control_pct": 10, "rings": [50, 95, 100]}, "control cohort"),
    ({"rate": {"initial_batch": 50, "max_batch": 10}}, "initial_batch"),
    ({"changes": []}, "nothing to roll out"),
    ({"bogus": 1}, "bogus"),
])
def test_bad_definitions_are_refused_with_the_field(kw: dict[str, object], needle: str) -> None:
    with pytest.raises(Invalid) as exc:
        parse_spec(spec(**kw))
    assert needle in exc.value.message


def test_firmware_becomes_one_download_operation() -> None:
    s = parse_spec(spec(changes=[], firmware={"url": "https://fw.example.net/x.bin", "version": "9.9"}))
    assert s.kind == "firmware"
    assert [o.command for o in s.all_operations()] == ["download"]
    assert s.all_operations()[0].args == {"url": "https://fw.example.net/x.bin", "version": "9.9"}


def _fleet(n_per: dict[tuple[str, str], int]) -> list[Device]:
    out = []
    for (model, fw), n in n_per.items():
        out += [Device(id=f"{model}-{fw}-{i}", vendor="V", model=model, firmware=fw) for i in range(n)]
    return out


def test_rings_add_up_and_every_class_is_in_the_canary() -> None:
    devices = _fleet({("A", "1"): 500, ("A", "2"): 40, ("B", "1"): 3, ("C", "7"): 1})
    plan = plan_rings("c-1", devices, [1, 10, 50, 100])
    assert sum(plan.sizes) == len(devices)
    assert sorted(p.device_id for p in plan.placements) == sorted(d.id for d in devices)
    assert set(plan.strata[0]) == {stratum_of(d) for d in devices}  # every class in the canary
    cum = 0
    for i, stage in enumerate(plan.stages):  # each ring takes (about) its share of the big class
        cum += plan.strata[i].get("A | 1", 0)
        assert abs(cum - 500 * stage / 100) <= 1
    # positions are dense within each ring, so batches can be cut by position
    for ring in range(4):
        pos = sorted(p.pos for p in plan.placements if p.ring == ring)
        assert pos == list(range(plan.sizes[ring]))


def test_plan_is_deterministic_and_control_waits_for_the_last_ring() -> None:
    devices = _fleet({("A", "1"): 200, ("B", "2"): 100})
    a = plan_rings("c-x", devices, [5, 50, 100], control_pct=4)
    b = plan_rings("c-x", list(reversed(devices)), [5, 50, 100], control_pct=4)
    assert [(p.device_id, p.ring) for p in a.placements] == [(p.device_id, p.ring) for p in b.placements]
    control = [p for p in a.placements if p.control]
    assert len(control) == a.control and 10 <= len(control) <= 14
    assert {p.ring for p in control} == {2}
    assert Counter(p.stratum for p in control)["A | 1"] >= 7  # stratified too
    other = plan_rings("c-y", devices, [5, 50, 100])
    assert [p.device_id for p in other.placements] != [p.device_id for p in a.placements]


def test_gate_waits_for_min_executed_then_fails_on_the_threshold() -> None:
    gate = Gate(failure_threshold=0.02, min_executed=50)
    few = RingStats(ring=1, size=1000, verified=10, failed=5)
    assert evaluate(few, gate, complete=False).outcome == "pending"  # 33 % but only 15 executed
    many = RingStats(ring=1, size=1000, verified=95, failed=5)
    v = evaluate(many, gate, complete=False)
    assert v.outcome == "fail" and "5.00%" in v.reasons[0]
    ok = RingStats(ring=1, size=1000, verified=99, failed=1)
    assert evaluate(ok, gate, complete=False).outcome == "pending"
    assert evaluate(RingStats(ring=1, size=100, verified=99, failed=1), gate, complete=True).outcome == "pass"


def test_gate_pauses_on_what_needs_a_person() -> None:
    gate = Gate(min_executed=50, max_unreached=0.1)
    assert evaluate(RingStats(ring=0, size=10, verified=9, rollback_failed=1), gate, complete=False).outcome == "pause"
    assert evaluate(RingStats(ring=0, size=10, verified=8, failed=2), gate, complete=True).outcome == "pause"
    vanished = evaluate(RingStats(ring=0, size=100, verified=80, unreached=20), gate, complete=True)
    assert vanished.outcome == "pause" and "unreachable" in vanished.reasons[0]


def test_gate_fails_on_re_registration_and_kpi_against_control() -> None:
    from campaigns.effects import KPIS, DeviceChange, tolerance_of
    from campaigns.estimator import estimate

    gate = Gate(min_reregistered=0.95, kpis=[KpiGate(metric="dns.failures", max_degradation=0.5, min_samples=5)])
    st = RingStats(ring=1, size=100, verified=100, reregistered=90, reregister_sampled=100)
    assert "re-registered" in evaluate(st, gate, complete=True).reasons[0]
    kpi = KPIS["dns.failures"]
    treated = {f"t{i}": DeviceChange(10.0 + i % 3, 40.0 + i % 5, 12, 12) for i in range(50)}
    control = {f"c{i}": DeviceChange(10.0 + i % 4, 11.0 + i % 3, 12, 12) for i in range(20)}
    eff = estimate(kpi, treated, control)
    tol = tolerance_of(kpi, eff, 0.5, 0.0)
    st = RingStats(ring=1, size=100, verified=100, kpis={"dns.failures": {
        **eff.as_dict(), "tolerance": tol, "judged": True, "harm": eff.harm(tol), "final": True, "gating": True}})
    v = evaluate(st, gate, complete=True)
    assert v.outcome == "fail" and "DNS failures" in v.reasons[0]
    assert f"worse by {eff.worse_by:.3g} per hour" in v.reasons[0]
    assert eff.worse_by is not None and 29 < eff.worse_by < 31  # every changed home ~30 more an hour
    st.kpis["dns.failures"]["harm"] = False
    assert evaluate(st, gate, complete=True).outcome == "pass"
    st.observing = "observing the KPIs until 12:00"
    assert evaluate(st, gate, complete=True).outcome == "pending"


def test_a_kpi_without_enough_data_when_its_observation_ends_waits_for_a_person_never_passes() -> None:
    """Argo's *inconclusive*: nothing measured is not a pass (issue 59: every ring passed on a fleet
    that reported no telemetry after the change)."""
    gate = Gate(kpis=[KpiGate(metric="dns.failures")])
    blank = {"title": "DNS failures", "text": "DNS failures: not enough data (0 changed vs 0 control device(s))",
             "judged": False, "harm": False, "final": True, "gating": True}
    st = RingStats(ring=0, size=10, verified=10, kpis={"dns.failures": blank})
    v = evaluate(st, gate, complete=True)
    assert v.outcome == "pause" and "inconclusive" in v.reasons[0] and "DNS failures" in v.reasons[0]
    st.kpis = {}  # the gate names the KPI, the ring measured none of it
    assert evaluate(st, gate, complete=True).outcome == "pause"
    # the last ring, measured against its own hours before, never gates: nothing to wait for
    st.kpis = {"dns.failures": {**blank, "gating": False}}
    assert evaluate(st, gate, complete=True).outcome == "pass"


def test_rate_limit_doubles_to_the_cap_and_resets_on_failure() -> None:
    r = Rate(initial_batch=10, max_batch=100, initial_window=1, max_window=8)
    lim = ratelimit.initial(r)
    seen = []
    for _ in range(6):
        lim = ratelimit.after_batch(r, lim, failed=0)
        seen.append((lim.batch_size, lim.window))
    assert seen[:3] == [(20, 2), (40, 4), (80, 8)] and seen[-1] == (100, 8)
    assert ratelimit.after_batch(r, lim, failed=1) == ratelimit.initial(r)


def test_policy_obligations_bound_the_plan() -> None:
    def stage(kind: str, pct: float) -> dict[str, Any]:
        return {"code": "obligation.stage", "message": f"{kind} {pct}", "params": {"kind": kind, "percent": pct}}

    plan = obligations.parse([stage("canary", 1), stage("ring", 10), stage("ring", 50), stage("ring", 100),
                              {"code": "obligation.halt", "params": {"failure_rate_pct": 1}},
                              {"code": "obligation.presence", "params": {}}])
    assert plan.stages == [1, 10, 50, 100] and plan.has_canary and plan.max_failure_rate == pytest.approx(0.01)
    assert obligations.violations(plan, [0.5, 5, 50, 100], 0.005) == []
    problems = obligations.violations(plan, [5, 100], 0.02)
    assert any("at least 4 rings" in p for p in problems)
    assert any("canary (ring 1) at 1 %" in p for p in problems)
    assert any("1.0 % failure rate" in p and "fails above 2.0 %" in p for p in problems)
    assert not any("_" in p or "gate." in p for p in problems), problems  # the form's words, never a field's name


def test_a_kpi_gate_needs_a_control_cohort_and_observe_zero_is_warned() -> None:
    from campaigns.spec import parse_spec
    from core.kernel.errors import Invalid

    base = {"name": "x", "changes": [{"path": "Device.WiFi.Radio.1.Channel", "value": 1}],
            "gate": {"kpis": [{"metric": "wifi.channel_utilization_pct"}]}}
    with pytest.raises(Invalid, match="control_pct"):
        parse_spec(base)
    ok = parse_spec({**base, "control_pct": 10})
    assert ok.gate.observe_s is None and ok.warnings() == []  # observed over each KPI's window
    zero = parse_spec({**base, "control_pct": 10, "gate": {**base["gate"], "observe_s": 0}})
    assert "judged at the drain" in zero.warnings()[0]
