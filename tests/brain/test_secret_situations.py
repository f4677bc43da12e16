"""Passphrases in chat by situation, not by sentence (issue 34 item 6).

Fresh phrasings, written for this test: the passphrase quoted (or not) before or after the
keyword, with the wish in between ("… is what she wants as her Wi-Fi password"), casual, German,
French, Spanish. Each must be masked everywhere a person can read it back (the stored events and
the graph state the checkpoint holds), and the redactor must find exactly the passphrase. Since
issue 54 no typed answer is drafted at all: it is masked and the secret field is asked for.
"""

from __future__ import annotations

from typing import Any

import pytest

from brain.redact import redact, scrub_text
from tests.brain.conftest import kinds, run_turn

SITUATIONS = [
    ("'Nebula.Falcon.Ridge.2208' is what she wants as her Wi-Fi password", "Nebula.Falcon.Ridge.2208"),
    ('"Copper-Kettle-51" is the new wifi password she picked', "Copper-Kettle-51"),
    ("she picked 'Orchard Lane 94' for the wifi password", "Orchard Lane 94"),
    ("wifi password? make it Quartz_Moth_63 pls", "Quartz_Moth_63"),
    ("new pw for the wlan: 'lemon tart 77', thx", "lemon tart 77"),
    ("„Fichtenholz-39“ hätte sie gern als WLAN-Passwort", "Fichtenholz-39"),
    ("als neues WLAN-Passwort bitte 'Rotkehlchen!58' nehmen", "Rotkehlchen!58"),
    ("wlan pw soll jetzt Maulwurf_2024 sein", "Maulwurf_2024"),
    ("'Granite#Pine#4' <- that's what they want for the wifi pw", "Granite#Pine#4"),
    ("« Cerise-Bleue-81 », c'est le mot de passe wifi qu'elle veut", "Cerise-Bleue-81"),
    ("'Limonero.Azul.33' es la contraseña que quiere para el wifi", "Limonero.Azul.33"),
    ('"Saffron Kite 7" is what he wants the wifi password to be', "Saffron Kite 7"),
]


@pytest.mark.parametrize(("message", "secret"), SITUATIONS)
def test_a_passphrase_is_masked_whatever_the_word_order(message: str, secret: str) -> None:
    masked, vault = redact(message)
    assert secret not in masked and secret not in scrub_text(message), masked
    assert list(vault.values()) == [secret], vault


def test_the_issue_probe_leaves_no_trace_in_events_or_state(svc: Any, device: Any, actor: Any) -> None:
    alice = actor("alice")
    tid = svc.start(device("healthy", 8), alice)
    run_turn(svc, tid, "'Nebula.Falcon.Ridge.2208' is what she wants as her Wi-Fi password", alice)
    stored = str([e.model_dump() for e in svc.history(tid)]) + str(svc.state(tid))
    assert "Nebula.Falcon" not in stored and "Ridge.2208" not in stored


@pytest.mark.parametrize("answer", ["hunter22 lol, can u set that", "its Blue Fox 9 i think", "hmm maybe sunflower42?",
                                    "Sunflower42!xyz", "'correct horse battery staple 42'"])
def test_a_typed_answer_is_masked_and_the_secret_field_asked_for(svc: Any, device: Any, actor: Any,
                                                                 answer: str) -> None:
    """Issue 54: whatever the answer's shape, a passphrase typed into the text is never drafted — it
    is masked, dropped, and the secret field is asked for; the field's value then drafts it."""
    alice = actor("alice")
    tid = svc.start(device("healthy", 9), alice)
    assert kinds(run_turn(svc, tid, "customer wants to change their wifi password", alice))[-1] == "question"
    events = run_turn(svc, tid, answer, alice)
    assert not [e for e in events if e.kind == "proposal"], [(e.kind, e.text) for e in events]
    assert events[-1].kind == "question", events[-1]
    assert any("secret field" in e.text for e in events if e.kind in ("notice", "question")), events
    stored = str([e.model_dump() for e in svc.history(tid)]) + str(svc.state(tid))
    for word in answer.replace(",", " ").replace("?", " ").strip("'").split():
        if len(word) >= 4 and any(c.isdigit() for c in word):
            assert word not in stored, word
    events = list(svc.send(tid, "", alice, secret="Hunter-22-lol-ok"))
    assert "proposal" in kinds(events), [(e.kind, e.text) for e in events]
