""""Channel width" is a width, not a channel: the offline reader read "set the 5 GHz channel width to 40" as
*channel 40* (a valid 5 GHz channel: a write that was not asked), and "set the channel width to 40 MHz on
2.4 GHz and 5 GHz" as channel 2 on both radios — the channel word matched first, and the number after it was
taken for a channel. Found trying band limits for ``brain.qualify``. Phrasings written for these tests
(EN/DE/FR/ES), and beside them channel requests that must stay channel requests. Nothing here needs a service.
"""

from __future__ import annotations

import pytest

from tests.brain.test_exclusion_forms import read


@pytest.mark.parametrize(("text", "width", "bands"), [
    ("set the 5 GHz channel width to 40", "40MHz", ["5GHz"]),
    ("set the channel width to 40 MHz on 2.4 GHz and 5 GHz", "40MHz", ["2.4GHz", "5GHz"]),
    ("change the channel bandwidth on 5 GHz to 160", "160MHz", ["5GHz"]),
    ("make the 2.4 GHz channel width 20", "20MHz", ["2.4GHz"]),
    ("stell die Kanalbreite im 5-GHz-Band auf 80", "80MHz", ["5GHz"]),
    ("mets la largeur de canal à 40 sur le 5 GHz", "40MHz", ["5GHz"]),
    ("pon el ancho de canal en 80 en la banda de 5 GHz", "80MHz", ["5GHz"]),
    ("Kanalbandbreite auf 40 MHz setzen", "40MHz", []),
])
def test_a_channel_width_is_read_as_a_width(text: str, width: str, bands: list[str]) -> None:
    req = read(text)
    assert (req.action, req.values.get("value"), req.target.bands) == ("width", width, bands), req


@pytest.mark.parametrize(("text", "channel"), [
    ("set the 5 GHz channel to 40", 40),
    ("put the 2.4 GHz radio on channel 11", 11),
    ("stell den Kanal im 5-GHz-Band auf 44", 44),
    ("mets le canal 5 GHz sur 48", 48),
])
def test_a_channel_stays_a_channel(text: str, channel: int) -> None:
    req = read(text)
    assert (req.action, req.values.get("value")) == ("channel", channel), req
