"""Adapters decode booleans and integers off the wire through ``core.kernel.values`` (issue 14, item 6).

The write gate is strict (``as_bool``/``as_int`` refuse ``" true"``); a wire whose schema
collapses blanks (xsd:boolean in CWMP/GenieACS, padded USP text forms) is read leniently by
``parse_wire_bool``/``parse_wire_int`` — one definition of the forms either way."""

from __future__ import annotations

from typing import Any

import pytest

from core.execution import values_equal
from core.kernel.values import LexicalError, as_bool, parse_wire_bool, parse_wire_int
from executors.genieacs import xsd
from executors.genieacs.document import _flag
from executors.translate import _as_int
from executors.usp import datamodel as dm

PADDED_TRUE = [" true", "TRUE\n", "\t1 ", True, 1]
PADDED_FALSE = [" false", "0 ", False, 0]
NEITHER = ["yes", "", "2", 2, None, 1.0, "t r u e"]


@pytest.mark.parametrize("value", PADDED_TRUE)
def test_wire_true(value: Any) -> None:
    assert parse_wire_bool(value) is True
    assert xsd.decode(value, "xsd:boolean") is True and xsd.encode(value, "xsd:boolean") is True
    assert _flag(value) is True
    if isinstance(value, str):
        assert dm.typed(value, "boolean") is True


@pytest.mark.parametrize("value", PADDED_FALSE)
def test_wire_false(value: Any) -> None:
    assert parse_wire_bool(value) is False
    assert xsd.decode(value, "xsd:boolean") is False and xsd.encode(value, "xsd:boolean") is False
    assert _flag(value) is False


@pytest.mark.parametrize("value", NEITHER)
def test_wire_neither_is_refused_or_kept_as_text(value: Any) -> None:
    assert parse_wire_bool(value) is None
    with pytest.raises(xsd.XsdValueError):
        xsd.encode(value, "xsd:boolean")
    assert xsd.decode(value, "xsd:boolean") is False  # a reader's "not true", as before
    if isinstance(value, str):
        assert dm.typed(value, "boolean") == value  # text the caller can show, never a guess


def test_the_write_gate_stays_strict_about_padding() -> None:
    with pytest.raises(LexicalError):
        as_bool(" true")
    assert values_equal(True, "true") and values_equal("1", True) and not values_equal(" true", True)


@pytest.mark.parametrize(("value", "number"), [(" 36", 36), ("36\n", 36), ("+7", 7), (12.0, 12), (3600, 3600)])
def test_wire_integers(value: Any, number: int) -> None:
    assert parse_wire_int(value) == number and _as_int(value) == number
    assert xsd.decode(value, "xsd:unsignedInt") == number
    if isinstance(value, str):
        assert dm.typed(value, "unsignedInt") == number


@pytest.mark.parametrize("value", ["1.5", "abc", "", True, None, "0x10", "12 13"])
def test_wire_non_integers(value: Any) -> None:
    assert parse_wire_int(value) is None and _as_int(value) is None
    if isinstance(value, str):
        assert dm.typed(value, "int") == value
        assert xsd.decode(value, "xsd:int") == value.strip()
