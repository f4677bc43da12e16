"""A value corrected inside one message is the later one — for shares and network names too (issue 57, "in a
correction inside one message the first number wins").

Numbers were corrected already ("channel 36… sorry, 44"); found trying other shapes: a share corrected by a
share ("50%, actually make it 75%") and a correction introduced by "actually" or "correction:" kept the first
value, and a network name corrected at the end ("to Alpha, sorry, to Beta", "\"Alpha\", no wait, \"Beta\"")
renamed the network to the name taken back. Each wrote what was not asked. Phrasings written for these tests
(EN/DE/FR/ES); beside them, messages whose later words are no correction. Nothing here needs a service.
"""

from __future__ import annotations

import pytest

from tests.brain.test_exclusion_forms import read


@pytest.mark.parametrize(("text", "action", "value"), [
    ("set the power to 50%, actually make it 75%", "power", 75),
    ("lower the 5 GHz transmit power to 25 percent, sorry, 50 percent", "power", 50),
    ("Sendeleistung im 2,4-GHz-Band auf 50 %, nein, 75 %", "power", 75),
    ("baisse la puissance d'émission à 50 %, pardon, 25 %", "power", 25),
    ("pon la potencia de transmisión al 75 %, perdón, al 50 %", "power", 50),
    ("set channel 40 on 5 GHz, correction: 44", "channel", 44),
    ("move the 2.4 GHz radio to channel 1, actually 6", "channel", 6),
    # a courtesy after the correction is no reason to keep the first value
    ("set the 5 GHz channel to 40, sorry, 44 please", "channel", 44),
    ("Kanal 40 im 5-GHz-Band, nein, 44 bitte", "channel", 44),
    ("lower the 5 GHz transmit power to 25 percent, sorry, 50 percent please", "power", 50),
])
def test_a_corrected_number_is_the_later_one(text: str, action: str, value: int) -> None:
    req = read(text)
    assert (req.action, req.values.get("value")) == (action, value), req


@pytest.mark.parametrize(("text", "name"), [
    ("rename the wifi to Alpha, sorry, to Beta", "Beta"),
    ('rename the wifi to "Alpha", sorry, "Beta"', "Beta"),
    ('rename the wifi to "Sonnenhof", no wait make it "Sonnenhof 2"', "Sonnenhof 2"),
    ("call the network Kestrel - actually, Merlin", "Merlin"),
    ('rename the wifi to "Maison Vert", pardon, "Maison Verte"', "Maison Verte"),
    ('rename the wifi to "Casa Azul", perdón, "Casa Azul 5G"', "Casa Azul 5G"),
])
def test_a_corrected_network_name_is_the_later_one(text: str, name: str) -> None:
    req = read(text)
    assert (req.action, req.values.get("ssid")) == ("ssid", name), req


@pytest.mark.parametrize(("text", "action", "value", "key"), [
    ("set the power to 50%", "power", 50, "value"),
    ("set the 5 GHz channel to 36, actually 11 is busy", "channel", 36, "value"),
    ("rename the wifi to Alpha please", "ssid", "Alpha", "ssid"),
    ('rename the wifi to "Alpha"', "ssid", "Alpha", "ssid"),
    ("rename the wifi to Alpha, no wait, please", "ssid", "Alpha", "ssid"),  # a word that is never a name
])
def test_later_words_that_correct_nothing_leave_the_value(text: str, action: str, value: object, key: str) -> None:
    req = read(text)
    assert (req.action, req.values.get(key)) == (action, value), req


@pytest.mark.parametrize(("text", "rewritten"), [
    ("set the power to 50%, actually make it 75%", "set the power to 75%"),
    ("Sendeleistung auf 50 %, nein, 75 %", "Sendeleistung auf 75 %"),
    ("pon la potencia al 75 %, perdón, al 50 %", "pon la potencia al 50 %"),
])
def test_a_corrected_share_is_written_once_with_its_unit(text: str, rewritten: str) -> None:
    """The message the reader goes on with holds the later share once, its unit not doubled ("75%%")."""
    from brain.understanding.values import inline_correction

    assert inline_correction(text) == rewritten
