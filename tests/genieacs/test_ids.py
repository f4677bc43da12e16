"""GenieACS device ids: GenieACS's escaping rule, and the second encoding inside URLs."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from executors.genieacs.ids import (
    escape_component,
    fault_id,
    genieacs_device_id,
    is_device_id,
    split_device_id,
    url_segment,
)


def test_the_api_reference_example() -> None:
    # docs/api-reference.rst: serial SR360NA0A4-0003196 → id 00236a-96318REF-SR360NA0A4%2D0003196,
    # which travels in a URL path as …%252D…
    gid = genieacs_device_id("00236a", "96318REF", "SR360NA0A4-0003196")
    assert gid == "00236a-96318REF-SR360NA0A4%2D0003196"
    assert url_segment(gid) == "00236a-96318REF-SR360NA0A4%252D0003196"


def test_everything_but_alnum_and_underscore_is_escaped() -> None:
    assert escape_component("a_b-c.d/e f:g") == "a_b%2Dc%2Ed%2Fe%20f%3Ag"
    assert escape_component("ü") == "%C3%BC"  # UTF-8 bytes, upper-case hex


def test_empty_product_class_gives_two_parts() -> None:
    assert genieacs_device_id("A4C3F0", "", "X1") == "A4C3F0-X1"
    assert split_device_id("A4C3F0-X1") == ("A4C3F0", "", "X1")


def test_missing_oui_or_serial_is_refused() -> None:
    with pytest.raises(ValueError, match="OUI and the serial"):
        genieacs_device_id("", "PC", "S")


def test_split_refuses_what_genieacs_cannot_produce() -> None:
    for bad in ("a-b-c-d", "has space-x-y", "a:b-c-d"):
        with pytest.raises(ValueError):
            split_device_id(bad)
    assert not is_device_id("a/b")


def test_fault_ids_name_the_task_channel() -> None:
    assert fault_id("A-B-C", "5f0c") == "A-B-C:task_5f0c"
    assert url_segment("A-B%2DC:task_1") == "A-B%252DC%3Atask_1"


@given(st.text(min_size=1, max_size=12), st.text(max_size=8), st.text(min_size=1, max_size=16))
def test_round_trip_for_any_deviceid(oui: str, pc: str, serial: str) -> None:
    gid = genieacs_device_id(oui, pc, serial)
    assert is_device_id(gid)
    assert split_device_id(gid) == (oui, pc, serial)
