"""Secrets by construction (issue 54): the two reported defects, the secret field, the generator,
what the agent and the approver see.

Seen failing first (before ``brain.secret_field``): "change the Wi-Fi key from <old> to <new>"
drafted KeyPassphrase = <old> on every primary access point; "set the ACS connection request
password to X" drafted KeyPassphrase = X on every primary access point.
"""

from __future__ import annotations

from typing import Any

import pytest

from brain.secret_field import check_draft, generate, validate, wants_generated
from core.kernel.errors import Invalid
from core.kernel.models import Change
from core.secret_fingerprint import secret_fingerprint
from tests.brain.conftest import kinds, run_turn

OLD, NEW = "Ostwind-Hafen-2019", "Westwind-Hafen-2024"


def _proposals(rt: Any, events: list[Any]) -> list[Any]:
    return [rt.lifecycle.get(e.data["proposal_id"]) for e in events if e.kind == "proposal"]


@pytest.mark.parametrize("message", [
    f"change the Wi-Fi key from {OLD} to {NEW}",
    f"WLAN-Schlüssel bitte von {OLD} auf {NEW} ändern",
    f"change the wifi password, old one {OLD}, new one {NEW}",
])
def test_old_to_new_in_text_drafts_neither_and_asks_for_the_field(rt: Any, svc: Any, device: Any, actor: Any,
                                                                  message: str) -> None:
    alice = actor("alice")
    tid = svc.start(device("healthy", 3), alice)
    events = run_turn(svc, tid, message, alice)
    assert _proposals(rt, events) == [], [(e.kind, e.text) for e in events]
    assert events[-1].kind == "question" and "secret field" in events[-1].text
    stored = str([e.model_dump() for e in svc.history(tid)]) + str(svc.state(tid))
    assert OLD not in stored and NEW not in stored
    # the field gives the value: exactly it, whatever the text says
    events = list(svc.send(tid, message.replace(OLD, "the old one").replace(NEW, "this"), alice, secret=NEW))
    (p,) = _proposals(rt, events)
    assert {c.value for c in p.changes} == {NEW} and all(c.path.endswith("KeyPassphrase") for c in p.changes)


@pytest.mark.parametrize("message", [
    "set the ACS connection request password to Acs-Pass-9921",
    "change the TR-069 connection request password",
    "the router's admin password should be Admin-Pass-4410",
    "neues Passwort für die Weboberfläche des Routers",
])
def test_another_credential_is_never_a_wifi_passphrase(rt: Any, svc: Any, device: Any, actor: Any,
                                                       message: str) -> None:
    alice = actor("alice")
    tid = svc.start(device("healthy", 4), alice)
    for events in (run_turn(svc, tid, message, alice), list(svc.send(tid, message, alice, secret="Field-Pass-7731"))):
        assert _proposals(rt, events) == [], [(e.kind, e.text) for e in events]
        assert events[-1].kind == "escalation" and "not a Wi-Fi passphrase" in events[-1].text
    stored = str([e.model_dump() for e in svc.history(tid)]) + str(svc.state(tid))
    assert "Field-Pass-7731" not in stored and "Pass-9921" not in stored and "Pass-4410" not in stored


def test_the_field_is_never_stored_and_its_fingerprint_is_what_the_approver_sees(rt: Any, svc: Any, device: Any,
                                                                                 actor: Any) -> None:
    alice = actor("alice")
    tid = svc.start(device("healthy", 5), alice)
    events = list(svc.send(tid, "set the guest wifi password", alice, secret="Gast-Zugang-4471"))
    step = next(e for e in events if e.kind == "step" and e.data.get("role") == "user")
    fp = secret_fingerprint("Gast-Zugang-4471")
    assert step.data["secret"] == {"source": "field", "fingerprint": fp}
    prop = next(e for e in events if e.kind == "proposal")
    secrets = prop.data["secrets"]
    assert secrets and all(s["new_fingerprint"] == fp and s["role"] == "guest" and s["ssid"] for s in secrets)
    stored = str([e.model_dump() for e in svc.history(tid)]) + str(svc.state(tid))
    assert "Gast-Zugang" not in stored and fp in stored


def test_a_generated_passphrase_is_shown_once_and_never_stored(rt: Any, svc: Any, device: Any, actor: Any) -> None:
    alice = actor("alice")
    tid = svc.start(device("healthy", 6), alice)
    events = run_turn(svc, tid, "set a new random wifi passphrase for them", alice)
    shown = [e for e in events if e.kind == "secret"]
    assert len(shown) == 1
    value = shown[0].data["value"]
    (p,) = _proposals(rt, events)
    assert {c.value for c in p.changes} == {value}
    assert shown[0].data["fingerprint"] == secret_fingerprint(value)
    assert value not in str([e.model_dump() for e in svc.history(tid)]) + str(svc.state(tid))
    assert "secret" not in kinds(svc.history(tid))


def test_check_draft_refuses_literals_and_other_credentials() -> None:
    held = {"[secret:1]": "Field-Value-1234"}
    wifi = "Device.WiFi.AccessPoint.1.Security.KeyPassphrase"
    acs = "Device.ManagementServer.ConnectionRequestPassword"
    assert check_draft([Change(path=wifi, value="[secret:1]")], held) is None
    assert check_draft([Change(path=wifi, value="typed-in-text-99")], held) is not None  # a literal
    assert check_draft([Change(path=wifi, value="[secret:2]")], held) is not None  # not held
    assert check_draft([Change(path=acs, value="[secret:1]")], held) is not None  # another credential
    assert check_draft([Change(path="Device.WiFi.SSID.1.SSID", value="[secret:1]")], held) is not None


def test_the_field_is_checked_and_the_generator_passes_it() -> None:
    for bad in ("short", "x" * 64, "tab\there-1234", " leading-space-1"):
        with pytest.raises(Invalid) as err:
            validate(bad)
        assert bad not in err.value.message
    values = {generate() for _ in range(50)}
    assert len(values) == 50 and all(validate(v) == v for v in values)
    assert wants_generated("set a new random passphrase") and wants_generated("ein zufälliges WLAN-Passwort")
    assert wants_generated("génère un mot de passe") and wants_generated("genera una contraseña aleatoria")
    assert not wants_generated("change the wifi password")


def test_a_fingerprint_is_keyed_not_a_plain_hash() -> None:
    import hashlib

    fp = secret_fingerprint("Sommer2024!")
    assert len(fp) == 8 and fp == secret_fingerprint("Sommer2024!") != secret_fingerprint("Sommer2024?")
    assert fp not in (hashlib.sha256(b"Sommer2024!").hexdigest()[:8], hashlib.sha256(b"sommer2024!").hexdigest()[:8])
