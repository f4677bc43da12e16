"""The decision input's ``context.live_proposals`` (precedence) after the self-join it comes from
was made a prepared statement (issue 15): same proposals, same shared devices, terminal ones left
out, and the same answer on every call and every database."""

from __future__ import annotations

from typing import Any

from core.kernel.models import Change, ProposalDraft
from core.store import repo
from core.users import get_actor


def _sim_devices(rt: Any, n: int) -> list[str]:
    with rt.store.read() as s:
        devices, _ = repo.list_devices(s, limit=200)
    return [d.id for d in devices if d.adapter == "sim"][:n]


def _propose(rt: Any, targets: list[str], channel: str) -> Any:
    draft = ProposalDraft(intent="overlap", targets=targets, rationale="test",
                          changes=[Change(path="Device.WiFi.Radio.2.Channel", value=channel)])
    return rt.lifecycle.create(draft, get_actor(rt.store, "alice"))


def test_live_proposals_name_each_overlap_with_only_the_shared_devices(runtime: Any) -> None:
    a, b, c = _sim_devices(runtime, 3)
    first = _propose(runtime, [a, b], "36")
    second = _propose(runtime, [b, c], "40")
    unrelated = _propose(runtime, [c], "44")
    doc = runtime.lifecycle.policy_input(first.id)
    live = {lp["id"]: lp for lp in doc["context"]["live_proposals"]}
    assert set(live) == {second.id}  # `unrelated` shares no device with `first`
    assert live[second.id]["targets"] == [b]
    assert live[second.id]["changes"] == [{"path": "Device.WiFi.Radio.2.Channel", "value": 40}]  # coerced to its type
    # the prepared statement gives the same answer again, and for another proposal
    assert runtime.lifecycle.policy_input(first.id)["context"]["live_proposals"] == doc["context"]["live_proposals"]
    third = {lp["id"]: sorted(lp["targets"]) for lp in runtime.lifecycle.policy_input(second.id)["context"]
             ["live_proposals"]}
    assert third == {first.id: [b], unrelated.id: [c]}


def test_a_terminal_proposal_is_not_live(runtime: Any) -> None:
    a, b = _sim_devices(runtime, 2)
    first = _propose(runtime, [a], "36")
    second = _propose(runtime, [a, b], "40")
    runtime.lifecycle.cancel(second.id, get_actor(runtime.store, "alice"), "not needed")
    assert runtime.lifecycle.policy_input(first.id)["context"]["live_proposals"] == []


def test_a_fleet_proposal_finds_its_overlaps_from_the_other_side_alike(runtime: Any) -> None:
    """Above 1,000 targets the overlap is found from the live proposals' devices instead of the
    proposal's own (a million probes took seconds): both ways give the same pairs, terminal
    proposals and the proposal itself left out."""
    a, b, c = _sim_devices(runtime, 3)
    first = _propose(runtime, [a, b, c], "36")
    second = _propose(runtime, [b, c], "40")
    done = _propose(runtime, [a], "44")
    runtime.lifecycle.cancel(done.id, get_actor(runtime.store, "alice"))
    with runtime.store.read() as s:
        small = repo.live_overlapping(s, first.id, 3)
        large = repo.live_overlapping(s, first.id, 5000)
    as_pairs = [sorted((p.id, tuple(sorted(shared))) for p, shared in found) for found in (small, large)]
    assert as_pairs[0] == as_pairs[1] == [(second.id, (b, c))]
