"""A joint channel plan is ONE multi-device proposal with per-target values (issue 13, item 4).

Each home of a building gets its own channel under one hash, one policy decision and one approval;
preview, backup, write and verify run per device with that device's own values. These tests drive
the real lifecycle over the session's simulated fleet and read the twins back."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import delete, select

from brain import fleetplan
from brain.knowledge import policy_data
from core.kernel.errors import Conflict, Forbidden
from core.kernel.models import TERMINAL_STATES, Change, ProposalDraft, ProposalState
from core.store import repo
from core.store.schema import AuditEventRow, DeviceRow, ParameterSnapshotRow, ProposalRow
from tests.brain.conftest import _forget_history

S = ProposalState


def _buildings(rt: Any) -> list[tuple[str, str]]:
    """(building, one home) for every building of the fleet, the most homes first."""
    with rt.store.read() as s:
        rows = list(s.scalars(select(DeviceRow).where(DeviceRow.status == "active")))
    homes: dict[str, list[str]] = {}
    for r in rows:
        b = next((str(t).split(":", 1)[1] for t in (r.tags or []) if str(t).startswith("building:")), None)
        if b is not None:
            homes.setdefault(b, []).append(r.id)
    return [(b, sorted(ids)[0]) for b, ids in sorted(homes.items(), key=lambda kv: (-len(kv[1]), kv[0]))]


def _joint(rt: Any, band: fleetplan.Band) -> tuple[str, fleetplan.JointPlan]:
    """A building whose plan on ``band`` moves at least two homes, at least one pair of them adjacent,
    and where the band has a channel for every colour (no adjacent pair must share one)."""
    for _, home in _buildings(rt):
        with rt.store.read() as s:
            plan = fleetplan.joint_channel_plan(s, home, "building", band, policy_data(rt.policy))
        moving = {a.device_id for a in plan.moves}
        if (len(moving) >= 2 and any(a in moving and b in moving for a, b in plan.edges) and not plan.problems
                and plan.conflicts == 0):
            return home, plan
    pytest.fail(f"no building of the seeded fleet has two adjacent homes to move on {band}")
    raise AssertionError  # unreachable


@pytest.fixture
def restored(world: Any, rt: Any) -> Iterator[Callable[[list[str]], None]]:
    """``keep(ids)``: these homes' twins, stored snapshots and history are put back after the test,
    and any proposal left open on them is cancelled (the session's world is shared)."""
    from core.kernel.models import utcnow
    from core.users import get_actor

    taken: dict[str, Any] = {}
    started = utcnow()

    def keep(ids: list[str]) -> None:
        for d in ids:
            taken.setdefault(d, world.snapshot(d))

    yield keep
    with rt.store.read() as s:
        live = repo.live_proposals_touching(s, list(taken), exclude="")
    for p in live:
        if p.state not in TERMINAL_STATES:
            rt.lifecycle.cancel(p.id, get_actor(rt.store, p.author), reason="test cleanup")
    for d, snap in taken.items():
        world.restore(d, snap)
    with rt.store.write() as s:  # the applied values merged into the stored snapshots: forget them
        s.execute(delete(ParameterSnapshotRow).where(ParameterSnapshotRow.device_id.in_(list(taken)),
                                                     ParameterSnapshotRow.taken_at >= started))
    _forget_history(rt, list(taken), started)


def _submit_joint(rt: Any, home: str, text: str, who: Any) -> Any:
    with rt.store.read() as s:
        device = repo.get_device(s, home)
    return fleetplan.submit_joint_plan(rt, device, text, who)


def _approve_all(rt: Any, pid: str, author: str) -> Any:
    """Approve as each role policy asked for (never the author), as distinct people."""
    from core.users import get_actor

    p = rt.lifecycle.get(pid)
    for name in ("carol", "bob"):
        if p.state is not S.AWAITING_APPROVAL or name == author:
            continue
        try:
            p = rt.lifecycle.approve(pid, get_actor(rt.store, name), "reviewed", expected_hash=p.hash)
        except Forbidden:  # this person cannot fill an outstanding role; the next may
            continue
    return p


def test_a_joint_plan_is_one_proposal_with_each_homes_own_channel(rt: Any, actor: Any, restored: Any) -> None:
    home, plan = _joint(rt, "5GHz")
    restored(plan.homes)
    alice = actor("alice")
    answer = _submit_joint(rt, home, "the 5 GHz wifi clashes all over the building", alice)
    submitted = answer.data["proposals"]
    assert len(submitted) == 1 and submitted[0]["proposal_id"], answer.text  # exactly ONE proposal
    p = rt.lifecycle.get(submitted[0]["proposal_id"])
    moving = {a.device_id: a.channel for a in plan.moves}
    assert sorted(p.targets) == sorted(moving) and p.per_target
    channels = {t: next(c.value for c in p.changes_for(t) if c.path.endswith(".Channel")) for t in p.targets}
    assert channels == moving and len(set(channels.values())) > 1  # per-device values differ
    assert all(channels[a] != channels[b] for a, b in plan.edges if a in channels and b in channels)
    assert all(any(c.path.endswith(".AutoChannelEnable") and c.value is False for c in p.changes_for(t))
               for t in p.targets)
    assert f"{len(moving)} device(s)" in p.intent and "conflict(s) resolved" in p.intent
    # The preview shows each device's own before → after, not one value for all.
    preview = rt.lifecycle.preview_of(p.id)
    after = {d["device_id"]: next(ln["after"] for ln in d["lines"] if ln["path"].endswith(".Channel"))
             for d in preview["devices"]}
    assert after == moving
    assert p.state in (S.APPROVED, S.AWAITING_APPROVAL), p.error


def test_a_joint_plan_carries_its_numbers_and_the_air_of_the_homes_it_moves(rt: Any, actor: Any,
                                                                             restored: Any) -> None:
    """The approver of a building plan sees the plan's numbers and the channel utilisation of the
    homes it moves — the ones leaving a channel an adjacent home shares first — not a bare list of
    channel writes (issue 39, evidence as the facts and the chart behind a change)."""
    from brain.charts import JOINT_CHARTS

    home, plan = _joint(rt, "5GHz")
    restored(plan.homes)
    answer = _submit_joint(rt, home, "the 5 GHz wifi clashes all over the building", actor("alice"))
    p = rt.lifecycle.get(answer.data["proposals"][0]["proposal_id"])
    (fact,) = [e for e in p.evidence if e.kind == "finding"]
    assert fact.data["homes"] == len(plan.homes) and fact.data["pairs that hear each other"] == len(plan.edges)
    assert fact.data["clashes resolved"] == plan.conflicts_resolved and fact.data["clashes left"] == plan.conflicts
    charts = [e for e in p.evidence if e.kind == "telemetry"]
    moves = {a.device_id: a for a in plan.moves}
    assert 1 <= len(charts) <= min(JOINT_CHARTS, len(moves))
    current = {a.device_id: a.current for a in plan.assignments}
    clashing = {x for a, b in plan.edges if current[a] is not None and current[a] == current[b] for x in (a, b)}
    charted = [next(d for d in moves if d in e.summary) for e in charts]
    for dev, e in zip(charted, charts, strict=True):
        ser = e.data["series"]
        assert ser["metric"] == "wifi.channel_utilization_pct" and ser["labels"] == {"radio": str(moves[dev].radio)}
        assert len(ser["points"]) >= 2 and ser["threshold"] is not None
        assert f"{moves[dev].current} → {moves[dev].channel}" in e.summary
    # homes leaving a shared channel come first
    flags = [d in clashing for d in charted]
    assert flags == sorted(flags, reverse=True)
    if clashing & set(moves):
        assert flags[0]


def test_approved_joint_plan_writes_each_devices_own_channel(rt: Any, actor: Any, restored: Any) -> None:
    home, plan = _joint(rt, "5GHz")
    restored(plan.homes)
    alice = actor("alice")
    pid = _submit_joint(rt, home, "the 5 GHz wifi clashes all over the building", alice).data["proposals"][0][
        "proposal_id"]
    p = _approve_all(rt, pid, alice.id)
    assert p.state is S.APPROVED, p.error
    outcome = rt.lifecycle.apply(pid, alice)
    assert outcome.proposal.state is S.DONE, outcome.proposal.error
    with rt.store.read() as s:
        devices = repo.get_devices(s, p.targets)
    for a in plan.moves:  # the twin holds each home's own channel, read back through the executor
        d = devices[a.device_id]
        path = f"Device.WiFi.Radio.{a.radio}.Channel"
        assert int(rt.router.reader(d).read(d, [path])[path].value) == a.channel, a.device_id
    with rt.store.read() as s:  # the audit names every device with the value it was given
        applied = {e.device_id: e.data for e in s.scalars(select(AuditEventRow).where(
            AuditEventRow.proposal_id == pid, AuditEventRow.action == "device.applied"))}
    assert {dev: data["values"][f"Device.WiFi.Radio.{a.radio}.Channel"]
            for a in plan.moves for dev, data in applied.items() if dev == a.device_id} == \
        {a.device_id: a.channel for a in plan.moves}


def test_tampering_with_one_per_target_value_after_approval_is_refused(rt: Any, actor: Any, restored: Any) -> None:
    home, plan = _joint(rt, "5GHz")
    restored(plan.homes)
    alice = actor("alice")
    pid = _submit_joint(rt, home, "the 5 GHz wifi clashes all over the building", alice).data["proposals"][0][
        "proposal_id"]
    p = _approve_all(rt, pid, alice.id)
    assert p.state is S.APPROVED, p.error
    victim = p.targets[-1]
    other = next(a.channel for a in plan.moves if a.device_id != victim)
    with rt.store.write() as s:  # one home's value swapped for its neighbour's, hash left as approved
        row = s.get(ProposalRow, pid)
        row.changes = [{**c, "value": other} if c.get("target") == victim and c["path"].endswith(".Channel") else c
                       for c in row.changes]
    with rt.store.read() as s:
        devices = repo.get_devices(s, p.targets)
    before = {t: rt.router.reader(devices[t]).read(devices[t], ["Device.WiFi.Radio."]) for t in p.targets}
    with pytest.raises(Conflict, match="no longer matches its hash"):
        rt.lifecycle.apply(pid, alice)
    after = {t: rt.router.reader(devices[t]).read(devices[t], ["Device.WiFi.Radio."]) for t in p.targets}
    assert {t: {k: v.value for k, v in vals.items()} for t, vals in after.items()} == \
        {t: {k: v.value for k, v in vals.items()} for t, vals in before.items()}


def _deny(rt: Any, pid: str) -> list[str]:
    with rt.store.read() as s:
        rec = repo.latest_decision(s, pid)
    assert rec is not None, f"{pid} has no policy decision"
    return list(rec.result["deny"])


def _powers(rt: Any, device_id: str) -> tuple[int, list[int]] | None:
    """The 2.4 GHz radio's index and the transmit powers it lists (``TransmitPowerSupported``)."""
    with rt.store.read() as s:
        d = repo.get_device(s, device_id)
    values = rt.router.reader(d).read(d, ["Device.WiFi.Radio."])
    r = next((int(p.split(".")[3]) for p, v in values.items()
              if p.endswith(".OperatingFrequencyBand") and v.value == "2.4GHz"), None)
    if r is None:
        return None
    listed = str(values[f"Device.WiFi.Radio.{r}.TransmitPowerSupported"].value)
    return r, [int(x) for x in listed.split(",") if x.strip().lstrip("-").isdigit()]


def test_a_denied_value_on_one_device_blocks_the_proposal_and_names_that_device(rt: Any, actor: Any,
                                                                                 restored: Any) -> None:
    # Two homes of a building, each with its own 2.4 GHz transmit power, each a value its radio lists
    # (so validation and preview pass): one inside the band's limit (policy data: 10..80 % on 2.4 GHz),
    # one above it. Only policy refuses, and it must say which device.
    limit = policy_data(rt.policy)["regulatory"]["transmit_power_pct"]
    low, high = limit["min"], limit["max"]["2.4GHz"]
    with rt.store.read() as s:
        rows = list(s.scalars(select(DeviceRow).where(DeviceRow.status == "active")))
    picked: list[tuple[str, int, int, int]] = []  # (home, radio, allowed power, denied power)
    for b, _ in _buildings(rt):
        for h in sorted(r.id for r in rows if f"building:{b}" in (r.tags or [])):
            found = _powers(rt, h)
            if found is None:
                continue
            ok = [x for x in found[1] if low <= x <= high]
            bad = [x for x in found[1] if x > high]
            if ok and bad:
                picked.append((h, found[0], ok[0], bad[0]))
        if len(picked) >= 2:
            break
        picked = []
    if len(picked) < 2:
        pytest.fail("no building of the seeded fleet has two radios that list both an allowed and a too-high power")
    (ok_home, r_ok, ok_power, _), (bad_home, r_bad, ok2, bad_power) = picked[:2]
    restored([ok_home, bad_home])
    draft = ProposalDraft(intent="per-home transmit power", targets=[ok_home, bad_home], changes=[
        Change(path=f"Device.WiFi.Radio.{r_ok}.TransmitPower", value=ok_power, target=ok_home),
        Change(path=f"Device.WiFi.Radio.{r_bad}.TransmitPower", value=bad_power, target=bad_home)])
    p = rt.lifecycle.submit(draft, actor("alice"))
    assert p.state is S.DENIED, (p.state, p.error)
    deny = _deny(rt, p.id)
    power = [m for m in deny if "transmit power" in m]
    assert power and all(m.startswith(f"{bad_home}: ") for m in power) and not any(ok_home in m for m in deny)
    # The same two devices with an allowed power each: nothing is denied for power.
    draft.changes[1] = Change(path=f"Device.WiFi.Radio.{r_bad}.TransmitPower", value=ok2, target=bad_home)
    q = rt.lifecycle.submit(draft, actor("alice"))
    assert q.state is not S.INVALID, q.error
    assert not [m for m in _deny(rt, q.id) if "transmit power" in m]
