"""Reader round eight (issue 57): what the customer does not want, said after "and", and German "wenn" read once.

Every phrasing here is this file's own; each was seen read wrongly before the fix (the guards against over-reach
passed before, as they should)."""

from __future__ import annotations

from typing import Any

import pytest

from brain.understanding import clauses
from brain.understanding.offline import Context, understand
from tests.brain.conftest import run_turn
from tests.brain.test_nothing_dropped import BERLIN, NOW


def _read(text: str) -> Any:
    return understand(text, Context(now=NOW, zone=BERLIN)).request


def _chat(svc: Any, device: Any, actor: Any, text: str) -> list[Any]:
    """One agent turn in a new thread on a healthy gateway: the events the chat sent back."""
    alice = actor("alice")
    return run_turn(svc, svc.start(device("healthy", 4), alice), text, alice)


# ---------------------------------------------------------------------------- "… and she doesn't want X changed"
@pytest.mark.parametrize(("text", "action", "value"), [
    ("move it to channel 11 and she does not want the password changed", "channel", 11),
    ("channel 1 on the 2.4 please and he doesn't want the wifi name touched", "channel", 1),
    ("restart the box and the customer doesn't want the network renamed", "reboot", None),
    ("reboot it and they don't want the password reset", "reboot", None),
    ("stell das 2,4er auf Kanal 11 und sie will nicht, dass das WLAN umbenannt wird", "channel", 11),
    ("starte ihn neu und der Kunde möchte nicht, dass das Passwort geändert wird", "reboot", None),
    ("passe le 2,4 sur le canal 11 et il ne veut pas qu'on touche au mot de passe", "channel", 11),
    ("redémarre la box et la cliente ne veut plus qu'on renomme son wifi", "reboot", None),
    ("cambia el 2,4 al canal 11 y no quiere que le cambies el nombre a la red", "channel", 11),
    ("reinicia el router y el cliente no quiere que toques la contraseña", "reboot", None)])
def test_what_is_not_wanted_after_and_leaves_the_request_before_it(text: str, action: str, value: Any) -> None:
    """Each was one "negation" clause — nothing drafted ("Noted — nothing to draft") — or, where the not-wanted part
    named a setting, that setting drafted in place of the one asked (a rename, a passphrase with no value)."""
    r = _read(text)
    assert (r.act, r.action, r.values.get("value")) == ("change", action, value), r


@pytest.mark.parametrize("text", ["set channel 6 and she doesn't want the password changed",
                                  "pon el canal 6 y no quiere que cambies la contraseña"])
def test_the_not_wanted_part_is_a_clause_of_its_own(text: str) -> None:
    parts = clauses.split_clauses(text)
    assert len(parts) == 2 and "6" in parts[0] and "6" not in parts[1], parts
    assert clauses.act_of(parts[1]) == "negation"


@pytest.mark.parametrize("text", ["don't change the password, she doesn't want that",
                                  "she doesn't want the password changed", "no quiere que cambies la contraseña",
                                  "elle ne veut pas qu'on change le mot de passe",
                                  "die Kundin will nicht, dass ihr Passwort geändert wird"])
def test_what_is_not_wanted_alone_drafts_nothing(text: str) -> None:
    """The French and German ones drafted a passphrase change (and asked for the new passphrase): "ne veut pas" and
    "will nicht, | dass …" were a want, so a request."""
    r = _read(text)
    assert r.act != "change" and r.action is None, r


@pytest.mark.parametrize("text", ["reboot it and change the password to something new",
                                  "set channel 6 and she wants the password changed too"])
def test_a_request_after_and_is_still_a_request(text: str) -> None:
    """Not every "and …" after a request is ruled out: a want or an imperative after it is a second request."""
    parts = clauses.split_clauses(text)
    assert all(clauses.act_of(p) != "negation" for p in parts), parts


def test_through_the_chat_the_channel_is_drafted_and_the_password_is_not(svc: Any, device: Any, actor: Any) -> None:
    events = _chat(svc, device, actor, "put the 2.4 GHz radio on channel 11 and she does not want the password changed")
    drafts = [e for e in events if e.kind == "proposal"]
    assert len(drafts) == 1, [(e.kind, e.text) for e in events]
    changes = drafts[0].data["changes"]
    assert [c["value"] for c in changes] == [11] and all("Channel" in c["path"] for c in changes), changes


# ---------------------------------------------------------------------------- German "wenn": if and when, read once
@pytest.mark.parametrize(("text", "fact"), [
    ("wenn keiner verbunden ist, starte ihn neu", "hosts_connected"),
    ("wenn niemand mehr online ist, bitte neu starten", "hosts_connected"),
    ("wenn kein Gerät verbunden ist, den Router neu starten", "hosts_connected")])
def test_a_german_wenn_read_as_a_condition_is_not_asked_about_as_a_time(text: str, fact: str) -> None:
    """Each was read as the condition and, the same words, as a time the reader could not place: the agent was asked
    for a clock time the condition already answers (it is checked before the write)."""
    r = _read(text)
    assert (r.act, r.action) == ("change", "reboot"), r
    assert [c.fact for c in r.conditions] == [fact], r
    assert not [u for u in r.unplaced if u.kind == "time"], r.unplaced


@pytest.mark.parametrize("text", ["wenn sie schlafen, starte ihn neu", "when nobody's at home, restart it"])
def test_a_time_no_condition_reads_is_still_asked_about(text: str) -> None:
    r = _read(text)
    assert r.action == "reboot" and [u for u in r.unplaced if u.kind == "time"], r


# ---------------------------------------------------------------------------- conditions dropped or misread
@pytest.mark.parametrize(("text", "fact", "expect", "value"), [
    ("stell das 2,4er auf 11, es sei denn, ein Nachbar funkt da schon", "neighbour_on_channel", "empty", 11),
    ("es sei denn, Kanal 6 ist schon belegt, dann stell das 2,4er auf 6", "neighbour_on_channel", "empty", 6),
    ("reboot it if it's been up for 45 min", "uptime", "gt", 45 * 60),
    ("starte ihn neu, wenn er seit 3 Std läuft", "uptime", "gt", 3 * 3600)])
def test_the_condition_said_is_the_condition_checked(text: str, fact: str, expect: str, value: Any) -> None:
    """The first two went ahead with no condition at all ("es sei denn," closed at its own comma); the last two were
    gated on the gateway being online, not on how long it has been up ("45 min" was no length)."""
    r = _read(text)
    assert r.act == "change" and [(c.fact, c.expect, c.value) for c in r.conditions] == [(fact, expect, value)], r


def test_through_the_chat_a_time_that_cannot_be_placed_drafts_nothing(svc: Any, device: Any, actor: Any) -> None:
    """"reboot it between 1 and 3" drafted a reboot with no time: on "apply" it would have run at once."""
    events = _chat(svc, device, actor, "reboot it between 1 and 3")
    assert not [e for e in events if e.kind == "proposal"], [(e.kind, e.text) for e in events]
    assert [e for e in events if e.kind == "question"], [(e.kind, e.text) for e in events]


def test_through_the_chat_one_am_is_the_reboots_time(svc: Any, device: Any, actor: Any, rt: Any) -> None:
    from core import localtime
    from core.store import repo

    dev = device("healthy", 4)
    alice = actor("alice")
    tid = svc.start(dev, alice)
    drafts = [e for e in run_turn(svc, tid, "reboot it tonight at one am", alice) if e.kind == "proposal"]
    assert len(drafts) == 1, drafts
    p = rt.lifecycle.get(drafts[0].data["proposal_id"])
    assert p.not_before is not None
    with rt.store.read() as s:
        region = repo.get_device(s, dev).region
    assert localtime.local(p.not_before, region).strftime("%H:%M") == "01:00", p.not_before


# ---------------------------------------------------------------------------- the customer's devices restarted
@pytest.mark.parametrize(("text", "named"), [
    ("reboot the kids' devices", "the kids' devices"), ("restart her phone", "her phone"),
    ("starte das Tablet neu", "das Tablet"), ("redémarre sa tablette", "sa tablette"),
    ("reinicia el móvil", "el móvil"), ("reboot her device", "her device"),
    ("bitte das Tablet neu starten", "das Tablet")])
def test_restarting_the_customers_own_device_is_no_gateway_reboot(text: str, named: str) -> None:
    """"reboot the kids' devices" drafted a reboot of the gateway — a write nobody asked for."""
    r = _read(text)
    assert r.action is None and r.act != "change", r
    assert [u.words for u in r.unplaced if u.kind == "request"] == [named], r.unplaced


@pytest.mark.parametrize("text", ["reboot it, her phone drops", "reboot the router, the kids' tablets keep dropping",
                                  "please reboot the box for the tv", "starte ihn neu, das Tablet hängt",
                                  "redémarre la box, sa tablette ne capte plus", "reboot the device",
                                  "starte das Gerät neu", "redémarre l'appareil", "reinicia el dispositivo",
                                  "her laptop drops every hour, reboot please", "reboot the router for her laptop",
                                  "bitte den Router neu starten, das Tablet hängt",
                                  "die Kundin kann das Gerät nicht ausstecken, bitte starte es aus der Ferne neu"])
def test_a_device_named_as_the_reason_leaves_the_gateway_reboot(text: str) -> None:
    r = _read(text)
    assert (r.act, r.action) == ("change", "reboot"), r


def test_through_the_chat_the_kids_devices_draft_nothing(svc: Any, device: Any, actor: Any) -> None:
    events = _chat(svc, device, actor, "reboot the kids' devices")
    assert not [e for e in events if e.kind == "proposal"], [(e.kind, e.text) for e in events]


# ---------------------------------------------------------------------------- this gateway, and others named
@pytest.mark.parametrize("text", ["reboot just this one, the other CGW-3400s are fine", "reboot only this gateway",
                                  "restart just this router, the other ONT-G240Ws are fine"])
def test_just_this_one_is_this_gateway(text: str) -> None:
    """"… the other CGW-3400s are fine" made the request one for every CGW-3400 (the chat then declined it)."""
    r = _read(text)
    assert (r.act, r.action, r.scope.kind) == ("change", "reboot", "this_device"), r


@pytest.mark.parametrize("text", ["reboot this one and the neighbour's", "restart hers and her mother's"])
def test_another_gateway_said_elliptically_is_named_back(text: str) -> None:
    """"… and the neighbour's" was dropped without a word: only this gateway was drafted."""
    r = _read(text)
    assert [u for u in r.unplaced if "neighbour" in u.words or "mother" in u.words], r.unplaced


# ---------------------------------------------------------------------------- a power changed by an amount
@pytest.mark.parametrize("text", ["reduce the power by 25%", "senk die Leistung um 25 Prozent",
                                  "baisse la puissance de 30 %", "reduce la potencia en un 25%"])
def test_a_power_changed_by_an_amount_is_no_level(text: str) -> None:
    """"reduce the power by 25%" drafted the power *at* 25 % — from full power, a quarter of what was asked."""
    r = _read(text)
    assert r.action == "power" and r.values.get("value") is None, r


@pytest.mark.parametrize(("text", "value"), [("lower the power to 50%, that's down by 25%", 50),
                                             ("baisse la puissance à 50 %", 50), ("set power at 50%", 50)])
def test_the_level_said_beside_an_amount_is_the_value(text: str, value: int) -> None:
    assert _read(text).values.get("value") == value


def test_through_the_chat_an_amount_is_asked_about(svc: Any, device: Any, actor: Any) -> None:
    events = _chat(svc, device, actor, "reduce the 2.4 GHz power by 25%")
    assert not [e for e in events if e.kind == "proposal"] and [e for e in events if e.kind == "question"], [
        (e.kind, e.text) for e in events]


# ---------------------------------------------------------------------------- a switch for a while
@pytest.mark.parametrize(("text", "words"), [
    ("turn off the wifi for an hour", "for an hour"), ("turn the 5 GHz off until tomorrow", "until tomorrow"),
    ("switch the guest wifi off for the night", "for the night"), ("disable the 2.4 for 30 minutes", "for 30 minutes"),
    ("mach das WLAN für eine Stunde aus", "für eine Stunde"), ("apaga el wifi hasta mañana", "hasta mañana"),
    ("coupe le wifi pour la nuit", "pour la nuit")])
def test_a_switch_for_a_while_is_asked_about(text: str, words: str) -> None:
    """Each was drafted as a plain switch-off: the wifi would have stayed off — nothing switches it back."""
    r = _read(text)
    assert words in [u.words for u in r.unplaced if u.kind == "time"], r.unplaced


@pytest.mark.parametrize("text", ["turn off the wifi", "turn the guest wifi on for the visitors",
                                  "turn the 5 GHz off tonight at 23:00", "set the DHCP lease to 8 hours",
                                  "turn the 2.4 off and back on tomorrow at 8"])
def test_no_while_no_question(text: str) -> None:
    r = _read(text)
    assert r.act == "change" and not [u for u in r.unplaced if u.kind == "time"], r.unplaced


def test_through_the_chat_a_switch_for_a_while_drafts_nothing(svc: Any, device: Any, actor: Any) -> None:
    events = _chat(svc, device, actor, "turn off the 2.4 GHz wifi for an hour")
    assert not [e for e in events if e.kind == "proposal"] and [e for e in events if e.kind == "question"], [
        (e.kind, e.text) for e in events]


# ---------------------------------------------------------------------------- "from X to Y"
@pytest.mark.parametrize(("text", "value"), [
    ("change the channel from 6 to 11", 11), ("stell den Kanal von 6 auf 11", 11), ("passe le canal de 6 à 11", 11),
    ("cambia el canal del 6 al 11", 11), ("move the 2.4 from channel 1 to 11", 11),
    ("set the width from 20 to 40", "40MHz"), ("lower the power from 100 to 50%", 50)])
def test_from_x_to_y_is_y(text: str, value: Any) -> None:
    """Every one of these drafted the value it comes *from* (the device's current one), never the one asked."""
    r = _read(text)
    assert (r.act, r.values.get("value")) == ("change", value) and not r.unplaced, r


def test_from_x_to_y_keeps_its_time_and_band() -> None:
    r = _read("put the 5 GHz from 36 to 44 tonight at 2")
    assert (r.action, r.values.get("value"), r.target.bands) == ("channel", 44, ["5GHz"]) and not r.unplaced, r
    assert r.schedule is not None and r.schedule.not_before.astimezone(BERLIN).hour == 2


@pytest.mark.parametrize(("text", "value"), [("pon la potencia del 2,4 al 40 %", 40),
                                             ("sube la potencia del 2,4 al 75 % esta noche", 75)])
def test_a_band_is_never_the_value_it_comes_from(text: str, value: int) -> None:
    r = _read(text)
    assert (r.action, r.values.get("value"), r.target.bands) == ("power", value, ["2.4GHz"]), r
