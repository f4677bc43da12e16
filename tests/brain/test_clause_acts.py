"""What one clause does (``clauses.act_of``) and what a question is about (``clauses.topics_of``), by the cases that
decide it: the survivors of a mutation run of both functions pointed here (docs/decisions/0031, sixth round).

Every phrasing is this file's own."""

from __future__ import annotations

import pytest

from brain.understanding import clauses
from brain.understanding.clauses import act_of, topics_of
from brain.understanding.offline import Context, understand
from tests.brain.test_nothing_dropped import BERLIN, NOW


# ---------------------------------------------------------------------------- a modal after a question word
@pytest.mark.parametrize(("clause", "act"), [
    # asking how someone could do it, without a question mark, is asking them to
    ("how could you sort out her wifi", "request"), ("what can you do about the drops", "request"),
    ("wie kannst du das bitte beheben", "request"), ("comment tu peux régler ça", "request"),
    ("cómo puedes arreglarlo", "request"),
    # what someone wants, asked about, is a question — no request for it
    ("what channel does the customer want", "question"), ("why does she want the 2.4 off", "question"),
    ("warum möchte der Kunde einen Neustart", "question"), ("pourquoi il veut couper le 2,4", "question"),
    ("por qué quiere el cliente otro canal", "question"),
    # a modal with no question word before it
    ("please restart it tonight", "request"), ("can you restart it tonight", "request"),
])
def test_a_modal_after_a_question_word(clause: str, act: str) -> None:
    assert act_of(clause) == act


# ---------------------------------------------------------------------------- questions without their marks
@pytest.mark.parametrize(("clause", "act"), [
    ("¿tiene clientes conectados", "question"), ("tiene clientes conectados", "statement"),
    ("¿hay cortes por la noche", "question"), ("hay cortes por la noche", "statement"),
    ("hay cortes por la noche?", "question"),
    ("do a quick reboot tonight", "statement"), ("do a quick reboot tonight?", "question"),
    ("do you see any clients", "question"),
    ("it is fine?", "heading"), ("is it stable", "question"), ("band 5 GHz?", "heading"),
    ("the 5 GHz radio sits on a DFS channel?", "question"),
])
def test_a_question_is_told_by_its_opening_and_its_mark(clause: str, act: str) -> None:
    assert act_of(clause) == act


# ---------------------------------------------------------------------------- reports, and reports of a fault
@pytest.mark.parametrize("clause", ["it works fine again", "the wifi is stable now", "es läuft wieder stabil",
                                    "ça marche à nouveau", "ya va bien"])
def test_it_works_is_a_report(clause: str) -> None:
    assert act_of(clause) == "report"


@pytest.mark.parametrize("clause", ["the wifi is not fine", "the 2.4 isn't stable at all", "her line is still not good",
                                    "it seems not ok to me", "ça marche pas", "ça ne marche plus chez elle",
                                    "la connexion ne fonctionne plus", "nothing is working fine"])
def test_a_fault_said_with_a_reports_words_is_no_report(clause: str) -> None:
    """"is not fine" was a report: "Noted — nothing to draft: you report that it works" for a fault."""
    assert act_of(clause) != "report"


@pytest.mark.parametrize("text", ["the wifi is not fine", "the 5 GHz is not stable since the update",
                                  "her connection is still not good"])
def test_a_fault_said_with_a_reports_words_is_diagnosed(text: str) -> None:
    r = understand(text, Context(now=NOW, zone=BERLIN)).request
    assert r.act == "diagnose", r


def test_a_report_of_what_works_is_acknowledged() -> None:
    heard = clauses.heard("it works fine again")
    assert heard.acknowledged is not None


# ---------------------------------------------------------------------------- topics: the detail folds into the whole
@pytest.mark.parametrize(("clause", "topics"), [
    ("why was the wifi name changed?", ["why_changed"]), ("why did the channel width change overnight?",
                                                         ["why_changed"]),
    ("who renamed the network and why?", ["why_changed"]), ("why was the password changed?", ["why_changed"]),
    ("who changed the wifi password?", ["changes"]), ("what was changed lately, and the password?", ["changes"]),
    ("wer hat das WLAN umbenannt?", ["changes"]), ("qui a renommé le réseau ?", ["changes"]),
    ("¿quién renombró la red?", ["changes"]),
    ("what's the wifi password?", ["passphrase"]),
    ("what channel width does it use?", ["width"]), ("welche Kanalbreite hat das 5er?", ["width"]),
    ("quelle est la largeur de canal du 5 ?", ["width"]), ("¿qué ancho de canal tiene?", ["width"]),
    ("what channel is it on and what width?", ["width", "channel"]),
])
def test_a_topic_that_details_another_folds_into_it(clause: str, topics: list[str]) -> None:
    assert topics_of(clause) == topics
