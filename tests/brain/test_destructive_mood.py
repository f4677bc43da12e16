"""A factory reset or a reboot is drafted only from an explicit request in the present (issue 34
item 15): a reset that already happened, a hypothetical, a question about whether one would help
and a negation are answered, never drafted. Phrasings written fresh for this test (English,
German, French, Spanish, casual), independently of ``brain/understanding/actions.py``; before the fix 19 of
the 22 non-requests below parsed as a factory reset or reboot request (only the two negations and
"was rebooted" did not), and the chat drafted a factory reset from all three of the last test."""

from __future__ import annotations

from typing import Any

import pytest

from brain.understanding.actions import parse
from tests.brain.conftest import run_turn

NOT_REQUESTS = [
    "customer did a factory reset last week and now nothing works",
    "wurde gestern auf Werkseinstellungen zurückgesetzt, seitdem geht gar nichts",
    "do you think a factory reset would help?",
    "she factory reset the router on Sunday and the wifi has been flaky ever since",
    "the technician already reset it to factory settings this morning",
    "would a factory reset fix this?",
    "should we factory reset it?",
    "is a factory reset worth trying here?",
    "don't factory reset it, the customer has custom port forwards",
    "lol they factory reset it themselves and now its dead",
    "maybe a factory reset?",
    "Der Kunde hat den Router letzte Woche auf Werkseinstellungen zurückgesetzt",
    "Würde ein Werksreset was bringen?",
    "Sollen wir das Gerät auf Werkseinstellungen zurücksetzen?",
    "bitte NICHT auf Werkseinstellungen zurücksetzen",
    "le client a déjà fait une réinitialisation usine hier",
    "¿serviría un reseteo de fábrica?",
    "el cliente restableció el router a valores de fábrica ayer",
    "the router was rebooted by the customer an hour ago",
    "would a reboot help?",
    "should I restart it?",
    "do you think restarting the box would fix it?",
]
REQUESTS = [
    ("factory reset the gateway please", "factory_reset"),
    ("can you factory reset it?", "factory_reset"),
    ("please reset the router to factory settings", "factory_reset"),
    ("go ahead and factory reset it, the customer agreed", "factory_reset"),
    ("Bitte den Router auf Werkseinstellungen zurücksetzen", "factory_reset"),
    ("kannst du die Box auf Werkszustand zurücksetzen?", "factory_reset"),
    ("the customer wants a factory reset", "factory_reset"),
    ("reboot the gateway", "reboot"),
    ("can you restart it please", "reboot"),
]


@pytest.mark.parametrize("text", NOT_REQUESTS)
def test_a_past_hypothetical_or_negated_reset_is_not_a_request(text: str) -> None:
    req = parse(text)
    assert req is None or req.action not in ("factory_reset", "reboot"), (text, req)


@pytest.mark.parametrize(("text", "action"), REQUESTS)
def test_an_explicit_present_request_is_still_a_request(text: str, action: str) -> None:
    req = parse(text)
    assert req is not None and req.action == action, (text, req)


@pytest.mark.parametrize("text", [
    "customer did a factory reset last week and now nothing works",
    "wurde gestern auf Werkseinstellungen zurückgesetzt, seitdem geht gar nichts",
    "do you think a factory reset would help?",
])
def test_the_chat_drafts_no_factory_reset_from_history_or_a_question(svc: Any, device: Any, actor: Any,
                                                                     text: str) -> None:
    """As an approver (who may propose one) hits it: no proposal, no policy refusal of a draft."""
    bob = actor("bob")
    tid = svc.start(device("healthy", 4), bob)
    events = run_turn(svc, tid, text, bob)
    assert not [e for e in events if e.kind == "proposal"], [(e.kind, e.text) for e in events]
    assert "factory_reset" not in events[-1].text, events[-1].text
    if text.endswith("?"):
        assert events[-1].kind in ("answer", "question") and "factory reset" in events[-1].text.lower()


def test_can_one_bring_it_to_factory_settings_is_a_request() -> None:
    """'bringen' is the verb of the request here, not "would it bring anything?"."""
    req = parse("Kann man den Router einmal ganz auf die Werkseinstellung bringen?")
    assert req is not None and req.action == "factory_reset"
