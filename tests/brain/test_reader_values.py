"""The offline reader says only what it is sure of (issue 57, deliverable 3): values in words, relative to
the device, corrected inside one message; places the inventory lacks asked about by name; never the
generic menu for words the agent wrote; the planning reads the typed request as data."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from brain.understanding import offline
from tests.brain.conftest import run_turn

CTX = offline.Context(now=datetime(2026, 11, 27, 14, tzinfo=UTC), zone=ZoneInfo("Europe/Berlin"))


def _read(text: str) -> Any:
    return offline.understand(text, CTX).request


@pytest.mark.parametrize(("text", "value"), [
    ("channel 40 on the 5 GHz... sorry, 48", 48),
    ("Kanal 1 auf 2,4 GHz, nein, lieber 11", 11),
    ("sur le 5 GHz, canal 100, enfin non, 36", 36),
    ("pon el canal 6 en el 2,4, perdón, el 1", 1),
])
def test_a_value_corrected_inside_the_message_is_the_later_one(text: str, value: int) -> None:
    req = _read(text)
    assert (req.action, req.values.get("value")) == ("channel", value), req
    assert not req.unplaced, req.unplaced


@pytest.mark.parametrize(("text", "value", "step"), [
    ("cut the 5 GHz transmit power to half", 50, None),
    ("Sendeleistung 2,4 GHz auf drei Viertel", 75, None),
    ("mets la puissance du 5 GHz au quart", 25, None),
    ("bring the 2.4 transmit power down a bit", None, -1),
    ("la potencia del 5 GHz, un poco más alta", None, 1),
    ("Sendeleistung vom 5er zwei Stufen runter", None, -2),
])
def test_power_in_words_or_relative_to_now(text: str, value: int | None, step: int | None) -> None:
    req = _read(text)
    assert req.action == "power", req
    assert (req.values.get("value"), req.values.get("step")) == (value, step), req.values


def test_a_step_is_resolved_against_the_radios_own_levels(rt: Any, world: Any, svc: Any, device: Any,
                                                          actor: Any) -> None:
    from brain.tools import radios_from_values
    from core.store import repo

    for i, dev in enumerate(world.conditions["healthy"]):
        with rt.store.read() as s:
            d = repo.get_device(s, dev)
        values = rt.router.reader(d).read(d, ["Device.WiFi.Radio."])
        radios = radios_from_values({p: {"value": v.value} for p, v in values.items()})
        five = next((r for r in radios if r.band == "5GHz"), None)
        levels = sorted(x for x in (five.tx_supported if five else []) if x > 0)
        if five is not None and five.tx_power in levels[1:]:
            dev = device("healthy", i)
            break
    else:
        pytest.skip("no gateway with a 5 GHz radio above its lowest level")
    alice = actor("alice")
    events = run_turn(svc, svc.start(dev, alice), "turn the 5 GHz transmit power down a notch", alice)
    props = [rt.lifecycle.get(e.data["proposal_id"]) for e in events if e.kind == "proposal"]
    assert props, [e.text for e in events if e.kind in ("answer", "question")]
    want = levels[levels.index(five.tx_power) - 1]
    assert [(c.path, c.value) for c in props[-1].changes] == [(f"Device.WiFi.Radio.{five.index}.TransmitPower", want)]


def test_the_plan_reads_the_typed_request_not_its_words(rt: Any, world: Any, device: Any, actor: Any) -> None:
    """What is planned is the request as data: a step and a band the message's words would not give
    again (a correction's amended request is rendered to words, which lose both)."""
    from brain import playbooks
    from brain.plan import Intent
    from brain.tools import ToolContext
    from brain.understanding.request import Request, Target
    from brain.untrusted import Pseudonymizer
    from core.store import repo

    dev = device("healthy", 0)
    with rt.store.read() as s:
        d = repo.get_device(s, dev)
    ctx = ToolContext(rt, d, actor("alice"), Pseudonymizer("t"))
    req = Request(act="change", action="power", values={"step": -1}, target=Target(bands=["5GHz"]))
    ev = playbooks.gather(ctx, Intent.REQUEST, lambda _r: None)
    f = playbooks.diagnose(ctx, Intent.REQUEST, ev, "set the transmit power", {}, request=req)
    assert f.kind == "explicit_request"
    assert (f.data["request"]["band"], f.data["request"]["step"]) == ("5GHz", -1)


@pytest.mark.parametrize(("message", "place"), [
    ("every CGW-3400 in Ireland should get channel 11 on the 2.4", "Ireland"),
    ("alle ONT-G240W in Österreich neu starten", "Österreich"),
])
def test_a_place_the_inventory_has_no_region_for_is_asked_about_by_name(
        rt: Any, svc: Any, device: Any, actor: Any, message: str, place: str) -> None:
    alice = actor("alice")
    events = run_turn(svc, svc.start(device("healthy", 1), alice), message, alice)
    assert not [e for e in events if e.kind == "proposal"]
    assert not [e for e in events if e.data.get("campaign_draft")], "a campaign over every region"
    last = [e for e in events if e.kind in ("question", "answer")][-1]
    assert last.kind == "question" and place in last.text, last.text


def test_words_nothing_places_are_named_back_never_the_generic_menu(svc: Any, device: Any, actor: Any) -> None:
    alice = actor("alice")
    events = run_turn(svc, svc.start(device("healthy", 2), alice), "the thing with the blinking lamp again", alice)
    said = " ".join(e.text for e in events if e.kind in ("question", "answer"))
    assert "not sure what the problem is" not in said
    assert "blinking lamp" in said, said
