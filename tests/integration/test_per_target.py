"""Per-target values through the whole lifecycle (issue 13, item 4): one proposal in which each
device gets its own value — validated against that device, previewed as that device's own
before → after, backed up, written, verified and rolled back per device with its own values."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from core.kernel.errors import Invalid
from core.kernel.models import Change, ProposalDraft, ProposalState
from core.store.schema import BackupRow, ProposalRow
from tests.integration.test_lifecycle import ACE, CH, read, twin, who
from tests.integration.test_staged import _cwmp_tr181

S = ProposalState
NON_DFS = (36, 40, 44, 48, 149, 153, 157, 161)


def _radio_and_choices(rt: Any, d: Any) -> tuple[int, int, list[int]]:
    """(5 GHz radio index, current channel, non-DFS channels it lists other than the current)."""
    values = rt.router.reader(d).read(d, ["Device.WiFi.Radio."])
    r = next((int(p.split(".")[3]) for p, v in values.items()
              if p.endswith(".OperatingFrequencyBand") and v.value == "5GHz"), None)
    if r is None:
        pytest.fail(f"{d.id} has no 5 GHz radio; the seeded TR-181 devices must have one")
    current = int(values[CH.format(r=r)].value)
    listed = {int(x) for x in str(values[f"Device.WiFi.Radio.{r}.PossibleChannels"].value).split(",")
              if x.strip().isdigit()}
    return r, current, [c for c in NON_DFS if c in listed and c != current]


def _plan(rt: Any, n: int = 2) -> tuple[list[Any], dict[str, tuple[int, int, int]]]:
    """``n`` devices, each with (radio, current channel, its own new channel), new channels distinct."""
    devs = _cwmp_tr181(rt, n)
    out: dict[str, tuple[int, int, int]] = {}
    taken: set[int] = set()
    for d in devs:
        r, current, choices = _radio_and_choices(rt, d)
        free = [c for c in choices if c not in taken]
        if not free:
            pytest.fail(f"{d.id} lists no non-DFS channel not already taken by another target ({sorted(taken)})")
        out[d.id] = (r, current, free[0])
        taken.add(free[0])
    return devs, out


def _draft(devs: list[Any], plan: dict[str, tuple[int, int, int]], **kw: Any) -> ProposalDraft:
    changes: list[Change] = []
    for d in devs:
        r, _, channel = plan[d.id]
        changes += [Change(path=ACE.format(r=r), value=False, target=d.id),
                    Change(path=CH.format(r=r), value=channel, target=d.id)]
    return ProposalDraft(intent="each home its own channel", targets=[d.id for d in devs], changes=changes,
                         rationale="joint plan", **kw)


def _approved(rt: Any, draft: ProposalDraft) -> Any:
    p = rt.lifecycle.submit(draft, who(rt, "alice"))
    for approver in ("carol", "bob"):
        if p.state is S.AWAITING_APPROVAL:
            p = rt.lifecycle.approve(p.id, who(rt, approver), expected_hash=p.hash)
    assert p.state is S.APPROVED, p.error
    return p


def test_each_device_gets_its_own_value_and_rolls_back_to_its_own(runtime: Any) -> None:
    devs, plan = _plan(runtime, 3)
    p = _approved(runtime, _draft(devs, plan))
    preview = runtime.lifecycle.preview_of(p.id)
    assert {dp["device_id"]: {ln["path"]: (ln["before"], ln["after"]) for ln in dp["lines"]}[CH.format(r=plan[dp[
        "device_id"]][0])] for dp in preview["devices"]} == {t: (cur, new) for t, (_, cur, new) in plan.items()}
    out = runtime.lifecycle.apply(p.id, who(runtime, "alice"))
    assert out.proposal.state is S.DONE, out.proposal.error
    for d in devs:
        assert read(runtime, d, CH.format(r=plan[d.id][0])) == plan[d.id][2]
    with runtime.store.read() as s:  # each backup holds that device's own before, nothing else
        backups = {b.device_id: b.params for b in s.scalars(select(BackupRow).where(BackupRow.proposal_id == p.id))}
    assert {t: backups[t][CH.format(r=r)]["value"] for t, (r, _, _) in plan.items()} == \
        {t: cur for t, (_, cur, _) in plan.items()}
    assert all(set(backups[t]) == {CH.format(r=r), ACE.format(r=r)} for t, (r, _, _) in plan.items())
    back = runtime.lifecycle.rollback(p.id, who(runtime, "bob"), "customer complaint")
    assert back.proposal.state is S.ROLLED_BACK, back.proposal.error
    for d in devs:
        assert read(runtime, d, CH.format(r=plan[d.id][0])) == plan[d.id][1]


def test_a_staged_per_target_proposal_writes_each_devices_own_value(runtime: Any) -> None:
    devs, plan = _plan(runtime, 2)
    p = _approved(runtime, _draft(devs, plan, staged=True))
    out = runtime.lifecycle.apply_batch(p.id, [d.id for d in devs], who(runtime, "remediator"))
    assert sorted(out.verified) == sorted(d.id for d in devs), out.failed
    for d in devs:
        assert read(runtime, d, CH.format(r=plan[d.id][0])) == plan[d.id][2]


def test_a_value_one_device_cannot_take_is_invalid_naming_that_device(runtime: Any) -> None:
    devs, plan = _plan(runtime, 2)
    good, bad = devs
    before = {d.id: twin(runtime).params(d.id) for d in devs}
    draft = _draft(devs, plan)
    r_bad = plan[bad.id][0]
    draft.changes[3] = Change(path=CH.format(r=r_bad), value=300, target=bad.id)  # no 5 GHz channel 300
    p = runtime.lifecycle.submit(draft, who(runtime, "alice"))
    assert p.state is S.INVALID and p.error is not None
    assert p.error.startswith(f"{bad.id}: ") and good.id not in p.error
    assert {d.id: twin(runtime).params(d.id) for d in devs} == before


def test_per_target_values_must_fit_the_targets(runtime: Any) -> None:
    devs, plan = _plan(runtime, 2)
    stray = _draft(devs[:1], plan)
    stray.changes.append(Change(path=CH.format(r=plan[devs[1].id][0]), value=36, target=devs[1].id))
    with pytest.raises(Invalid, match=f"for '{devs[1].id}', which is not a target"):
        runtime.lifecycle.create(stray, who(runtime, "alice"))
    bare = _draft(devs[:1], plan)
    bare.targets.append(devs[1].id)  # a target with no value of its own and no common change
    with pytest.raises(Invalid, match=f"target '{devs[1].id}' has no value"):
        runtime.lifecycle.create(bare, who(runtime, "alice"))
    # A common change beside per-target ones reaches every target; each keeps its own channel too.
    mixed = _draft(devs, plan)
    mixed.changes.append(Change(path="Device.WiFi.AccessPoint.1.SSIDAdvertisementEnabled", value=True))
    p = runtime.lifecycle.create(mixed, who(runtime, "alice"))
    for d in devs:
        paths = {c.path for c in p.changes_for(d.id)}
        assert paths == {CH.format(r=plan[d.id][0]), ACE.format(r=plan[d.id][0]),
                         "Device.WiFi.AccessPoint.1.SSIDAdvertisementEnabled"}
    with runtime.store.read() as s:  # stored with each value's device; the untargeted one without the key
        stored = s.get(ProposalRow, p.id).changes
    assert [c.get("target") for c in stored] == [c.target for c in mixed.changes]
    assert "target" not in stored[-1]
