"""The chat tells the agent the truth and never acts on part of a message (issue 55: defects 2, 6, 9, 11, 13).

Driven through ``ChatService`` on the seeded simulated fleet; what was proposed is read from the lifecycle
and the devices, never taken from the planner's own words."""

from __future__ import annotations

from typing import Any

import pytest

from core.kernel.models import ProposalState
from tests.brain.conftest import kinds, radio_index, run_turn


def _proposals(rt: Any, events: list[Any]) -> list[Any]:
    return [rt.lifecycle.get(e.data["proposal_id"]) for e in events if e.kind == "proposal"]


def _replies(events: list[Any]) -> str:
    return " ".join(e.text for e in events if e.kind in ("answer", "question", "escalation", "notice", "outcome"))


def _healthy(world: Any, device: Any, want: Any) -> str:
    """The first healthy gateway ``want(device_row, radios)`` accepts (restored after the test)."""
    from core.store import repo
    from evals import checks

    for i, dev in enumerate(world.conditions["healthy"]):
        with world.runtime.store.read() as s:
            d = repo.get_device(s, dev)
        if want(d, checks.read_radios(world.runtime, d)):
            return str(device("healthy", i))
    pytest.skip("no such gateway in the seeded fleet")


def _tri_band(world: Any, device: Any) -> str:
    return _healthy(world, device, lambda d, radios: str(d.root) == "Device." and str(d.protocol) == "cwmp"
                    and any(r.band == "6GHz" for r in radios))


def _dual_band(world: Any, device: Any) -> str:
    return _healthy(world, device, lambda d, radios: str(d.root) == "Device." and str(d.protocol) == "cwmp"
                    and {r.band for r in radios} == {"2.4GHz", "5GHz"})


def _ssids(rt: Any, dev: str) -> dict[str, str]:
    from core.store import repo

    with rt.store.read() as s:
        d = repo.get_device(s, dev)
    values = rt.router.reader(d).read(d, ["Device.WiFi.SSID."])
    return {p: str(v.value) for p, v in values.items() if p.endswith(".SSID")}


# ---------------------------------------------------------------- 2: a question never supersedes a confirmed change
def test_a_question_after_a_confirmed_scheduled_change_leaves_it_and_says_when(
        rt: Any, world: Any, svc: Any, device: Any, actor: Any) -> None:
    dev = _dual_band(world, device)
    alice = actor("alice")
    tid = svc.start(dev, alice)
    first = run_turn(svc, tid, "put the 2.4 on channel 11 tonight at 2", alice)
    pid = _proposals(rt, first)[-1].id
    run_turn(svc, tid, "apply", alice)
    assert rt.lifecycle.get(pid).start_requested_by == "alice"
    events = run_turn(svc, tid, "and when is that actually going to run?", alice)
    assert rt.lifecycle.get(pid).state is ProposalState.APPROVED, _replies(events)
    assert "02:00" in _replies(events), _replies(events)
    assert "not sure what the problem is" not in _replies(events)


def test_a_correction_of_a_confirmed_change_is_asked_about_before_anything_is_withdrawn(
        rt: Any, world: Any, svc: Any, device: Any, actor: Any) -> None:
    dev = _dual_band(world, device)
    alice = actor("alice")
    tid = svc.start(dev, alice)
    pid = _proposals(rt, run_turn(svc, tid, "put the 2.4 on channel 11 tonight at 2", alice))[-1].id
    run_turn(svc, tid, "apply", alice)
    events = run_turn(svc, tid, "actually make it 4 am instead", alice)
    assert rt.lifecycle.get(pid).state is ProposalState.APPROVED, "a confirmed change was withdrawn unasked"
    assert kinds(events)[-1] == "question" and pid in _replies(events), _replies(events)
    events = run_turn(svc, tid, "yes", alice)
    assert rt.lifecycle.get(pid).state is ProposalState.CANCELLED
    new = _proposals(rt, events)
    assert new and new[-1].not_before is not None and new[-1].id != pid, _replies(events)


# ---------------------------------------------------------------- 9: a confirmation word is never the value
@pytest.mark.parametrize("word", ["apply", "ok go ahead", "yes do it", "vas-y"])
def test_a_confirmation_word_after_the_name_was_asked_for_is_never_the_name(
        rt: Any, world: Any, svc: Any, device: Any, actor: Any, word: str) -> None:
    dev = _dual_band(world, device)
    before = _ssids(rt, dev)
    alice = actor("alice")
    tid = svc.start(dev, alice)
    assert kinds(run_turn(svc, tid, "the customer wants the home wifi renamed", alice))[-1] == "question"
    events = run_turn(svc, tid, word, alice)
    assert _proposals(rt, events) == [], _replies(events)
    assert kinds(events)[-1] == "question"
    assert _ssids(rt, dev) == before


def test_both_bands_on_a_tri_band_gateway_are_2_4_and_5_ghz(
        rt: Any, world: Any, svc: Any, device: Any, actor: Any) -> None:
    dev = _tri_band(world, device)
    six = f"Device.WiFi.SSID.{radio_index(rt, dev, '6GHz')}.SSID"
    alice = actor("alice")
    tid = svc.start(dev, alice)
    events = run_turn(svc, tid, 'rename both bands to "Linden Court"', alice)
    p = _proposals(rt, events)
    assert p, _replies(events)
    changed = {c.path for c in p[-1].changes}
    assert six not in changed and len(changed) == 2, changed


# ---------------------------------------------------------------- 11: nothing dropped silently
def test_a_trailing_request_no_operation_places_is_named_and_nothing_drafted(
        rt: Any, world: Any, svc: Any, device: Any, actor: Any) -> None:
    dev = _dual_band(world, device)
    alice = actor("alice")
    tid = svc.start(dev, alice)
    events = run_turn(svc, tid, "Kanal 6 auf 2,4 GHz, und danach den Drucker aus dem Gastnetz werfen", alice)
    assert _proposals(rt, events) == [], _replies(events)
    assert "Drucker" in _replies(events)


def test_a_request_after_a_question_in_the_same_message_is_not_dropped(
        rt: Any, world: Any, svc: Any, device: Any, actor: Any) -> None:
    dev = _dual_band(world, device)
    alice = actor("alice")
    tid = svc.start(dev, alice)
    events = run_turn(svc, tid, "which channel is the 5 GHz on? and please move the 2.4 to channel 6", alice)
    p = _proposals(rt, events)
    assert p and any(c.path.endswith(f"Radio.{radio_index(rt, dev, '2.4GHz')}.Channel") and c.value == 6
                     for c in p[-1].changes), _replies(events)
    assert "channel" in " ".join(e.text for e in events if e.kind == "answer").lower()


def test_a_second_request_in_the_same_message_is_never_dropped_silently(
        rt: Any, world: Any, svc: Any, device: Any, actor: Any) -> None:
    dev = _dual_band(world, device)
    alice = actor("alice")
    tid = svc.start(dev, alice)
    events = run_turn(svc, tid, "pon el 2,4 en el canal 1 y el de 5 en el 44", alice)
    said = _replies(events) + " ".join(p.readback or "" for p in _proposals(rt, events))
    assert "44" in said, said


def test_a_question_about_other_gateways_is_not_answered_for_this_one(
        rt: Any, world: Any, svc: Any, device: Any, actor: Any) -> None:
    dev = _dual_band(world, device)
    alice = actor("alice")
    tid = svc.start(dev, alice)
    run_turn(svc, tid, "how long has it been up?", alice)
    events = run_turn(svc, tid, "and the other boxes on the same street, how long have they been up?", alice)
    text = _replies(events)
    assert "Up for" not in text, text
    assert _proposals(rt, events) == []
    # said as a question about the others — not refused as a change nobody asked for
    assert "only this gateway" in text and "change" not in text.lower(), text


# ---------------------------------------------------------------- 6: a street is never this gateway alone
@pytest.mark.parametrize("message", ["set DNS to 9.9.9.9 for every box on this street",
                                     "Für die ganze Straße die DNS-Server auf 9.9.9.9 stellen"])
def test_a_street_wide_dns_request_is_a_campaign_over_the_same_upstream_or_a_question(
        rt: Any, world: Any, svc: Any, device: Any, actor: Any, message: str) -> None:
    from core.store import repo

    dev = _dual_band(world, device)
    with rt.store.read() as s:
        d = repo.get_device(s, dev)
        behind = {x.id for x in repo.get_devices(s, [r for r in world.conditions["healthy"]]).values()
                  if x.upstream_id == d.upstream_id}
    alice = actor("alice")
    tid = svc.start(dev, alice)
    events = run_turn(svc, tid, message, alice)
    assert _proposals(rt, events) == [], _replies(events)
    drafted = [e.data["campaign_draft"] for e in events if e.data.get("campaign_draft")]
    if drafted:
        listed = set(drafted[-1]["target"]["devices"] or [])
        assert dev in listed and behind <= listed, drafted[-1]["target"]
        with rt.store.read() as s:
            assert {x.upstream_id for x in repo.get_devices(s, list(listed)).values()} == {d.upstream_id}
        assert drafted[-1]["changes"][0]["value"] == "9.9.9.9"
    else:
        assert kinds(events)[-1] == "question", _replies(events)


# ---------------------------------------------------------------- 13: read-backs in words
def test_read_backs_carry_no_internal_words() -> None:
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from brain.understanding import checker, offline

    ctx = offline.Context(now=datetime(2026, 11, 27, 14, tzinfo=UTC), zone=ZoneInfo("Europe/Berlin"))
    for text in ("set the 2.4 to channel 13, but only if no neighbour is on it", "switch the guest wifi on",
                 "turn the 5 GHz off", "reboot it if it has been up more than a week"):
        said = checker.readback(offline.understand(text, ctx).request)
        for internal in ("only only", "True", "False", "diagnose", "band_enable", "ssid_enable"):
            assert internal not in said, (text, said)


@pytest.mark.parametrize("text", ["just the 2.4 - keep your hands off the 5: channel 6",
                                  "nur das 2,4er, das 5er bleibt wie es ist: Kanal 6"])
def test_only_one_band_leaving_the_other_alone_is_that_band(text: str) -> None:
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from brain.understanding import offline

    ctx = offline.Context(now=datetime(2026, 11, 27, 14, tzinfo=UTC), zone=ZoneInfo("Europe/Berlin"))
    req = offline.understand(text, ctx).request
    assert (req.action, req.values.get("value"), req.target.bands) == ("channel", 6, ["2.4GHz"]), req
    assert not any("2.4" in x for x in req.exclusions), req.exclusions
    assert not req.unplaced, req.unplaced
