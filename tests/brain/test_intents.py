"""The intent step (issue 38): speech acts before any operation matcher, by structure.

Questions, negations and reports of what already works never reach the operation matchers; a
request in other words still does; several operations in one message are handled one at a time
with the rest named as deferred; an answer cites its facts and drafts nothing."""

from __future__ import annotations

from typing import Any

import pytest

from brain.understanding.clauses import heard, split_clauses, understand


@pytest.mark.parametrize(("text", "topics"), [
    ("when did the router last reboot?", ["uptime"]),
    ("what firmware is it on?", ["firmware"]),
    ("Welche Firmware-Version läuft auf der Box?", ["firmware"]),
    ("¿cuánto tiempo lleva encendido?", ["uptime"]),
    ("combien d'appareils sont connectés ?", ["hosts"]),
    ("is it on a DFS channel?", ["dfs"]),
    ("who changed the channel and why?", ["why_changed"]),
    ("is the box part of a campaign?", ["campaigns"]),
    ("what's their wifi password?", ["passphrase"]),
    ("Wie lautet das WLAN-Passwort?", ["passphrase"]),
])
def test_questions_are_answered_not_operated(text: str, topics: list[str]) -> None:
    h = heard(text)
    assert h.answers == topics and h.text == ""


@pytest.mark.parametrize("text", [
    "please don't reboot it",
    "no need to change anything",
    "auf keinen Fall neu starten",
    "bitte starte die Box nicht neu",
    "ne redémarre pas la box",
    "no lo reinicies por favor",
])
def test_negated_operations_are_never_requests(text: str) -> None:
    assert [c.act for c in understand(text).clauses] == ["negation"]
    assert heard(text).text == ""


@pytest.mark.parametrize(("text", "act"), [
    ("speedtest on cable is fine", "report"),
    ("le test de débit en filaire est bon", "report"),
    ("the wifi works again", "report"),
    # a negated "works" is a symptom, not a report
    ("nothing works at their place", "statement"),
    ("plus rien ne fonctionne", "statement"),
    ("no funciona nada", "statement"),
])
def test_reports_of_what_works(text: str, act: str) -> None:
    assert understand(text).clauses[0].act == act


def test_a_why_question_about_a_symptom_goes_to_the_diagnosis() -> None:
    h = heard("why does the wifi drop on channel 11 every evening?")
    assert h.answers == [] and "drop" in h.text


def test_a_modal_request_with_a_question_mark_is_a_request() -> None:
    assert understand("can you turn it off and on again remotely?").clauses[0].act == "request"
    assert understand("kannst du die Box aus- und wieder einschalten?").clauses[0].act == "request"


@pytest.mark.parametrize("text", [
    "can you turn it off and on again remotely?",
    "kannst du die Box einmal aus- und wieder einschalten?",
    "tu peux l'éteindre et la rallumer ?",
    "¿puedes apagarlo y volver a encenderlo?",
])
def test_off_and_on_again_is_a_reboot(text: str) -> None:
    from brain.understanding.actions import parse

    req = parse(heard(text).text)
    assert req is not None and req.action == "reboot"


def test_off_and_on_is_one_clause_but_and_then_splits() -> None:
    assert len(split_clauses("turn it off and on again")) == 1
    assert split_clauses("rename the wifi to 'A and B' and afterwards reboot it") == [
        "rename the wifi to 'A and B'", "reboot it"]


def test_two_operations_one_is_deferred_by_name() -> None:
    h = heard("rename the wifi to 'Casa-Lopez' and afterwards give the router a reboot")
    assert "Casa-Lopez" in h.text and "reboot" not in h.text
    assert h.deferred == ["a reboot of the gateway"]


def test_a_request_and_a_question_both_kept() -> None:
    h = heard("set the 2.4 GHz channel to 6 and tell me what firmware it runs")
    assert h.answers == ["firmware"] and "channel to 6" in h.text


def test_only_reports_and_negations_are_acknowledged() -> None:
    h = heard("all good now, the wifi works fine again, no need to reboot")
    assert h.acknowledged is not None and h.acknowledged.outcome == "answer" and h.text == ""


def test_a_secret_placeholder_stays_with_its_request() -> None:
    h = heard("new wifi pw they want is [secret:1] lol, can u set that")
    assert "[secret:1]" in h.text and "can u set that" in h.text


# ------------------------------------------------------------------ through the chat


def _turn(svc: Any, dev: str, who: Any, text: str) -> list[Any]:
    tid = svc.start(dev, who)
    return list(svc.send(tid, text, who))


def test_firmware_question_cites_the_parameter(svc: Any, world: Any, device: Any, actor: Any) -> None:
    dev = device("healthy", 3)
    world.set_params(dev, {"Device.DeviceInfo.SoftwareVersion": "8.8.8-t"})
    events = _turn(svc, dev, actor("alice"), "what firmware is it on, and when did it last reboot?")
    final = events[-1]
    assert final.kind == "answer" and "8.8.8-t" in final.text
    assert "Device.DeviceInfo.SoftwareVersion" in final.text and "Device.DeviceInfo.UpTime" in final.text
    facts = {f["source"]: f for f in final.data["facts"]}
    assert facts["Device.DeviceInfo.SoftwareVersion"]["value"] == "8.8.8-t"
    assert facts["Device.DeviceInfo.SoftwareVersion"]["read_at"]
    assert not [e for e in events if e.kind == "proposal"]


def test_reboot_question_drafts_no_reboot(svc: Any, world: Any, device: Any, actor: Any) -> None:
    dev = device("healthy", 4)
    world.set_params(dev, {"Device.DeviceInfo.UpTime": 5 * 3600})
    events = _turn(svc, dev, actor("bob"), "did it reboot overnight?")
    assert events[-1].kind == "answer" and "5 h" in events[-1].text
    assert not [e for e in events if e.kind == "proposal"]


def test_answer_with_request_drafts_the_request(svc: Any, rt: Any, world: Any, device: Any, actor: Any) -> None:
    dev = device("healthy", 5)
    world.set_params(dev, {"Device.DeviceInfo.SoftwareVersion": "6.1-q"})
    events = _turn(svc, dev, actor("bob"), "set the 2.4 GHz channel to 6 and tell me what firmware it runs")
    answered = [e for e in events if e.kind == "answer" and "6.1-q" in e.text]
    drafted = [e for e in events if e.kind == "proposal"]
    assert answered and drafted
    assert answered[0] is not events[-1]  # the answer comes first, the proposal after it


@pytest.mark.parametrize(("text", "ssid"), [
    ("call it Birch-House thanks!", "Birch-House"),
    ("the customer would like their network to be called 'Harbour-4A'", "Harbour-4A"),
    ("Der Kunde möchte sein WLAN in „Villa-Kunterbunt“ umbenennen.", "Villa-Kunterbunt"),
    # capitalised words to the clause's end are the name (round six: "Casa Rossi", "Maison Dupont" were asked in
    # quotes); a lowercase word after the first is unclear: asked again in quotes, never cut to "Blue"
    ("call it Blue House", "Blue House"),
    ("call it Blue house because it's blue", None),
    ("rename the wifi to Casa Rossi because the kids asked", None),
    ("renomme le wifi principal en Maison Dupont", "Maison Dupont"),
    ("que su wifi se llame Casa Lopez, por favor", "Casa Lopez"),
    ("call it A B C D E", None),  # at most four words unquoted
    ("pls rename their wifi to Oak-Street-9 asap, thx", "Oak-Street-9"),
])
def test_ssid_value_is_the_quoted_text_or_an_unquoted_name(text: str, ssid: str | None) -> None:
    from brain.playbooks import extract_ssid

    assert extract_ssid(text) == ssid


def test_a_bare_heading_introduces_the_request_after_it() -> None:
    h = heard("wifi password? make it [secret:1]")
    assert h.answers == [] and h.text == "wifi password? make it [secret:1]"
    assert heard("firmware?").answers == ["firmware"] and heard("firmware?").text == ""


def test_the_current_passphrase_is_never_read_back(svc: Any, device: Any, actor: Any) -> None:
    events = _turn(svc, device("healthy", 8), actor("alice"), "what's their wifi password?")
    assert events[-1].kind == "answer" and "********" in events[-1].text
    assert not [e for e in events if e.kind in ("proposal", "question")]


@pytest.mark.parametrize(("text", "read_only"), [
    ("is the 5 GHz band congested around them?", True),
    ("the 5 GHz Wi-Fi crawls all day here, what's going on?", True),  # a symptom told, then asked about
    ("Est-ce que les réseaux voisins brouillent son wifi 5 GHz ?", True),
    ("¿hay interferencias en su 5 GHz?", True),
    ("the wifi is slow, please fix", False),
    ("warum ist das WLAN so langsam? bitte beheben", False),  # asked, then requested
    ("pourquoi cette box est-elle lente ? merci de corriger", False),
    ("hay lag por la noche", False),  # Spanish asks only with ¿ or ?: this states
    ("reboot it?", False),  # an operation named: its own mood check decides, not the offer
])
def test_a_message_that_only_asks_offers_rather_than_drafts(text: str, read_only: bool) -> None:
    assert heard(text).read_only is read_only
