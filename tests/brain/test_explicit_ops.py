"""Explicit factory reset, traceroute and speed test requests (issue 13 item 2): parsed in four
languages, history ("since the factory reset") is not a request, and each is drafted through the
same gates — a factory reset as an operation policy routes, diagnostics only where the device's
own data model has the object."""

from __future__ import annotations

from typing import Any

import pytest

from brain.understanding.actions import parse


@pytest.mark.parametrize(("text", "action", "value"), [
    ("factory reset the box please", "factory_reset", None),
    ("Bitte den Router auf Werkseinstellungen zurücksetzen", "factory_reset", None),
    ("réinitialise la box aux paramètres d'usine", "factory_reset", None),
    ("restablece el router a los valores de fábrica", "factory_reset", None),
    ("run a traceroute to example.net from the router", "traceroute", "example.net"),
    ("Routenverfolgung zu example.org bitte", "traceroute", "example.org"),
    ("lance un traceroute vers example.org", "traceroute", "example.org"),
    ("traza la ruta hasta example.com", "traceroute", "example.com"),
    ("run a speed test from https://speed.example.net/10MB.bin please", "speedtest",
     "https://speed.example.net/10MB.bin"),
    ("Geschwindigkeitstest bitte", "speedtest", None),
    ("test de débit sur la ligne", "speedtest", None),
    ("haz una prueba de velocidad", "speedtest", None),
])
def test_parsed(text: str, action: str, value: Any) -> None:
    req = parse(text)
    assert req is not None and req.action == action and req.value == value


@pytest.mark.parametrize("text", [
    "since the factory reset the wifi is slow",
    "seit dem Werksreset geht das WLAN nicht",
    "depuis la remise en configuration d'usine le wifi coupe",
    "factory reset every device in the building",  # beyond one gateway: not parsed here
])
def test_history_or_wide_scope_is_not_a_request(text: str) -> None:
    assert parse(text) is None


def _events(svc: Any, dev: str, who: Any, text: str) -> list[Any]:
    tid = svc.start(dev, who)
    return list(svc.send(tid, text, who))


def test_factory_reset_is_an_operation_policy_routes(rt: Any, svc: Any, device: Any, actor: Any) -> None:
    dev = device("healthy", 2)
    alice, bob = actor("alice"), actor("bob")
    refused = _events(svc, dev, alice, "factory reset the box please")
    assert refused[-1].kind == "escalation" and "factory_reset" in refused[-1].text
    assert not [e for e in refused if e.kind == "proposal"]
    drafted = [e for e in _events(svc, dev, bob, "factory reset the box please") if e.kind == "proposal"]
    assert drafted and drafted[0].data["state"] == "awaiting_approval"
    p = rt.lifecycle.get(drafted[0].data["proposal_id"])
    assert [o.command for o in p.operations] == ["factory_reset"] and not p.changes
    rt.lifecycle.cancel(p.id, bob, reason="test")


def test_diagnostics_missing_from_the_device_are_named(svc: Any, device: Any, actor: Any) -> None:
    alice = actor("alice")
    for cond, text, obj in (("healthy", "traceroute to example.org", "Device.IP.Diagnostics.TraceRoute."),
                            ("healthy", "run a speed test", "Device.IP.Diagnostics.DownloadDiagnostics.")):
        ev = _events(svc, device(cond, 0), alice, text)
        assert ev[-1].kind == "answer" and obj in ev[-1].text
        assert not [e for e in ev if e.kind == "proposal"]
