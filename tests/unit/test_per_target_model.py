"""Per-target values in the proposal model: what the hash covers, and that ordinary proposals are
unchanged by their existence (same bytes, same hash as before ``Change.target`` was added)."""

from __future__ import annotations

import pytest

from core.kernel.errors import Invalid
from core.kernel.models import (
    MAX_CHANGES,
    Change,
    Evidence,
    Operation,
    Proposal,
    ProposalDraft,
    changes_for,
    check_draft,
    check_targeted,
)

CH = "Device.WiFi.Radio.{r}.Channel"


def _ordinary() -> Proposal:
    return Proposal(id="p-fixed", author="alice", intent="DFS radar", targets=["dev-b", "dev-a"],
                    changes=[Change(path=CH.format(r=2), value=36, type="unsignedInt"),
                             Change(path="Device.WiFi.Radio.2.AutoChannelEnable", value=False)],
                    operations=[Operation(command="reboot")], rationale="why",
                    evidence=[Evidence(kind="k", summary="s", data={"a": 1})])


def _joint(a: int = 1, b: int = 6) -> Proposal:
    return Proposal(id="p-joint", author="alice", intent="joint plan", targets=["home-a", "home-b"],
                    changes=[Change(path=CH.format(r=1), value=a, target="home-a"),
                             Change(path=CH.format(r=1), value=b, target="home-b")])


def test_an_ordinary_proposal_hashes_as_it_did_before_per_target_values() -> None:
    # Computed with the code before ``Change.target`` existed: approvals of old proposals stay valid.
    assert _ordinary().compute_hash() == "eabcbb42344a0200b6335bca1db184060cbbb893b89e52a8364094e475c95af8"
    dumped = _ordinary().model_dump(mode="json")["changes"]
    assert all("target" not in c for c in dumped) and Change(**dumped[0]) == _ordinary().changes[0]
    assert not _ordinary().per_target


def test_the_hash_covers_every_per_target_value() -> None:
    base = _joint().compute_hash()
    assert _joint(1, 11).compute_hash() != base  # one device's value changed
    assert _joint(6, 1).compute_hash() != base  # the same values, swapped between devices
    moved = _joint().model_copy(update={"changes": [c.model_copy(update={"target": None}) for c in _joint().changes]})
    assert moved.compute_hash() != base  # the per-target address itself is signed
    assert _joint().compute_hash() == base


def test_each_device_gets_the_common_changes_and_its_own() -> None:
    common = Change(path="Device.WiFi.Radio.1.AutoChannelEnable", value=False)
    changes = [common, *_joint().changes]
    assert changes_for(changes, "home-a") == [common, changes[1]]
    assert changes_for(changes, "home-b") == [common, changes[2]]
    assert changes_for(changes, "home-c") == [common]
    assert _joint().values_by_device() == {"home-a": [_joint().changes[0]], "home-b": [_joint().changes[1]]}


def test_per_target_changes_must_fit_the_targets() -> None:
    with pytest.raises(Invalid, match="'home-z', which is not a target"):
        check_targeted([Change(path=CH.format(r=1), value=1, target="home-z")], ["home-a"])
    with pytest.raises(Invalid, match="target 'home-b' has no value"):
        check_targeted([Change(path=CH.format(r=1), value=1, target="home-a")], ["home-a", "home-b"])
    check_targeted(_joint().changes, ["home-a", "home-b"])
    check_targeted([Change(path=CH.format(r=1), value=1)], ["anything"])  # ordinary: nothing to check
    with pytest.raises(ValueError, match="not a device id"):
        Change(path=CH.format(r=1), value=1, target=" ")


def test_the_change_limit_counts_what_one_device_gets() -> None:
    many = [Change(path=CH.format(r=1), value=6, target=f"home-{i}") for i in range(MAX_CHANGES + 50)]
    check_draft(ProposalDraft(intent="joint", targets=[f"home-{i}" for i in range(MAX_CHANGES + 50)], changes=many))
    too_many = [Change(path=f"Device.X.{i}.Y", value=1, target="home-0") for i in range(MAX_CHANGES + 1)]
    with pytest.raises(Invalid, match=f"at most {MAX_CHANGES} parameters"):
        check_draft(ProposalDraft(intent="one device", targets=["home-0"], changes=too_many))


def test_policy_statements_name_the_devices_they_are_about_and_only_those() -> None:
    from core.kernel.models import ApprovalRequirement, Decision, PolicyItem
    from core.policy_input import name_per_device

    window = PolicyItem(code="change.window", message="change: outside the change window for DE")
    dfs = PolicyItem(code="wifi.dfs_approval", message="DFS channel 100 on the 5GHz band in DE")
    power = PolicyItem(code="wifi.power", message="wifi: transmit power 100% is outside the limits")

    def decision(*deny: PolicyItem, approvals: tuple[PolicyItem, ...] = ()) -> Decision:
        return Decision(allow=not deny, deny=[i.message for i in deny], deny_items=list(deny),
                        approvals_required=[ApprovalRequirement(role="approver", reason="; ".join(
                            i.message for i in approvals), items=list(approvals))] if approvals else [])

    results = [(["home-a"], decision(window, power), ["dry: a"]),
               (["home-b", "home-c"], decision(window, approvals=(dfs,)), ["dry: a"]),
               (["home-d"], decision(window, power, approvals=(dfs,)), [])]
    decisions, would = name_per_device(results)
    # Said for every device: about the proposal, left as the rule said it.
    assert all(d.deny_items[0] == window and d.deny[0] == window.message for d in decisions)
    # Said for some: names exactly those devices, across groups, in text and in params.
    assert decisions[0].deny[1] == decisions[2].deny[1] == f"home-a, home-d: {power.message}"
    assert decisions[0].deny_items[1].params["devices"] == ["home-a", "home-d"]
    assert decisions[1].approvals_required[0].reason == f"home-b, home-c, home-d: {dfs.message}"
    assert would == [["home-a, home-b, home-c: dry: a"], ["home-a, home-b, home-c: dry: a"], []]
