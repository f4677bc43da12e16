"""A joint plan policy denies says which rule and what to do instead (issue 13, planner leftovers).

A support agent may change at most ``max_targets`` devices in one proposal (policies/data/
roles.json). A building plan moving more homes is denied; the planner must name the rule and the
ways forward the same policy allows — an approver submitting it, or a narrower plan — read from
the decision's deny code and parameters, and nothing may be applied."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from brain import denials, fleetplan
from brain.knowledge import policy_data
from core.kernel.models import PolicyItem
from core.store import repo
from core.store.schema import DeviceRow


def _limit(rt: Any, role: str) -> int:
    return int(policy_data(rt.policy)["roles"]["roles"][role]["max_targets"])


def _big_building(rt: Any, more_than: int) -> tuple[Any, list[fleetplan.JointPlan]]:
    """A home whose building plan (both bands) moves more than ``more_than`` homes."""
    with rt.store.read() as s:
        rows = list(s.scalars(select(DeviceRow).where(DeviceRow.status == "active")))
        for r in rows:
            if not any(str(t).startswith("building:") for t in (r.tags or [])):
                continue
            plans = [fleetplan.joint_channel_plan(s, r.id, "building", b, policy_data(rt.policy))
                     for b in ("2.4GHz", "5GHz")]
            d = fleetplan.joint_draft(plans)
            if d is not None and len(d.targets) > more_than:
                return repo.get_device(s, r.id), plans
    pytest.fail("no building of the seeded fleet moves that many homes")
    raise AssertionError  # unreachable


def _channels(rt: Any, ids: list[str]) -> dict[str, Any]:
    out = {}
    with rt.store.read() as s:
        devs = [repo.get_device(s, i) for i in ids]
    for d in devs:
        vals = rt.router.reader(d).read(d, ["Device.WiFi.Radio."])  # TR-098 devices answer through translation
        out[d.id] = sorted((p, v.value) for p, v in vals.items() if p.endswith("Channel"))
    return out


def test_too_many_homes_names_the_rule_and_the_ways_forward(rt: Any, actor: Any) -> None:
    limit = _limit(rt, "support_agent")
    device, plans = _big_building(rt, limit)
    targets = fleetplan.joint_draft(plans)
    assert targets is not None
    before = _channels(rt, targets.targets)
    assert all(before.values())  # every home's channels were read
    plan = fleetplan.submit_joint_plan(rt, device, "plan the wifi channels for the whole building", actor("alice"))
    assert plan.outcome == "answer" and plan.finding == "joint_plan_denied"
    assert denials.TOO_MANY in plan.text and f"at most {limit} devices" in plan.text
    assert f"moves {len(targets.targets)}" in plan.text
    assert "ask an approver" in plan.text and "Nothing was changed" in plan.text
    (out,) = plan.data["proposals"]
    assert out["state"] == "denied"
    assert _channels(rt, targets.targets) == before  # nothing applied anywhere


def test_the_suggested_role_may_submit_it(rt: Any, actor: Any) -> None:
    device, _ = _big_building(rt, _limit(rt, "support_agent"))
    plan = fleetplan.submit_joint_plan(rt, device, "plan the wifi channels for the whole building", actor("bob"))
    (out,) = plan.data["proposals"]
    assert out["state"] != "denied" and plan.finding == "joint_plan_submitted"
    rt.lifecycle.cancel(out["proposal_id"], actor("bob"), reason="test")


def _plan(band: fleetplan.Band, moves: int, clash: bool = False) -> fleetplan.JointPlan:
    homes = [f"h{i}" for i in range(moves + 1)]
    assignments = [fleetplan.Assignment(device_id=h, radio=1, current=1 if (clash and i < 2) else 1 + i,
                                        channel=1 + i + (100 if i < moves else 0), dfs=False, colour=i)
                   for i, h in enumerate(homes)]
    return fleetplan.JointPlan(scope="building", scope_id="b1", band=band, width_mhz=20, homes=homes,
                               edges=[("h0", "h1")], assignments=assignments, colours=len(homes))


def test_a_band_that_fits_is_offered_as_the_narrower_plan() -> None:
    item = PolicyItem(code=denials.TOO_MANY, message="m",
                      params={"roles": ["support_agent"], "max_targets": 5, "target_count": 9})
    roles = {"approver": {"may_propose": True, "max_targets": 500}}
    text = denials.explain([item], [_plan("2.4GHz", 3), _plan("5GHz", 6)], roles)
    assert text is not None
    assert "2.4GHz band only: that plan moves 3" in text and "5GHz band only" not in text
    assert "an approver (up to 500 devices)" in text


def test_without_a_fitting_band_the_clashing_homes_are_offered() -> None:
    item = PolicyItem(code=denials.TOO_MANY, message="m",
                      params={"roles": ["support_agent"], "max_targets": 5, "target_count": 12})
    text = denials.explain([item], [_plan("2.4GHz", 6, clash=True), _plan("5GHz", 6)], {})
    assert text is not None and "h0 2.4GHz" in text and "h1 2.4GHz" in text
    assert "ask an" not in text  # no role in the table may take it: none is suggested


def test_other_denials_are_left_to_policy_s_own_message() -> None:
    item = PolicyItem(code="window.closed", message="outside the change window", params={})
    assert denials.explain([item], [], {}) is None
