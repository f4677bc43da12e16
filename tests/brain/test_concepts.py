"""The concept lexicons behind speed test, traceroute and factory reset requests (issue 13).

Every phrasing here is written for this test, in four languages, and none is taken from the
held-out paraphrase file: the parser is meant to recognise the *meaning* (something to measure
and a speed; a path and the packets on it; a reset and the factory state), so wordings nobody
listed still parse — and a single meaning on its own, a symptom, a negation or history does not.
"""

from __future__ import annotations

import pytest

from brain.understanding import lexicon as concepts
from brain.understanding.actions import parse


@pytest.mark.parametrize("text", [
    # en
    "could you gauge the throughput this line gets",
    "let's benchmark the bandwidth from the CPE",
    "find out how quick the download really is",
    "verify the customer's speeds from our side",
    "please test upload and download on this gateway",
    # de
    "kannst du mal messen, wie schnell der Anschluss ist",
    "Datenrate vom Router aus ermitteln",
    "bitte die Übertragungsrate prüfen",
    # fr
    "peux-tu évaluer le débit descendant de la box",
    "contrôle la vitesse de la connexion stp",
    # es
    "mide el caudal de la conexión",
    "comprueba qué tan rápida es la línea del abonado",
    "verifica la tasa de transferencia del router",
    # a strong measuring verb on the line itself ("measure the line")
    "benchmark the line for me",
    "how many megabits is the subscriber really getting? please measure",
    "Kannst du die Leitung durchmessen, wie viel Mbit kommen an?",
    "mach mal einen Geschwindigkeitscheck",
    "¿cuántos megas le llegan realmente? mídelo",
])
def test_speed_test_by_meaning(text: str) -> None:
    req = parse(text)
    assert req is not None and req.action == "speedtest", text


@pytest.mark.parametrize(("text", "host"), [
    ("which way does the traffic go from the CPE to example.org", "example.org"),
    ("follow the route to example.com from the gateway", "example.com"),
    ("map the hops towards example.net", "example.net"),
    ("zeig mir, welchen Weg die Pakete zu example.org nehmen", "example.org"),
    ("wohin läuft der Datenverkehr von der Box aus?", None),
    ("montre le trajet du trafic vers example.org", "example.org"),
    ("par où passe le trafic de la box ?", None),
    ("muestra el recorrido de los paquetes hacia example.com", "example.com"),
    ("¿por donde va el tráfico del módem?", None),
    ("where do packets get stuck between the gateway and example.com?", "example.com"),
    ("par quels routeurs passent les paquets vers example.com ?", "example.com"),
    ("rastrea la ruta hacia example.com", "example.com"),
])
def test_traceroute_by_meaning(text: str, host: str | None) -> None:
    req = parse(text)
    assert req is not None and req.action == "traceroute" and req.value == host, text


@pytest.mark.parametrize("text", [
    "put the gateway back the way it was shipped from the factory",
    "wipe all the settings on this router",
    "erase the whole configuration and start fresh",
    "bring it back to how it was as delivered from the factory",
    "das Gerät bitte in den Lieferzustand zurückversetzen",
    "alles löschen und den Router auf Werkszustand bringen",
    "ramener la passerelle à son état sortie d'usine",
    "efface tout et remets la box comme à la sortie de l'usine",
    "vuelve a dejar el módem como salió de fábrica",
    "borra la configuración y devuelve el equipo al estado de fábrica",
    "restore the box to its shipping state",
    "Gerät in den Ursprungszustand zurückversetzen",
    "réinitialisation complète de la box svp",
    "pon el router como nuevo de fábrica",
])
def test_factory_reset_by_meaning(text: str) -> None:
    req = parse(text)
    assert req is not None and req.action == "factory_reset", text


@pytest.mark.parametrize("text", [
    # one meaning alone is a description or a symptom, not a request
    "the connection is fast in the morning and slow at night",
    "speed drops every evening",
    "the route to the internet seems down",
    "the packets are lost on the way",
    "it still runs the factory firmware",
    "check the line, no internet since this morning",  # a weak verb on the line: a diagnosis, not a test
    "where is the customer's gateway?",
    "the customer returned the old router last week",
    # negated: the agent says what *not* to do
    "do not reset it to factory settings, just reboot",
    "ohne Werksreset bitte, nur neu starten",
    "ne réinitialise pas la box aux paramètres d'usine",
    "no restablezcas el router a los valores de fábrica",
    # history
    "after the reset to factory settings the wifi dropped",
])
def test_single_meaning_negation_or_history_is_not_a_request(text: str) -> None:
    req = parse(text)
    assert req is None or req.action not in ("speedtest", "traceroute", "factory_reset"), (text, req)


def test_near_needs_both_meanings_close_together() -> None:
    far = "measure " + "x " * 80 + "the speed"
    assert concepts.near("measure the speed", concepts.MEASURE, concepts.SPEED)
    assert not concepts.near(far, concepts.MEASURE, concepts.SPEED)
    assert not concepts.near("measure it", concepts.MEASURE, concepts.SPEED)


def test_negation_only_cancels_when_every_mention_is_negated() -> None:
    assert concepts.factory_reset("don't reboot it — factory reset the gateway instead")
    assert not concepts.factory_reset("don't factory reset the gateway")
