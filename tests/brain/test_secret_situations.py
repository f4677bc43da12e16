"""Passphrases in chat by situation, not by sentence (issue 34 item 6).

Fresh phrasings, written for this test: the passphrase quoted (or not) before or after the
keyword, with the wish in between ("… is what she wants as her Wi-Fi password"), casual, German,
French, Spanish. Each must be masked everywhere a person can read it back (the stored events and
the graph state the checkpoint holds), and the vault must hold exactly the passphrase. An answer
to "what should the new passphrase be?" is the quoted text or a single token; anything else is
asked again — never guessed ("hunter22 lol, can u set that" is not the passphrase "hunter22 lol").
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


@pytest.mark.parametrize("answer", ["hunter22 lol, can u set that", "its Blue Fox 9 i think", "hmm maybe sunflower42?"])
def test_an_unclear_bare_answer_is_asked_again_and_not_stored(svc: Any, device: Any, actor: Any, answer: str) -> None:
    alice = actor("alice")
    tid = svc.start(device("healthy", 9), alice)
    assert kinds(run_turn(svc, tid, "customer wants to change their wifi password", alice))[-1] == "question"
    events = run_turn(svc, tid, answer, alice)
    assert not [e for e in events if e.kind == "proposal"], [(e.kind, e.text) for e in events]
    assert events[-1].kind == "question" and "quote" in events[-1].text.lower()
    stored = str([e.model_dump() for e in svc.history(tid)]) + str(svc.state(tid))
    for word in answer.replace(",", " ").replace("?", " ").split():
        if len(word) >= 4 and any(c.isdigit() for c in word):
            assert word not in stored, word
    # a clear answer afterwards still drafts it
    events = run_turn(svc, tid, "'Hunter-22 lol ok'" if "hunter" in answer else "Sunflower42!xyz", alice)
    assert "proposal" in kinds(events), [(e.kind, e.text) for e in events]


@pytest.mark.parametrize("answer", ["Sunflower42!xyz", "'correct horse battery staple 42'", "“Blue Fox 9 on a hill”"])
def test_a_clear_bare_answer_is_the_passphrase(svc: Any, device: Any, actor: Any, answer: str) -> None:
    alice = actor("alice")
    tid = svc.start(device("healthy", 10), alice)
    assert kinds(run_turn(svc, tid, "customer wants to change their wifi password", alice))[-1] == "question"
    events = run_turn(svc, tid, answer, alice)
    assert next(e for e in events if e.kind == "proposal").data["state"] == "awaiting_approval"
    assert answer.strip("'“”") not in str([e.model_dump() for e in svc.history(tid)]) + str(svc.state(tid))
