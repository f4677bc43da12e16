""""Channel width" is a width, not a channel: the offline reader read "set the 5 GHz channel width to 40" as
*channel 40* (a valid 5 GHz channel: a write that was not asked), and "set the channel width to 40 MHz on
2.4 GHz and 5 GHz" as channel 2 on both radios — the channel word matched first, and the number after it was
taken for a channel. Found trying band limits for ``brain.qualify``. Phrasings written for these tests
(EN/DE/FR/ES), and beside them channel requests that must stay channel requests. Nothing here needs a service.
"""

from __future__ import annotations

import pytest

from brain.understanding.actions import parse
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


# ---------------------------------------------------------------------------- a number is read whole
@pytest.mark.parametrize(("text", "channel"), [
    ("set the channel for the upstairs AP to 44", 44),  # the window after "channel" once ended inside "44"
    ("set the channel for the guest radio to 44", 44),
    ("set the channel for the upstairs AP to 149", 149),
])
def test_a_channel_number_straddling_the_window_is_read_whole(text: str, channel: int) -> None:
    """Found writing these tests: the number after the channel word was searched only up to 25 characters on,
    and a number that began inside that window and ended past it was cut — "… to 44" drafted channel 4."""
    assert (parse(text).action, parse(text).value) == ("channel", channel)  # type: ignore[union-attr]
    assert read(text).values.get("value") == channel


@pytest.mark.parametrize("text", ["set the channel of the 2.4 radio now", "the channel on the 5.0 firmware"])
def test_the_whole_part_of_a_decimal_is_no_channel(text: str) -> None:
    """"2.4" is no channel 2 (the "2" of a decimal was read as the channel number)."""
    found = parse(text)
    assert found is None or found.action != "channel" or found.value not in (2, 5), found


def _padded(word: str, gap: int, number: str) -> str:
    """``word``, then ``gap`` characters of plain text, then ``number``."""
    return f"set the {word} " + "x" * (gap - 2) + " " + number


@pytest.mark.parametrize(("word", "near", "number", "action", "value"), [
    ("channel", 25, "44", "channel", 44), ("channel width", 30, "40", "width", "40MHz")])
def test_a_number_is_read_only_when_it_begins_near_its_words(word: str, near: int, number: str, action: str,
                                                             value: object) -> None:
    """A number that begins within ``near`` characters of its words is read (whole); one that begins further
    on is not taken for the channel or the width (the turn asks instead)."""
    inside = parse(_padded(word, near - 1, number))
    assert inside is not None and (inside.action, inside.value) == (action, value)
    outside = parse(_padded(word, near, number))
    assert outside is None or outside.action != action


@pytest.mark.parametrize(("text", "action", "band", "value"), [
    ("put the 5 GHz radio at 80 MHz", "width", "5GHz", "80MHz"),
    ("set the 5 GHz channel width to 40", "width", "5GHz", "40MHz"),
    ("the 2.4 GHz channel should be 6", "channel", "2.4GHz", 6),
])
def test_the_band_said_rides_with_the_width_or_channel(text: str, action: str, band: str, value: object) -> None:
    found = parse(text)
    assert found is not None and (found.action, found.band, found.value) == (action, band, value)
