"""An area the agent names in lower case is asked about, never dropped (issue 57: "unknown words inside an
understood clause are dropped … widens the campaign to every region instead of asking").

A capitalised place the inventory has no region for ("every PX-7000 in Portugal") was asked about already;
found trying other shapes: "in the north region", "im Süden", "dans le sud", "en la zona rural" were read past,
and the slice became every gateway of the model in every region. Phrasings written for these tests; beside them,
the regions the inventory has, and words after "in" that are no area. Runs on the seeded fleet (SQLite).
"""

from __future__ import annotations

from typing import Any

import pytest

from brain import fleetplan


@pytest.mark.parametrize(("text", "area"), [
    ("set channel 6 on every CGW-3400 in the north region", "north region"),
    ("reboot all AW-1200 in the southern area tonight", "southern area"),
    ("set the inform interval to 900 on all PX-7000 in rural areas", "rural areas"),
    ("Starte alle HG8020-L im Süden neu", "Süden"),
    ("redémarre tous les PX-7000 dans le sud", "sud"),
    ("reinicia todos los CGW-3400 en la zona rural", "zona rural"),
    ("set channel 6 on every CGW-3400 in the coastal district", "coastal district"),
])
def test_an_area_the_inventory_has_no_region_for_is_asked_about(rt: Any, text: str, area: str) -> None:
    with rt.store.read() as s:
        sl = fleetplan.fleet_slice(s, text)
    assert sl is not None and sl.unknown_place is not None, sl
    assert sl.unknown_place.lower() == area.lower(), sl.unknown_place


@pytest.mark.parametrize(("text", "region"), [
    ("Set the inform interval to 1800 on all AW-1200 in the UK", "GB"),
    ("Starte alle HG8020-L in Deutschland neu", "DE"),
    ("set channel 6 on every CGW-3400 in the evening", None),
    ("set channel 6 on every CGW-3400 in the 5 GHz band", None),
    ("reboot all PX-7000 in two hours", None),
])
def test_a_known_region_or_words_that_are_no_area_are_no_question(rt: Any, text: str, region: str | None) -> None:
    with rt.store.read() as s:
        sl = fleetplan.fleet_slice(s, text)
    assert sl is not None and sl.unknown_place is None and sl.region == region, sl


def test_this_moment_is_no_area(rt: Any) -> None:
    """Spanish "en este momento" (right now) and French "est" (is) are no compass point."""
    with rt.store.read() as s:
        sl = fleetplan.fleet_slice(s, "reinicia todos los CGW-3400 en este momento")
    assert sl is not None and sl.unknown_place is None, sl
